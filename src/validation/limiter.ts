/**
 * Caps on concurrent validations, server-wide and per ACME account.
 *
 * Each validation holds outbound connections and a deadline's worth of
 * timers; one account creating many orders must neither exhaust the
 * server's sockets nor delay every other account's validations (RFC 8555
 * §10.2 on validation as an amplifier). Over a cap a validation waits in a
 * FIFO queue (it does not fail); the queue itself is bounded, and only a
 * validation that finds it full ends with an outcome.
 */
import { ValidationAborted } from "./common.js";

export interface ValidationLimits {
  /** validations running at once, all accounts together (SIGIL_VALIDATION_MAX_CONCURRENT, default 64) */
  maxConcurrent: number;
  /** validations of one account running at once (SIGIL_VALIDATION_MAX_PER_ACCOUNT, default 8) */
  maxPerAccount: number;
  /** validations waiting, all accounts together (default 16 x maxConcurrent) */
  maxQueued: number;
  /** validations of one account waiting (default 16 x maxPerAccount) */
  maxQueuedPerAccount: number;
}

export const DEFAULT_MAX_CONCURRENT = 64;
export const DEFAULT_MAX_PER_ACCOUNT = 8;

/** The limits with defaults filled in. */
export function validationLimits(given: Partial<ValidationLimits> = {}): ValidationLimits {
  const maxConcurrent = Math.max(1, given.maxConcurrent ?? DEFAULT_MAX_CONCURRENT);
  const maxPerAccount = Math.max(1, given.maxPerAccount ?? DEFAULT_MAX_PER_ACCOUNT);
  return {
    maxConcurrent,
    maxPerAccount,
    maxQueued: Math.max(0, given.maxQueued ?? 16 * maxConcurrent),
    maxQueuedPerAccount: Math.max(0, given.maxQueuedPerAccount ?? 16 * maxPerAccount),
  };
}

export type Release = () => void;

interface Waiter {
  account: string | undefined;
  grant: (release: Release) => void;
}

export class ValidationLimiter {
  private running = 0;
  private readonly perAccount = new Map<string, number>();
  private readonly queue: Waiter[] = [];

  constructor(readonly limits: ValidationLimits) {}

  /** validations holding a slot now */
  get active(): number {
    return this.running;
  }

  /** validations waiting for a slot now */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * A slot for one validation of `account`: at once when both caps allow,
   * else after the validations ahead of it; "full" when the queue (or the
   * account's share of it) is full. Rejects with ValidationAborted when
   * `signal` fires while waiting.
   */
  acquire(account: string | undefined, signal?: AbortSignal): Promise<Release | "full"> {
    if (signal?.aborted) return Promise.reject(new ValidationAborted());
    if (this.fits(account)) return Promise.resolve(this.take(account));
    if (this.queue.length >= this.limits.maxQueued) return Promise.resolve("full");
    if (account !== undefined && this.queue.filter((w) => w.account === account).length >= this.limits.maxQueuedPerAccount) return Promise.resolve("full");
    return new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        reject(new ValidationAborted());
      };
      const waiter: Waiter = {
        account,
        grant: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      this.queue.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  private fits(account: string | undefined): boolean {
    if (this.running >= this.limits.maxConcurrent) return false;
    return account === undefined || (this.perAccount.get(account) ?? 0) < this.limits.maxPerAccount;
  }

  private take(account: string | undefined): Release {
    this.running++;
    if (account !== undefined) this.perAccount.set(account, (this.perAccount.get(account) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      if (account !== undefined) {
        const n = (this.perAccount.get(account) ?? 1) - 1;
        if (n <= 0) this.perAccount.delete(account);
        else this.perAccount.set(account, n);
      }
      this.drain();
    };
  }

  /** grants slots to waiters in order, skipping those whose account is at its cap */
  private drain(): void {
    for (let i = 0; i < this.queue.length && this.running < this.limits.maxConcurrent; ) {
      const w = this.queue[i]!;
      if (this.fits(w.account)) {
        this.queue.splice(i, 1);
        w.grant(this.take(w.account));
      } else {
        i++;
      }
    }
  }
}
