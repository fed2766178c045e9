/**
 * acme_authorizations and acme_challenges (RFC 8555 §7.1.4, §7.5, §8):
 * reads scoped to the owning account, reuse lookups, deactivation, starting
 * a challenge exactly once, and recording a validation outcome together
 * with what it changes (the authorization, the orders using it, the audit
 * entry) in one pipelined round trip.
 *
 * Every statement finds its rows by key: authorizations by id or by the
 * (account_id, identifier_type, identifier_value) index, challenges by id
 * or authorization_id, the orders of an authorization through
 * acme_order_authorizations' authorization_id index.
 */
import type { AcmeAuthzStatus, AcmeChallengeStatus, AcmeChallengeType, AcmeOrderStatus, IdentifierType } from "../../core/types.js";
import { statement } from "../sql.js";
import { auditInsertSql, auditRowsParam, type AuditRow } from "./audit-sql.js";
import { filterOnly } from "./filter-only.js";
import { pipelineOf, sqlOf, type Session, type SqlTx } from "./session.js";

/** raw statements return timestamps as strings */
export function toDate(v: Date | string): Date;
export function toDate(v: Date | string | null): Date | null;
export function toDate(v: Date | string | null): Date | null {
  return v === null ? null : v instanceof Date ? v : new Date(v);
}

/** the ids of the orders using the authorization `$n` (acme_order_authorizations' authorization_id index) */
export function ordersUsingAuthz(param: string): string {
  return `select order_id from acme_order_authorizations where authorization_id = ${param}`;
}

// ---- rows --------------------------------------------------------------------------------

/** A challenge as stored. */
export interface AcmeChallengeRow {
  id: string;
  authorizationId: string;
  type: AcmeChallengeType;
  token: string;
  status: AcmeChallengeStatus;
  validated: Date | null;
  error: Record<string, unknown> | null;
}

/** An authorization as stored (expiry not applied: ra/acme/transitions.ts effectiveAuthzStatus). */
export interface AcmeAuthorizationRow {
  id: string;
  accountId: string;
  identifierType: IdentifierType;
  identifierValue: string;
  wildcard: boolean;
  status: AcmeAuthzStatus;
  expires: Date;
}

interface ChallengeSqlRow {
  id: string;
  authorization_id: string;
  type: AcmeChallengeType;
  token: string;
  status: AcmeChallengeStatus;
  validated: Date | string | null;
  error: Record<string, unknown> | null;
}

interface AuthzSqlRow {
  id: string;
  account_id: string;
  identifier_type: IdentifierType;
  identifier_value: string;
  wildcard: boolean;
  status: AcmeAuthzStatus;
  expires: Date | string;
}

function challengeFromSql(r: ChallengeSqlRow): AcmeChallengeRow {
  return { id: r.id, authorizationId: r.authorization_id, type: r.type, token: r.token, status: r.status, validated: toDate(r.validated), error: r.error };
}

function authzFromSql(r: AuthzSqlRow): AcmeAuthorizationRow {
  return {
    id: r.id,
    accountId: r.account_id,
    identifierType: r.identifier_type,
    identifierValue: r.identifier_value,
    wildcard: r.wildcard,
    status: r.status,
    expires: toDate(r.expires),
  };
}

/** the columns an authorization read selects (table acme_authorizations) */
export const ACME_AUTHORIZATION_COLUMNS = ["id", "account_id", "identifier_type", "identifier_value", "wildcard", "status", "expires"] as const;
/** the columns a challenge read selects (table acme_challenges, alias c) */
export const ACME_CHALLENGE_COLUMNS = ["id", "authorization_id", "type", "token", "status", "validated", "error"] as const;
const AUTHZ_COLUMNS = ACME_AUTHORIZATION_COLUMNS.join(", ");
const CHALLENGE_COLUMNS = ACME_CHALLENGE_COLUMNS.map((c) => `c.${c}`).join(", ");

// ---- authorizations ----------------------------------------------------------------------

const REUSABLE = statement(
  "sigil_acme_authorizations_reusable",
  `select ${AUTHZ_COLUMNS} from acme_authorizations
    where account_id = $1 and identifier_type = any($2::varchar[]) and identifier_value = any($3::varchar[])
      and ${filterOnly("status = 'valid'")} and ${filterOnly("expires > $4")}
    order by expires desc`,
);

/**
 * The account's valid authorizations for these identifier types and values
 * still valid after `validAfter`, longest-lived first, on all three columns
 * of the account/identifier index: the ones a new order may reuse (RFC 8555
 * §7.4), or (validAfter = now) those that let the account revoke (§7.6).
 */
export async function findReusableAuthorizations(
  s: Session,
  q: { accountId: string; identifierTypes: IdentifierType[]; identifierValues: string[]; validAfter: Date },
): Promise<AcmeAuthorizationRow[]> {
  const rows = await sqlOf(s).query<AuthzSqlRow>(REUSABLE, [q.accountId, q.identifierTypes, q.identifierValues, q.validAfter]);
  return rows.map(authzFromSql);
}

const GET_AUTHZ = statement(
  "sigil_acme_authorizations_get",
  `select a.id a_id, a.account_id, a.identifier_type, a.identifier_value, a.wildcard, a.status a_status, a.expires,
          ${CHALLENGE_COLUMNS}
     from acme_authorizations a join acme_challenges c on c.authorization_id = a.id
    where a.id = $1 and a.account_id = $2 order by c.type`,
);

/** An authorization of this account with its challenges (by type), in one query; undefined for another account's. */
export async function findAuthorization(s: Session, id: string, accountId: string): Promise<{ authorization: AcmeAuthorizationRow; challenges: AcmeChallengeRow[] } | undefined> {
  const rows = await sqlOf(s).query<ChallengeSqlRow & { a_id: string; account_id: string; identifier_type: IdentifierType; identifier_value: string; wildcard: boolean; a_status: AcmeAuthzStatus; expires: Date | string }>(
    GET_AUTHZ,
    [id, accountId],
  );
  const r = rows[0];
  if (!r) return undefined;
  return {
    authorization: authzFromSql({ id: r.a_id, account_id: r.account_id, identifier_type: r.identifier_type, identifier_value: r.identifier_value, wildcard: r.wildcard, status: r.a_status, expires: r.expires }),
    challenges: rows.map(challengeFromSql),
  };
}

/**
 * An authorization read carried in another statement (the nonce + account
 * round trip of a kid request, src/db/store/nonces.ts): the columns of
 * authorization `alias` named `z_<column>`, and its challenges by type as one
 * JSON array `z_challenges` from the lateral join prefixedAuthorizationJoin
 * adds (timestamps cut to milliseconds, as the driver reads them).
 */
export function prefixedAuthorizationSelectList(alias: string): string {
  return `${ACME_AUTHORIZATION_COLUMNS.map((c) => `${alias}.${c} as z_${c}`).join(", ")}, ${alias}c.challenges as z_challenges`;
}

/** the lateral join of prefixedAuthorizationSelectList: the challenges of authorization `alias` (the acme_challenges authorization_id index) */
export function prefixedAuthorizationJoin(alias: string): string {
  const fields = ACME_CHALLENGE_COLUMNS.map((c) => `'${c}', ${c === "validated" ? "date_trunc('milliseconds', c.validated)" : `c.${c}`}`).join(", ");
  return `left join lateral (select json_agg(json_build_object(${fields}) order by c.type) as challenges
                              from acme_challenges c where c.authorization_id = ${alias}.id) ${alias}c on true`;
}

/** the authorization and challenges of a row selected with prefixedAuthorizationSelectList (null when there is none) */
export function authorizationFromPrefixedRow(r: Record<string, unknown>): { authorization: AcmeAuthorizationRow; challenges: AcmeChallengeRow[] } | null {
  if (r.z_id === null || r.z_id === undefined) return null;
  const row: Record<string, unknown> = {};
  for (const c of ACME_AUTHORIZATION_COLUMNS) row[c] = r[`z_${c}`];
  const challenges = (r.z_challenges as ChallengeSqlRow[] | null) ?? [];
  // an authorization always has its challenges (written with it); none would be a broken row, read as unknown
  if (challenges.length === 0) return null;
  return { authorization: authzFromSql(row as unknown as AuthzSqlRow), challenges: challenges.map(challengeFromSql) };
}

const LOCK_AUTHZ = statement("sigil_acme_authorizations_lock", `select ${AUTHZ_COLUMNS} from acme_authorizations where id = $1 and account_id = $2 for update`);

/** Opens the transaction with the account's authorization locked (FOR UPDATE); undefined for another account's. */
export async function lockAuthorization(tx: SqlTx, id: string, accountId: string): Promise<AcmeAuthorizationRow | undefined> {
  const [r] = await pipelineOf(tx).query<AuthzSqlRow>(LOCK_AUTHZ, [id, accountId]);
  return r && authzFromSql(r);
}

/**
 * §7.5.2: the authorization deactivated (if its status is one of $6 and it
 * has not expired: its effective status, as before the clean-up job), and
 * the orders using it whose status is one of $5 invalid with $4. Statuses
 * and expiry are filters on the rows found by key (filter-only.ts).
 */
export const DEACTIVATE_AUTHZ = statement(
  "sigil_acme_authorizations_deactivate",
  `with az as (update acme_authorizations set status = 'deactivated', updated_at = $3
                where id = $1 and account_id = $2 and ${filterOnly("status = any($6::varchar[])")} and ${filterOnly("expires > $3")} returning id)
   update acme_orders set status = 'invalid', error = $4::jsonb, updated_at = $3
    where exists (select 1 from az) and id in (${ordersUsingAuthz("$1")}) and account_id = $2 and ${filterOnly("status = any($5::varchar[])")}`,
);

/**
 * Deactivates the locked authorization and invalidates the orders using it,
 * with the transaction's queued audit entries, and COMMIT: one round trip.
 */
export async function commitAuthorizationDeactivated(
  tx: SqlTx,
  q: {
    id: string;
    accountId: string;
    now: Date;
    /** only from these statuses */
    fromStatuses: readonly AcmeAuthzStatus[];
    /** the orders in these statuses become invalid with `orderError` */
    orderStatuses: readonly AcmeOrderStatus[];
    orderError: Record<string, unknown>;
  },
): Promise<void> {
  await pipelineOf(tx).commitWith(DEACTIVATE_AUTHZ, [q.id, q.accountId, q.now, JSON.stringify(q.orderError), q.orderStatuses, q.fromStatuses]);
}

// ---- challenges --------------------------------------------------------------------------

const GET_CHALLENGE = statement(
  "sigil_acme_challenges_get",
  `select ${CHALLENGE_COLUMNS} from acme_challenges c join acme_authorizations a on a.id = c.authorization_id where c.id = $1 and a.account_id = $2`,
);

/** A challenge of one of this account's authorizations; undefined otherwise. */
export async function findChallenge(s: Session, id: string, accountId: string): Promise<AcmeChallengeRow | undefined> {
  const [r] = await sqlOf(s).query<ChallengeSqlRow>(GET_CHALLENGE, [id, accountId]);
  return r && challengeFromSql(r);
}

/**
 * RFC 8555 §7.5.1: pending -> processing with one conditional UPDATE, so of
 * concurrent POSTs exactly one gets the row: only while the challenge, its
 * authorization (unexpired at $1) and all its siblings are pending (§8.2),
 * and, when $4 is given, only a challenge of a type the directory still
 * offers (the caller tells a refusal from a race by reading the row after).
 * The authorization's status and expiry are filters on the row joined by
 * key (filter-only.ts: the generic plan found it through the expiry index,
 * reading every live authorization).
 */
export const START_CHALLENGE = statement(
  "sigil_acme_challenges_start_offered",
  `update acme_challenges c set status = 'processing', processing_since = $1, attempts = c.attempts + 1, updated_at = $1
     from acme_authorizations a
    where c.id = $2 and a.id = c.authorization_id and a.account_id = $3 and c.status = 'pending'
      and ${filterOnly("a.status = 'pending'")} and ${filterOnly("a.expires > $1")}
      and ($4::varchar[] is null or c.type = any($4::varchar[]))
      and not exists (select 1 from acme_challenges o where o.authorization_id = a.id and o.id <> c.id and o.status <> 'pending')
    returning ${CHALLENGE_COLUMNS}, c.attempts, a.identifier_type, a.identifier_value, a.wildcard`,
);

/** A challenge just moved to processing, with what validating it needs. */
export interface StartedChallenge {
  challenge: AcmeChallengeRow;
  /** attempts so far, this one included */
  attempts: number;
  identifierType: IdentifierType;
  identifierValue: string;
  wildcard: boolean;
}

/** Moves the challenge to processing if it may start now; undefined when it did not (another POST won, or it cannot). */
export async function startChallenge(
  s: Session,
  q: { challengeId: string; accountId: string; now: Date; offeredTypes?: readonly AcmeChallengeType[] },
): Promise<StartedChallenge | undefined> {
  const [r] = await sqlOf(s).query<ChallengeSqlRow & { attempts: number; identifier_type: IdentifierType; identifier_value: string; wildcard: boolean }>(START_CHALLENGE, [
    q.now,
    q.challengeId,
    q.accountId,
    q.offeredTypes ?? null,
  ]);
  return r && { challenge: challengeFromSql(r), attempts: r.attempts, identifierType: r.identifier_type, identifierValue: r.identifier_value, wildcard: r.wildcard };
}

/** What validating a processing challenge needs. */
export interface ValidationJobRow {
  type: AcmeChallengeType;
  token: string;
  authorizationId: string;
  attempts: number;
  identifierType: IdentifierType;
  identifierValue: string;
  accountId: string;
  organizationId: string;
  /** the account's directory (its validation network policy applies) */
  directoryId: string;
  /** RFC 7638 thumbprint of the account key (RFC 8555 §8.1 key authorization) */
  keyThumbprint: string;
  /** the authorization is for "*.{identifierValue}" (RFC 8659 §4.3 issuewild) */
  wildcard: boolean;
}

const JOB = statement(
  "sigil_acme_challenges_job",
  `select c.type, c.token, c.authorization_id, c.attempts, a.identifier_type, a.identifier_value, a.account_id, acc.organization_id, acc.directory_id, acc.key_thumbprint, a.wildcard
     from acme_challenges c join acme_authorizations a on a.id = c.authorization_id join acme_accounts acc on acc.id = a.account_id
    where c.id = $1 and c.status = 'processing'`,
);

/** The validation job of a challenge still processing; undefined otherwise. */
export async function findValidationJob(s: Session, challengeId: string): Promise<ValidationJobRow | undefined> {
  const [r] = await sqlOf(s).query<{
    type: AcmeChallengeType;
    token: string;
    authorization_id: string;
    attempts: number;
    identifier_type: IdentifierType;
    identifier_value: string;
    account_id: string;
    organization_id: string;
    directory_id: string;
    key_thumbprint: string;
    wildcard: boolean;
  }>(JOB, [challengeId]);
  return (
    r && {
      type: r.type,
      token: r.token,
      authorizationId: r.authorization_id,
      attempts: r.attempts,
      identifierType: r.identifier_type,
      identifierValue: r.identifier_value,
      accountId: r.account_id,
      organizationId: r.organization_id,
      directoryId: r.directory_id,
      keyThumbprint: r.key_thumbprint,
      wildcard: r.wildcard,
    }
  );
}

const RECLAIM = statement(
  "sigil_acme_challenges_reclaim",
  // the partial index on processing_since (only challenges in flight)
  `update acme_challenges set processing_since = $1, attempts = attempts + 1, updated_at = $1
    where status = 'processing' and processing_since < $2 returning id`,
);

/** Challenges left processing since before `staleBefore` (a stopped instance) restart now: their ids. */
export async function reclaimStaleChallenges(s: Session, now: Date, staleBefore: Date): Promise<string[]> {
  const rows = await sqlOf(s).query<{ id: string }>(RECLAIM, [now, staleBefore]);
  return rows.map((r) => r.id);
}

// ---- recording a validation --------------------------------------------------------------

/**
 * The outcome on the challenge (if still processing), with its audit entry,
 * the authorization locked (one outcome per authorization wins) and the
 * pending orders using it locked too: two authorizations of one order
 * validated at once would each see the other still pending (READ COMMITTED)
 * and leave the order pending for ever; with the lock, the second one's
 * readiness check (the next statement, a fresh snapshot) runs after the
 * first committed. The orders are found through acme_order_authorizations,
 * their status a filter only (filter-only.ts: the generic plan scanned the
 * whole pending/ready expiry index of acme_orders).
 */
export const RECORD_CHALLENGE = statement(
  "sigil_acme_challenges_record",
  `with az as (select status from acme_authorizations where id = $1 for update),
        ch as (update acme_challenges set status = $2, validated = $3, error = $4::jsonb, processing_since = null, updated_at = $5
                where id = $6 and status = 'processing'
                returning id, authorization_id, type, token, status, validated, error),
        ord as (select id from acme_orders where id in (${ordersUsingAuthz("$1")}) and account_id = $7 and ${filterOnly("status = 'pending'")} order by id for update),
        au as (${auditInsertSql("$8")} where exists (select 1 from ch))
   select (select status from az) as authz_status, (select count(*) from ord)::int as orders_locked, ch.*
     from (values (1)) one left join ch on true`,
);

/**
 * RFC 8555 §7.1.6 "all authorizations valid, so the order is ready": the
 * authorization valid, if still pending and the challenge was recorded
 * valid by this transaction (RECORD_CHALLENGE wrote updated_at = $2); then
 * each pending order using it whose other authorizations are all valid at
 * $2 becomes ready (a new statement: a snapshot taken after
 * RECORD_CHALLENGE got the order locks; it still sees this authorization
 * pending, hence `a.id <> $3`). Order statuses are filters only
 * (filter-only.ts).
 */
export const AUTHZ_VALID = statement(
  "sigil_acme_authorizations_validated",
  `with az as (update acme_authorizations set status = 'valid', expires = $1, updated_at = $2, caa_checked_at = $6
                where id = $3 and ${filterOnly("status = 'pending'")}
                  and exists (select 1 from acme_challenges where id = $5 and status = 'valid' and updated_at = $2)
                returning id)
   update acme_orders o set status = 'ready', updated_at = $2
    where exists (select 1 from az) and o.id in (${ordersUsingAuthz("$3")}) and o.account_id = $4 and ${filterOnly("o.status = 'pending'")}
      and not exists (select 1 from acme_order_authorizations oa join acme_authorizations a on a.id = oa.authorization_id
                       where oa.order_id = o.id and a.id <> $3 and (a.status <> 'valid' or a.expires <= $2))`,
);

/**
 * "An authorization became invalid, so its orders are invalid": the
 * authorization invalid (same conditions as AUTHZ_VALID), and the orders
 * using it whose status is one of $6 invalid with $3.
 */
export const AUTHZ_INVALID = statement(
  "sigil_acme_authorizations_failed",
  `with az as (update acme_authorizations set status = 'invalid', updated_at = $1
                where id = $2 and ${filterOnly("status = 'pending'")}
                  and exists (select 1 from acme_challenges where id = $5 and status = 'invalid' and updated_at = $1)
                returning id)
   update acme_orders set status = 'invalid', error = $3::jsonb, updated_at = $1
    where exists (select 1 from az) and id in (${ordersUsingAuthz("$2")}) and account_id = $4 and ${filterOnly("status = any($6::varchar[])")}`,
);

/** A validation outcome to record. */
export type RecordedOutcome =
  | {
      status: "valid";
      /** when the now-valid authorization stops being reusable */
      authzExpires: Date;
      /** when its CAA check passed (RFC 8659); null or absent: not checked */
      caaCheckedAt?: Date | null;
    }
  | {
      status: "invalid";
      /** the challenge's error (RFC 8555 §8) */
      challengeError: Record<string, unknown>;
      /** the error of the orders it invalidates (§7.1.3) */
      orderError: Record<string, unknown>;
      /** the order statuses that become invalid */
      orderStatuses: readonly AcmeOrderStatus[];
    };

/**
 * One round trip: BEGIN, RECORD_CHALLENGE (with `audit`, written only if
 * the challenge was recorded), AUTHZ_VALID or AUTHZ_INVALID (each a no-op
 * unless the challenge was recorded and the authorization was pending),
 * COMMIT. The challenge as recorded; undefined if it was no longer
 * processing (nothing written).
 */
export async function commitValidationOutcome(
  tx: SqlTx,
  q: { challengeId: string; authorizationId: string; accountId: string; now: Date; outcome: RecordedOutcome; audit: AuditRow },
): Promise<AcmeChallengeRow | undefined> {
  const { outcome, now } = q;
  const authzUpdate =
    outcome.status === "valid"
      ? { sql: AUTHZ_VALID, values: [outcome.authzExpires, now, q.authorizationId, q.accountId, q.challengeId, outcome.caaCheckedAt ?? null] }
      : { sql: AUTHZ_INVALID, values: [now, q.authorizationId, JSON.stringify(outcome.orderError), q.accountId, q.challengeId, outcome.orderStatuses] };
  const [recorded] = await pipelineOf(tx).commitWithAll([
    {
      sql: RECORD_CHALLENGE,
      values: [
        q.authorizationId,
        outcome.status,
        outcome.status === "valid" ? now : null,
        outcome.status === "invalid" ? JSON.stringify(outcome.challengeError) : null,
        now,
        q.challengeId,
        q.accountId,
        auditRowsParam([q.audit]),
      ],
    },
    authzUpdate,
  ]);
  const r = (recorded as Array<Partial<ChallengeSqlRow> & { authz_status: string | null }>)[0];
  return r?.id ? challengeFromSql(r as ChallengeSqlRow) : undefined;
}

// ---- CAA (RFC 8659) at finalize ------------------------------------------------------------

const ORDER_CAA = statement(
  "sigil_acme_authorizations_order_caa",
  `select a.id, a.identifier_type, a.identifier_value, a.wildcard, a.status, a.caa_checked_at,
          (select c.type from acme_challenges c where c.authorization_id = a.id and c.status = 'valid' order by c.type limit 1) as method
     from acme_order_authorizations oa join acme_authorizations a on a.id = oa.authorization_id
    where oa.order_id = $1 and a.account_id = $2
    order by a.id`,
);

/** What the finalize CAA recheck needs of one authorization of an order. */
export interface AuthorizationCaaState {
  id: string;
  identifierType: IdentifierType;
  identifierValue: string;
  wildcard: boolean;
  status: AcmeAuthzStatus;
  /** when its CAA check last passed; null = never */
  caaCheckedAt: Date | null;
  /** the challenge type that validated it (RFC 8657 §4 validationmethods); null when none is valid */
  method: AcmeChallengeType | null;
}

/** The authorizations of this account's order with their CAA state (by the order/authorization primary key). */
export async function findOrderCaaStates(s: Session, orderId: string, accountId: string): Promise<AuthorizationCaaState[]> {
  const rows = await sqlOf(s).query<{
    id: string;
    identifier_type: IdentifierType;
    identifier_value: string;
    wildcard: boolean;
    status: AcmeAuthzStatus;
    caa_checked_at: Date | string | null;
    method: AcmeChallengeType | null;
  }>(ORDER_CAA, [orderId, accountId]);
  return rows.map((r) => ({
    id: r.id,
    identifierType: r.identifier_type,
    identifierValue: r.identifier_value,
    wildcard: r.wildcard,
    status: r.status,
    caaCheckedAt: toDate(r.caa_checked_at),
    method: r.method,
  }));
}

const CAA_CHECKED = statement(
  "sigil_acme_authorizations_caa_checked",
  `update acme_authorizations set caa_checked_at = greatest(caa_checked_at, $2) where id = any($1::uuid[])`,
);

/** Records that the CAA check of these authorizations passed, started at `at` (never moves a later check back). */
export async function markCaaChecked(s: Session, ids: readonly string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await sqlOf(s).query(CAA_CHECKED, [ids, at]);
}

const ORDER_CAA_STALE = statement(
  "sigil_acme_authorizations_order_caa_stale",
  `select a.identifier_value, a.wildcard
     from acme_order_authorizations oa join acme_authorizations a on a.id = oa.authorization_id
    where oa.order_id = $1 and a.identifier_type = 'dns' and (a.caa_checked_at is null or a.caa_checked_at < $2)
    order by a.id
    limit 100`,
);

/**
 * In finalize's transaction, after the order lock: the dns authorizations of
 * the order whose CAA check started before `since` (or never ran), as
 * names ("*." for a wildcard).
 */
export async function findOrderStaleCaa(tx: SqlTx, orderId: string, since: Date): Promise<string[]> {
  const rows = await pipelineOf(tx).query<{ identifier_value: string; wildcard: boolean }>(ORDER_CAA_STALE, [orderId, since]);
  return rows.map((r) => (r.wildcard ? `*.${r.identifier_value}` : r.identifier_value));
}

/** every statement of this module, for tests that check their plans (test/integration/acme/hot-path-explain.test.ts) */
export const ACME_AUTHORIZATION_STATEMENTS = {
  reusable: REUSABLE,
  get: GET_AUTHZ,
  lock: LOCK_AUTHZ,
  deactivate: DEACTIVATE_AUTHZ,
  getChallenge: GET_CHALLENGE,
  startChallenge: START_CHALLENGE,
  job: JOB,
  reclaim: RECLAIM,
  recordChallenge: RECORD_CHALLENGE,
  authzValid: AUTHZ_VALID,
  authzInvalid: AUTHZ_INVALID,
  orderCaa: ORDER_CAA,
  caaChecked: CAA_CHECKED,
  orderCaaStale: ORDER_CAA_STALE,
} as const;
