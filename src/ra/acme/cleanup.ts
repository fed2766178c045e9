/**
 * The ACME clean-up job (issue 10 item 7). RFC 8555 §7.1.6 makes a pending
 * or ready order past `expires` read as invalid, and a pending or valid
 * authorization past `expires` read as expired (transitions.ts); reads
 * already apply that, and this job makes the stored status agree, so the
 * partial indexes of what is still live stay small. It also deletes nonces
 * past their expiry (RFC 8555 §6.5; consumed ones are deleted when they are
 * consumed), rate-limit buckets whose TAT has passed (a full bucket is the
 * same as no row, src/db/store/rate-limits.ts) and orders invalid for longer
 * than the retention period, with the authorizations and challenges no
 * other order uses.
 *
 * Each step is a bounded, index-backed batch in one round trip
 * (src/db/store/cleanup.ts). A run does one batch of every step that still
 * has work, round after round, until every step came back short or the
 * run's time budget is spent (the next run carries on), and yields to the
 * event loop between batches. Several instances share one database: the
 * batches skip rows another session holds (FOR UPDATE SKIP LOCKED), so two
 * runs never process a row twice, and only one instance deletes at a time
 * (an advisory lock; the others skip that step for the run).
 *
 * No audit entry: nothing changes that a client did not already see (the
 * statuses are the ones reads report), and deleted rows are ones past the
 * operator's retention.
 */
import type { Logger } from "../../logger.js";
import { deleteInvalidOrders, EXPIRING_AUTHZ_STATUSES, EXPIRING_ORDER_STATUSES, expireAuthorizations, expireOrders } from "../../db/store/cleanup.js";
import { deleteExpiredNonces } from "../../db/store/nonces.js";
import { deleteExpiredRateLimitBuckets } from "../../db/store/rate-limits.js";
import type { RaContext } from "../context.js";

const DAY = 86_400_000;

export interface CleanupOptions {
  /** rows per batch (default 1000) */
  batchSize?: number;
  /** invalid orders older than this are deleted (default 30 days) */
  invalidOrderRetentionMs?: number;
  /** a run stops starting batches after this long; the next run carries on (default 20 s) */
  runBudgetMs?: number;
}

/** What one run did. */
export interface CleanupResult {
  ordersExpired: number;
  authorizationsExpired: number;
  noncesDeleted: number;
  /** rate-limit buckets whose TAT has passed (a full bucket is the same as no row; docs/rate-limits.md) */
  rateLimitBucketsDeleted: number;
  ordersDeleted: number;
  authorizationsDeleted: number;
  batches: number;
  /** false: the time budget ran out with work left */
  complete: boolean;
  /** another instance held the deletion lock, so this run deleted no orders */
  deletionSkipped: boolean;
  ms: number;
}

/** the statuses the store's batches expire, as transitions.ts names them (test/unit/ra/cleanup.test.ts) */
export const CLEANUP_EXPIRING_STATUSES = { orders: EXPIRING_ORDER_STATUSES, authorizations: EXPIRING_AUTHZ_STATUSES };

type Step = "expireOrders" | "expireAuthorizations" | "deleteNonces" | "deleteRateLimitBuckets" | "deleteOrders";

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One run: batches until done, the budget is spent or `signal` aborts
 * (checked between batches; a batch in flight completes). Rejects when a
 * batch fails (the counts so far are lost to the caller, not to the
 * database: every batch committed on its own).
 */
export async function runCleanup(ctx: Pick<RaContext, "store" | "clock">, opts: CleanupOptions = {}, signal?: AbortSignal): Promise<CleanupResult> {
  const batch = opts.batchSize ?? 1000;
  const retentionMs = opts.invalidOrderRetentionMs ?? 30 * DAY;
  const budgetMs = opts.runBudgetMs ?? 20_000;
  const started = Date.now();
  const r: CleanupResult = {
    ordersExpired: 0,
    authorizationsExpired: 0,
    noncesDeleted: 0,
    rateLimitBucketsDeleted: 0,
    ordersDeleted: 0,
    authorizationsDeleted: 0,
    batches: 0,
    complete: false,
    deletionSkipped: false,
    ms: 0,
  };
  // expiry first: an order it makes invalid starts its retention now
  const pending = new Set<Step>(["expireOrders", "expireAuthorizations", "deleteNonces", "deleteRateLimitBuckets", "deleteOrders"]);
  const one = async (step: Step): Promise<boolean> => {
    const now = ctx.clock.now();
    switch (step) {
      case "expireOrders": {
        const n = await expireOrders(ctx.store, now, batch);
        r.ordersExpired += n;
        return n === batch;
      }
      case "expireAuthorizations": {
        const n = await expireAuthorizations(ctx.store, now, batch);
        r.authorizationsExpired += n;
        return n === batch;
      }
      case "deleteNonces": {
        const n = await deleteExpiredNonces(ctx.store, now, batch);
        r.noncesDeleted += n;
        return n === batch;
      }
      case "deleteRateLimitBuckets": {
        const n = await deleteExpiredRateLimitBuckets(ctx.store, now, batch);
        r.rateLimitBucketsDeleted += n;
        return n === batch;
      }
      case "deleteOrders": {
        const d = await deleteInvalidOrders(ctx.store, new Date(now.getTime() - retentionMs), now, batch);
        if (!d.locked) {
          r.deletionSkipped = true;
          return false;
        }
        r.ordersDeleted += d.orders;
        r.authorizationsDeleted += d.authorizations;
        return d.orders === batch;
      }
      default: {
        const never: never = step;
        throw new Error(`unknown clean-up step ${String(never)}`);
      }
    }
  };
  try {
    while (pending.size) {
      for (const step of [...pending]) {
        if (signal?.aborted || Date.now() - started >= budgetMs) return r;
        r.batches++;
        if (!(await one(step))) pending.delete(step);
        await yieldToEventLoop();
      }
    }
    r.complete = true;
    return r;
  } finally {
    r.ms = Date.now() - started;
  }
}

export interface CleanupJobOptions extends CleanupOptions {
  /** time between runs (the first run comes one interval after start) */
  intervalMs: number;
  logger: Logger;
  /** told about every run (metrics) */
  onRun?: (r: CleanupResult | undefined, error?: unknown) => void;
}

/**
 * The periodic job: one run every `intervalMs`, never two at once in this
 * process; `close()` stops the timer, asks a running run to stop after its
 * current batch, and waits for it.
 */
export class CleanupJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private closed = false;

  constructor(
    private readonly ctx: Pick<RaContext, "store" | "clock">,
    private readonly opts: CleanupJobOptions,
  ) {}

  start(): void {
    if (this.timer || this.closed || this.opts.intervalMs <= 0) return;
    const schedule = () => {
      this.timer = setTimeout(() => {
        this.running = this.runOnce().then(() => {
          this.running = undefined;
          if (!this.closed) schedule();
        });
      }, this.opts.intervalMs);
      this.timer.unref();
    };
    schedule();
  }

  /** one run now (also what the timer does); logs and reports, never rejects */
  async runOnce(): Promise<CleanupResult | undefined> {
    try {
      const r = await runCleanup(this.ctx, this.opts, this.abort.signal);
      this.opts.logger.info({ job: "acme-cleanup", ...r }, "ACME clean-up run");
      this.opts.onRun?.(r);
      return r;
    } catch (e) {
      this.opts.logger.error({ err: e, job: "acme-cleanup" }, "ACME clean-up run failed");
      this.opts.onRun?.(undefined, e);
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    await this.running;
  }
}
