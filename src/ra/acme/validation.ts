/**
 * Runs challenge validations asynchronously, outside the request (RFC 8555
 * §7.5.1: the challenge POST returns with status processing), and records
 * each outcome on the challenge, its authorization and the orders using it.
 */
import type { Logger } from "../../logger.js";
import type { AcmeChallengeType, IdentifierType } from "../../core/types.js";
import type { ChallengeValidator, ValidationOutcome } from "../../validation/types.js";
import { systemActor } from "../actor.js";
import { inTransaction, type RaContext } from "../context.js";
import { storedProblem } from "./errors.js";
import { invalidateOrdersOf, readyOrdersOf, VALID_AUTHZ_LIFETIME_MS } from "./orders.js";

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

interface ChallengeJob {
  type: AcmeChallengeType;
  token: string;
  authorization_id: string;
  identifier_type: IdentifierType;
  identifier_value: string;
  account_id: string;
  organization_id: string;
  key_thumbprint: string;
  attempts: number;
}

/** the audit actor of validation outcomes: the server, on the account's behalf */
const VALIDATION_ACTOR = systemActor("acme-validation");

export class ValidationScheduler {
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private readonly staleAfterMs: number;
  private readonly answerWithinMs: number;

  constructor(
    private readonly ctx: RaContext,
    private readonly validator: ChallengeValidator,
    private readonly logger: Logger,
    private readonly opts: ValidationSchedulerOptions = {},
  ) {
    this.staleAfterMs = opts.staleAfterMs ?? 120_000;
    this.answerWithinMs = opts.answerWithinMs ?? 2_000;
  }

  /** starts validating a challenge that was just moved to processing; settles (never rejects) when its outcome is recorded */
  schedule(challengeId: string): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run(challengeId))
      .catch((e: unknown) => this.logger.error({ err: e, challengeId }, "challenge validation failed"))
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
    return p;
  }

  /**
   * Starts validating a challenge and waits up to `answerWithinMs` for its
   * outcome; true when it was recorded in that time (the caller then reads
   * the challenge again), false when it goes on in the background.
   */
  async scheduleAndWait(challengeId: string): Promise<boolean> {
    const done = this.schedule(challengeId);
    if (this.answerWithinMs <= 0) return false;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.answerWithinMs)));
    try {
      return await Promise.race([done.then(() => !this.abort.signal.aborted), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** how many validations are running (tests, shutdown) */
  get running(): number {
    return this.inflight.size;
  }

  async run(challengeId: string): Promise<void> {
    const rows = await this.ctx.orm.em.getConnection().execute<ChallengeJob[]>(
      `select c.type, c.token, c.authorization_id, c.attempts, a.identifier_type, a.identifier_value, a.account_id, acc.organization_id, acc.key_thumbprint
         from acme_challenges c join acme_authorizations a on a.id = c.authorization_id join acme_accounts acc on acc.id = a.account_id
        where c.id = ? and c.status = 'processing'`,
      [challengeId],
    );
    const job = rows[0];
    if (!job) return;
    let outcome: ValidationOutcome;
    try {
      outcome = await this.validator.validate(
        {
          type: job.type,
          identifier: { type: job.identifier_type, value: job.identifier_value },
          token: job.token,
          // RFC 8555 §8.1 key authorization
          keyAuthorization: `${job.token}.${job.key_thumbprint}`,
        },
        this.abort.signal,
      );
    } catch (e) {
      this.logger.error({ err: e, challengeId }, "validator threw");
      outcome = { status: "invalid", error: { type: "serverInternal", detail: "the validation could not be performed" } };
    }
    if (this.abort.signal.aborted) return; // shutting down: the sweeper of a live instance will retry
    await this.record(challengeId, job, outcome);
  }

  private async record(challengeId: string, job: ChallengeJob, outcome: ValidationOutcome): Promise<void> {
    const now = this.ctx.clock.now();
    await inTransaction(this.ctx, async (tx) => {
      // lock the authorization: one outcome per authorization wins
      const authz = await tx.em.execute<Array<{ status: string }>>(`select status from acme_authorizations where id = ? for update`, [job.authorization_id]);
      const changed = await tx.em.execute<Array<{ id: string }>>(
        `update acme_challenges set status = ?, validated = ?, error = ?::jsonb, processing_since = null, updated_at = ?
          where id = ? and status = 'processing' returning id`,
        [
          outcome.status,
          outcome.status === "valid" ? now : null,
          outcome.status === "invalid" ? JSON.stringify(storedProblem(outcome.error.type, outcome.error.detail)) : null,
          now,
          challengeId,
        ],
      );
      if (!changed.length) return;
      const identifier = { type: job.identifier_type, value: job.identifier_value };
      tx.audit(VALIDATION_ACTOR, {
        action: "acme_challenge_validate",
        organizationId: job.organization_id,
        resourceType: "acme_challenge",
        resourceId: challengeId,
        detail: {
          accountId: job.account_id,
          authorizationId: job.authorization_id,
          type: job.type,
          identifier: `${identifier.type}:${identifier.value}`,
          status: outcome.status,
          attempts: job.attempts,
          ...(outcome.status === "invalid" ? { error: outcome.error.type } : {}),
        },
      });
      if (authz[0]?.status !== "pending") return;
      if (outcome.status === "valid") {
        // Lock the pending orders using this authorization before marking it
        // valid: two authorizations of one order validated at once would each
        // see the other still pending (READ COMMITTED) and leave the order
        // pending for ever. With the lock, the second one's readiness check
        // runs after the first committed.
        await tx.em.execute(
          `select id from acme_orders where account_id = ? and status = 'pending' and authorization_ids @> ?::jsonb order by id for update`,
          [job.account_id, JSON.stringify([job.authorization_id])],
        );
        await tx.em.execute(
          `update acme_authorizations set status = 'valid', expires = ?, updated_at = ? where id = ?`,
          [new Date(now.getTime() + VALID_AUTHZ_LIFETIME_MS), now, job.authorization_id],
          "run",
        );
        await readyOrdersOf(tx.em, job.account_id, job.authorization_id, now);
      } else {
        await tx.em.execute(`update acme_authorizations set status = 'invalid', updated_at = ? where id = ?`, [now, job.authorization_id], "run");
        await invalidateOrdersOf(
          tx.em,
          job.account_id,
          job.authorization_id,
          storedProblem(outcome.error.type, `validation of ${identifier.value} failed: ${outcome.error.detail}`, [
            { type: outcome.error.type, detail: outcome.error.detail, identifier },
          ]),
          now,
        );
      }
    });
  }

  /** picks up challenges left processing by a stopped instance */
  async sweep(): Promise<number> {
    const now = this.ctx.clock.now();
    const rows = await this.ctx.orm.em.getConnection().execute<Array<{ id: string }>>(
      `update acme_challenges set processing_since = ?, attempts = attempts + 1, updated_at = ?
        where status = 'processing' and processing_since < ? returning id`,
      [now, now, new Date(now.getTime() - this.staleAfterMs)],
    );
    for (const r of rows) this.schedule(r.id);
    return rows.length;
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
