/** ACME profiles (draft-ietf-acme-profiles-00) between ra/ records and sigil.admin.v1 messages. */
import { create } from "@bufbuild/protobuf";
import type { AcmeDirectory } from "../../db/entities/index.js";
import { AcmeProfileSchema, type AcmeDirectory as AcmeDirectoryMsg, type AcmeProfile as AcmeProfileMsg } from "../../gen/sigil/admin/v1/acme_pb.js";
import { KIND_EXTENDED_KEY_USAGES } from "../../policy/profiles.js";
import { profilesOfDirectory, type ProfileRecord } from "../../ra/acme/profiles.js";
import type { RaContext } from "../../ra/context.js";
import { acmeKindToProto, directoryToProto } from "./convert-pki.js";
import { ts } from "./convert.js";

export function profileToProto(p: ProfileRecord): AcmeProfileMsg {
  return create(AcmeProfileSchema, {
    id: p.id,
    directoryId: p.directoryId,
    name: p.name,
    description: p.description,
    certificateKind: acmeKindToProto(p.certificateKind),
    maxValiditySeconds: p.maxValiditySeconds,
    keyUsages: p.keyUsages,
    extendedKeyUsages: [...KIND_EXTENDED_KEY_USAGES[p.certificateKind]],
    includeCommonName: p.includeCommonName,
    maxIdentifiers: p.maxIdentifiers,
    identifierTypes: p.identifierTypes,
    authorizationReuseSeconds: p.authorizationReuseSeconds,
    orderLifetimeSeconds: p.orderLifetimeSeconds,
    pendingAuthorizationLifetimeSeconds: p.pendingAuthorizationLifetimeSeconds,
    isDefault: p.isDefault,
    createdAt: ts(p.createdAt),
    updatedAt: ts(p.updatedAt),
  });
}

/** A directory with its default profile and its profiles (read after the change committed). */
export async function directoryWithProfiles(ctx: RaContext, d: AcmeDirectory): Promise<AcmeDirectoryMsg> {
  const msg = directoryToProto(ctx, d);
  const profiles = await profilesOfDirectory(ctx, d.id);
  msg.defaultProfile = d.defaultProfile ?? "";
  msg.profiles = profiles.map(profileToProto);
  return msg;
}
