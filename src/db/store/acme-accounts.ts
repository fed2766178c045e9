/**
 * The acme_accounts table (RFC 8555 §7.1.2 account objects), and the
 * account's own authorizations where the account aggregate changes them
 * (deactivation, §7.3.6). Accounts are read and written with prepared SQL on
 * any session (the ACME hot path reads them in pipelined transactions and in
 * the nonce statement of src/db/store/nonces.ts); the admin plane's lists
 * read entities through the ORM. One mapping from a row: `accountFromRow`.
 */
import type { JWK } from "jose";
import type { AcmeAccountStatus } from "../../core/types.js";
import { AcmeAccount } from "../entities/index.js";
import { statement } from "../sql.js";
import { emOf, sqlOf, type Session, type TxSession } from "./session.js";

/** An ACME account as ra/ and the front end see it. */
export interface AccountRecord {
  id: string;
  directoryId: string;
  organizationId: string;
  /** RFC 7638 thumbprint of the canonical JWK: the key's identity within the directory */
  keyThumbprint: string;
  /** the public key, canonical (RFC 7517 members only) */
  jwk: JWK;
  status: AcmeAccountStatus;
  contact: string[];
  termsOfServiceAgreed: boolean;
  eabKeyId: string | null;
}

/** the columns every account read selects, in this order (table acme_accounts) */
export const ACME_ACCOUNT_COLUMNS = [
  "id",
  "directory_id",
  "organization_id",
  "key_thumbprint",
  "jwk",
  "status",
  "contact",
  "terms_of_service_agreed",
  "eab_key_id",
] as const;

/** the columns ACCOUNT_INSERT writes, in parameter order (table acme_accounts) */
export const ACME_ACCOUNT_INSERT_COLUMNS = [...ACME_ACCOUNT_COLUMNS, "created_at", "updated_at"] as const;

/** a row of ACME_ACCOUNT_COLUMNS as the driver returns it */
export interface AccountRow {
  id: string;
  directory_id: string;
  organization_id: string;
  key_thumbprint: string;
  jwk: JWK;
  status: AcmeAccountStatus;
  contact: string[];
  terms_of_service_agreed: boolean;
  eab_key_id: string | null;
}

/** the select list of the account columns of table alias `alias` (for statements that join accounts) */
export function accountSelectList(alias: string): string {
  return ACME_ACCOUNT_COLUMNS.map((c) => `${alias}.${c}`).join(", ");
}

/** The one mapping of an account row. */
export function accountFromRow(r: AccountRow): AccountRecord {
  return {
    id: r.id,
    directoryId: r.directory_id,
    organizationId: r.organization_id,
    keyThumbprint: r.key_thumbprint,
    jwk: r.jwk,
    status: r.status,
    contact: r.contact,
    termsOfServiceAgreed: r.terms_of_service_agreed,
    eabKeyId: r.eab_key_id,
  };
}

const COLUMNS = ACME_ACCOUNT_COLUMNS.join(", ");

const BY_ID = statement("sigil_acme_accounts_by_id", `select ${COLUMNS} from acme_accounts where id = $1 and directory_id = $2`);
const BY_THUMBPRINT = statement("sigil_acme_accounts_by_thumbprint", `select ${COLUMNS} from acme_accounts where directory_id = $1 and key_thumbprint = $2`);
const LOCK = statement("sigil_acme_accounts_lock", `select ${COLUMNS} from acme_accounts where id = $1 for update`);
const INSERT = statement(
  "sigil_acme_accounts_insert",
  `insert into acme_accounts (${ACME_ACCOUNT_INSERT_COLUMNS.join(", ")})
   values ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, $8, $9, $10, $10) returning ${COLUMNS}`,
);
const UPDATE = statement(
  "sigil_acme_accounts_update",
  // null parameters leave a column as it is
  `update acme_accounts set contact = coalesce($2::jsonb, contact), terms_of_service_agreed = coalesce($3, terms_of_service_agreed), updated_at = $4
    where id = $1 returning ${COLUMNS}`,
);
const SET_KEY = statement(
  "sigil_acme_accounts_set_key",
  `update acme_accounts set jwk = $2::jsonb, key_thumbprint = $3, updated_at = $4 where id = $1 returning ${COLUMNS}`,
);
const DEACTIVATE = statement(
  "sigil_acme_accounts_deactivate",
  // RFC 8555 §7.3.6 and §7.1.6: the account and, in the same statement, its pending and valid authorizations
  // (effective status: one past expires is expired, whether or not the clean-up job wrote it yet)
  `with a as (update acme_accounts set status = 'deactivated', updated_at = $2 where id = $1 and status = 'valid' returning ${COLUMNS}),
        z as (update acme_authorizations set status = 'deactivated', updated_at = $2
               where account_id = $1 and status in ('pending', 'valid') and expires > $2 and exists (select 1 from a) returning id)
   select a.*, (select count(*) from z)::int as authorizations_deactivated from a`,
);

export async function findAccountById(s: Session, directoryId: string, id: string): Promise<AccountRecord | undefined> {
  const [r] = await sqlOf(s).query<AccountRow>(BY_ID, [id, directoryId]);
  return r && accountFromRow(r);
}

export async function findAccountByThumbprint(s: Session, directoryId: string, thumbprint: string): Promise<AccountRecord | undefined> {
  const [r] = await sqlOf(s).query<AccountRow>(BY_THUMBPRINT, [directoryId, thumbprint]);
  return r && accountFromRow(r);
}

/** Reads and row-locks (FOR UPDATE) an account for a change in this transaction. */
export async function lockAccount(tx: TxSession, id: string): Promise<AccountRecord | undefined> {
  const [r] = await sqlOf(tx).query<AccountRow>(LOCK, [id]);
  return r && accountFromRow(r);
}

/** A new account; a second account for one key in a directory fails on the (directory, thumbprint) unique key. */
export async function insertAccount(tx: TxSession, a: AccountRecord, now: Date): Promise<AccountRecord> {
  const [r] = await sqlOf(tx).query<AccountRow>(INSERT, [
    a.id,
    a.directoryId,
    a.organizationId,
    a.keyThumbprint,
    JSON.stringify(a.jwk),
    a.status,
    JSON.stringify(a.contact),
    a.termsOfServiceAgreed,
    a.eabKeyId,
    now,
  ]);
  return accountFromRow(r!);
}

/** RFC 8555 §7.3.2: contact and/or terms agreement (undefined leaves a field unchanged). */
export async function updateAccount(tx: TxSession, id: string, patch: { contact?: string[]; termsOfServiceAgreed?: boolean }, now: Date): Promise<AccountRecord | undefined> {
  const [r] = await sqlOf(tx).query<AccountRow>(UPDATE, [
    id,
    patch.contact === undefined ? null : JSON.stringify(patch.contact),
    patch.termsOfServiceAgreed ?? null,
    now,
  ]);
  return r && accountFromRow(r);
}

/** RFC 8555 §7.3.5: the account's new key (a key another account of the directory holds fails on the unique key). */
export async function setAccountKey(tx: TxSession, id: string, jwk: JWK, thumbprint: string, now: Date): Promise<AccountRecord | undefined> {
  const [r] = await sqlOf(tx).query<AccountRow>(SET_KEY, [id, JSON.stringify(jwk), thumbprint, now]);
  return r && accountFromRow(r);
}

/**
 * RFC 8555 §7.3.6: a valid account becomes deactivated and its pending and
 * valid authorizations deactivated (§7.1.6), in one statement. Undefined
 * when the account was not valid (nothing changed).
 */
export async function deactivateAccount(tx: TxSession, id: string, now: Date): Promise<{ account: AccountRecord; authorizationsDeactivated: number } | undefined> {
  const [r] = await sqlOf(tx).query<AccountRow & { authorizations_deactivated: number }>(DEACTIVATE, [id, now]);
  return r && { account: accountFromRow(r), authorizationsDeactivated: r.authorizations_deactivated };
}

// ---- the admin plane's reads (entities) --------------------------------------------------

/** An account entity by id (any directory), for the admin plane. */
export async function getAccountEntity(s: Session, id: string): Promise<AcmeAccount | null> {
  return emOf(s).findOne(AcmeAccount, { id });
}

/** How many accounts a directory has. */
export async function countDirectoryAccounts(s: Session, directoryId: string): Promise<number> {
  return emOf(s).count(AcmeAccount, { directory: directoryId });
}

export interface AccountListFilter {
  organizationId?: string;
  directoryId?: string;
  status?: AcmeAccountStatus;
}

/** A page of account entities, oldest first. */
export async function listAccountEntities(s: Session, f: AccountListFilter, page: { limit: number; offset: number }): Promise<{ items: AcmeAccount[]; total: number }> {
  const where: { organization?: string; directory?: string; status?: AcmeAccountStatus } = {};
  if (f.organizationId) where.organization = f.organizationId;
  if (f.directoryId) where.directory = f.directoryId;
  if (f.status) where.status = f.status;
  const [items, total] = await emOf(s).findAndCount(AcmeAccount, where, { orderBy: { createdAt: "asc", id: "asc" }, limit: page.limit, offset: page.offset });
  return { items, total };
}

