/**
 * ACME rate limits as pure rules: the limits Sigil knows, their server
 * defaults (modelled on Let's Encrypt's), the SIGIL_RATE_LIMITS syntax, how a
 * directory's entries and an operator's override combine with them, the
 * bucket keys (client address ranges, registered domains by the Public
 * Suffix List) and the GCRA arithmetic. No I/O: the buckets live in
 * PostgreSQL (src/db/store/rate-limits.ts), the checks the ACME flows make
 * are src/ra/acme/rate-limits.ts. docs/rate-limits.md is the operator's page.
 *
 * GCRA (generic cell rate algorithm, as Boulder's ratelimits package uses):
 * a limit of `count` per `period` admits one request every emission interval
 * T = period / count on average, with a burst of up to `count` at once. Each
 * bucket stores only its theoretical arrival time (TAT); a request at `now`
 * is admitted when max(TAT, now) + T - now <= period, and then the TAT
 * becomes max(TAT, now) + T. A TAT in the past is the same as no row (a full
 * bucket), so rows can be deleted once their TAT has passed.
 */
import { getDomain } from "tldts";
import { ipBytes } from "../validation/network-policy.js";

/** The limits, by the name used in SIGIL_RATE_LIMITS, the admin API and metrics. */
export const RATE_LIMIT_NAMES = [
  "new-accounts-per-ip",
  "new-accounts-per-ipv6-range",
  "new-orders-per-account",
  "certificates-per-registered-domain",
  "failed-validations-per-account-identifier",
  "pending-authorizations-per-account",
] as const;

export type RateLimitName = (typeof RATE_LIMIT_NAMES)[number];

/** a rate (count per period, GCRA) or, for pending authorizations, a cap on a count (periodMs 0) */
export interface RateLimit {
  count: number;
  /** the window in milliseconds; 0 for a count limit */
  periodMs: number;
}

/** What each limit is, for the docs, the CLI and error details. */
export const RATE_LIMIT_INFO: Record<RateLimitName, { kind: "rate" | "count"; what: string; overridable: boolean }> = {
  "new-accounts-per-ip": { kind: "rate", what: "new accounts per client IP address (IPv4 address or IPv6 /64)", overridable: false },
  "new-accounts-per-ipv6-range": { kind: "rate", what: "new accounts per client IPv6 /48", overridable: false },
  "new-orders-per-account": { kind: "rate", what: "new orders per account", overridable: true },
  "certificates-per-registered-domain": { kind: "rate", what: "certificates per registered domain", overridable: true },
  "failed-validations-per-account-identifier": { kind: "rate", what: "failed validations per account and identifier", overridable: true },
  "pending-authorizations-per-account": { kind: "count", what: "pending authorizations per account", overridable: true },
};

const HOUR = 3_600_000;

/**
 * The `default` set, as Let's Encrypt documents its limits: New
 * Registrations per IP 10 / 3 h and per IPv6 /48 500 / 3 h, New Orders per
 * Account 300 / 3 h, Certificates per Registered Domain 50 / 7 days, Failed
 * Validations (authorizations) per account and identifier 5 / 1 h, and
 * Boulder's former cap of 1000 pending authorizations per account.
 */
export const DEFAULT_RATE_LIMITS: Readonly<Record<RateLimitName, RateLimit>> = Object.freeze({
  "new-accounts-per-ip": { count: 10, periodMs: 3 * HOUR },
  "new-accounts-per-ipv6-range": { count: 500, periodMs: 3 * HOUR },
  "new-orders-per-account": { count: 300, periodMs: 3 * HOUR },
  "certificates-per-registered-domain": { count: 50, periodMs: 7 * 24 * HOUR },
  "failed-validations-per-account-identifier": { count: 5, periodMs: HOUR },
  "pending-authorizations-per-account": { count: 1000, periodMs: 0 },
});

/** The limits in force: a limit absent from the map is off. */
export type RateLimitSet = Partial<Record<RateLimitName, RateLimit>>;

/** the largest count and period accepted (a bucket's arithmetic stays exact in float milliseconds) */
export const MAX_RATE_LIMIT_COUNT = 1_000_000_000;
export const MAX_RATE_LIMIT_PERIOD_MS = 366 * 24 * HOUR;

export class RateLimitSpecError extends Error {}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: HOUR, d: 24 * HOUR, w: 7 * 24 * HOUR };

export function isRateLimitName(s: string): s is RateLimitName {
  return (RATE_LIMIT_NAMES as readonly string[]).includes(s);
}

/** "3h", "90m", "7d", "1w", "30s": a period in milliseconds */
export function parsePeriod(raw: string): number {
  const m = /^(\d{1,9})(ms|s|m|h|d|w)$/.exec(raw.trim());
  if (!m) throw new RateLimitSpecError(`"${raw}" is not a period (a number and one of s, m, h, d, w: "3h", "7d")`);
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  if (ms <= 0 || ms > MAX_RATE_LIMIT_PERIOD_MS) throw new RateLimitSpecError(`"${raw}": the period must be above 0 and at most 366 days`);
  return ms;
}

/** a period as the shortest exact text: 10800000 -> "3h" */
export function formatPeriod(ms: number): string {
  for (const u of ["w", "d", "h", "m", "s"]) if (ms % UNITS[u]! === 0) return `${ms / UNITS[u]!}${u}`;
  return `${ms}ms`;
}

function checkCount(raw: string, name: string): number {
  if (!/^\d{1,10}$/.test(raw)) throw new RateLimitSpecError(`${name}: "${raw}" is not a whole number`);
  const n = Number(raw);
  if (n < 1 || n > MAX_RATE_LIMIT_COUNT) throw new RateLimitSpecError(`${name}: the count must be from 1 to ${MAX_RATE_LIMIT_COUNT}`);
  return n;
}

/** checks one limit's value for its kind (rate: count and period; count limit: count only) */
export function checkRateLimit(name: RateLimitName, limit: RateLimit): RateLimit {
  if (!Number.isInteger(limit.count) || limit.count < 1 || limit.count > MAX_RATE_LIMIT_COUNT) {
    throw new RateLimitSpecError(`${name}: the count must be a whole number from 1 to ${MAX_RATE_LIMIT_COUNT}`);
  }
  if (RATE_LIMIT_INFO[name].kind === "count") {
    if (limit.periodMs !== 0) throw new RateLimitSpecError(`${name} is a cap on a count: give a count without a period`);
    return { count: limit.count, periodMs: 0 };
  }
  if (!Number.isInteger(limit.periodMs) || limit.periodMs <= 0 || limit.periodMs > MAX_RATE_LIMIT_PERIOD_MS) {
    throw new RateLimitSpecError(`${name}: the period must be above 0 and at most 366 days`);
  }
  return { count: limit.count, periodMs: limit.periodMs };
}

/** one limit's value text: "300/3h", or "1000" for a count limit */
export function parseRateLimitValue(name: RateLimitName, raw: string): RateLimit {
  const v = raw.trim();
  if (RATE_LIMIT_INFO[name].kind === "count") {
    if (v.includes("/")) throw new RateLimitSpecError(`${name} is a cap on a count: write ${name}=1000, without a period`);
    return { count: checkCount(v, name), periodMs: 0 };
  }
  const m = /^([^/]+)\/(.+)$/.exec(v);
  if (!m) throw new RateLimitSpecError(`${name}: "${raw}" is not count/period (e.g. 300/3h)`);
  let periodMs: number;
  try {
    periodMs = parsePeriod(m[2]!);
  } catch (e) {
    throw new RateLimitSpecError(`${name}: ${(e as Error).message}`);
  }
  return { count: checkCount(m[1]!.trim(), name), periodMs };
}

export function formatRateLimit(limit: RateLimit): string {
  return limit.periodMs === 0 ? String(limit.count) : `${limit.count}/${formatPeriod(limit.periodMs)}`;
}

/**
 * SIGIL_RATE_LIMITS: `default` (also when unset), `off`, or a comma-separated
 * list. A list starts from the defaults unless its first item is `off`; each
 * `name=count/period` (a count for pending-authorizations-per-account) sets a
 * limit and `name=off` removes it. `off,new-orders-per-account=300/3h` has
 * that one limit only.
 */
export function parseRateLimitsSpec(raw: string | undefined): RateLimitSet {
  const spec = (raw ?? "").trim();
  if (spec === "" || spec === "default") return { ...DEFAULT_RATE_LIMITS };
  const items = spec.split(",").map((s) => s.trim());
  if (items.some((s) => s === "")) throw new RateLimitSpecError("an empty item in the list (two commas, or one at an end)");
  let out: RateLimitSet = { ...DEFAULT_RATE_LIMITS };
  items.forEach((item, i) => {
    if (item === "off" || item === "default") {
      if (i !== 0) throw new RateLimitSpecError(`"${item}" may only be the first item of the list`);
      out = item === "off" ? {} : { ...DEFAULT_RATE_LIMITS };
      return;
    }
    const eq = item.indexOf("=");
    if (eq < 0) throw new RateLimitSpecError(`"${item}" is not name=count/period, name=off, default or off`);
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (!isRateLimitName(name)) throw new RateLimitSpecError(`"${name}" is not a rate limit (one of ${RATE_LIMIT_NAMES.join(", ")})`);
    if (value === "off") delete out[name];
    else out[name] = parseRateLimitValue(name, value);
  });
  return out;
}

/** the set as SIGIL_RATE_LIMITS text that parses back to it */
export function formatRateLimitSet(set: RateLimitSet): string {
  const names = RATE_LIMIT_NAMES.filter((n) => set[n]);
  if (!names.length) return "off";
  return ["off", ...names.map((n) => `${n}=${formatRateLimit(set[n]!)}`)].join(",");
}

/** A directory's entry for one limit (AcmeDirectory.rate_limits): its own value, or off for that directory. */
export interface DirectoryRateLimit {
  name: RateLimitName;
  /** true: the limit does not apply in this directory */
  disabled: boolean;
  count: number;
  periodMs: number;
}

/** checks a directory's entries (admin input): known names, each once, values valid for their kind */
export function checkDirectoryRateLimits(entries: ReadonlyArray<{ name: string; disabled?: boolean; count?: number; periodMs?: number }>): DirectoryRateLimit[] {
  const seen = new Set<string>();
  return entries.map((e) => {
    if (!isRateLimitName(e.name)) throw new RateLimitSpecError(`"${e.name}" is not a rate limit (one of ${RATE_LIMIT_NAMES.join(", ")})`);
    if (seen.has(e.name)) throw new RateLimitSpecError(`${e.name} is listed twice`);
    seen.add(e.name);
    if (e.disabled) return { name: e.name, disabled: true, count: 0, periodMs: 0 };
    const v = checkRateLimit(e.name, { count: e.count ?? 0, periodMs: e.periodMs ?? 0 });
    return { name: e.name, disabled: false, ...v };
  });
}

/**
 * The limits of one directory: the server's set with the directory's
 * entries applied (an entry replaces the server's value or turns the limit
 * off; a directory can set a limit the server has off).
 */
export function directoryRateLimits(server: RateLimitSet, entries: readonly DirectoryRateLimit[] | undefined): RateLimitSet {
  if (!entries?.length) return server;
  const out: RateLimitSet = { ...server };
  for (const e of entries) {
    if (e.disabled) delete out[e.name];
    else out[e.name] = { count: e.count, periodMs: e.periodMs };
  }
  return out;
}

/** An operator's override for one account (or the account an EAB key created): a value, or exempt. */
export interface RateLimitOverrideValue {
  name: RateLimitName;
  /** true: the account is exempt from the limit */
  unlimited: boolean;
  count: number;
  periodMs: number;
}

/**
 * The limit in force for one request: the directory's value unless an
 * override names it. An override changes a limit in force only: where the
 * directory has the limit off there is nothing to override (and a request
 * there costs no override lookup). undefined: no limit.
 */
export function effectiveLimit(set: RateLimitSet, name: RateLimitName, overrides: readonly RateLimitOverrideValue[] | undefined): RateLimit | undefined {
  const base = set[name];
  if (!base) return undefined;
  const o = overrides?.find((x) => x.name === name);
  if (o) return o.unlimited ? undefined : { count: o.count, periodMs: o.periodMs };
  return base;
}

// ---------------------------------------------------------------------------
// GCRA

/** the GCRA parameters of a rate limit, in milliseconds */
export function gcraParams(limit: RateLimit): { emissionMs: number; burstMs: number } {
  return { emissionMs: limit.periodMs / limit.count, burstMs: limit.periodMs };
}

export type GcraDecision = { allowed: true; newTatMs: number } | { allowed: false; retryAfterMs: number };

/**
 * One GCRA step (the store's statement computes the same in SQL; this is
 * the reference the unit tests hold it to): `tatMs` the bucket's TAT or
 * undefined for no row.
 */
export function gcra(limit: RateLimit, tatMs: number | undefined, nowMs: number, cost = 1): GcraDecision {
  const { emissionMs, burstMs } = gcraParams(limit);
  const newTat = Math.max(tatMs ?? nowMs, nowMs) + emissionMs * cost;
  const over = newTat - nowMs - burstMs;
  return over <= 0 ? { allowed: true, newTatMs: newTat } : { allowed: false, retryAfterMs: over };
}

/** how long until a refused bucket admits one request again, from its stored TAT */
export function retryAfterMs(limit: RateLimit, tatMs: number, nowMs: number): number {
  const { emissionMs, burstMs } = gcraParams(limit);
  return Math.max(0, Math.max(tatMs, nowMs) + emissionMs - nowMs - burstMs);
}

/** RFC 9110 §10.2.3 Retry-After: whole seconds, rounded up, at least 1 */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

// ---------------------------------------------------------------------------
// Bucket keys

/**
 * The keys of the two new-account limits for a client address: the IPv4
 * address itself (an IPv4-mapped IPv6 address counts as IPv4), or the IPv6
 * /64 and /48. Anything that is no IP literal (a missing address) keys as
 * itself.
 */
export function clientAddressKeys(address: string): { ip: string; ipv6Range?: string } {
  let a = address.trim().toLowerCase();
  if (a.startsWith("::ffff:") && /^\d+\.\d+\.\d+\.\d+$/.test(a.slice(7))) a = a.slice(7);
  const b = ipBytes(a);
  if (!b) return { ip: a || "unknown" };
  if (b.length === 4) return { ip: [...b].join(".") };
  return { ip: `${prefixText(b, 4)}::/64`, ipv6Range: `${prefixText(b, 3)}::/48` };
}

function prefixText(b: Buffer, groups: number): string {
  const out: string[] = [];
  for (let i = 0; i < groups; i++) out.push(b.readUInt16BE(i * 2).toString(16));
  return out.join(":");
}

/**
 * The registered domain of a DNS identifier by the Public Suffix List
 * (private section included, so tenants of a shared suffix such as
 * github.io count apart); a wildcard counts as its base name; a name that is
 * itself a public suffix (or has none) counts as itself. IP identifiers: the
 * IPv4 address, or the IPv6 /64.
 */
export function registeredDomain(identifier: { type: string; value: string }): string {
  if (identifier.type === "ip") return clientAddressKeys(identifier.value).ip;
  const name = identifier.value.toLowerCase().replace(/^\*\./, "").replace(/\.$/, "");
  return getDomain(name, { allowPrivateDomains: true }) ?? name;
}

/** the distinct registered domains of an order's identifiers, sorted (the certificates-per-registered-domain keys) */
export function registeredDomains(identifiers: ReadonlyArray<{ type: string; value: string }>): string[] {
  return [...new Set(identifiers.map(registeredDomain))].sort();
}

/** the failed-validations bucket key of an account and identifier (the store's SQL builds the same text) */
export function failedValidationKey(accountId: string, identifier: { type: string; value: string }): string {
  return `${accountId}/${identifier.type}:${identifier.value.toLowerCase()}`;
}
