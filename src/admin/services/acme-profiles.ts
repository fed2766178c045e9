/**
 * The profile methods of sigil.admin.v1.AcmeService (draft-ietf-acme-profiles-00;
 * rules in src/ra/acme/profiles.ts and src/policy/profiles.ts), spread into
 * the service by ./acme.ts.
 */
import type { ServiceImpl } from "../grpc-adapter.js";
import { AcmeCertificateKind, type AcmeService } from "../../gen/sigil/admin/v1/acme_pb.js";
import * as profiles from "../../ra/acme/profiles.js";
import type { RaContext } from "../../ra/context.js";
import { requireActor } from "../principal.js";
import { acmeKindFromProto } from "./convert-pki.js";
import { profileToProto } from "./convert-profiles.js";

type ProfileMethods = Pick<ServiceImpl<typeof AcmeService>, "createAcmeProfile" | "getAcmeProfile" | "listAcmeProfiles" | "updateAcmeProfile" | "deleteAcmeProfile">;

/** unspecified: the base's (the preset's on create) */
const kindOrBase = (k: AcmeCertificateKind | undefined): string | undefined => (k === undefined || k === AcmeCertificateKind.UNSPECIFIED ? undefined : acmeKindFromProto(k));

export function acmeProfileMethods(ra: RaContext): ProfileMethods {
  return {
    async createAcmeProfile(req, ctx) {
      const p = await profiles.createAcmeProfile(ra, requireActor(ctx), {
        directoryId: req.directoryId,
        name: req.name,
        preset: req.preset || undefined,
        description: req.description || undefined,
        certificateKind: kindOrBase(req.certificateKind),
        maxValiditySeconds: req.maxValiditySeconds,
        keyUsages: req.keyUsages,
        includeCommonName: req.includeCommonName,
        maxIdentifiers: req.maxIdentifiers,
        identifierTypes: req.identifierTypes,
        authorizationReuseSeconds: req.authorizationReuseSeconds,
        orderLifetimeSeconds: req.orderLifetimeSeconds,
        pendingAuthorizationLifetimeSeconds: req.pendingAuthorizationLifetimeSeconds,
      });
      return { profile: profileToProto(p) };
    },
    async getAcmeProfile(req, ctx) {
      return { profile: profileToProto(await profiles.getAcmeProfile(ra, requireActor(ctx), req.id)) };
    },
    async listAcmeProfiles(req, ctx) {
      return { profiles: (await profiles.listAcmeProfiles(ra, requireActor(ctx), req.directoryId)).map(profileToProto) };
    },
    async updateAcmeProfile(req, ctx) {
      const p = await profiles.updateAcmeProfile(ra, requireActor(ctx), req.id, {
        description: req.description,
        certificateKind: kindOrBase(req.certificateKind),
        maxValiditySeconds: req.maxValiditySeconds,
        keyUsages: req.keyUsages?.values,
        includeCommonName: req.includeCommonName,
        maxIdentifiers: req.maxIdentifiers,
        identifierTypes: req.identifierTypes?.values,
        authorizationReuseSeconds: req.authorizationReuseSeconds,
        orderLifetimeSeconds: req.orderLifetimeSeconds,
        pendingAuthorizationLifetimeSeconds: req.pendingAuthorizationLifetimeSeconds,
      });
      return { profile: profileToProto(p) };
    },
    async deleteAcmeProfile(req, ctx) {
      await profiles.deleteAcmeProfile(ra, requireActor(ctx), req.id);
      return {};
    },
  };
}
