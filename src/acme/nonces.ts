/**
 * RFC 8555 §6.5 anti-replay nonces, stored in the database so that several
 * server instances accept each other's nonces. Nonces are minted in batches
 * (one multi-row INSERT per `batchSize` nonces, then handed out from memory);
 * each is consumed exactly once with a single atomic
 * `DELETE ... RETURNING`, so a replay (even one racing the first use, or
 * against another instance) finds no row. Expired rows are swept periodically.
 */
import { randomBytes } from "node:crypto";
import type { MikroORM } from "@mikro-orm/postgresql";
import type { Clock } from "../core/clock.js";
import { sqlPool, statement } from "../db/sql.js";
import { NonceAccountBatcher, type AccountInfo } from "../ra/acme/accounts.js";

export interface NonceStoreOptions {
  /** how long a nonce stays usable (default 1 hour) */
  lifetimeMs?: number;
  /** nonces inserted per round trip (default 64) */
  batchSize?: number;
  /** how often expired rows are deleted (default 60 s) */
  cleanupIntervalMs?: number;
}

const NONCE_RE = /^[A-Za-z0-9_-]{22}$/;

const INSERT_BATCH = statement("sigil_nonce_insert", `insert into acme_nonces (value, expires_at) select unnest($1::varchar[]), $2`);
const CONSUME = statement("sigil_nonce_consume", `delete from acme_nonces where value = $1 and expires_at > $2 returning value`);

export class NonceStore {
  private readonly lifetimeMs: number;
  private readonly batchSize: number;
  private readonly cleanupIntervalMs: number;
  /** minted and stored nonces not yet handed out, with the time their batch was stored */
  private pool: string[] = [];
  private poolExpires = 0;
  private refilling: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private accounts: NonceAccountBatcher | undefined;

  constructor(
    private readonly orm: MikroORM,
    private readonly clock: Clock,
    opts: NonceStoreOptions = {},
  ) {
    this.lifetimeMs = opts.lifetimeMs ?? 3_600_000;
    this.batchSize = opts.batchSize ?? 64;
    this.cleanupIntervalMs = opts.cleanupIntervalMs ?? 60_000;
  }

  /** a fresh nonce for a Replay-Nonce header (RFC 8555 §6.5.1) */
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
        await sqlPool(this.orm).query(INSERT_BATCH, [values, expires]);
        this.pool = values;
        this.poolExpires = expires.getTime();
      } finally {
        this.refilling = undefined;
      }
    })();
    return this.refilling;
  }

  /** consumes a nonce; true when it existed and had not expired (RFC 8555 §6.5: single use) */
  async consume(value: string): Promise<boolean> {
    if (!NONCE_RE.test(value)) return false;
    const rows = await sqlPool(this.orm).query<{ value: string }>(CONSUME, [value, this.clock.now()]);
    return rows.length === 1;
  }

  /**
   * consumes a nonce and reads the account of a kid request in one round
   * trip, shared by the requests of one event-loop turn (the nonce is
   * consumed whether or not the account exists)
   */
  async consumeWithAccount(value: string, directoryId: string, accountId: string): Promise<{ nonceOk: boolean; account: AccountInfo | null }> {
    if (!NONCE_RE.test(value)) return { nonceOk: false, account: null };
    this.accounts ??= new NonceAccountBatcher({ orm: this.orm }, () => this.clock.now());
    return this.accounts.lookup(value, directoryId, accountId);
  }

  /** deletes expired nonces; returns how many */
  async cleanup(): Promise<number> {
    const rows = await this.orm.em
      .getConnection()
      .execute<Array<{ value: string }>>(`delete from acme_nonces where expires_at <= ? returning value`, [this.clock.now()]);
    return rows.length;
  }

  startCleanup(onError: (e: unknown) => void): void {
    if (this.timer) return;
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
