/**
 * The acme_nonces table (RFC 8555 §6.5 anti-replay nonces): inserted in
 * batches, consumed by a single-use DELETE ... RETURNING (a replay, even one
 * racing the first use or against another instance, finds no row), swept
 * when expired. Consuming a kid request's nonce is one statement with the
 * read of its account (the hot path's first round trip) and, for an order
 * poll, of the order, for one request or
 * for the requests of one event-loop turn together. The sweep deletes
 * bounded batches (the ACME clean-up job, src/ra/acme/cleanup.ts, runs it).
 */
import { statement } from "../sql.js";
import { filterOnly } from "./filter-only.js";
import { accountFromRow, accountSelectList, type AccountRecord, type AccountRow } from "./acme-accounts.js";
import { authorizationFromPrefixedRow, prefixedAuthorizationJoin, prefixedAuthorizationSelectList, type AcmeAuthorizationRow, type AcmeChallengeRow } from "./acme-authorizations.js";
import { orderFromPrefixedRow, prefixedOrderSelectList, type AcmeOrderRow } from "./acme-orders.js";
import { sqlOf, type Session } from "./session.js";

/** the columns NONCE_INSERT writes (table acme_nonces) */
export const ACME_NONCE_INSERT_COLUMNS = ["value", "expires_at"] as const;

const INSERT = statement("sigil_acme_nonces_insert", `insert into acme_nonces (value, expires_at) select unnest($1::varchar[]), $2`);
const CONSUME = statement("sigil_acme_nonces_consume", `delete from acme_nonces where value = $1 and expires_at > $2 returning value`);
/**
 * $1 now, $2 batch size: at most $2 expired nonces (oldest first, through the
 * expires_at index), one bounded round trip; rows another session holds are
 * skipped. The batch is a CTE, evaluated once (an `in (select ... limit
 * for update skip locked)` subquery may be rescanned, each rescan taking
 * the next rows, so one statement could empty the whole backlog). A consumed nonce is deleted as it is consumed, so what expires
 * here was handed out and never used.
 */
export const NONCE_SWEEP_SQL = `with b as (select value from acme_nonces where expires_at <= $1 order by expires_at limit $2 for update skip locked),
        d as (delete from acme_nonces n using b where n.value = b.value returning 1)
   select count(*)::int as n from d`;
const SWEEP = statement("sigil_acme_nonces_sweep_batch", NONCE_SWEEP_SQL);

/** the text of the one-request nonce + account statement ($1 nonce, $2 now, $3 account id, $4 directory id) */
export const NONCE_AND_ACCOUNT_SQL = `with n as (delete from acme_nonces where value = $1 and expires_at > $2 returning 1)
   select exists (select 1 from n) as nonce_ok, ${accountSelectList("a")}
     from (values (1)) one left join acme_accounts a on a.id = $3 and ${filterOnly("a.directory_id = $4")}`;

/**
 * the one-request statement that also reads an order or an authorization of
 * that account (the order poll, RFC 8555 §7.1.3, and the authorization read,
 * §7.5, in the nonce + account round trip): $1 nonce, $2 now, $3 account id,
 * $4 directory id, $5 order id, $6 authorization id (either may be null).
 * Both are joined on the account the row found, so another account's order
 * or authorization (or one of an unknown account) reads as none; every row is
 * found by its primary key (the other conditions are filters only, see the
 * batched statement below).
 */
export const NONCE_ACCOUNT_AND_READ_SQL = `with n as (delete from acme_nonces where value = $1 and expires_at > $2 returning 1)
   select exists (select 1 from n) as nonce_ok, ${accountSelectList("a")}, ${prefixedOrderSelectList("o")}, ${prefixedAuthorizationSelectList("z")}
     from (values (1)) one left join acme_accounts a on a.id = $3 and ${filterOnly("a.directory_id = $4")}
     left join acme_orders o on o.id = $5::uuid and ${filterOnly("o.account_id = a.id")}
     left join acme_authorizations z on z.id = $6::uuid and ${filterOnly("z.account_id = a.id")}
     ${prefixedAuthorizationJoin("z")}`;

/**
 * the text of the batched statement ($1 nonces, $2 now, $3 account ids, $4
 * directory ids, $5 order ids, $6 authorization ids, null where a request
 * reads none; one row per request, in order). Each row is found by its
 * primary key, in a LATERAL subquery per request (a LIMIT keeps the planner
 * from flattening it), and the account conditions are filters only
 * (filter-only.ts): as plain joins on ids from the unnest, the plan made
 * while the tables were small, and kept by the prepared statement, found
 * orders and authorizations through the account index and filtered them by
 * id, reading every order of the account per request (34.6 ms per call after
 * 10 minutes at 64 clients, 42k certificates), or hashed Seq Scans of them.
 */
export const NONCES_AND_ACCOUNTS_SQL = `with r as (select * from unnest($1::varchar[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[]) with ordinality as r(nonce, account_id, directory_id, order_id, authz_id, i)),
        n as (delete from acme_nonces where value = any($1::varchar[]) and expires_at > $2 returning value)
   select r.i, n.value is not null as nonce_ok, ${accountSelectList("a")}, ${prefixedOrderSelectList("o")}, ${prefixedAuthorizationSelectList("z")}
     from r left join n on n.value = r.nonce
     left join lateral (select * from acme_accounts where id = r.account_id limit 1) a on ${filterOnly("a.directory_id = r.directory_id")}
     left join lateral (select * from acme_orders where id = r.order_id limit 1) o on ${filterOnly("o.account_id = a.id")}
     left join lateral (select * from acme_authorizations where id = r.authz_id limit 1) z on ${filterOnly("z.account_id = a.id")}
     ${prefixedAuthorizationJoin("z")}
    order by r.i`;

const NONCE_AND_ACCOUNT = statement("sigil_acme_nonces_consume_with_account", NONCE_AND_ACCOUNT_SQL);
const NONCE_ACCOUNT_AND_READ = statement("sigil_acme_nonces_consume_with_account_read", NONCE_ACCOUNT_AND_READ_SQL);
const NONCES_AND_ACCOUNTS = statement("sigil_acme_nonces_consume_with_accounts_reads", NONCES_AND_ACCOUNTS_SQL);

/** the hot-path statements, for the plan checks (test/integration/acme/hot-path-explain.test.ts) */
export const ACME_NONCE_STATEMENTS = { consume: CONSUME, consumeWithAccount: NONCE_AND_ACCOUNT, consumeWithAccountAndRead: NONCE_ACCOUNT_AND_READ, consumeWithAccounts: NONCES_AND_ACCOUNTS, insert: INSERT } as const;

/** Stores freshly minted nonces, all expiring at `expiresAt`. */
export async function insertNonces(s: Session, values: readonly string[], expiresAt: Date): Promise<void> {
  await sqlOf(s).query(INSERT, [values, expiresAt]);
}

/** Consumes a nonce: true when it existed and had not expired at `now` (single use). */
export async function consumeNonce(s: Session, value: string, now: Date): Promise<boolean> {
  return (await sqlOf(s).query<{ value: string }>(CONSUME, [value, now])).length === 1;
}

/** Deletes at most `limit` of the nonces expired at `now` (one batch); how many. */
export async function deleteExpiredNonces(s: Session, now: Date, limit: number): Promise<number> {
  const [r] = await sqlOf(s).query<{ n: number }>(SWEEP, [now, limit]);
  return r?.n ?? 0;
}

/** What a kid request's first round trip learns. */
export interface NonceAndAccount {
  nonceOk: boolean;
  /** the account of that id in that directory, if there is one */
  account: AccountRecord | null;
  /** when the lookup named an order: that order of the account, null when it has none of that id */
  order?: AcmeOrderRow | null;
  /** when the lookup named an authorization: it with its challenges (by type), null when the account has none of that id */
  authorization?: { authorization: AcmeAuthorizationRow; challenges: AcmeChallengeRow[] } | null;
}

export interface NonceAccountLookup {
  nonce: string;
  directoryId: string;
  accountId: string;
  /** an order of the account to read in the same statement (the order poll) */
  orderId?: string;
  /** an authorization of the account to read in the same statement (the authorization read) */
  authorizationId?: string;
}

function withReads(r: NonceAndAccount, q: NonceAccountLookup, row: Record<string, unknown>): NonceAndAccount {
  if (q.orderId !== undefined) r.order = orderFromPrefixedRow(row);
  if (q.authorizationId !== undefined) r.authorization = authorizationFromPrefixedRow(row);
  return r;
}

/**
 * RFC 8555 §6.5 + §6.2 in one statement: consumes the nonce and reads the
 * account. The nonce is consumed whether or not the account exists.
 */
export async function consumeNonceAndFindAccount(s: Session, q: NonceAccountLookup, now: Date): Promise<NonceAndAccount> {
  if (q.orderId !== undefined || q.authorizationId !== undefined) {
    const [r] = await sqlOf(s).query<AccountRow & { nonce_ok: boolean }>(NONCE_ACCOUNT_AND_READ, [q.nonce, now, q.accountId, q.directoryId, q.orderId ?? null, q.authorizationId ?? null]);
    return withReads({ nonceOk: r!.nonce_ok, account: r!.id ? accountFromRow(r!) : null }, q, r as unknown as Record<string, unknown>);
  }
  const [r] = await sqlOf(s).query<AccountRow & { nonce_ok: boolean }>(NONCE_AND_ACCOUNT, [q.nonce, now, q.accountId, q.directoryId]);
  return { nonceOk: r!.nonce_ok, account: r!.id ? accountFromRow(r!) : null };
}

/**
 * consumeNonceAndFindAccount for several requests in one statement (one
 * DELETE of all their nonces, one account read each); the answers in the
 * order of `qs`. The nonces must be distinct (a nonce twice would be
 * accepted for both).
 */
export async function consumeNoncesAndFindAccounts(s: Session, qs: readonly NonceAccountLookup[], now: Date): Promise<NonceAndAccount[]> {
  const rows = await sqlOf(s).query<AccountRow & { i: string; nonce_ok: boolean }>(NONCES_AND_ACCOUNTS, [
    qs.map((q) => q.nonce),
    now,
    qs.map((q) => q.accountId),
    qs.map((q) => q.directoryId),
    qs.map((q) => q.orderId ?? null),
    qs.map((q) => q.authorizationId ?? null),
  ]);
  const out: NonceAndAccount[] = new Array(qs.length);
  for (const row of rows) {
    const i = Number(row.i) - 1;
    out[i] = withReads({ nonceOk: row.nonce_ok, account: row.id ? accountFromRow(row) : null }, qs[i]!, row as unknown as Record<string, unknown>);
  }
  return out;
}
