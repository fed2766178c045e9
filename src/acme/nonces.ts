/**
 * RFC 8555 §6.5 anti-replay nonces, stored in the database so that several
 * server instances accept each other's nonces (src/db/store/nonces.ts).
 * Nonces are minted in batches (one multi-row INSERT per `batchSize` nonces,
 * then handed out from memory); each is consumed exactly once with a single
 * atomic DELETE, so a replay (even one racing the first use, or against
 * another instance) finds no row. Expired rows are swept periodically.
 *
 * Contract with the transport: when the database cannot answer, `issue()`,
 * `consume()` and `consumeWithAccount()` reject with
 * `SigilError.unavailable(...)` (kind "unavailable"), never with a driver
 * error and never with a made-up nonce, so the edge answers 503 with
 * Retry-After and a problem document (RFC 8555 §7.2: a nonce the server has
 * not stored would be refused as badNonce later).
 */
import { randomBytes } from "node:crypto";
import type { Clock } from "../core/clock.js";
import { SigilError, isSigilError } from "../core/errors.js";
import { consumeNonce, deleteExpiredNonces, insertNonces } from "../db/store/nonces.js";
import { NestedSessionError, Store } from "../db/store/session.js";
import { NonceAccountBatcher, type AccountReads, type NonceAccountResult } from "../ra/acme/accounts.js";

export interface NonceStoreOptions {
  /** how long a nonce stays usable (default 1 hour) */
  lifetimeMs?: number;
  /** nonces inserted per round trip (default 256: at 300 certificates/s, ~8 inserts a second) */
  batchSize?: number;
  /**
   * how often this store deletes expired rows itself (default 60 s; 0 = never:
   * the server leaves it to the ACME clean-up job, src/ra/acme/cleanup.ts)
   */
  cleanupIntervalMs?: number;
}

const NONCE_RE = /^[A-Za-z0-9_-]{22}$/;

/** the message of the unavailable error (the cause goes to the log only) */
export const NONCE_UNAVAILABLE = "nonces cannot be issued or checked now (the database is unavailable); retry later";

function unavailable(e: unknown): unknown {
  // a programming error (a nonce read inside a transaction) is not an outage
  if (isSigilError(e) || e instanceof NestedSessionError) return e;
  return SigilError.unavailable(NONCE_UNAVAILABLE, e);
}

export class NonceStore {
  private readonly store: Store;
  private readonly lifetimeMs: number;
  private readonly batchSize: number;
  private readonly cleanupIntervalMs: number;
  /** minted and stored nonces not yet handed out, with the time their batch was stored */
  private pool: string[] = [];
  private poolExpires = 0;
  private refilling: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private accounts: NonceAccountBatcher | undefined;

  /**
   * @param store the storage layer's root handle (`ctx.store`). TRANSITIONAL:
   * the ORM instance is still accepted until the router passes the store.
   */
  constructor(
    store: Store | ConstructorParameters<typeof Store>[0],
    private readonly clock: Clock,
    opts: NonceStoreOptions = {},
  ) {
    this.store = store instanceof Store ? store : new Store(store);
    this.lifetimeMs = opts.lifetimeMs ?? 3_600_000;
    this.batchSize = opts.batchSize ?? 256;
    this.cleanupIntervalMs = opts.cleanupIntervalMs ?? 60_000;
  }

  /**
   * A fresh nonce for a Replay-Nonce header (RFC 8555 §6.5.1), stored before
   * it is handed out. Rejects with SigilError kind "unavailable" when a new
   * batch cannot be stored.
   */
  async issue(): Promise<string> {
    for (;;) {
      // hand out only nonces with at least half their lifetime left
      if (this.pool.length && this.clock.now().getTime() < this.poolExpires - this.lifetimeMs / 2) return this.pool.pop()!;
      if (this.pool.length) this.pool = [];
      await this.refill();
    }
  }

  private refill(): Promise<void> {
    this.refilling ??= (async () => {
      try {
        const expires = new Date(this.clock.now().getTime() + this.lifetimeMs);
        const values = Array.from({ length: this.batchSize }, () => randomBytes(16).toString("base64url"));
        await insertNonces(this.store, values, expires);
        this.pool = values;
        this.poolExpires = expires.getTime();
      } catch (e) {
        throw unavailable(e);
      } finally {
        this.refilling = undefined;
      }
    })();
    return this.refilling;
  }

  /**
   * Consumes a nonce; true when it existed and had not expired (RFC 8555
   * §6.5: single use). Rejects with kind "unavailable" when the database
   * cannot answer.
   */
  async consume(value: string): Promise<boolean> {
    if (!NONCE_RE.test(value)) return false;
    try {
      return await consumeNonce(this.store, value, this.clock.now());
    } catch (e) {
      throw unavailable(e);
    }
  }

  /**
   * Consumes a nonce and reads the account of a kid request in one round
   * trip, shared by the requests of one event-loop turn (the nonce is
   * consumed whether or not the account exists); with `reads` the same
   * statement reads that order or authorization of the account (the order
   * poll, RFC 8555 §7.1.3, the authorization read, §7.5: one round trip
   * instead of two). Rejects with kind
   * "unavailable" when the database cannot answer.
   */
  async consumeWithAccount(value: string, directoryId: string, accountId: string, reads?: AccountReads): Promise<NonceAccountResult> {
    if (!NONCE_RE.test(value)) return { nonceOk: false, account: null };
    this.accounts ??= new NonceAccountBatcher({ store: this.store }, () => this.clock.now());
    try {
      return await this.accounts.lookup(value, directoryId, accountId, reads);
    } catch (e) {
      throw unavailable(e);
    }
  }

  /** deletes expired nonces in bounded batches (yielding between them); returns how many */
  async cleanup(batch = 1000): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await deleteExpiredNonces(this.store, this.clock.now(), batch);
      total += n;
      if (n < batch) return total;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  startCleanup(onError: (e: unknown) => void): void {
    if (this.timer || this.cleanupIntervalMs <= 0) return;
    this.timer = setInterval(() => {
      this.cleanup().catch(onError);
    }, this.cleanupIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
