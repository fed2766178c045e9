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
 *   check is older than 8 hours (BR §3.2.2.8: "the CA SHALL ... check ...
 *   within 8 hours" of issuance), or was never made, is checked again; a
 *   refusal answers the finalize with caa (the order stays ready, so it can
 *   be finalized once the records allow it).
 *
 * ip identifiers have no CAA (RFC 8659 is about domain names; RFC 8738
 * defines none), so they are never checked. With CAA off nothing is looked
 * up.
 */
import { findOrderCaaStates, markCaaChecked, type AuthorizationCaaState, type ValidationJobRow } from "../../db/store/acme-authorizations.js";
import { findDirectoryCaaSettings, type DirectoryCaaSettings } from "../../db/store/acme-directories.js";
import type { Logger } from "../../logger.js";
import { acmeAccountUrl } from "../../policy/dns-challenges.js";
import type { CaaChecker, CaaOutcome } from "../../validation/caa.js";
import type { ValidationOutcome } from "../../validation/types.js";
import type { RaContext } from "../context.js";
import type { AccountInfo } from "./accounts.js";
import type { DirectoryInfo } from "./directories.js";
import { AcmeError } from "./errors.js";
import { InFlight } from "./in-flight.js";

/** CA/B Forum BR §3.2.2.8: a CAA check is relied on for at most 8 hours. */
export const CAA_REUSE_MS = 8 * 3_600_000;

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
  if (outcome.status === "valid") return { checkedAt: ctx.clock.now() };
  return { refused: { status: "invalid", error: outcome.error } };
}

/** The finalize refusal for a CAA outcome (caa: 403, dns: 400; RFC 8555 §6.7), naming the identifier as a subproblem. */
function refusal(a: AuthorizationCaaState, outcome: Extract<CaaOutcome, { status: "invalid" }>): AcmeError {
  const identifier = { type: "dns", value: a.wildcard ? `*.${a.identifierValue}` : a.identifierValue };
  return new AcmeError(outcome.error.type === "caa" ? "permissionDenied" : "failedPrecondition", outcome.error.type, outcome.error.detail, {
    subproblems: [{ type: outcome.error.type, detail: outcome.error.detail, identifier }],
  });
}

/**
 * RFC 8659 / BR §3.2.2.8 at finalize: each dns authorization of the order
 * whose CAA check is older than CAA_REUSE_MS (or was never made) is checked
 * again, one after another; those that pass are recorded. Throws the first
 * refusal. Call it outside any transaction.
 */
export async function recheckCaaBeforeFinalize(ctx: RaContext, checker: CaaChecker | undefined, dir: DirectoryInfo, account: AccountInfo, orderId: string): Promise<void> {
  if (!dir.caaEnabled) return;
  const now = ctx.clock.now();
  const stale = (await findOrderCaaStates(ctx.store, orderId, account.id)).filter(
    // only valid ones: finalize refuses an order with any other (orderNotReady) without a lookup
    (a) => a.status === "valid" && a.identifierType === "dns" && (a.caaCheckedAt === null || now.getTime() - a.caaCheckedAt.getTime() > CAA_REUSE_MS),
  );
  if (stale.length === 0) return;
  if (!checker) throw new AcmeError("internal", "serverInternal", NO_CHECKER);
  const passed: string[] = [];
  try {
    for (const a of stale) {
      const outcome = await checker.checkCaa({
        name: a.identifierValue,
        wildcard: a.wildcard,
        accountUri: caaAccountUri(ctx, dir.name, account.id),
        method: a.method ?? "",
        issuerDomains: dir.caaIdentities,
      });
      if (outcome.status === "invalid") throw refusal(a, outcome);
      passed.push(a.id);
    }
  } finally {
    await markCaaChecked(ctx.store, passed, ctx.clock.now());
  }
}
