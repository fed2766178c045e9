import { EntitySchema, type Opt } from "@mikro-orm/core";
import type { UserRole } from "../../core/types.js";
import { createdAtProperty, idProperty, optionalTimestamp, timestamp, updatedAtProperty } from "./common.js";
import { Organization } from "./organization.js";
import { User } from "./user.js";

/** One claim-to-role rule of an identity provider (src/ra/oidc/mapping.ts). */
export interface StoredRoleMapping {
  claim: string;
  value: string;
  role: "admin" | "user";
  capabilities: string[];
}

/**
 * An OpenID Connect provider of an organization (issue 13 item 5,
 * docs/sso.md). The client secret is stored encrypted under the master key
 * (AAD names the row), never returned.
 */
export class IdentityProvider {
  id!: string;
  organization!: Organization;
  name!: string;
  issuer!: string;
  clientId!: string;
  /** MasterKeyRing blob; null for a public client */
  clientSecretEncrypted?: string | null;
  allowedEmailDomains!: Opt<string[]>;
  roleMappings!: Opt<StoredRoleMapping[]>;
  /** null: a subject no rule matches is refused */
  defaultRole?: Exclude<UserRole, "superuser"> | null;
  jitProvisioning: Opt<boolean> = false;
  scopes!: Opt<string[]>;
  enabled: Opt<boolean> = true;
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const IdentityProviderSchema = new EntitySchema<IdentityProvider>({
  class: IdentityProvider,
  tableName: "identity_providers",
  uniques: [{ properties: ["organization", "name"], name: "identity_providers_organization_id_name_unique" }],
  properties: {
    id: idProperty,
    organization: { kind: "m:1", entity: () => Organization, deleteRule: "cascade" },
    name: { type: "string", length: 128 },
    issuer: { type: "string", length: 512 },
    clientId: { type: "string", length: 255 },
    clientSecretEncrypted: { type: "text", nullable: true, lazy: true },
    allowedEmailDomains: { type: "json", default: "[]" },
    roleMappings: { type: "json", default: "[]" },
    defaultRole: { type: "string", length: 16, nullable: true },
    jitProvisioning: { type: "boolean", default: false },
    scopes: { type: "json", default: "[]" },
    enabled: { type: "boolean", default: true },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});

/** A user linked to a provider's subject (OIDC Core §2: iss + sub identify the end-user). */
export class UserIdentity {
  id!: string;
  user!: User;
  provider!: IdentityProvider;
  subject!: string;
  /** the email the provider last asserted */
  email?: string | null;
  createdAt!: Opt<Date>;
  lastLoginAt?: Date | null;
}

export const UserIdentitySchema = new EntitySchema<UserIdentity>({
  class: UserIdentity,
  tableName: "user_identities",
  uniques: [{ properties: ["provider", "subject"], name: "user_identities_provider_id_subject_unique" }],
  properties: {
    id: idProperty,
    user: { kind: "m:1", entity: () => User, deleteRule: "cascade", index: true },
    provider: { kind: "m:1", entity: () => IdentityProvider, deleteRule: "cascade" },
    subject: { type: "string", length: 255 },
    email: { type: "string", length: 254, nullable: true },
    createdAt: createdAtProperty,
    lastLoginAt: optionalTimestamp,
  },
});

/**
 * A sign-in in progress (BeginSsoLogin .. CompleteSsoLogin): the state and
 * binding as SHA-256 hashes, the nonce, and the PKCE code verifier (RFC 7636
 * §4.1) encrypted under the master key. Single use (usedAt), 10 minutes.
 */
export class OidcLogin {
  id!: string;
  provider!: IdentityProvider;
  stateHash!: string;
  bindingHash!: string;
  nonce!: string;
  codeVerifierEncrypted!: string;
  redirectUri!: string;
  createdAt!: Opt<Date>;
  expiresAt!: Date;
  usedAt?: Date | null;
}

export const OidcLoginSchema = new EntitySchema<OidcLogin>({
  class: OidcLogin,
  tableName: "oidc_logins",
  indexes: [{ name: "oidc_logins_expires_at_index", properties: ["expiresAt"] }],
  properties: {
    id: idProperty,
    provider: { kind: "m:1", entity: () => IdentityProvider, deleteRule: "cascade", index: true },
    stateHash: { type: "string", length: 64, unique: true },
    bindingHash: { type: "string", length: 64 },
    nonce: { type: "string", length: 64 },
    codeVerifierEncrypted: { type: "text" },
    redirectUri: { type: "string", length: 2048 },
    createdAt: createdAtProperty,
    expiresAt: timestamp,
    usedAt: optionalTimestamp,
  },
});
