import { EntitySchema, type Opt } from "@mikro-orm/core";
import { createdAtProperty, idProperty, optionalTimestamp, timestamp } from "./common.js";
import { ServiceAccount } from "./service-account.js";

/**
 * A public key of a service account for JWT-bearer authentication (RFC 7523
 * §2.1). `kid` is its RFC 7638 JWK thumbprint, unique per service account
 * (a revoked key cannot be registered again); `jwk` the public JWK only.
 */
export class ServiceAccountPublicKey {
  id!: string;
  serviceAccount!: ServiceAccount;
  kid!: string;
  name!: string;
  /** the JWS "alg" its JWTs must use: ES256, RS256 or EdDSA */
  algorithm!: string;
  jwk!: Record<string, unknown>;
  /** scopes (src/policy/scopes.ts); ["*"] for all */
  scopes: Opt<string[]> = ["*"];
  /** who registered it (user id, plain value) */
  createdById?: string | null;
  createdAt!: Opt<Date>;
  expiresAt?: Date | null;
  lastUsedAt?: Date | null;
  revokedAt?: Date | null;
}

export const ServiceAccountPublicKeySchema = new EntitySchema<ServiceAccountPublicKey>({
  class: ServiceAccountPublicKey,
  tableName: "service_account_public_keys",
  uniques: [{ properties: ["serviceAccount", "kid"], name: "service_account_public_keys_service_account_id_kid_unique" }],
  properties: {
    id: idProperty,
    serviceAccount: { kind: "m:1", entity: () => ServiceAccount, deleteRule: "cascade" },
    kid: { type: "string", length: 64 },
    name: { type: "string", length: 128 },
    algorithm: { type: "string", length: 16 },
    jwk: { type: "json" },
    scopes: { type: "json", default: '["*"]' },
    createdById: { type: "uuid", nullable: true },
    createdAt: createdAtProperty,
    expiresAt: optionalTimestamp,
    lastUsedAt: optionalTimestamp,
    revokedAt: optionalTimestamp,
  },
});

/** A jti an accepted JWT carried, kept until the JWT's exp (RFC 7519 §4.1.7: never accepted twice). */
export class JwtBearerJti {
  serviceAccountId!: string;
  jti!: string;
  expiresAt!: Date;
}

export const JwtBearerJtiSchema = new EntitySchema<JwtBearerJti>({
  class: JwtBearerJti,
  tableName: "jwt_bearer_jtis",
  indexes: [{ properties: ["expiresAt"] }],
  properties: {
    serviceAccountId: { type: "uuid", primary: true },
    jti: { type: "string", length: 255, primary: true },
    expiresAt: timestamp,
  },
});
