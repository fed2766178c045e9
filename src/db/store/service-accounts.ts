/**
 * The service_accounts and api_keys tables: an organization's non-human
 * principals and their keys (stored as SHA-256 hashes with a display
 * prefix). ORM entities, like the rest of the admin plane.
 */
import { LockMode } from "@mikro-orm/core";
import { ApiKey, Organization, ServiceAccount } from "../entities/index.js";
import { emOf, type Session, type TxSession } from "./session.js";

/** A service account by id; `lock` takes a row lock (FOR UPDATE) for a change in the session's transaction. */
export async function findServiceAccount(s: Session, id: string, opts: { lock?: boolean } = {}): Promise<ServiceAccount | null> {
  return emOf(s).findOne(ServiceAccount, { id }, opts.lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
}

/** Whether the organization has a service account of this name other than `exceptId`. */
export async function serviceAccountNameTaken(s: Session, organizationId: string, name: string, exceptId?: string): Promise<boolean> {
  const where = exceptId ? { organization: organizationId, name, id: { $ne: exceptId } } : { organization: organizationId, name };
  return (await emOf(s).count(ServiceAccount, where)) > 0;
}

/** A new service account (written at the transaction's flush); flags start cleared. */
export function insertServiceAccount(tx: TxSession, row: { id: string; organizationId: string; name: string; description: string }): ServiceAccount {
  const em = emOf(tx);
  return em.create(ServiceAccount, {
    id: row.id,
    organization: em.getReference(Organization, row.organizationId),
    name: row.name,
    description: row.description,
  });
}

/** A page of service accounts (of one organization, or all), by name, and how many match in all. */
export async function listServiceAccounts(
  s: Session,
  filter: { organizationId?: string },
  window: { offset: number; limit: number },
): Promise<{ items: ServiceAccount[]; total: number }> {
  const where = filter.organizationId ? { organization: filter.organizationId } : {};
  const [items, total] = await emOf(s).findAndCount(ServiceAccount, where, { orderBy: { name: "asc", id: "asc" }, offset: window.offset, limit: window.limit });
  return { items, total };
}

/** Deletes a service account and its API keys in the transaction; returns how many keys went with it. */
export async function deleteServiceAccount(tx: TxSession, sa: ServiceAccount): Promise<number> {
  const em = emOf(tx);
  const keys = await em.nativeDelete(ApiKey, { serviceAccount: sa.id });
  em.remove(sa);
  return keys;
}

/** A new API key row (written at the transaction's flush). */
export function insertApiKey(
  tx: TxSession,
  row: {
    id: string;
    serviceAccount: ServiceAccount;
    name: string;
    keyPrefix: string;
    keyHash: string;
    createdById: string | null;
    createdAt: Date;
    expiresAt: Date | null;
    scopes: string[];
  },
): ApiKey {
  return emOf(tx).create(ApiKey, row);
}

/** An API key by id; `lock` takes a row lock (FOR UPDATE). */
export async function findApiKey(s: Session, id: string, opts: { lock?: boolean } = {}): Promise<ApiKey | null> {
  return emOf(s).findOne(ApiKey, { id }, opts.lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
}

/** An API key by the hash of the key, with its service account (authentication). */
export async function findApiKeyByHash(s: Session, keyHash: string): Promise<ApiKey | null> {
  return emOf(s).findOne(ApiKey, { keyHash }, { populate: ["serviceAccount"] });
}

/** Records when an API key was last used. */
export async function touchApiKey(s: Session, id: string, lastUsedAt: Date): Promise<void> {
  await emOf(s).nativeUpdate(ApiKey, { id }, { lastUsedAt });
}

/** A page of a service account's API keys (revoked ones only when asked), oldest first. */
export async function listApiKeys(
  s: Session,
  filter: { serviceAccountId: string; includeRevoked: boolean },
  window: { offset: number; limit: number },
): Promise<{ items: ApiKey[]; total: number }> {
  const where = filter.includeRevoked ? { serviceAccount: filter.serviceAccountId } : { serviceAccount: filter.serviceAccountId, revokedAt: null };
  const [items, total] = await emOf(s).findAndCount(ApiKey, where, { orderBy: { createdAt: "asc", id: "asc" }, offset: window.offset, limit: window.limit });
  return { items, total };
}
