/**
 * The ACME clean-up job's statements (src/ra/acme/cleanup.ts runs them):
 * each is one bounded batch in one round trip, its rows found through a
 * partial index (migrations/Migration20261202150000AcmeCleanupIndexes.ts)
 * that holds only the rows still to do, so a batch costs the same whatever
 * the size of the history. Rows another session holds are skipped
 * (FOR UPDATE SKIP LOCKED): an ACME request in flight is never waited for,
 * and two instances running the job at once take disjoint rows. Time is
 * always a parameter (the injected clock's), never SQL now(). (The nonce
 * batch is in nonces.ts, with the nonce table's other statements.)
 *
 * The statuses are literals in the SQL text (a partial index serves only a
 * predicate it can prove from the query's own constants, generic plans
 * included); they are the statuses RFC 8555 §7.1.6 turns into
 * invalid/expired once `expires` has passed, which ra/acme/transitions.ts
 * names, and test/unit/ra/cleanup.test.ts holds the two equal.
 */
import { statement } from "../sql.js";
import { sqlOf, type Session } from "./session.js";

/** order statuses that read as invalid once the order's `expires` has passed (RFC 8555 §7.1.6) */
export const EXPIRING_ORDER_STATUSES = ["pending", "ready"] as const;
/** authorization statuses that read as expired once `expires` has passed (RFC 8555 §7.1.6) */
export const EXPIRING_AUTHZ_STATUSES = ["pending", "valid"] as const;

/** the columns the clean-up statements read or write, by table (src/db/store/columns.ts) */
export const CLEANUP_ORDER_COLUMNS = ["id", "status", "expires", "updated_at", "certificate_id"] as const;
export const CLEANUP_AUTHORIZATION_COLUMNS = ["id", "status", "expires", "updated_at"] as const;
export const CLEANUP_ORDER_AUTHORIZATION_COLUMNS = ["order_id", "authorization_id"] as const;
export const CLEANUP_CERTIFICATE_COLUMNS = ["acme_order_id"] as const;

/**
 * pg_try_advisory_xact_lock key of the invalid-order deletion ("sigil-cl" in
 * ASCII): one instance deletes at a time, so an authorization shared by two
 * orders deleted in two concurrent batches cannot be left behind by both
 */
export const CLEANUP_DELETE_LOCK_KEY = "8316291889400472428";

const list = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(", ");
const ORDER_EXPIRING = `status in (${list(EXPIRING_ORDER_STATUSES)})`;
const AUTHZ_EXPIRING = `status in (${list(EXPIRING_AUTHZ_STATUSES)})`;

/*
 * The batch is a CTE: evaluated once. (As an `IN (select ... limit $n for
 * update skip locked)` subquery the planner may rescan it per outer row, and
 * every rescan skips the rows this statement already changed and locks the
 * next $n: one statement then did the whole backlog.)
 */

/** $1 now, $2 batch size: expired pending/ready orders become invalid (§7.1.6); how many */
export const EXPIRE_ORDERS_SQL = `with b as (select id from acme_orders where ${ORDER_EXPIRING} and expires <= $1 order by expires limit $2 for update skip locked),
        u as (update acme_orders o set status = 'invalid', updated_at = $1 from b where o.id = b.id returning 1)
   select count(*)::int as n from u`;

/** $1 now, $2 batch size: expired pending/valid authorizations become expired (§7.1.6); how many */
export const EXPIRE_AUTHORIZATIONS_SQL = `with b as (select id from acme_authorizations where ${AUTHZ_EXPIRING} and expires <= $1 order by expires limit $2 for update skip locked),
        u as (update acme_authorizations a set status = 'expired', updated_at = $1 from b where a.id = b.id returning 1)
   select count(*)::int as n from u`;

/**
 * $1 cutoff (invalid since before it), $2 batch size, $3 now, $4 lock key:
 * orders invalid since before the cutoff are deleted, with the
 * authorizations (and, by their foreign keys, challenges and order links)
 * no other order uses. Kept: an order a certificate names (certificate_id,
 * or certificates.acme_order_id), and an order with an authorization still
 * usable at $3 (pending or valid, unexpired: the account may reuse it, and
 * its URL keeps answering); such an order goes once the authorization has
 * expired. `locked` is false when another instance holds the deletion lock
 * (nothing was done). The two "kept" checks are correlated scalar
 * subqueries, so they run per candidate through an index and stop with the
 * batch's LIMIT (as NOT EXISTS the planner hashed the whole certificates
 * table first, the candidates being many).
 */
export const DELETE_INVALID_ORDERS_SQL = `with l as (select pg_try_advisory_xact_lock($4::bigint) as ok),
        b as (select o.id from acme_orders o
               where o.status = 'invalid' and o.updated_at <= $1 and (select ok from l)
                 and o.certificate_id is null
                 and (select 1 from certificates c where c.acme_order_id = o.id limit 1) is null
                 and (select 1 from acme_order_authorizations oa join acme_authorizations a on a.id = oa.authorization_id
                       where oa.order_id = o.id and a.${AUTHZ_EXPIRING} and a.expires > $3 limit 1) is null
               order by o.updated_at limit $2 for update of o skip locked),
        od as (delete from acme_orders o where o.id in (select id from b) returning 1),
        az as (select distinct oa.authorization_id as id from acme_order_authorizations oa where oa.order_id in (select id from b)),
        ad as (delete from acme_authorizations a where a.id in (select id from az)
                  and not (a.${AUTHZ_EXPIRING} and a.expires > $3)
                  and not exists (select 1 from acme_order_authorizations x where x.authorization_id = a.id and x.order_id not in (select id from b))
                returning 1)
   select (select ok from l) as locked, (select count(*) from od)::int as orders, (select count(*) from ad)::int as authorizations`;

const EXPIRE_ORDERS = statement("sigil_cleanup_expire_orders", EXPIRE_ORDERS_SQL);
const EXPIRE_AUTHORIZATIONS = statement("sigil_cleanup_expire_authorizations", EXPIRE_AUTHORIZATIONS_SQL);
const DELETE_INVALID_ORDERS = statement("sigil_cleanup_delete_invalid_orders", DELETE_INVALID_ORDERS_SQL);

/** the statements, for the EXPLAIN test */
export const CLEANUP_STATEMENTS = { expireOrders: EXPIRE_ORDERS, expireAuthorizations: EXPIRE_AUTHORIZATIONS, deleteInvalidOrders: DELETE_INVALID_ORDERS };

async function count(s: Session, st: typeof EXPIRE_ORDERS, values: unknown[]): Promise<number> {
  const [r] = await sqlOf(s).query<{ n: number }>(st, values);
  return r?.n ?? 0;
}

/** Marks at most `limit` pending/ready orders past `expires` invalid; how many. */
export function expireOrders(s: Session, now: Date, limit: number): Promise<number> {
  return count(s, EXPIRE_ORDERS, [now, limit]);
}

/** Marks at most `limit` pending/valid authorizations past `expires` expired; how many. */
export function expireAuthorizations(s: Session, now: Date, limit: number): Promise<number> {
  return count(s, EXPIRE_AUTHORIZATIONS, [now, limit]);
}

export interface DeletedOrders {
  /** false: another instance holds the deletion lock, nothing was deleted */
  locked: boolean;
  orders: number;
  authorizations: number;
}

/** Deletes at most `limit` orders invalid since before `cutoff` with their unshared, unusable authorizations. */
export async function deleteInvalidOrders(s: Session, cutoff: Date, now: Date, limit: number): Promise<DeletedOrders> {
  const [r] = await sqlOf(s).query<{ locked: boolean; orders: number; authorizations: number }>(DELETE_INVALID_ORDERS, [cutoff, limit, now, CLEANUP_DELETE_LOCK_KEY]);
  return { locked: r?.locked ?? false, orders: r?.orders ?? 0, authorizations: r?.authorizations ?? 0 };
}
