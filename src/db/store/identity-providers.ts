/**
 * The identity_providers and user_identities tables (issue 13 item 5): an
 * organization's OpenID Connect providers and the links of users to their
 * subjects. ORM entities, like the rest of the admin plane. The client
 * secret column is lazy: it is loaded only for the token request.
 */
import { LockMode, raw } from "@mikro-orm/core";
import { IdentityProvider, Organization, User, UserIdentity } from "../entities/index.js";
import { emOf, type Session, type TxSession } from "./session.js";

/** A provider by id; `lock` takes a row lock (FOR UPDATE); `withSecret` loads the encrypted client secret too. */
export async function findIdentityProvider(s: Session, id: string, opts: { lock?: boolean; withSecret?: boolean } = {}): Promise<IdentityProvider | null> {
  return emOf(s).findOne(
    IdentityProvider,
    { id },
    { ...(opts.lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {}), ...(opts.withSecret ? { populate: ["clientSecretEncrypted"] as const } : {}) },
  );
}

/** The enabled providers of an organization, by name. */
export async function enabledIdentityProviders(s: Session, organizationId: string): Promise<IdentityProvider[]> {
  return emOf(s).find(IdentityProvider, { organization: organizationId, enabled: true }, { orderBy: { name: "asc", id: "asc" } });
}

/** Whether the organization has a provider of this name other than `exceptId`. */
export async function identityProviderNameTaken(s: Session, organizationId: string, name: string, exceptId?: string): Promise<boolean> {
  const where = exceptId ? { organization: organizationId, name, id: { $ne: exceptId } } : { organization: organizationId, name };
  return (await emOf(s).count(IdentityProvider, where)) > 0;
}

/** What a new provider row holds. */
export interface NewIdentityProvider {
  id: string;
  organizationId: string;
  name: string;
  issuer: string;
  clientId: string;
  clientSecretEncrypted: string | null;
  allowedEmailDomains: string[];
  roleMappings: IdentityProvider["roleMappings"];
  defaultRole: IdentityProvider["defaultRole"];
  jitProvisioning: boolean;
  scopes: string[];
  enabled: boolean;
}

/** A new provider (written at the transaction's flush). */
export function insertIdentityProvider(tx: TxSession, row: NewIdentityProvider): IdentityProvider {
  const em = emOf(tx);
  const { organizationId, ...rest } = row;
  return em.create(IdentityProvider, { ...rest, organization: em.getReference(Organization, organizationId) });
}

/** A page of providers (of one organization, or all), by name, with the sealed secret loaded, and how many match in all. */
export async function listIdentityProviders(
  s: Session,
  filter: { organizationId?: string },
  window: { offset: number; limit: number },
): Promise<{ items: IdentityProvider[]; total: number }> {
  const where = filter.organizationId ? { organization: filter.organizationId } : {};
  const [items, total] = await emOf(s).findAndCount(IdentityProvider, where, {
    orderBy: { name: "asc", id: "asc" },
    offset: window.offset,
    limit: window.limit,
    // only so the admin plane can say whether a secret is stored; never returned
    populate: ["clientSecretEncrypted"],
  });
  return { items, total };
}

/** Deletes a provider in the transaction; its user links and logins in progress go with it (foreign keys cascade). Returns the links removed. */
export async function deleteIdentityProvider(tx: TxSession, provider: IdentityProvider): Promise<number> {
  const em = emOf(tx);
  const links = await em.nativeDelete(UserIdentity, { provider: provider.id });
  em.remove(provider);
  return links;
}

/** Deletes every user link (provider, sub) of a provider; the number deleted. */
export async function deleteProviderUserIdentities(tx: TxSession, providerId: string): Promise<number> {
  return emOf(tx).nativeDelete(UserIdentity, { provider: providerId });
}

/** The link of a provider's subject, locked (FOR UPDATE), with its user. */
export async function lockUserIdentity(tx: TxSession, providerId: string, subject: string): Promise<UserIdentity | null> {
  return emOf(tx).findOne(UserIdentity, { provider: providerId, subject }, { lockMode: LockMode.PESSIMISTIC_WRITE, populate: ["user"] });
}

/** Whether a user is linked to a subject of this provider already. */
export async function userLinkedToProvider(s: Session, userId: string, providerId: string): Promise<boolean> {
  return (await emOf(s).count(UserIdentity, { user: userId, provider: providerId })) > 0;
}

/** A new link of `user` to the provider's subject (written at the transaction's flush). */
export function insertUserIdentity(tx: TxSession, row: { id: string; user: User; providerId: string; subject: string; email: string | null; lastLoginAt: Date }): UserIdentity {
  const em = emOf(tx);
  return em.create(UserIdentity, {
    id: row.id,
    user: row.user,
    provider: em.getReference(IdentityProvider, row.providerId),
    subject: row.subject,
    email: row.email,
    lastLoginAt: row.lastLoginAt,
  });
}

/** A user of the organization by email (any case), locked, or null. */
export async function lockOrganizationUserByEmail(tx: TxSession, organizationId: string, email: string): Promise<User | null> {
  // the users_email_lower_unique index's expression (src/db/store/users.ts): at most one
  return emOf(tx).findOne(User, { organization: organizationId, [raw((alias) => `lower(${alias}.email)`)]: email.toLowerCase() }, { lockMode: LockMode.PESSIMISTIC_WRITE });
}
