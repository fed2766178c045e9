/** Wire shapes of service accounts' public keys (JWT bearer, src/ra/jwt-bearer.ts). */
import { create } from "@bufbuild/protobuf";
import type { ServiceAccountPublicKey } from "../../db/entities/index.js";
import { ServiceAccountPublicKeySchema, type ServiceAccountPublicKey as ServiceAccountPublicKeyMsg } from "../../gen/sigil/admin/v1/service_account_pb.js";
import { ts } from "./convert.js";

export function publicKeyToProto(k: ServiceAccountPublicKey): ServiceAccountPublicKeyMsg {
  return create(ServiceAccountPublicKeySchema, {
    keyId: k.kid,
    serviceAccountId: k.serviceAccount.id,
    name: k.name,
    algorithm: k.algorithm,
    publicKeyJwk: JSON.stringify(k.jwk),
    scopes: k.scopes,
    createdAt: ts(k.createdAt),
    expiresAt: ts(k.expiresAt),
    lastUsedAt: ts(k.lastUsedAt),
    revokedAt: ts(k.revokedAt),
  });
}
