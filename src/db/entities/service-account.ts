import { EntitySchema, type Opt } from "@mikro-orm/core";
import { createdAtProperty, idProperty, optionalTimestamp, updatedAtProperty } from "./common.js";
import { Organization } from "./organization.js";

/**
 * A non-human principal of one organization. Acts through API keys with its
 * own capability flags, like a ROLE_USER of the organization.
 */
export class ServiceAccount {
  id!: string;
  organization!: Organization;
  name!: string;
  description: Opt<string> = "";
  isActive: Opt<boolean> = true;
  canCreateCa: Opt<boolean> = false;
  canCreateCert: Opt<boolean> = false;
  canRevokeCert: Opt<boolean> = false;
  canExportPrivateKey: Opt<boolean> = false;
  canDeleteCa: Opt<boolean> = false;
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const ServiceAccountSchema = new EntitySchema<ServiceAccount>({
  class: ServiceAccount,
  tableName: "service_accounts",
  uniques: [{ properties: ["organization", "name"], name: "service_accounts_organization_id_name_unique" }],
  properties: {
    id: idProperty,
    organization: { kind: "m:1", entity: () => Organization, deleteRule: "restrict" },
    name: { type: "string", length: 128 },
    description: { type: "text", default: "" },
    isActive: { type: "boolean", default: true },
    canCreateCa: { type: "boolean", default: false },
    canCreateCert: { type: "boolean", default: false },
    canRevokeCert: { type: "boolean", default: false },
    canExportPrivateKey: { type: "boolean", default: false },
    canDeleteCa: { type: "boolean", default: false },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});

/**
 * An API key of a service account ("sigil_" + 43 base64url characters).
 * Only its SHA-256 hash and a short prefix are stored; the key is shown once.
 */
export class ApiKey {
  id!: string;
  serviceAccount!: ServiceAccount;
  name!: string;
  /** the first characters of the key, e.g. "sigil_ab12cd", for recognition */
  keyPrefix!: string;
  /** hex SHA-256 of the whole key */
  keyHash!: string;
  /** who created it (user id, plain value) */
  createdById?: string | null;
  createdAt!: Opt<Date>;
  expiresAt?: Date | null;
  lastUsedAt?: Date | null;
  revokedAt?: Date | null;
  /** scopes (src/policy/scopes.ts) restricting the key within its service account; ["*"] for all */
  scopes: Opt<string[]> = ["*"];
}

export const ApiKeySchema = new EntitySchema<ApiKey>({
  class: ApiKey,
  tableName: "api_keys",
  properties: {
    id: idProperty,
    serviceAccount: { kind: "m:1", entity: () => ServiceAccount, deleteRule: "cascade", index: true },
    name: { type: "string", length: 128 },
    keyPrefix: { type: "string", length: 16 },
    keyHash: { type: "string", length: 64, unique: true },
    createdById: { type: "uuid", nullable: true },
    createdAt: createdAtProperty,
    expiresAt: optionalTimestamp,
    lastUsedAt: optionalTimestamp,
    revokedAt: optionalTimestamp,
    scopes: { type: "json", default: '["*"]' },
  },
});
