import { Collection, EntitySchema, PrimaryKeyProp, type Opt } from "@mikro-orm/core";
import type {
  AcmeAccountStatus,
  AcmeAuthzStatus,
  AcmeChallengeStatus,
  AcmeChallengeType,
  AcmeOrderStatus,
  Identifier,
  IdentifierType,
  LeafType,
} from "../../core/types.js";
import { createdAtProperty, idProperty, optionalTimestamp, timestamp, updatedAtProperty } from "./common.js";
import { CertificateAuthority } from "./certificate-authority.js";
import { Organization } from "./organization.js";
import { User } from "./user.js";

/** The kind of leaf an ACME directory issues: serverAuth, clientAuth or both (the one LeafType of src/core/types.ts). */
export type AcmeCertificateKind = LeafType;

/**
 * An organization's ACME endpoint (`/acme/{name}/directory`), bound to one
 * issuing CA, with its policy. Properties with a default are `Opt`, so
 * `em.create` type-checks with what a new directory must have.
 */
export class AcmeDirectory {
  id!: string;
  /** URL path segment; unique across the server */
  name!: string;
  organization!: Organization;
  ca!: CertificateAuthority;
  /** RFC 8555 §7.3.4: newAccount must carry externalAccountBinding */
  eabRequired: Opt<boolean> = false;
  /** DNS names allowed: exact names or suffixes ("example.com" allows it and its subdomains); empty = any */
  allowedDnsSuffixes: Opt<string[]> = [];
  /** IP ranges (CIDR) allowed for RFC 8738 ip identifiers; empty = none */
  allowedIpRanges: Opt<string[]> = [];
  challengeTypes: Opt<AcmeChallengeType[]> = ["http-01", "dns-01", "tls-alpn-01"];
  maxValidityDays: Opt<number> = 90;
  certificateKind: Opt<AcmeCertificateKind> = "server";
  termsOfServiceUrl?: string | null;
  websiteUrl?: string | null;
  caaIdentities: Opt<string[]> = [];
  /** RFC 8659 CAA checked at validation and (when older than 8 hours) at finalize; off by default */
  caaEnabled: Opt<boolean> = false;
  /** networks challenge validation may reach for this directory (SIGIL_VALIDATION_ALLOWED_NETWORKS syntax); empty = the server's */
  validationAllowedNetworks: Opt<string[]> = [];
  /** draft-ietf-acme-profiles-00 §4: the profile of orders that name none (an acme_profiles name); null = none yet */
  defaultProfile?: string | null;
  /** this directory's rate-limit entries over SIGIL_RATE_LIMITS (src/policy/rate-limits.ts DirectoryRateLimit); empty = the server's */
  rateLimits: Opt<Array<{ name: string; disabled: boolean; count: number; periodMs: number }>> = [];
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const AcmeDirectorySchema = new EntitySchema<AcmeDirectory>({
  class: AcmeDirectory,
  tableName: "acme_directories",
  properties: {
    id: idProperty,
    name: { type: "string", length: 64, unique: true },
    organization: { kind: "m:1", entity: () => Organization, deleteRule: "restrict" },
    ca: { kind: "m:1", entity: () => CertificateAuthority, deleteRule: "restrict" },
    eabRequired: { type: "boolean", default: false },
    allowedDnsSuffixes: { type: "json", default: "[]" },
    allowedIpRanges: { type: "json", default: "[]" },
    challengeTypes: { type: "json", default: '["http-01","dns-01","tls-alpn-01"]' },
    maxValidityDays: { type: "integer", default: 90 },
    certificateKind: { type: "string", length: 16, default: "server" },
    termsOfServiceUrl: { type: "string", length: 512, nullable: true },
    websiteUrl: { type: "string", length: 512, nullable: true },
    caaIdentities: { type: "json", default: "[]" },
    caaEnabled: { type: "boolean", default: false },
    validationAllowedNetworks: { type: "json", default: "[]" },
    defaultProfile: { type: "string", length: 64, nullable: true },
    rateLimits: { type: "json", default: "[]" },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});

/**
 * RFC 8555 §7.3.4 External Account Binding key. The id is the `kid` clients
 * send; the HMAC key is stored encrypted (it must be read back to verify the
 * binding's MAC) and is shown once at creation. Usable once.
 */
export class AcmeEabKey {
  id!: string;
  directory!: AcmeDirectory;
  organization!: Organization;
  encryptedHmacKey!: string;
  description: Opt<string> = "";
  createdBy?: User | null;
  usedAt?: Date | null;
  usedByAccountId?: string | null;
  revokedAt?: Date | null;
  createdAt!: Opt<Date>;
}

export const AcmeEabKeySchema = new EntitySchema<AcmeEabKey>({
  class: AcmeEabKey,
  tableName: "acme_eab_keys",
  properties: {
    id: idProperty,
    directory: { kind: "m:1", entity: () => AcmeDirectory, deleteRule: "cascade" },
    organization: { kind: "m:1", entity: () => Organization, deleteRule: "restrict" },
    encryptedHmacKey: { type: "text", lazy: true },
    description: { type: "text", default: "" },
    createdBy: { kind: "m:1", entity: () => User, nullable: true, deleteRule: "restrict" },
    usedAt: optionalTimestamp,
    usedByAccountId: { type: "uuid", nullable: true },
    revokedAt: optionalTimestamp,
    createdAt: createdAtProperty,
  },
});

/** RFC 8555 §7.1.2 account object; identified by its key's RFC 7638 thumbprint within a directory. */
export class AcmeAccount {
  id!: string;
  directory!: AcmeDirectory;
  organization!: Organization;
  /** RFC 7638 JWK thumbprint (SHA-256, base64url) */
  keyThumbprint!: string;
  jwk!: Record<string, unknown>;
  status: Opt<AcmeAccountStatus> = "valid";
  contact: Opt<string[]> = [];
  termsOfServiceAgreed: Opt<boolean> = false;
  eabKeyId?: string | null;
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const AcmeAccountSchema = new EntitySchema<AcmeAccount>({
  class: AcmeAccount,
  tableName: "acme_accounts",
  uniques: [{ name: "acme_accounts_directory_thumbprint_unique", properties: ["directory", "keyThumbprint"] }],
  properties: {
    id: idProperty,
    directory: { kind: "m:1", entity: () => AcmeDirectory, deleteRule: "cascade" },
    organization: { kind: "m:1", entity: () => Organization, deleteRule: "restrict" },
    keyThumbprint: { type: "string", length: 64 },
    jwk: { type: "json" },
    status: { type: "string", length: 16, default: "valid" },
    contact: { type: "json", default: "[]" },
    termsOfServiceAgreed: { type: "boolean", default: false },
    eabKeyId: { type: "uuid", nullable: true },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});

/** RFC 8555 §7.1.3 order object. Authorization ids are kept in order of the identifiers. */
export class AcmeOrder {
  id!: string;
  account!: AcmeAccount;
  directory!: AcmeDirectory;
  status: AcmeOrderStatus = "pending";
  identifiers: Identifier[] = [];
  authorizationIds: string[] = [];
  notBefore?: Date | null;
  notAfter?: Date | null;
  expires!: Date;
  /** RFC 7807 problem document when status = invalid */
  error?: Record<string, unknown> | null;
  certificateId?: string | null;
  /** draft-ietf-acme-profiles-00 §4: the profile the order was placed under */
  profile?: string | null;
  /** RFC 9773 §5 the certID the newOrder named in `replaces`, and the certificate it resolved to */
  replaces?: string | null;
  replacesCertificateId?: string | null;
  /**
   * the same authorizations as rows of acme_order_authorizations, so "the
   * orders using this authorization" is an index lookup, not a scan of the
   * account's orders (never populated on the hot path, which uses SQL)
   */
  authorizations = new Collection<AcmeAuthorization>(this);
  createdAt!: Date;
  updatedAt!: Date;
}

export const AcmeOrderSchema = new EntitySchema<AcmeOrder>({
  class: AcmeOrder,
  tableName: "acme_orders",
  indexes: [
    { properties: ["account", "createdAt"] },
    // the clean-up job (src/db/store/cleanup.ts): expiring orders, and invalid ones past retention (partial: only those rows)
    {
      name: "acme_orders_expiring_index",
      expression: `create index "acme_orders_expiring_index" on "acme_orders" ("expires") where "status" in ('pending', 'ready')`,
    },
    {
      name: "acme_orders_invalid_updated_at_index",
      expression: `create index "acme_orders_invalid_updated_at_index" on "acme_orders" ("updated_at") where "status" = 'invalid'`,
    },
    // RFC 9773 §5: one order that is not invalid replaces a certificate
    {
      name: "acme_orders_replaces_certificate_unique",
      expression: `create unique index "acme_orders_replaces_certificate_unique" on "acme_orders" ("replaces_certificate_id") where "replaces_certificate_id" is not null and "status" <> 'invalid'`,
    },
    // review 2 M1: every order that named a certificate in replaces, invalid ones too (migration ReplacementLimits)
    {
      name: "acme_orders_replaces_certificate_index",
      expression: `create index "acme_orders_replaces_certificate_index" on "acme_orders" ("replaces_certificate_id") where "replaces_certificate_id" is not null`,
    },
  ],
  properties: {
    id: idProperty,
    account: { kind: "m:1", entity: () => AcmeAccount, deleteRule: "cascade" },
    directory: { kind: "m:1", entity: () => AcmeDirectory, deleteRule: "cascade" },
    status: { type: "string", length: 16, default: "pending" },
    identifiers: { type: "json" },
    authorizationIds: { type: "json", default: "[]" },
    notBefore: optionalTimestamp,
    notAfter: optionalTimestamp,
    expires: timestamp,
    error: { type: "json", nullable: true },
    certificateId: { type: "uuid", nullable: true },
    profile: { type: "string", length: 64, nullable: true },
    replaces: { type: "string", length: 255, nullable: true },
    replacesCertificateId: { type: "uuid", nullable: true },
    authorizations: { kind: "m:n", entity: () => AcmeAuthorization, pivotEntity: () => AcmeOrderAuthorizationSchema },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});

/** RFC 8555 §7.1.4 authorization object; reusable by its account while valid. */
export class AcmeAuthorization {
  id!: string;
  account!: AcmeAccount;
  identifierType!: IdentifierType;
  /** without the "*." of a wildcard order identifier */
  identifierValue!: string;
  wildcard = false;
  status: AcmeAuthzStatus = "pending";
  expires!: Date;
  /** when the CAA check (RFC 8659) last passed; null = never checked (CAA off, or an ip identifier) */
  caaCheckedAt?: Date | null;
  createdAt!: Date;
  updatedAt!: Date;
}

export const AcmeAuthorizationSchema = new EntitySchema<AcmeAuthorization>({
  class: AcmeAuthorization,
  tableName: "acme_authorizations",
  indexes: [
    { properties: ["account", "identifierType", "identifierValue"] },
    // the clean-up job (src/db/store/cleanup.ts): authorizations still to expire (partial: only those rows)
    {
      name: "acme_authorizations_expiring_index",
      expression: `create index "acme_authorizations_expiring_index" on "acme_authorizations" ("expires") where "status" in ('pending', 'valid')`,
    },
  ],
  properties: {
    id: idProperty,
    account: { kind: "m:1", entity: () => AcmeAccount, deleteRule: "cascade" },
    identifierType: { type: "string", length: 8 },
    identifierValue: { type: "string", length: 255 },
    wildcard: { type: "boolean", default: false },
    status: { type: "string", length: 16, default: "pending" },
    expires: timestamp,
    caaCheckedAt: optionalTimestamp,
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});

/**
 * Which authorizations an order uses (acme_orders.authorization_ids keeps
 * their order for the wire). Written by the statement that creates the
 * order; the index on authorization_id finds the orders a validation or a
 * deactivation changes, whatever the size of the account's history.
 */
export class AcmeOrderAuthorization {
  order!: AcmeOrder;
  authorization!: AcmeAuthorization;
  [PrimaryKeyProp]?: ["order", "authorization"];
}

export const AcmeOrderAuthorizationSchema = new EntitySchema<AcmeOrderAuthorization>({
  class: AcmeOrderAuthorization,
  tableName: "acme_order_authorizations",
  indexes: [{ properties: ["authorization"] }],
  properties: {
    order: { kind: "m:1", entity: () => AcmeOrder, primary: true, deleteRule: "cascade" },
    authorization: { kind: "m:1", entity: () => AcmeAuthorization, primary: true, deleteRule: "cascade" },
  },
});

/** RFC 8555 §8 challenge object. */
export class AcmeChallenge {
  id!: string;
  authorization!: AcmeAuthorization;
  type!: AcmeChallengeType;
  token!: string;
  status: AcmeChallengeStatus = "pending";
  validated?: Date | null;
  error?: Record<string, unknown> | null;
  /** when the current validation attempt started; guards against starting two */
  processingSince?: Date | null;
  attempts = 0;
  createdAt!: Date;
  updatedAt!: Date;
}

export const AcmeChallengeSchema = new EntitySchema<AcmeChallenge>({
  class: AcmeChallenge,
  tableName: "acme_challenges",
  indexes: [
    // authorization reads join challenges; a challenge POST checks its siblings
    { properties: ["authorization"] },
    // the validation sweeper's scan for challenges left in processing (partial: only in-flight rows)
    {
      name: "acme_challenges_processing_since_index",
      expression: `create index "acme_challenges_processing_since_index" on "acme_challenges" ("processing_since") where "status" = 'processing'`,
    },
  ],
  properties: {
    id: idProperty,
    authorization: { kind: "m:1", entity: () => AcmeAuthorization, deleteRule: "cascade" },
    type: { type: "string", length: 16 },
    token: { type: "string", length: 64 },
    status: { type: "string", length: 16, default: "pending" },
    validated: optionalTimestamp,
    error: { type: "json", nullable: true },
    processingSince: optionalTimestamp,
    attempts: { type: "integer", default: 0 },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});

/** RFC 8555 §6.5 anti-replay nonce; in the database so every instance accepts every other's. Consumed by DELETE. */
export class AcmeNonce {
  value!: string;
  expiresAt!: Date;
}

export const AcmeNonceSchema = new EntitySchema<AcmeNonce>({
  class: AcmeNonce,
  tableName: "acme_nonces",
  indexes: [{ properties: ["expiresAt"] }],
  properties: {
    value: { type: "string", length: 64, primary: true },
    expiresAt: timestamp,
  },
});
