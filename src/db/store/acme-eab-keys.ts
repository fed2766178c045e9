/**
 * The acme_eab_keys table: RFC 8555 §7.3.4 External Account Binding keys.
 * The HMAC key is stored encrypted (ra/ encrypts and decrypts it; this
 * module only moves the ciphertext). Using a key (newAccount) is prepared SQL
 * on any transaction; creating, listing and revoking keys (admin plane) go
 * through the ORM and return entities.
 */
import { AcmeDirectory, AcmeEabKey, Organization, User } from "../entities/index.js";
import { LockMode } from "@mikro-orm/core";
import { statement } from "../sql.js";
import { emOf, sqlOf, type OrmTx, type Session, type TxSession } from "./session.js";

/** What binding an account with a key needs (the ciphertext is decrypted by ra/). */
export interface EabKeyForUse {
  id: string;
  organizationId: string;
  encryptedHmacKey: string;
  usedAt: Date | null;
  revokedAt: Date | null;
}

const LOCK_FOR_USE = statement(
  "sigil_acme_eab_keys_lock_for_use",
  // FOR UPDATE: a concurrent second use of the key waits for this transaction and then sees used_at
  `select id, organization_id, encrypted_hmac_key, used_at, revoked_at from acme_eab_keys where id = $1 and directory_id = $2 for update`,
);
const MARK_USED = statement("sigil_acme_eab_keys_mark_used", `update acme_eab_keys set used_at = $2, used_by_account_id = $3 where id = $1 and used_at is null returning id`);

/** Row-locks a directory's EAB key for binding an account (undefined when the directory has no such key). */
export async function lockEabKeyForUse(tx: TxSession, id: string, directoryId: string): Promise<EabKeyForUse | undefined> {
  const [r] = await sqlOf(tx).query<{ id: string; organization_id: string; encrypted_hmac_key: string; used_at: string | null; revoked_at: string | null }>(
    LOCK_FOR_USE,
    [id, directoryId],
  );
  return (
    r && {
      id: r.id,
      organizationId: r.organization_id,
      encryptedHmacKey: r.encrypted_hmac_key,
      usedAt: r.used_at === null ? null : new Date(r.used_at),
      revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
    }
  );
}

/** Marks a key used by an account (RFC 8555 §7.3.4: usable once); false when it was already used. */
export async function markEabKeyUsed(tx: TxSession, id: string, accountId: string, now: Date): Promise<boolean> {
  return (await sqlOf(tx).query(MARK_USED, [id, now, accountId])).length === 1;
}

export interface NewEabKey {
  id: string;
  directoryId: string;
  organizationId: string;
  /** the HMAC key encrypted under the master key, bound to `id` */
  encryptedHmacKey: string;
  description: string;
  /** the user who created it (a leaver's unused keys are revoked with it, src/ra/users.ts) */
  createdById?: string | null;
}

/** A new EAB key (written with the transaction's flush). */
export function insertEabKey(tx: OrmTx, k: NewEabKey): AcmeEabKey {
  const em = emOf(tx);
  const key = em.create(AcmeEabKey, {
    id: k.id,
    directory: em.getReference(AcmeDirectory, k.directoryId),
    organization: em.getReference(Organization, k.organizationId),
    encryptedHmacKey: k.encryptedHmacKey,
    description: k.description,
    createdBy: k.createdById ? em.getReference(User, k.createdById) : null,
  });
  em.persist(key);
  return key;
}

/** An EAB key entity by id (row-locked in a transaction when `lock`). */
export async function getEabKeyEntity(s: Session, id: string, opts: { lock?: boolean } = {}): Promise<AcmeEabKey | null> {
  return emOf(s).findOne(AcmeEabKey, { id }, opts.lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
}

/** Revokes a key (it binds no new account); the change is written with the transaction. */
export function markEabKeyRevoked(key: AcmeEabKey, now: Date): void {
  key.revokedAt = now;
}

export interface EabKeyListFilter {
  organizationId?: string;
  directoryId?: string;
  includeRevoked: boolean;
}

/** A page of EAB key entities, oldest first (never the HMAC key: it is a lazy property). */
export async function listEabKeyEntities(s: Session, f: EabKeyListFilter, page: { limit: number; offset: number }): Promise<{ items: AcmeEabKey[]; total: number }> {
  const where: { organization?: string; directory?: string; revokedAt?: null } = {};
  if (f.organizationId) where.organization = f.organizationId;
  if (f.directoryId) where.directory = f.directoryId;
  if (!f.includeRevoked) where.revokedAt = null;
  const [items, total] = await emOf(s).findAndCount(AcmeEabKey, where, { orderBy: { createdAt: "asc", id: "asc" }, limit: page.limit, offset: page.offset });
  return { items, total };
}
