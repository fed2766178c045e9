/**
 * ACME rate-limit state: the GCRA buckets (table rate_limit_buckets), the
 * counts the count limits read, and operators' overrides (table
 * acme_rate_limit_overrides). The rules are src/policy/rate-limits.ts; ra/
 * (src/ra/acme/rate-limits.ts) decides which buckets a request spends.
 *
 * Spending is one statement that checks and writes at once
 * (`insert ... on conflict do update ... where <conforms> returning`), so
 * every instance on the database shares one budget and two concurrent
 * requests can never both take the last token: the row lock of the upsert
 * orders them and the second sees the first one's TAT. A refused request
 * leaves its row unchanged; the statement returns the row's TAT so the
 * caller can say when to retry.
 */
import type { AcmeDirectory } from "../entities/index.js";
import { statement } from "../sql.js";
import type { DirectoryRateLimitRow } from "./acme-directories.js";
import { sqlOf, type Session } from "./session.js";

/** the columns the bucket statements write and read (table rate_limit_buckets) */
export const RATE_LIMIT_BUCKET_COLUMNS = ["limit_name", "bucket_key", "tat"] as const;
/** the columns an override read selects and its insert writes (table acme_rate_limit_overrides) */
export const RATE_LIMIT_OVERRIDE_COLUMNS = [
  "id",
  "directory_id",
  "organization_id",
  "account_id",
  "eab_key_id",
  "limit_name",
  "unlimited",
  "count",
  "period_ms",
  "comment",
  "created_at",
  "updated_at",
] as const;

/** One bucket to spend one token of: GCRA emission interval and burst tolerance in milliseconds. */
export interface BucketSpend {
  limitName: string;
  key: string;
  emissionMs: number;
  burstMs: number;
}

/** What spending did to each bucket: spent or refused, and its TAT (after the spend, or the unchanged one). */
export interface BucketOutcome {
  limitName: string;
  key: string;
  spent: boolean;
  /** the bucket's TAT in ms since the epoch; null when the row is not visible (a concurrent first insert) */
  tatMs: number | null;
  /** with a pending-authorizations cap: the account's pending authorizations (counted up to the cap); 0 without */
  pending: number;
}

/** A count the spend must stay under: the account's pending authorizations below `cap` (nothing is spent otherwise). */
export interface PendingCap {
  accountId: string;
  cap: number;
}

const SPEND = statement(
  "sigil_rate_limit_spend",
  `with pending as (
     -- the pending-authorizations cap ($6 account, $7 cap; null: none), counted up to the cap by the account's index
     select case when $6::uuid is null then 0 else (
       select count(*)::int from (
         select 1 from acme_authorizations where account_id = $6::uuid and status = 'pending' and expires > $5::timestamptz limit $7::int
       ) t) end as n
   ),
   req as (
     select * from unnest($1::text[], $2::text[], $3::float8[], $4::float8[]) as r(limit_name, bucket_key, emission_ms, burst_ms)
   ),
   spent as (
     insert into rate_limit_buckets as b (limit_name, bucket_key, tat)
       select limit_name, bucket_key, $5::timestamptz + emission_ms * interval '1 millisecond' from req
        where emission_ms <= burst_ms and (select n from pending) < coalesce($7::int, 2147483647)
     on conflict (limit_name, bucket_key) do update
       -- excluded.tat - now is this bucket's emission interval
       set tat = greatest(b.tat, $5::timestamptz) + (excluded.tat - $5::timestamptz)
       where greatest(b.tat, $5::timestamptz) + (excluded.tat - $5::timestamptz)
         <= $5::timestamptz + (select r.burst_ms from req r where r.limit_name = excluded.limit_name and r.bucket_key = excluded.bucket_key) * interval '1 millisecond'
     returning b.limit_name, b.bucket_key, b.tat
   )
   select r.limit_name, r.bucket_key, s.tat is not null as spent, coalesce(s.tat, cur.tat) as tat, (select n from pending) as pending
     from req r
     left join spent s on s.limit_name = r.limit_name and s.bucket_key = r.bucket_key
     left join rate_limit_buckets cur on cur.limit_name = r.limit_name and cur.bucket_key = r.bucket_key`,
);

const REFUND = statement(
  "sigil_rate_limit_refund",
  `update rate_limit_buckets b set tat = b.tat - r.emission_ms * interval '1 millisecond'
     from unnest($1::text[], $2::text[], $3::float8[]) as r(limit_name, bucket_key, emission_ms)
    where b.limit_name = r.limit_name and b.bucket_key = r.bucket_key`,
);

const READ = statement(
  "sigil_rate_limit_read",
  `select b.limit_name, b.bucket_key, b.tat
     from unnest($1::text[], $2::text[]) as r(limit_name, bucket_key)
     join rate_limit_buckets b on b.limit_name = r.limit_name and b.bucket_key = r.bucket_key`,
);

const ms = (v: Date | string | null): number | null => (v === null ? null : new Date(v).getTime());

/**
 * Spends one token of each bucket that has one, in one statement; with
 * `pending`, only while the account's pending authorizations are below the
 * cap (newOrder: the count and the spend in one round trip). With several
 * buckets that must all be spent or none, run it in a transaction and roll
 * back when one was refused (the ra module does).
 */
export async function spendRateLimitBuckets(s: Session, items: readonly BucketSpend[], now: Date, pending?: PendingCap): Promise<BucketOutcome[]> {
  if (!items.length) return [];
  const rows = await sqlOf(s).query<{ limit_name: string; bucket_key: string; spent: boolean; tat: Date | string | null; pending: number }>(SPEND, [
    items.map((i) => i.limitName),
    items.map((i) => i.key),
    items.map((i) => i.emissionMs),
    items.map((i) => i.burstMs),
    now,
    pending?.accountId ?? null,
    pending?.cap ?? null,
  ]);
  return rows.map((r) => ({ limitName: r.limit_name, key: r.bucket_key, spent: r.spent, tatMs: ms(r.tat), pending: r.pending }));
}

/** gives back one token of each bucket (the operation it paid for did not happen) */
export async function refundRateLimitBuckets(s: Session, items: ReadonlyArray<Pick<BucketSpend, "limitName" | "key" | "emissionMs">>): Promise<void> {
  if (!items.length) return;
  await sqlOf(s).query(REFUND, [items.map((i) => i.limitName), items.map((i) => i.key), items.map((i) => i.emissionMs)]);
}

/** the TATs of the buckets that have a row */
export async function readRateLimitBuckets(s: Session, items: ReadonlyArray<Pick<BucketSpend, "limitName" | "key">>): Promise<Array<{ limitName: string; key: string; tatMs: number }>> {
  if (!items.length) return [];
  const rows = await sqlOf(s).query<{ limit_name: string; bucket_key: string; tat: Date | string }>(READ, [items.map((i) => i.limitName), items.map((i) => i.key)]);
  return rows.map((r) => ({ limitName: r.limit_name, key: r.bucket_key, tatMs: new Date(r.tat).getTime() }));
}

const FAILED_VALIDATION_BUCKET = statement(
  "sigil_rate_limit_failed_validation_bucket",
  // the bucket key is src/policy/rate-limits.ts failedValidationKey: account id / type : lower-case value
  `select a.identifier_type, a.identifier_value, c.status, b.tat
     from acme_challenges c
     join acme_authorizations a on a.id = c.authorization_id and a.account_id = $2
     left join rate_limit_buckets b on b.limit_name = $3
       and b.bucket_key = a.account_id::text || '/' || a.identifier_type || ':' || lower(a.identifier_value)
    where c.id = $1`,
);

/**
 * The failed-validations bucket of a challenge's identifier for its
 * account: the identifier, the challenge's status, and the bucket's TAT
 * (null: no row). null when the challenge is not the account's.
 */
export async function findFailedValidationBucket(
  s: Session,
  q: { challengeId: string; accountId: string; limitName: string },
): Promise<{ identifierType: string; identifierValue: string; challengeStatus: string; tatMs: number | null } | null> {
  const [r] = await sqlOf(s).query<{ identifier_type: string; identifier_value: string; status: string; tat: Date | string | null }>(FAILED_VALIDATION_BUCKET, [
    q.challengeId,
    q.accountId,
    q.limitName,
  ]);
  return r ? { identifierType: r.identifier_type, identifierValue: r.identifier_value, challengeStatus: r.status, tatMs: ms(r.tat) } : null;
}

const PENDING_AUTHORIZATIONS = statement(
  "sigil_rate_limit_pending_authorizations",
  // bounded: counting stops at the cap (the account's index on acme_authorizations)
  `select count(*)::int as n from (
     select 1 from acme_authorizations where account_id = $1 and status = 'pending' and expires > $2 limit $3
   ) t`,
);

/** the account's pending, unexpired authorizations, counted up to `cap` */
export async function countPendingAuthorizations(s: Session, accountId: string, now: Date, cap: number): Promise<number> {
  const [r] = await sqlOf(s).query<{ n: number }>(PENDING_AUTHORIZATIONS, [accountId, now, cap]);
  return r?.n ?? 0;
}

const DELETE_EXPIRED = statement(
  "sigil_rate_limit_delete_expired",
  // a CTE, not "in (select ... limit)": the planner may rescan such a subquery and delete far more than the batch
  // (review 2 clean-up note); rate_limit_buckets_tat_index finds them; a bucket locked by a spend is left for the next run
  `with doomed as (select limit_name, bucket_key from rate_limit_buckets where tat < $1 limit $2 for update skip locked)
   delete from rate_limit_buckets b using doomed d where b.limit_name = d.limit_name and b.bucket_key = d.bucket_key returning 1`,
);

/**
 * Deletes up to `batch` buckets whose TAT has passed (a full bucket, the
 * same as no row); returns how many. For the periodic clean-up.
 */
export async function deleteExpiredRateLimitBuckets(s: Session, now: Date, batch: number): Promise<number> {
  const rows = await sqlOf(s).query(DELETE_EXPIRED, [now, batch]);
  return rows.length;
}

// ---------------------------------------------------------------------------
// Overrides

export interface RateLimitOverrideRow {
  id: string;
  directoryId: string;
  organizationId: string;
  accountId: string | null;
  eabKeyId: string | null;
  limitName: string;
  unlimited: boolean;
  count: number;
  periodMs: number;
  comment: string;
  createdAt: Date;
  updatedAt: Date;
}

interface OverrideDbRow {
  id: string;
  directory_id: string;
  organization_id: string;
  account_id: string | null;
  eab_key_id: string | null;
  limit_name: string;
  unlimited: boolean;
  count: number;
  period_ms: string | number;
  comment: string;
  created_at: Date | string;
  updated_at: Date | string;
}

function overrideFromRow(r: OverrideDbRow): RateLimitOverrideRow {
  return {
    id: r.id,
    directoryId: r.directory_id,
    organizationId: r.organization_id,
    accountId: r.account_id,
    eabKeyId: r.eab_key_id,
    limitName: r.limit_name,
    unlimited: r.unlimited,
    count: r.count,
    periodMs: Number(r.period_ms),
    comment: r.comment,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

const OVERRIDE_SELECT = `select ${RATE_LIMIT_OVERRIDE_COLUMNS.join(", ")} from acme_rate_limit_overrides`;

const DIRECTORY_HAS_OVERRIDES = statement(
  "sigil_rate_limit_directory_has_overrides",
  `select exists (select 1 from acme_rate_limit_overrides where directory_id = $1) as any`,
);

/** whether any override exists in a directory (most have none: their accounts need no override lookup) */
export async function directoryHasOverrides(s: Session, directoryId: string): Promise<boolean> {
  const [r] = await sqlOf(s).query<{ any: boolean }>(DIRECTORY_HAS_OVERRIDES, [directoryId]);
  return r?.any === true;
}

const OVERRIDES_FOR = statement(
  "sigil_rate_limit_overrides_for",
  `${OVERRIDE_SELECT} where account_id = $1
      or eab_key_id = (select eab_key_id from acme_accounts where id = $1 and eab_key_id is not null)`,
);

/**
 * The overrides that apply to an account: its own, and those of the EAB
 * key it was created with (its own come first and win where both name a limit).
 */
export async function findOverridesFor(s: Session, accountId: string): Promise<RateLimitOverrideRow[]> {
  const rows = (await sqlOf(s).query<OverrideDbRow>(OVERRIDES_FOR, [accountId])).map(overrideFromRow);
  return rows.sort((a, b) => Number(a.accountId === null) - Number(b.accountId === null));
}

const UPSERT_ACCOUNT = statement(
  "sigil_rate_limit_override_upsert_account",
  `insert into acme_rate_limit_overrides (${RATE_LIMIT_OVERRIDE_COLUMNS.join(", ")})
     values ($1, $2, $3, $4, null, $5, $6, $7, $8, $9, $10, $10)
   on conflict (account_id, limit_name) do update
     set unlimited = excluded.unlimited, count = excluded.count, period_ms = excluded.period_ms, comment = excluded.comment, updated_at = excluded.updated_at
   returning ${RATE_LIMIT_OVERRIDE_COLUMNS.join(", ")}`,
);

const UPSERT_EAB = statement(
  "sigil_rate_limit_override_upsert_eab",
  `insert into acme_rate_limit_overrides (${RATE_LIMIT_OVERRIDE_COLUMNS.join(", ")})
     values ($1, $2, $3, null, $4, $5, $6, $7, $8, $9, $10, $10)
   on conflict (eab_key_id, limit_name) do update
     set unlimited = excluded.unlimited, count = excluded.count, period_ms = excluded.period_ms, comment = excluded.comment, updated_at = excluded.updated_at
   returning ${RATE_LIMIT_OVERRIDE_COLUMNS.join(", ")}`,
);

/** creates or replaces the override of one limit for an account or an EAB key (exactly one given) */
export async function upsertOverride(
  s: Session,
  o: { id: string; directoryId: string; organizationId: string; accountId?: string; eabKeyId?: string; limitName: string; unlimited: boolean; count: number; periodMs: number; comment: string },
  now: Date,
): Promise<RateLimitOverrideRow> {
  const subject = o.accountId ?? o.eabKeyId;
  const [r] = await sqlOf(s).query<OverrideDbRow>(o.accountId ? UPSERT_ACCOUNT : UPSERT_EAB, [
    o.id,
    o.directoryId,
    o.organizationId,
    subject,
    o.limitName,
    o.unlimited,
    o.count,
    o.periodMs,
    o.comment,
    now,
  ]);
  return overrideFromRow(r!);
}

const LIST = statement(
  "sigil_rate_limit_overrides_list",
  `${OVERRIDE_SELECT}
    where directory_id = $1 and ($2::uuid is null or account_id = $2::uuid) and ($3::uuid is null or eab_key_id = $3::uuid)
      and ($4::uuid is null or id > $4::uuid)
    order by id limit $5`,
);

/** a directory's overrides by id (optionally of one account or EAB key), after `after`, at most `limit` */
export async function listOverrides(
  s: Session,
  q: { directoryId: string; accountId?: string; eabKeyId?: string; after?: string; limit: number },
): Promise<RateLimitOverrideRow[]> {
  const rows = await sqlOf(s).query<OverrideDbRow>(LIST, [q.directoryId, q.accountId ?? null, q.eabKeyId ?? null, q.after ?? null, q.limit]);
  return rows.map(overrideFromRow);
}

const FIND = statement("sigil_rate_limit_override_find", `${OVERRIDE_SELECT} where id = $1`);

export async function findOverride(s: Session, id: string): Promise<RateLimitOverrideRow | null> {
  const [r] = await sqlOf(s).query<OverrideDbRow>(FIND, [id]);
  return r ? overrideFromRow(r) : null;
}

const DELETE = statement("sigil_rate_limit_override_delete", `delete from acme_rate_limit_overrides where id = $1 returning id`);

export async function deleteOverride(s: Session, id: string): Promise<boolean> {
  return (await sqlOf(s).query(DELETE, [id])).length > 0;
}

const SUBJECT_ACCOUNT = statement(
  "sigil_rate_limit_subject_account",
  `select id, directory_id, organization_id from acme_accounts where id = $1`,
);
const SUBJECT_EAB = statement(
  "sigil_rate_limit_subject_eab",
  `select id, directory_id, organization_id from acme_eab_keys where id = $1`,
);

/** the directory and organization of an override's subject (an account or an EAB key), null when it does not exist */
export async function findOverrideSubject(s: Session, subject: { accountId?: string; eabKeyId?: string }): Promise<{ directoryId: string; organizationId: string } | null> {
  const [r] = await sqlOf(s).query<{ directory_id: string; organization_id: string }>(subject.accountId ? SUBJECT_ACCOUNT : SUBJECT_EAB, [subject.accountId ?? subject.eabKeyId]);
  return r ? { directoryId: r.directory_id, organizationId: r.organization_id } : null;
}

// ---------------------------------------------------------------------------
// A directory's entries

const DIRECTORY_RATE_LIMITS = statement(
  "sigil_rate_limit_directory",
  `select organization_id, rate_limits from acme_directories where id = $1`,
);

/** a directory's organization and rate-limit entries; null when there is no such directory */
export async function findDirectoryRateLimits(s: Session, directoryId: string): Promise<{ organizationId: string; rateLimits: DirectoryRateLimitRow[] } | null> {
  const [r] = await sqlOf(s).query<{ organization_id: string; rate_limits: DirectoryRateLimitRow[] }>(DIRECTORY_RATE_LIMITS, [directoryId]);
  return r ? { organizationId: r.organization_id, rateLimits: r.rate_limits } : null;
}

/** replaces a directory entity's entries (written with the transaction's flush); whether they changed */
export function setDirectoryRateLimits(dir: AcmeDirectory, entries: DirectoryRateLimitRow[]): boolean {
  if (JSON.stringify(dir.rateLimits ?? []) === JSON.stringify(entries)) return false;
  dir.rateLimits = entries;
  return true;
}
