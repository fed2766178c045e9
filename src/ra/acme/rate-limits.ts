/**
 * The rate-limit checks the ACME flows make (docs/rate-limits.md). The
 * rules and the GCRA arithmetic are src/policy/rate-limits.ts; the buckets
 * are rows in PostgreSQL (src/db/store/rate-limits.ts), checked and spent by
 * one statement, so every instance on the database shares one budget.
 *
 * - newAccount: new-accounts-per-ip (and per IPv6 /48) of the client address
 * - newOrder: pending-authorizations-per-account (a count), then
 *   new-orders-per-account (ARI replacement orders are exempt from the latter)
 * - finalize: certificates-per-registered-domain, before the signing
 *   transaction, one bucket per registered domain of the order, all or none
 *   (replacements exempt)
 * - challenge POST: failed-validations-per-account-identifier is checked
 *   (not spent); a validation that ends invalid spends it
 *
 * A refusal is RFC 8555 §6.6 rateLimited (429) with Retry-After and a
 * Link rel="help" to the operator's documentation. An operation that spent
 * a token and then failed gives it back (refund), so only what happened counts.
 */
import { SigilError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import {
  findFailedValidationBucket,
  findOverride,
  findOverridesFor,
  findOverrideSubject,
  countPendingAuthorizations,
  deleteOverride,
  directoryHasOverrides,
  findDirectoryRateLimits,
  listOverrides,
  readRateLimitBuckets,
  refundRateLimitBuckets,
  spendRateLimitBuckets,
  upsertOverride,
  type BucketSpend,
  type RateLimitOverrideRow,
} from "../../db/store/rate-limits.js";
import { findOrder } from "../../db/store/acme-orders.js";
import { findReplacedNames } from "../../db/store/acme-replacements.js";
import { authorize } from "../../policy/permissions.js";
import {
  checkDirectoryRateLimits,
  checkRateLimit,
  clientAddressKeys,
  directoryRateLimits,
  effectiveLimit,
  failedValidationKey,
  formatRateLimit,
  gcra,
  gcraParams,
  isRateLimitName,
  RATE_LIMIT_INFO,
  RATE_LIMIT_NAMES,
  RateLimitSpecError,
  registeredDomains,
  retryAfterSeconds,
  type DirectoryRateLimit,
  type RateLimit,
  type RateLimitName,
  type RateLimitOverrideValue,
  type RateLimitSet,
} from "../../policy/rate-limits.js";
import type { Actor } from "../actor.js";
import { inSqlTransaction, inTransaction, type RaContext } from "../context.js";
import { optionalId, requireId } from "../input.js";
import type { AccountInfo } from "./accounts.js";
import type { DirectoryInfo } from "./directories.js";
import { AcmeError } from "./errors.js";
import { effectiveOrderStatus } from "./transitions.js";

export interface RateLimiterOptions {
  /** SIGIL_RATE_LIMITS, parsed */
  server: RateLimitSet;
  /** SIGIL_RATE_LIMITS_HELP_URL; default the directory's website, else its rate-limits page */
  helpUrl?: string;
  /** SIGIL_ACME_URL (the base of the default help page) */
  acmeUrl?: string;
  /** how long an account's overrides are kept (default 5 s, like the directory cache) */
  overrideTtlMs?: number;
}

/** what a directory stores (acme_directories.rate_limits), as ra/ reads it */
export type DirectoryRateLimitEntries = DirectoryRateLimit[];

/** A spent set of buckets that can be given back when the operation it paid for fails. */
export interface RateLimitReceipt {
  refund(): Promise<void>;
}

const NOTHING_SPENT: RateLimitReceipt = { refund: async () => {} };

/** Fixed user-facing messages of refusals, next to the rules. */
const MESSAGES: Record<RateLimitName, string> = {
  "new-accounts-per-ip": "too many new accounts from this IP address",
  "new-accounts-per-ipv6-range": "too many new accounts from this IPv6 range",
  "new-orders-per-account": "too many new orders for this account",
  "certificates-per-registered-domain": "too many certificates for this registered domain",
  "failed-validations-per-account-identifier": "too many failed validations of this identifier for this account",
  "pending-authorizations-per-account": "too many pending authorizations for this account",
};

/**
 * The server's rate limits with the per-account override cache. One per
 * RaContext (`ctx.rateLimits`); absent, no limit applies (direct ra/ tests).
 */
export class RateLimiter {
  /** called once per refusal with the limit's name (the metrics counter) */
  onRefused: ((limit: RateLimitName) => void) | undefined;
  private readonly overrides = new Map<string, { at: number; values: RateLimitOverrideValue[] }>();
  /** per directory: whether it has any override (most have none, and then no account needs a lookup) */
  private readonly directoriesWithOverrides = new Map<string, { at: number; any: boolean }>();
  private readonly bySet = new WeakMap<object, RateLimitSet>();
  private readonly ttlMs: number;

  constructor(readonly opts: RateLimiterOptions) {
    this.ttlMs = opts.overrideTtlMs ?? 5_000;
  }

  /** the limits in force in a directory: the server's with the directory's entries */
  limitsOf(dir: DirectoryInfo): RateLimitSet {
    const entries = dir.rateLimits;
    if (!entries?.length) return this.opts.server;
    const hit = this.bySet.get(entries);
    if (hit) return hit;
    const set = directoryRateLimits(this.opts.server, entries as DirectoryRateLimit[]);
    this.bySet.set(entries, set);
    return set;
  }

  helpUrl(dir: DirectoryInfo): string {
    return this.opts.helpUrl ?? dir.websiteUrl ?? `${this.opts.acmeUrl ?? ""}/acme/${encodeURIComponent(dir.name)}/rate-limits`;
  }

  /** an account's overrides (its own first, then its EAB key's), cached briefly; none when its directory has none */
  async overridesOf(ctx: RaContext, accountId: string, directoryId: string): Promise<RateLimitOverrideValue[]> {
    const now = Date.now();
    let dir = this.directoriesWithOverrides.get(directoryId);
    if (!dir || now - dir.at >= this.ttlMs) {
      dir = { at: now, any: await directoryHasOverrides(ctx.store, directoryId) };
      if (this.directoriesWithOverrides.size > 10_000) this.directoriesWithOverrides.clear();
      this.directoriesWithOverrides.set(directoryId, dir);
    }
    if (!dir.any) return [];
    const hit = this.overrides.get(accountId);
    if (hit && now - hit.at < this.ttlMs) return hit.values;
    const rows = await findOverridesFor(ctx.store, accountId);
    const values: RateLimitOverrideValue[] = [];
    for (const r of rows) if (isRateLimitName(r.limitName)) values.push({ name: r.limitName, unlimited: r.unlimited, count: r.count, periodMs: r.periodMs });
    if (this.overrides.size > 10_000) this.overrides.clear();
    this.overrides.set(accountId, { at: now, values });
    return values;
  }

  /** orders this instance created, for their finalize here (saves reading the order back): id -> what the spend needs */
  private readonly recentOrders = new Map<string, { accountId: string; identifiers: Array<{ type: string; value: string }>; replacement: boolean }>();

  /** remembers an order just created in a directory that limits certificates */
  rememberOrder(dir: DirectoryInfo, accountId: string, order: { id: string; identifiers: Array<{ type: string; value: string }>; replaces?: string | null }): void {
    if (!this.limitsOf(dir)["certificates-per-registered-domain"]) return;
    if (this.recentOrders.size >= 10_000) this.recentOrders.delete(this.recentOrders.keys().next().value!);
    this.recentOrders.set(order.id, { accountId, identifiers: order.identifiers, replacement: Boolean(order.replaces) });
  }

  /** takes a remembered order of this account (once) */
  takeOrder(orderId: string, accountId: string): { identifiers: Array<{ type: string; value: string }>; replacement: boolean } | undefined {
    const o = this.recentOrders.get(orderId);
    if (!o || o.accountId !== accountId) return undefined;
    this.recentOrders.delete(orderId);
    return o;
  }

  /** forgets cached overrides (an admin change on this instance shows at once here) */
  invalidateOverrides(): void {
    this.overrides.clear();
    this.directoriesWithOverrides.clear();
  }

  refused(dir: DirectoryInfo, name: RateLimitName, limit: RateLimit, retryMs: number, nowMs: number, what?: string): AcmeError {
    this.onRefused?.(name);
    const retryAfter = retryAfterSeconds(retryMs);
    const at = new Date(nowMs + retryAfter * 1000).toISOString();
    const rule = limit.periodMs === 0 ? `at most ${limit.count}` : `${formatRateLimit(limit)}`;
    const detail = `${MESSAGES[name]}${what ? ` (${what})` : ""}: limit ${name} is ${rule}; retry after ${at}`;
    return new AcmeError("resourceExhausted", "rateLimited", detail, { status: 429, retryAfter, helpUrl: this.helpUrl(dir) });
  }
}

interface Planned {
  name: RateLimitName;
  limit: RateLimit;
  spend: BucketSpend;
  /** what the bucket counts, for the refusal's detail */
  what?: string;
}

function planned(name: RateLimitName, limit: RateLimit, key: string, what?: string): Planned {
  const { emissionMs, burstMs } = gcraParams(limit);
  return { name, limit, spend: { limitName: name, key, emissionMs, burstMs }, what };
}

/**
 * Spends one token of each planned bucket, all or none: one statement for
 * one bucket; several in one transaction that rolls back when one is refused.
 * Throws rateLimited naming the first refused limit.
 */
async function spendAll(
  ctx: RaContext,
  limiter: RateLimiter,
  dir: DirectoryInfo,
  plan: Planned[],
  pending?: { accountId: string; limit: RateLimit },
): Promise<RateLimitReceipt> {
  if (!plan.length) return NOTHING_SPENT;
  const now = ctx.clock.now();
  const items = plan.map((p) => p.spend);
  let outcome;
  if (items.length === 1) {
    outcome = await spendRateLimitBuckets(ctx.store, items, now, pending && { accountId: pending.accountId, cap: pending.limit.count });
    // Boulder's rule: refused once the account holds the cap; finishing or deactivating one frees a place
    if (pending && outcome[0]!.pending >= pending.limit.count) throw limiter.refused(dir, "pending-authorizations-per-account", pending.limit, 60_000, now.getTime());
  } else if (pending) throw new Error("a pending-authorizations cap goes with one bucket");
  else {
    const refusedMarker = new Error("refused");
    try {
      outcome = await inSqlTransaction(ctx, async (tx) => {
        const r = await spendRateLimitBuckets(tx, items, now);
        if (r.some((x) => !x.spent)) throw Object.assign(refusedMarker, { outcome: r });
        return r;
      });
    } catch (e) {
      if (e !== refusedMarker) throw e;
      outcome = (e as Error & { outcome: Awaited<ReturnType<typeof spendRateLimitBuckets>> }).outcome;
    }
  }
  const refused = outcome.findIndex((o) => !o.spent);
  if (refused >= 0) {
    const p = plan.find((x) => x.spend.limitName === outcome[refused]!.limitName && x.spend.key === outcome[refused]!.key) ?? plan[refused]!;
    const tat = outcome[refused]!.tatMs;
    const d = tat === null ? { allowed: false as const, retryAfterMs: p.spend.emissionMs } : gcra(p.limit, tat, now.getTime());
    throw limiter.refused(dir, p.name, p.limit, d.allowed ? p.spend.emissionMs : d.retryAfterMs, now.getTime(), p.what);
  }
  return {
    refund: async () => {
      await refundRateLimitBuckets(ctx.store, items);
    },
  };
}

/** runs `op` after spending; a failed `op` gives the tokens back (a failed refund is only logged by the caller's error) */
export async function withSpent<T>(receipt: RateLimitReceipt, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    await receipt.refund().catch(() => undefined);
    throw e;
  }
}

/** RFC 8555 §7.3 newAccount: new-accounts-per-ip and per IPv6 /48 of the client address. */
export async function spendNewAccount(ctx: RaContext, dir: DirectoryInfo, clientAddress: string | undefined): Promise<RateLimitReceipt> {
  const limiter = ctx.rateLimits;
  if (!limiter) return NOTHING_SPENT;
  const set = limiter.limitsOf(dir);
  const perIp = set["new-accounts-per-ip"];
  const perRange = set["new-accounts-per-ipv6-range"];
  if (!perIp && !perRange) return NOTHING_SPENT;
  const keys = clientAddressKeys(clientAddress ?? "");
  const plan: Planned[] = [];
  if (perIp) plan.push(planned("new-accounts-per-ip", perIp, keys.ip, keys.ip));
  if (perRange && keys.ipv6Range) plan.push(planned("new-accounts-per-ipv6-range", perRange, keys.ipv6Range, keys.ipv6Range));
  return spendAll(ctx, limiter, dir, plan);
}

/**
 * RFC 8555 §7.4 newOrder: the account's pending authorizations must be
 * below their cap (counted, not spent), then one new-orders-per-account
 * token is spent unless the order is a certificate's first replacement
 * (RFC 9773 §5 ARI replacement orders are exempt; a retry after an invalid
 * replacement order pays, review 2 M1).
 */
export async function spendNewOrder(
  ctx: RaContext,
  dir: DirectoryInfo,
  account: AccountInfo,
  opts: { replacement: boolean | (() => Promise<boolean>) },
): Promise<RateLimitReceipt> {
  const limiter = ctx.rateLimits;
  if (!limiter) return NOTHING_SPENT;
  const set = limiter.limitsOf(dir);
  if (!set["pending-authorizations-per-account"] && !set["new-orders-per-account"]) return NOTHING_SPENT;
  // exempt: a first replacement order of the certificate (isFreeReplacement, review 2 M1), asked only when it matters
  const replacement = set["new-orders-per-account"] && typeof opts.replacement === "function" ? await opts.replacement() : opts.replacement === true;
  if (!set["pending-authorizations-per-account"] && replacement) return NOTHING_SPENT;
  const overrides = await limiter.overridesOf(ctx, account.id, dir.id);
  const pending = effectiveLimit(set, "pending-authorizations-per-account", overrides);
  const orders = replacement ? undefined : effectiveLimit(set, "new-orders-per-account", overrides);
  // one round trip: the pending count and the spend that happens only below the cap
  if (orders) return spendAll(ctx, limiter, dir, [planned("new-orders-per-account", orders, account.id)], pending && { accountId: account.id, limit: pending });
  if (pending) {
    const now = ctx.clock.now();
    const n = await countPendingAuthorizations(ctx.store, account.id, now, pending.count);
    if (n >= pending.count) throw limiter.refused(dir, "pending-authorizations-per-account", pending, 60_000, now.getTime());
  }
  return NOTHING_SPENT;
}

/**
 * RFC 8555 §7.4 finalize: one certificates-per-registered-domain token of
 * each registered domain the order names (all or none), before signing; a
 * replacement spends only for the registered domains of the names the
 * replaced certificate did not have (review 2 M1). With an override for the account, its own
 * buckets (per account and domain) count instead of the shared ones.
 */
export async function spendCertificate(
  ctx: RaContext,
  dir: DirectoryInfo,
  account: AccountInfo,
  identifiers: ReadonlyArray<{ type: string; value: string }>,
  opts: { replaced?: { dnsNames: string[]; ipAddresses: string[] } | null },
): Promise<RateLimitReceipt> {
  const limiter = ctx.rateLimits;
  if (!limiter) return NOTHING_SPENT;
  // review 2 M1: a replacement is exempt only for the names the replaced certificate already had; each registered
  // domain of a name it adds is spent as for any order (a chain of replacements cannot grow into uncounted names)
  if (opts.replaced) identifiers = namesNotIn(identifiers, opts.replaced);
  if (!identifiers.length) return NOTHING_SPENT;
  const set = limiter.limitsOf(dir);
  if (!set["certificates-per-registered-domain"]) return NOTHING_SPENT;
  const overrides = await limiter.overridesOf(ctx, account.id, dir.id);
  const limit = effectiveLimit(set, "certificates-per-registered-domain", overrides);
  if (!limit) return NOTHING_SPENT;
  const own = overrides.some((o) => o.name === "certificates-per-registered-domain");
  const plan = registeredDomains(identifiers).map((d) => planned("certificates-per-registered-domain", limit, own ? `${account.id}/${d}` : d, d));
  return spendAll(ctx, limiter, dir, plan);
}

/**
 * finalize of one order: reads the order (only when the limit is in force)
 * and spends for its identifiers when it is ready to be finalized; an order
 * that is not (or not this account's) spends nothing and fails in finalize.
 */
export async function spendCertificateForOrder(ctx: RaContext, dir: DirectoryInfo, account: AccountInfo, orderId: string): Promise<RateLimitReceipt> {
  const limiter = ctx.rateLimits;
  if (!limiter || !limiter.limitsOf(dir)["certificates-per-registered-domain"]) return NOTHING_SPENT;
  // an order this instance created: no read (an order that is not ready then fails in finalize and gets its token back)
  const known = limiter.takeOrder(orderId, account.id);
  // a replacement is read back: what it spends depends on the replaced certificate's names
  if (known && !known.replacement) return spendCertificate(ctx, dir, account, known.identifiers, {});
  const order = await findOrder(ctx.store, orderId, account.id);
  if (!order || effectiveOrderStatus(order.status, order.expires, ctx.clock.now()) !== "ready") return NOTHING_SPENT;
  const replaced = order.replacesCertificateId ? await findReplacedNames(ctx.store, order.replacesCertificateId) : null;
  return spendCertificate(ctx, dir, account, order.identifiers, { replaced });
}

/** the identifiers that are not among the replaced certificate's names (DNS names case-insensitively, a wildcard as itself) */
export function namesNotIn<T extends { type: string; value: string }>(identifiers: ReadonlyArray<T>, replaced: { dnsNames: string[]; ipAddresses: string[] }): T[] {
  const dns = new Set(replaced.dnsNames.map((n) => n.toLowerCase()));
  const ips = new Set(replaced.ipAddresses.map((n) => n.toLowerCase()));
  return identifiers.filter((i) => !(i.type === "dns" ? dns.has(i.value.toLowerCase()) : i.type === "ip" ? ips.has(i.value.toLowerCase()) : false));
}

/**
 * RFC 8555 §7.5.1 challenge POST: refused while the account's
 * failed-validations bucket of the challenge's identifier is empty. Nothing
 * is spent here; recordFailedValidation spends when a validation fails.
 */
export async function checkFailedValidations(ctx: RaContext, dir: DirectoryInfo, account: AccountInfo, challengeId: string): Promise<void> {
  const limiter = ctx.rateLimits;
  if (!limiter) return;
  const set = limiter.limitsOf(dir);
  if (!set["failed-validations-per-account-identifier"]) return;
  const limit = effectiveLimit(set, "failed-validations-per-account-identifier", await limiter.overridesOf(ctx, account.id, dir.id));
  if (!limit) return;
  const b = await findFailedValidationBucket(ctx.store, { challengeId, accountId: account.id, limitName: "failed-validations-per-account-identifier" });
  // only a POST that would start a validation is refused: one on a processing or finished challenge just reads it
  if (!b || b.tatMs === null || b.challengeStatus !== "pending") return;
  const now = ctx.clock.now().getTime();
  const d = gcra(limit, b.tatMs, now);
  if (!d.allowed) throw limiter.refused(dir, "failed-validations-per-account-identifier", limit, d.retryAfterMs, now, `${b.identifierType}:${b.identifierValue}`);
}

/**
 * A validation ended invalid: spends one token of the account's bucket for
 * the identifier (an empty bucket stays empty). Reads the directory's
 * entries (failures are rare; the success path reads nothing).
 */
export async function recordFailedValidation(
  ctx: RaContext,
  job: { accountId: string; directoryId: string; identifierType: string; identifierValue: string },
): Promise<void> {
  const limiter = ctx.rateLimits;
  if (!limiter) return;
  const dir = await findDirectoryRateLimits(ctx.store, job.directoryId);
  if (!dir) return;
  const set = dir.rateLimits.length ? directoryRateLimits(limiter.opts.server, dir.rateLimits as DirectoryRateLimit[]) : limiter.opts.server;
  if (!set["failed-validations-per-account-identifier"]) return;
  const limit = effectiveLimit(set, "failed-validations-per-account-identifier", await limiter.overridesOf(ctx, job.accountId, job.directoryId));
  if (!limit) return;
  const { emissionMs, burstMs } = gcraParams(limit);
  const key = failedValidationKey(job.accountId, { type: job.identifierType, value: job.identifierValue });
  await spendRateLimitBuckets(ctx.store, [{ limitName: "failed-validations-per-account-identifier", key, emissionMs, burstMs }], ctx.clock.now());
}

/** One limit as the directory's rate-limits page shows it. */
export interface RateLimitView {
  name: RateLimitName;
  description: string;
  /** "300/3h", or "1000" for the pending-authorizations cap */
  limit: string;
  count: number;
  /** seconds; 0 for a count limit */
  periodSeconds: number;
}

/**
 * The limits in force in a directory, for its /acme/{directory}/rate-limits
 * page (the default Link rel="help" target of rateLimited answers).
 */
export function directoryRateLimitViews(ctx: Pick<RaContext, "rateLimits">, dir: DirectoryInfo): RateLimitView[] {
  const set = ctx.rateLimits?.limitsOf(dir) ?? {};
  return RATE_LIMIT_NAMES.filter((n) => set[n]).map((n) => ({
    name: n,
    description: RATE_LIMIT_INFO[n].what,
    limit: formatRateLimit(set[n]!),
    count: set[n]!.count,
    periodSeconds: Math.floor(set[n]!.periodMs / 1000),
  }));
}

// ---------------------------------------------------------------------------
// Admin: directory entries and overrides

/** A directory entry as the admin API gives it (period in seconds). */
export interface DirectoryRateLimitInput {
  name: string;
  disabled?: boolean;
  count?: number;
  periodSeconds?: number;
}

/** checks a directory's entries (invalidArgument on field rate_limits) and returns them as stored */
export function checkDirectoryRateLimitsInput(entries: readonly DirectoryRateLimitInput[]): DirectoryRateLimit[] {
  try {
    return checkDirectoryRateLimits(entries.map((e) => ({ name: e.name, disabled: e.disabled, count: e.count, periodMs: (e.periodSeconds ?? 0) * 1000 })));
  } catch (e) {
    if (e instanceof RateLimitSpecError) throw SigilError.invalidArgument(`rate_limits: ${e.message}`, "rate_limits");
    throw e;
  }
}

export interface SetOverrideInput {
  accountId?: string;
  eabKeyId?: string;
  limit: string;
  unlimited: boolean;
  count: number;
  periodSeconds: number;
  comment: string;
}

/**
 * Creates or replaces the override of one limit for an account or an EAB
 * key; organization admins only, audited. The instance that serves the
 * change forgets its cached overrides; others see it within their cache
 * time (5 s).
 */
export async function setRateLimitOverride(ctx: RaContext, actor: Actor, input: SetOverrideInput): Promise<RateLimitOverrideRow> {
  const accountId = optionalId(input.accountId, "account_id") ?? undefined;
  const eabKeyId = optionalId(input.eabKeyId, "eab_key_id") ?? undefined;
  if (Boolean(accountId) === Boolean(eabKeyId)) throw SigilError.invalidArgument("give exactly one of account_id and eab_key_id", "account_id");
  if (!isRateLimitName(input.limit)) throw SigilError.invalidArgument(`limit: "${input.limit}" is not a rate limit (one of ${RATE_LIMIT_NAMES.join(", ")})`, "limit");
  const name = input.limit;
  if (!RATE_LIMIT_INFO[name].overridable) throw SigilError.invalidArgument(`limit: ${name} counts client addresses, not accounts: it has no overrides`, "limit");
  if (input.comment.length > 512) throw SigilError.invalidArgument("comment: at most 512 characters", "comment");
  let value: RateLimit = { count: 0, periodMs: 0 };
  if (!input.unlimited) {
    try {
      value = checkRateLimit(name, { count: input.count, periodMs: input.periodSeconds * 1000 });
    } catch (e) {
      if (e instanceof RateLimitSpecError) throw SigilError.invalidArgument(e.message, "count");
      throw e;
    }
  }
  const row = await inTransaction(ctx, async (tx) => {
    const subject = await findOverrideSubject(tx, { accountId, eabKeyId });
    if (!subject) throw SigilError.notFound(accountId ? "ACME account not found" : "EAB key not found");
    authorize(actor, subject.organizationId, "admin");
    const r = await upsertOverride(
      tx,
      { id: uuidv7(), directoryId: subject.directoryId, organizationId: subject.organizationId, accountId, eabKeyId, limitName: name, unlimited: input.unlimited, ...value, comment: input.comment },
      ctx.clock.now(),
    );
    tx.audit(actor, {
      action: "acme_rate_limit_override_set",
      organizationId: subject.organizationId,
      resourceType: "acme_rate_limit_override",
      resourceId: r.id,
      detail: { limit: name, accountId: accountId ?? null, eabKeyId: eabKeyId ?? null, unlimited: input.unlimited, value: input.unlimited ? null : formatRateLimit(value) },
    });
    return r;
  });
  ctx.rateLimits?.invalidateOverrides();
  return row;
}

/** a directory's overrides, by id, keyset-paginated (the page token is the last id) */
export async function listRateLimitOverrides(
  ctx: RaContext,
  actor: Actor,
  req: { directoryId: string; accountId?: string; eabKeyId?: string; pageSize: number; pageToken: string },
): Promise<{ items: RateLimitOverrideRow[]; nextPageToken: string }> {
  const directoryId = requireId(req.directoryId, "directory_id");
  const dir = await findDirectoryRateLimits(ctx.store, directoryId);
  if (!dir) throw SigilError.notFound("ACME directory not found");
  authorize(actor, dir.organizationId, "read");
  const size = req.pageSize > 0 ? Math.min(req.pageSize, 1000) : 100;
  const after = req.pageToken ? requireId(req.pageToken, "page_token") : undefined;
  const rows = await listOverrides(ctx.store, {
    directoryId,
    accountId: optionalId(req.accountId, "account_id") ?? undefined,
    eabKeyId: optionalId(req.eabKeyId, "eab_key_id") ?? undefined,
    after,
    limit: size + 1,
  });
  const items = rows.slice(0, size);
  return { items, nextPageToken: rows.length > size ? items[items.length - 1]!.id : "" };
}

/** deletes an override; organization admins only, audited */
export async function deleteRateLimitOverride(ctx: RaContext, actor: Actor, id: string): Promise<void> {
  const oid = requireId(id, "id");
  await inTransaction(ctx, async (tx) => {
    const o = await findOverride(tx, oid);
    if (!o) throw SigilError.notFound("rate-limit override not found");
    authorize(actor, o.organizationId, "admin");
    await deleteOverride(tx, oid);
    tx.audit(actor, {
      action: "acme_rate_limit_override_delete",
      organizationId: o.organizationId,
      resourceType: "acme_rate_limit_override",
      resourceId: o.id,
      detail: { limit: o.limitName, accountId: o.accountId, eabKeyId: o.eabKeyId },
    });
  });
  ctx.rateLimits?.invalidateOverrides();
}

/** the buckets' TATs (tests and diagnostics) */
export { readRateLimitBuckets };
