/**
 * Runs challenge validations asynchronously, outside the request (RFC 8555
 * §7.5.1: the challenge POST returns with status processing), and records
 * each outcome on the challenge, its authorization and the orders using it.
 */
import type { Logger } from "../../logger.js";
import type { AcmeChallengeType, IdentifierType } from "../../core/types.js";
import type { ChallengeValidator, ValidationOutcome } from "../../validation/types.js";
import { sqlPool, statement } from "../../db/sql.js";
import { systemActor } from "../actor.js";
import { auditInsertSql, auditRowsParam } from "../../db/store/audit.js";
import { inSqlTransaction, type RaContext } from "../context.js";
import { storedProblem } from "./errors.js";
import { challengeFromRow, VALID_AUTHZ_LIFETIME_MS, type ChallengeInfo, type ChallengeRow } from "./orders.js";

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

/** what validating a challenge needs (startChallenge returns it with the challenge it moved to processing) */
export interface ChallengeJob {
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

const JOB = statement(
  "sigil_acme_validation_job",
  `select c.type, c.token, c.authorization_id, c.attempts, a.identifier_type, a.identifier_value, a.account_id, acc.organization_id, acc.key_thumbprint
     from acme_challenges c join acme_authorizations a on a.id = c.authorization_id join acme_accounts acc on acc.id = a.account_id
    where c.id = $1 and c.status = 'processing'`,
);

/**
 * The outcome on the challenge (if still processing), with its audit entry,
 * the authorization locked (one outcome per authorization wins) and the
 * pending orders using it locked too: two authorizations of one order
 * validated at once would each see the other still pending (READ COMMITTED)
 * and leave the order pending for ever; with the lock, the second one's
 * readiness check (the next statement, a fresh snapshot) runs after the
 * first committed.
 */
const RECORD_CHALLENGE = statement(
  "sigil_acme_validation_record",
  `with az as (select status from acme_authorizations where id = $1 for update),
        ch as (update acme_challenges set status = $2, validated = $3, error = $4::jsonb, processing_since = null, updated_at = $5
                where id = $6 and status = 'processing'
                returning id, authorization_id, type, token, status, validated, error),
        ord as (select id from acme_orders where account_id = $7 and status = 'pending' and authorization_ids @> $8::jsonb order by id for update),
        au as (${auditInsertSql("$9")} where exists (select 1 from ch))
   select (select status from az) as authz_status, (select count(*) from ord)::int as orders_locked, ch.*
     from (values (1)) one left join ch on true`,
);

/**
 * The authorization valid, if still pending and the challenge was recorded
 * valid by this transaction (RECORD_CHALLENGE wrote updated_at = $2); the
 * pending orders using it whose other authorizations are all valid become
 * ready (a new statement: a snapshot taken after RECORD_CHALLENGE got the
 * order locks).
 */
const AUTHZ_VALID = statement(
  "sigil_acme_validation_valid",
  `with az as (update acme_authorizations set status = 'valid', expires = $1, updated_at = $2
                where id = $3 and status = 'pending'
                  and exists (select 1 from acme_challenges where id = $6 and status = 'valid' and updated_at = $2)
                returning id)
   update acme_orders o set status = 'ready', updated_at = $2
    where exists (select 1 from az) and o.account_id = $4 and o.status = 'pending' and o.authorization_ids @> $5::jsonb
      and not exists (select 1 from jsonb_array_elements_text(o.authorization_ids) x(id)
                        join acme_authorizations a on a.id = x.id::uuid where a.id <> $3 and a.status <> 'valid')`,
);

/** the authorization invalid (same conditions), and the orders using it that can still change */
const AUTHZ_INVALID = statement(
  "sigil_acme_validation_invalid",
  `with az as (update acme_authorizations set status = 'invalid', updated_at = $1
                where id = $2 and status = 'pending'
                  and exists (select 1 from acme_challenges where id = $6 and status = 'invalid' and updated_at = $1)
                returning id)
   update acme_orders set status = 'invalid', error = $3::jsonb, updated_at = $1
    where exists (select 1 from az) and account_id = $4 and status in ('pending', 'ready') and authorization_ids @> $5::jsonb`,
);

export class ValidationScheduler {
  private readonly inflight = new Set<Promise<unknown>>();
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
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
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
    const job = given ?? (await sqlPool(this.ctx.orm).query<ChallengeJob>(JOB, [challengeId]))[0];
    if (!job) return undefined;
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
    if (this.abort.signal.aborted) return undefined; // shutting down: the sweeper of a live instance will retry
    return this.record(challengeId, job, outcome);
  }

  /**
   * One round trip: BEGIN, RECORD_CHALLENGE, AUTHZ_VALID or AUTHZ_INVALID
   * (each a no-op unless the challenge was recorded and the authorization
   * was pending), COMMIT. The challenge as recorded, undefined if it was no
   * longer processing.
   */
  private async record(challengeId: string, job: ChallengeJob, outcome: ValidationOutcome): Promise<ChallengeInfo | undefined> {
    const now = this.ctx.clock.now();
    const identifier = { type: job.identifier_type, value: job.identifier_value };
    const authzIdJson = JSON.stringify([job.authorization_id]);
    const entry = this.ctx.audit.row(VALIDATION_ACTOR, {
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
    const authzUpdate =
      outcome.status === "valid"
        ? { sql: AUTHZ_VALID, values: [new Date(now.getTime() + VALID_AUTHZ_LIFETIME_MS), now, job.authorization_id, job.account_id, authzIdJson, challengeId] }
        : {
            sql: AUTHZ_INVALID,
            values: [
              now,
              job.authorization_id,
              JSON.stringify(
                storedProblem(outcome.error.type, `validation of ${identifier.value} failed: ${outcome.error.detail}`, [
                  { type: outcome.error.type, detail: outcome.error.detail, identifier },
                ]),
              ),
              job.account_id,
              authzIdJson,
              challengeId,
            ],
          };
    return inSqlTransaction(this.ctx, async (tx) => {
      // one round trip: BEGIN, RECORD_CHALLENGE, AUTHZ_VALID / AUTHZ_INVALID, COMMIT
      const [recorded] = await tx.commitWithAll([
        {
          sql: RECORD_CHALLENGE,
          values: [
            job.authorization_id,
            outcome.status,
            outcome.status === "valid" ? now : null,
            outcome.status === "invalid" ? JSON.stringify(storedProblem(outcome.error.type, outcome.error.detail)) : null,
            now,
            challengeId,
            job.account_id,
            authzIdJson,
            auditRowsParam([entry]),
          ],
        },
        authzUpdate,
      ]);
      const r = (recorded as Array<ChallengeRow & { authz_status: string | null }>)[0];
      if (!r?.id) return undefined;
      // inserted by RECORD_CHALLENGE: watchers hear of it once committed
      tx.afterCommit(() => this.ctx.audit.published([entry]));
      return challengeFromRow(r);
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
