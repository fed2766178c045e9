/**
 * Runs challenge validations asynchronously, outside the request (RFC 8555
 * §7.5.1: the challenge POST returns with status processing), and records
 * each outcome on the challenge, its authorization and the orders using it.
 */
import type { Logger } from "../../logger.js";
import type { ChallengeValidator, ValidationOutcome } from "../../validation/types.js";
import { parseNetworkPolicy, type NetworkPolicy } from "../../validation/network-policy.js";
import { findDirectoryValidationNetworks } from "../../db/store/acme-directories.js";
import { commitValidationOutcome, findValidationJob, reclaimStaleChallenges, type RecordedOutcome, type ValidationJobRow } from "../../db/store/acme-authorizations.js";
import { systemActor } from "../actor.js";
import { inSqlTransaction, type RaContext } from "../context.js";
import { caaAfterValidation, DirectoryCaaSettingsCache } from "./caa.js";
import { challengeInfo, type ChallengeInfo } from "./challenges.js";
import { accountBoundFields, clampAuthzExpires } from "./dns-challenges.js";
import { storedProblem } from "./errors.js";
import { recordFailedValidation } from "./rate-limits.js";
import { ORDER_STATUSES_INVALIDATED_BY_AUTHZ, validAuthzExpires } from "./transitions.js";
import { InFlight } from "./in-flight.js";

export interface ValidationSchedulerOptions {
  /** a challenge left in processing longer than this (a crashed instance) is validated again by the sweeper (default 120 s) */
  staleAfterMs?: number;
  /**
   * how long the challenge POST waits for the validation it started before
   * answering with the challenge as it then stands (default 2 s; 0 answers
   * "processing" at once). Validation stays asynchronous (RFC 8555 §7.5.1):
   * a slower one goes on after the answer, which then says processing with
   * Retry-After. Clients that poll on their own fixed backoff, not on
   * Retry-After (acme-client waits 5 s), otherwise lose that backoff on
   * every issuance, however fast the validation.
   */
  answerWithinMs?: number;
  /** sweeper period (default 30 s; 0 disables) */
  sweepIntervalMs?: number;
}

/** what validating a challenge needs (startChallenge returns it with the challenge it moved to processing; the sweeper reads it) */
export type ChallengeJob = ValidationJobRow;

/**
 * Each directory's validation network override (AcmeDirectory
 * validation_allowed_networks), read at most every few seconds like the
 * front end's directory cache; undefined = the validator's default (the
 * server's SIGIL_VALIDATION_ALLOWED_NETWORKS).
 */
class DirectoryNetworkPolicies {
  private readonly cache = new Map<string, { at: number; policy: NetworkPolicy | undefined }>();
  /** one read per directory at a time (issue 11: an expiry under load was one read per validation in flight) */
  private readonly loads = new InFlight<string, NetworkPolicy | undefined>();
  constructor(
    private readonly ctx: RaContext,
    private readonly ttlMs = 5_000,
  ) {}

  async policyOf(directoryId: string): Promise<NetworkPolicy | undefined> {
    const now = Date.now();
    const hit = this.cache.get(directoryId);
    if (hit && now - hit.at < this.ttlMs) return hit.policy;
    return this.loads.run(directoryId, async () => {
      const networks = await findDirectoryValidationNetworks(this.ctx.store, directoryId);
      // stored normalized by the directory policy rules, so it parses
      const policy = networks?.length ? parseNetworkPolicy(networks.join(",")) : undefined;
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(directoryId, { at: now, policy });
      return policy;
    });
  }
}

/** the audit actor of validation outcomes: the server, on the account's behalf */
const VALIDATION_ACTOR = systemActor("acme-validation");

export class ValidationScheduler {
  private readonly inflight = new Set<Promise<unknown>>();
  /** ids of the challenges this instance is validating now */
  private readonly active = new Set<string>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly staleAfterMs: number;
  private readonly answerWithinMs: number;
  private readonly networks: DirectoryNetworkPolicies;
  private readonly caaSettings: DirectoryCaaSettingsCache;

  constructor(
    private readonly ctx: RaContext,
    private readonly validator: ChallengeValidator,
    private readonly logger: Logger,
    private readonly opts: ValidationSchedulerOptions = {},
  ) {
    this.staleAfterMs = opts.staleAfterMs ?? 120_000;
    this.answerWithinMs = opts.answerWithinMs ?? 2_000;
    this.networks = new DirectoryNetworkPolicies(ctx);
    this.caaSettings = new DirectoryCaaSettingsCache(ctx);
  }

  /**
   * starts validating a challenge that was just moved to processing (`job`:
   * what startChallenge returned; read again when absent); settles (never
   * rejects) when its outcome is recorded, with the challenge as recorded
   * (undefined when this run recorded nothing)
   */
  schedule(challengeId: string, job?: ChallengeJob): Promise<ChallengeInfo | undefined> {
    if (this.abort.signal.aborted) return Promise.resolve(undefined);
    const p: Promise<ChallengeInfo | undefined> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run(challengeId, job))
      .catch((e: unknown) => {
        this.logger.error({ err: e, challengeId }, "challenge validation failed");
        return undefined;
      })
      .finally(() => {
        this.inflight.delete(p);
        this.active.delete(challengeId);
      });
    this.inflight.add(p);
    this.active.add(challengeId);
    return p;
  }

  /**
   * Starts validating a challenge and waits up to `answerWithinMs` for its
   * outcome: the challenge as recorded when that happened in time; true when
   * the validation ended in time without this run recording it (the caller
   * then reads the challenge again), false when it goes on in the background.
   */
  async scheduleAndWait(challengeId: string, job?: ChallengeJob): Promise<ChallengeInfo | boolean> {
    const done = this.schedule(challengeId, job);
    if (this.answerWithinMs <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.answerWithinMs)));
    try {
      return await Promise.race([done.then((c) => (this.abort.signal.aborted ? false : (c ?? true))), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** how many validations are running (tests, shutdown) */
  get running(): number {
    return this.inflight.size;
  }

  async run(challengeId: string, given?: ChallengeJob): Promise<ChallengeInfo | undefined> {
    const job = given ?? (await findValidationJob(this.ctx.store, challengeId));
    if (!job) return undefined;
    // read before validating: a database failure here leaves the challenge processing for the sweeper, not invalid
    const networkPolicy = await this.networks.policyOf(job.directoryId);
    const caaSettings = await this.caaSettings.settingsOf(job.directoryId);
    // dns-account-01 / dns-persist-01: the account URL and the persist record's parameters (dns-challenges.ts)
    const bound = await accountBoundFields(this.ctx, job);
    let outcome: ValidationOutcome;
    try {
      outcome =
        "refused" in bound
          ? bound.refused
          : await this.validator.validate(
              {
                type: job.type,
                identifier: { type: job.identifierType, value: job.identifierValue },
                token: job.token,
                // RFC 8555 §8.1 key authorization
                keyAuthorization: `${job.token}.${job.keyThumbprint}`,
                // the per-account cap on concurrent validations
                accountId: job.accountId,
                ...bound.fields,
              },
              this.abort.signal,
              { networkPolicy },
            );
    } catch (e) {
      this.logger.error({ err: e, challengeId }, "validator threw");
      outcome = { status: "invalid", error: { type: "serverInternal", detail: "the validation could not be performed" } };
    }
    // RFC 8659 CAA once the challenge passed (src/ra/acme/caa.ts: why here): a refusal or a failed lookup makes it invalid
    let caaCheckedAt: Date | undefined;
    if (outcome.status === "valid" && !this.abort.signal.aborted) {
      const checker = this.validator.checkCaa ? { checkCaa: this.validator.checkCaa.bind(this.validator) } : undefined;
      const caa = await caaAfterValidation(this.ctx, checker, caaSettings, job, this.logger, this.abort.signal);
      if (caa && "refused" in caa) outcome = caa.refused;
      else if (caa) caaCheckedAt = caa.checkedAt;
    }
    if (this.abort.signal.aborted) return undefined; // shutting down: the sweeper of a live instance will retry
    if (outcome.status === "deferred") {
      // the server was too busy: nothing is recorded, the challenge stays processing and the sweeper retries it
      this.logger.warn({ challengeId, accountId: job.accountId, reason: outcome.reason }, "challenge validation deferred");
      return undefined;
    }
    if (outcome.status === "invalid") {
      // the operator's view of why a client's validation failed (the detail never quotes what the target sent)
      this.logger.info(
        { challengeId, accountId: job.accountId, type: job.type, identifier: `${job.identifierType}:${job.identifierValue}`, problem: outcome.error.type, detail: outcome.error.detail },
        "challenge validation failed",
      );
    }
    const recorded = await this.record(challengeId, job, outcome, caaCheckedAt);
    // docs/rate-limits.md: a failed validation spends the account's failed-validations token of the identifier
    if (recorded?.status === "invalid") {
      await recordFailedValidation(this.ctx, job).catch((e: unknown) => this.logger.error({ err: e, challengeId }, "failed-validation rate limit not recorded"));
    }
    return recorded;
  }

  /**
   * One round trip (commitValidationOutcome): the challenge, its
   * authorization and the orders using it (transitions.ts: all
   * authorizations valid -> ready; one invalid -> invalid) and the audit
   * entry, with BEGIN and COMMIT. The challenge as recorded, undefined if it
   * was no longer processing.
   */
  private async record(
    challengeId: string,
    job: ChallengeJob,
    outcome: Exclude<ValidationOutcome, { status: "deferred" }>,
    /** when the CAA check passed (RFC 8659); undefined: not checked */
    caaCheckedAt?: Date,
  ): Promise<ChallengeInfo | undefined> {
    const now = this.ctx.clock.now();
    const identifier = { type: job.identifierType, value: job.identifierValue };
    // written only if the challenge is recorded, so published by hand after the commit (not tx.audit)
    const entry = this.ctx.audit.row(VALIDATION_ACTOR, {
      action: "acme_challenge_validate",
      organizationId: job.organizationId,
      resourceType: "acme_challenge",
      resourceId: challengeId,
      detail: {
        accountId: job.accountId,
        authorizationId: job.authorizationId,
        type: job.type,
        identifier: `${identifier.type}:${identifier.value}`,
        status: outcome.status,
        attempts: job.attempts,
        ...(outcome.status === "invalid" ? { error: outcome.error.type } : {}),
      },
    });
    const recorded: RecordedOutcome =
      outcome.status === "valid"
        ? { status: "valid", authzExpires: clampAuthzExpires(validAuthzExpires(now), outcome.notAfter), caaCheckedAt }
        : {
            status: "invalid",
            challengeError: storedProblem(outcome.error.type, outcome.error.detail),
            orderError: storedProblem(outcome.error.type, `validation of ${identifier.value} failed: ${outcome.error.detail}`, [
              { type: outcome.error.type, detail: outcome.error.detail, identifier },
            ]),
            orderStatuses: ORDER_STATUSES_INVALIDATED_BY_AUTHZ,
          };
    return inSqlTransaction(this.ctx, async (tx) => {
      const r = await commitValidationOutcome(tx, {
        challengeId,
        authorizationId: job.authorizationId,
        accountId: job.accountId,
        now,
        outcome: recorded,
        audit: entry,
      });
      if (!r) return undefined;
      tx.afterCommit(() => this.ctx.audit.published([entry]));
      return challengeInfo(r);
    });
  }

  /** picks up challenges left processing by a stopped instance */
  async sweep(): Promise<number> {
    const now = this.ctx.clock.now();
    const ids = await reclaimStaleChallenges(this.ctx.store, now, new Date(now.getTime() - this.staleAfterMs));
    // a challenge this instance is still validating (or holding in the validator's queue) is not started twice
    for (const id of ids) if (!this.active.has(id)) this.schedule(id);
    return ids.length;
  }

  startSweeper(): void {
    const every = this.opts.sweepIntervalMs ?? 30_000;
    if (!every || this.timer) return;
    this.timer = setInterval(() => {
      this.sweep().catch((e: unknown) => this.logger.error({ err: e }, "validation sweep failed"));
    }, every);
    this.timer.unref();
  }

  /** stops the sweeper, aborts running validations and waits for them */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.abort.abort();
    await Promise.allSettled([...this.inflight]);
  }

  /** resolves when no validation is running (tests) */
  async idle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }
}
