/**
 * CAA (RFC 8659, RFC 8657) in the ACME flow, per directory (caa_enabled,
 * with caa_identities as this CA's issuer domain names):
 *
 * - after a challenge validated (ValidationScheduler.run): the check runs
 *   here, in ra/, not as the validator's last step, because ra/ holds what
 *   it depends on (the directory's settings, the account URL of RFC 8657
 *   §3) and records its result on the authorization (caa_checked_at); the
 *   DNS work itself is the validator's (`ChallengeValidator.checkCaa`, on
 *   its resolver and retry policy). A refusal turns the challenge and the
 *   authorization invalid with the problem type caa (RFC 8555 §6.7), a
 *   lookup failure with dns: a DNS failure is not a pass (CA/B Forum BR
 *   §3.2.2.8).
 * - at finalize (finalizeOrder, before its transaction opens: no network
 *   I/O with a transaction open): every dns authorization of the order whose
 *   check is older than CAA_RECHECK_AFTER_MS (8 hours less a margin; BR
 *   §3.2.2.8: "the CA SHALL ... check ... within 8 hours" of issuance), or
 *   was never made, is checked again: concurrently (CAA_FINALIZE_CONCURRENCY
 *   at a time) and all within one deadline (CAA_FINALIZE_DEADLINE_MS), a
 *   check cut short by it refusing with dns. A refusal answers the finalize
 *   with caa (the order stays ready, so it can be finalized once the records
 *   allow it).
 * - in finalize's signing transaction, after the order lock
 *   (requireFreshCaa): every dns authorization of the order must have a
 *   check that started within CAA_REUSE_MS of the transaction's clock time;
 *   one that does not (an authorization validated while CAA was off, a
 *   check that crossed the line meanwhile) refuses with caa 403 and the
 *   order stays ready: the client's next finalize checks it anew.
 *
 * A check's time is when its lookups STARTED, so "within 8 hours" counts
 * from the oldest DNS data it could have relied on.
 *
 * ip identifiers have no CAA (RFC 8659 is about domain names; RFC 8738
 * defines none), so they are never checked. With CAA off nothing is looked
 * up.
 */
import { findOrderCaaStates, findOrderStaleCaa, markCaaChecked, type AuthorizationCaaState, type ValidationJobRow } from "../../db/store/acme-authorizations.js";
import { findDirectoryCaaSettings, type DirectoryCaaSettings } from "../../db/store/acme-directories.js";
import type { Logger } from "../../logger.js";
import { acmeAccountUrl } from "../../policy/dns-challenges.js";
import type { CaaChecker, CaaOutcome } from "../../validation/caa.js";
import type { ValidationOutcome } from "../../validation/types.js";
import type { SqlTx } from "../../db/store/session.js";
import type { RaContext } from "../context.js";
import type { AccountInfo } from "./accounts.js";
import type { DirectoryInfo } from "./directories.js";
import { AcmeError } from "./errors.js";
import { InFlight } from "./in-flight.js";

/** CA/B Forum BR §3.2.2.8: a CAA check is relied on for at most 8 hours (enforced in the signing transaction). */
export const CAA_REUSE_MS = 8 * 3_600_000;
/** finalize checks again what is older than this, 10 minutes short of CAA_REUSE_MS, so the signing transaction finds it fresh */
export const CAA_RECHECK_AFTER_MS = CAA_REUSE_MS - 10 * 60_000;
/** the whole finalize recheck of an order (every identifier, every label, every retry) ends within this */
export const CAA_FINALIZE_DEADLINE_MS = 30_000;
/** identifiers of one order checked at once at finalize */
export const CAA_FINALIZE_CONCURRENCY = 4;

const NO_CHECKER = "CAA checking is on but this server's validator cannot look up CAA records";

/** The account URL of RFC 8657 §3 accounturi: `{acme base}/acme/{directory}/acct/{id}`, as the front end's Linker builds it. */
export function caaAccountUri(ctx: Pick<RaContext, "acmeUrl" | "publicUrl">, directoryName: string, accountId: string): string {
  return acmeAccountUrl(ctx.acmeUrl ?? ctx.publicUrl, directoryName, accountId);
}

/** Each directory's CAA settings, read at most every few seconds (like the front end's directory cache). */
export class DirectoryCaaSettingsCache {
  private readonly cache = new Map<string, { at: number; settings: DirectoryCaaSettings | undefined }>();
  private readonly loads = new InFlight<string, DirectoryCaaSettings | undefined>();
  constructor(
    private readonly ctx: Pick<RaContext, "store">,
    private readonly ttlMs = 5_000,
  ) {}

  async settingsOf(directoryId: string): Promise<DirectoryCaaSettings | undefined> {
    const now = Date.now();
    const hit = this.cache.get(directoryId);
    if (hit && now - hit.at < this.ttlMs) return hit.settings;
    // one read per directory at a time (issue 11: an expiry under load was one read per validation in flight)
    return this.loads.run(directoryId, async () => {
      const settings = await findDirectoryCaaSettings(this.ctx.store, directoryId);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(directoryId, { at: now, settings });
      return settings;
    });
  }
}

/** The CAA step after a challenge validated: when it passed, or the outcome that replaces "valid". */
export type CaaAfterValidation = { checkedAt: Date } | { refused: Exclude<ValidationOutcome, { status: "valid" | "deferred" }> } | undefined;

/**
 * RFC 8659 after a valid challenge of `job`: undefined when CAA does not
 * apply (off for the directory, an ip identifier).
 */
export async function caaAfterValidation(
  ctx: RaContext,
  checker: CaaChecker | undefined,
  settings: DirectoryCaaSettings | undefined,
  job: ValidationJobRow,
  logger: Logger,
  signal?: AbortSignal,
): Promise<CaaAfterValidation> {
  if (!settings?.caaEnabled || job.identifierType !== "dns") return undefined;
  if (!checker) {
    logger.error({ directoryId: job.directoryId }, NO_CHECKER);
    return { refused: { status: "invalid", error: { type: "serverInternal", detail: "the validation could not be performed" } } };
  }
  // the check's time is when its lookups start (docs/caa.md)
  const startedAt = ctx.clock.now();
  let outcome: CaaOutcome;
  try {
    outcome = await checker.checkCaa(
      {
        name: job.identifierValue,
        wildcard: job.wildcard,
        accountUri: caaAccountUri(ctx, settings.name, job.accountId),
        method: job.type,
        issuerDomains: settings.caaIdentities,
      },
      signal,
    );
  } catch (e) {
    logger.error({ err: e, directoryId: job.directoryId }, "CAA check failed unexpectedly");
    return { refused: { status: "invalid", error: { type: "serverInternal", detail: "the validation could not be performed" } } };
  }
  if (outcome.status === "valid") return { checkedAt: startedAt };
  return { refused: { status: "invalid", error: outcome.error } };
}

/** The finalize refusal for a CAA outcome (caa: 403, dns: 400; RFC 8555 §6.7), naming the identifier as a subproblem. */
function refusal(a: AuthorizationCaaState, outcome: Extract<CaaOutcome, { status: "invalid" }>): AcmeError {
  const identifier = { type: "dns", value: a.wildcard ? `*.${a.identifierValue}` : a.identifierValue };
  return new AcmeError(outcome.error.type === "caa" ? "permissionDenied" : "failedPrecondition", outcome.error.type, outcome.error.detail, {
    subproblems: [{ type: outcome.error.type, detail: outcome.error.detail, identifier }],
  });
}

/** the authorizations finalize checks again: valid dns ones whose check is older than CAA_RECHECK_AFTER_MS or never ran */
export function staleForFinalize(states: readonly AuthorizationCaaState[], now: Date): AuthorizationCaaState[] {
  // only valid ones: finalize refuses an order with any other (orderNotReady) without a lookup
  return states.filter(
    (a) => a.status === "valid" && a.identifierType === "dns" && (a.caaCheckedAt === null || now.getTime() - a.caaCheckedAt.getTime() > CAA_RECHECK_AFTER_MS),
  );
}

/** the deadline of one recheck, also aborted by `caller` or by `abort()` */
function deadlineSignal(ms: number, caller?: AbortSignal): { signal: AbortSignal; timedOut: () => boolean; abort: () => void; dispose: () => void } {
  const ctl = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ctl.abort();
  }, ms);
  timer.unref?.();
  const onAbort = (): void => ctl.abort();
  if (caller?.aborted) ctl.abort();
  else caller?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: ctl.signal,
    timedOut: () => timedOut || caller?.aborted === true,
    abort: () => ctl.abort(),
    dispose: () => {
      clearTimeout(timer);
      caller?.removeEventListener("abort", onAbort);
    },
  };
}

const cutShort = (a: AuthorizationCaaState, deadlineMs: number): Extract<CaaOutcome, { status: "invalid" }> => ({
  status: "invalid",
  error: {
    type: "dns",
    detail: `DNS problem: the CAA check of ${a.wildcard ? "*." : ""}${a.identifierValue} did not finish within ${deadlineMs / 1000} s; a failed CAA lookup does not permit issuance`,
  },
  transient: true,
});

/**
 * RFC 8659 / BR §3.2.2.8 at finalize: each dns authorization of the order
 * that staleForFinalize picks is checked again, CAA_FINALIZE_CONCURRENCY at
 * a time, all within CAA_FINALIZE_DEADLINE_MS (or until `signal` aborts:
 * then dns refusals, never a pass); the first refusal stops the others.
 * Those that passed are recorded with the time the recheck started. Throws
 * the first refusal; a failure to record the passed ones is logged and does
 * not replace it. Call it outside any transaction.
 */
export async function recheckCaaBeforeFinalize(
  ctx: RaContext,
  checker: CaaChecker | undefined,
  dir: Pick<DirectoryInfo, "caaEnabled" | "name" | "caaIdentities">,
  account: Pick<AccountInfo, "id">,
  orderId: string,
  opts: { signal?: AbortSignal; deadlineMs?: number } = {},
): Promise<void> {
  if (!dir.caaEnabled) return;
  const startedAt = ctx.clock.now();
  const stale = staleForFinalize(await findOrderCaaStates(ctx.store, orderId, account.id), startedAt);
  if (stale.length === 0) return;
  if (!checker) throw new AcmeError("internal", "serverInternal", NO_CHECKER);
  const deadlineMs = opts.deadlineMs ?? CAA_FINALIZE_DEADLINE_MS;
  const deadline = deadlineSignal(deadlineMs, opts.signal);
  const passed: string[] = [];
  let first: { a: AuthorizationCaaState; outcome: Extract<CaaOutcome, { status: "invalid" }> } | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < stale.length && !first; i = next++) {
      const a = stale[i]!;
      if (deadline.signal.aborted) {
        first ??= { a, outcome: cutShort(a, deadlineMs) };
        return;
      }
      // a checker that does not stop at the signal is not waited for past it
      let onAbort: (() => void) | undefined;
      const cut = new Promise<CaaOutcome>((resolve) => deadline.signal.addEventListener("abort", (onAbort = () => resolve(cutShort(a, deadlineMs))), { once: true }));
      let outcome: CaaOutcome;
      try {
        outcome = await Promise.race([
          checker.checkCaa(
            { name: a.identifierValue, wildcard: a.wildcard, accountUri: caaAccountUri(ctx, dir.name, account.id), method: a.method ?? "", issuerDomains: dir.caaIdentities },
            deadline.signal,
          ),
          cut,
        ]);
      } finally {
        deadline.signal.removeEventListener("abort", onAbort!);
      }
      if (outcome.status === "valid") {
        passed.push(a.id);
        continue;
      }
      // the refusal that came first decides; the others stop (theirs would only say "cut short")
      first ??= { a, outcome: deadline.timedOut() && outcome.error.type === "dns" ? cutShort(a, deadlineMs) : outcome };
      deadline.abort();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(CAA_FINALIZE_CONCURRENCY, stale.length) }, worker));
  } finally {
    deadline.dispose();
  }
  if (!first) {
    await markCaaChecked(ctx.store, passed, startedAt);
    return;
  }
  try {
    await markCaaChecked(ctx.store, passed, startedAt);
  } catch (e) {
    // the refusal is what the client must see; the passed checks run again next time
    checker.logger?.error({ err: e, orderId }, "recording passed CAA checks failed");
  }
  throw refusal(first.a, first.outcome);
}

/** the time from which a dns authorization's CAA check is fresh enough to sign on (null: CAA off for the directory) */
export function caaFreshSince(dir: Pick<DirectoryInfo, "caaEnabled">, now: Date): Date | null {
  return dir.caaEnabled ? new Date(now.getTime() - CAA_REUSE_MS) : null;
}

/** the signing refusal when a check is no longer fresh: caa 403, the order stays ready, finalizing again checks anew */
export function caaStaleRefusal(names: readonly string[]): AcmeError {
  const shown = `${names.slice(0, 3).join(", ")}${names.length > 3 ? ` and ${names.length - 3} more` : ""}`;
  return new AcmeError("permissionDenied", "caa", `the CAA check of ${shown} is older than 8 hours (CA/B Forum BR §3.2.2.8); finalize again to check CAA anew`, {
    subproblems: names.map((value) => ({ type: "caa", detail: "the CAA check is older than 8 hours", identifier: { type: "dns", value } })),
  });
}

/**
 * In finalize's signing transaction, after the order lock (BR §3.2.2.8):
 * with CAA on, every dns authorization of the order has a check that started
 * within CAA_REUSE_MS of `now` (exactly 8 hours still counts), else
 * caaStaleRefusal. This closes the gap between the recheck and the
 * signature (an authorization validated meanwhile without a check, a check
 * that turned 8 hours old).
 */
export async function requireFreshCaa(tx: SqlTx, dir: Pick<DirectoryInfo, "caaEnabled">, orderId: string, now: Date): Promise<void> {
  const since = caaFreshSince(dir, now);
  if (!since) return;
  const stale = await findOrderStaleCaa(tx, orderId, since);
  if (stale.length > 0) throw caaStaleRefusal(stale);
}
