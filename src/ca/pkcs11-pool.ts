/**
 * A pool of PKCS#11 sessions (or anything a factory opens), with one user
 * per session at a time.
 *
 * PKCS#11 v2.40 §5.6: a session may be used by one thread at a time; the
 * login state is the application's, so every session opened after C_Login
 * is already a user session. Synchronous users (C_Sign on Node's one
 * thread) never hold a session across an await, so they take any idle one
 * (or open one beyond `max`, closed again on release); asynchronous users
 * (C_SignAsync runs on libuv's thread pool) wait for an idle session once
 * `max` are busy. A session whose call failed with a broken-session error
 * (isBroken) is closed instead of returned, and the next user gets a new one.
 */
export interface SessionPoolOptions<S> {
  open: () => S;
  close: (session: S) => void;
  /** sessions kept open at most (default 4) */
  max?: number;
  /** whether an error means the session itself is unusable (closed, not reused) */
  isBroken?: (e: unknown) => boolean;
}

export class SessionPool<S> {
  private readonly idle: S[] = [];
  private readonly waiters: Array<{ resolve: (s: S) => void; reject: (e: unknown) => void }> = [];
  private busy = 0;
  private closed = false;
  readonly max: number;

  constructor(private readonly opts: SessionPoolOptions<S>) {
    this.max = opts.max ?? 4;
    if (!Number.isInteger(this.max) || this.max < 1) throw new RangeError("a session pool needs max >= 1");
  }

  /** sessions open now (idle and in use) */
  get size(): number {
    return this.idle.length + this.busy;
  }

  /** sessions in use now */
  get inUse(): number {
    return this.busy;
  }

  /** Runs `fn` with a session of its own (synchronous: never waits). */
  withSession<T>(fn: (session: S) => T): T {
    const s = this.takeNow();
    let broken = false;
    try {
      return fn(s);
    } catch (e) {
      broken = this.opts.isBroken?.(e) ?? false;
      throw e;
    } finally {
      this.release(s, broken);
    }
  }

  /** Runs `fn` with a session of its own, waiting for one when `max` are in use. */
  async withSessionAsync<T>(fn: (session: S) => Promise<T>): Promise<T> {
    const s = await this.take();
    let broken = false;
    try {
      return await fn(s);
    } catch (e) {
      broken = this.opts.isBroken?.(e) ?? false;
      throw e;
    } finally {
      this.release(s, broken);
    }
  }

  /** Closes every idle session; sessions in use are closed when released. */
  close(): void {
    this.closed = true;
    for (const s of this.idle.splice(0)) this.closeQuietly(s);
    for (const w of this.waiters.splice(0)) w.reject(new Error("the session pool is closed"));
  }

  private takeNow(): S {
    if (this.closed) throw new Error("the session pool is closed");
    const s = this.idle.pop() ?? this.opts.open();
    this.busy++;
    return s;
  }

  private take(): Promise<S> {
    if (this.closed) return Promise.reject(new Error("the session pool is closed"));
    if (this.idle.length > 0 || this.size < this.max) return Promise.resolve(this.takeNow());
    return new Promise<S>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private release(s: S, broken: boolean): void {
    this.busy--;
    if (broken || this.closed) {
      this.closeQuietly(s);
      // a waiter still gets a session: a new one in place of the broken one
      const w = !this.closed ? this.waiters.shift() : undefined;
      if (w) {
        let fresh: S;
        try {
          fresh = this.opts.open();
        } catch (e) {
          w.reject(e);
          return;
        }
        this.busy++;
        w.resolve(fresh);
      }
      return;
    }
    const w = this.waiters.shift();
    if (w) {
      this.busy++;
      w.resolve(s);
      return;
    }
    // a synchronous user may have opened one beyond max: close it rather than keep it
    if (this.size >= this.max) this.closeQuietly(s);
    else this.idle.push(s);
  }

  private closeQuietly(s: S): void {
    try {
      this.opts.close(s);
    } catch {
      // a session that cannot be closed is already gone (token removed, library finalized)
    }
  }
}
