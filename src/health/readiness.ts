/**
 * The readiness model behind GET /readyz, `sigil health` and the gRPC
 * grpc.health.v1 status: the instance should get traffic only when
 *
 * - database:   the database answers `select 1` within a short timeout;
 * - migrations: no migration is pending (checked at start, then at most
 *   every `migrationsTtlMs`; an instance running an older binary than the
 *   schema, or a newer one before `sigil migrate`, is not ready);
 * - masterKey:  the master key decrypted the CA keys (start-up proves it:
 *   the wiring records it with `markMasterKeyVerified`);
 * - draining:   the process is not shutting down (SIGTERM/SIGINT).
 *
 * Liveness (GET /healthz) is only "the process answers": a database outage
 * must not make an orchestrator restart every instance.
 */
import type { Logger } from "../logger.js";

export type CheckName = "database" | "migrations" | "masterKey" | "draining";

export interface CheckResult {
  ok: boolean;
  /** a short operator-facing reason when not ok (never SQL values or secrets) */
  error?: string;
}

export interface ReadinessReport {
  status: "ok" | "unavailable";
  checks: Record<CheckName, CheckResult>;
  /** the names of the failing checks, empty when ready */
  failing: CheckName[];
}

/** What readiness needs of the database (src/db/store/health.ts on the server's store). */
export interface ReadinessProbes {
  ping(): Promise<void>;
  pendingMigrations(): Promise<string[]>;
}

export interface ReadinessOptions {
  probes: ReadinessProbes;
  logger?: Logger;
  /** how long `select 1` may take before the database counts as down (default 2000 ms) */
  databaseTimeoutMs?: number;
  /** how long a migrations check is trusted (default 30 s) */
  migrationsTtlMs?: number;
}

export class Readiness {
  readonly #probes: ReadinessProbes;
  readonly #logger: Logger | undefined;
  readonly #dbTimeoutMs: number;
  readonly #migrationsTtlMs: number;
  #masterKey: CheckResult = { ok: false, error: "the master key has not been checked against the CA keys yet" };
  #draining = false;
  #migrations: { at: number; result: CheckResult } | undefined;
  #inflight: Promise<ReadinessReport> | undefined;
  #last: ReadinessReport | undefined;
  readonly #listeners = new Set<(ready: boolean, report: ReadinessReport) => void>();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: ReadinessOptions) {
    this.#probes = opts.probes;
    this.#logger = opts.logger;
    this.#dbTimeoutMs = opts.databaseTimeoutMs ?? 2000;
    this.#migrationsTtlMs = opts.migrationsTtlMs ?? 30_000;
  }

  /** start-up decrypted the CA keys (or the key check value) with the master key */
  markMasterKeyVerified(): void {
    this.#masterKey = { ok: true };
  }

  /** readiness turns 503 "draining" at once and stays so */
  startDraining(): void {
    if (this.#draining) return;
    this.#draining = true;
    // no database round trip: the change must be visible before the listeners close
    if (this.#last) this.#publish(this.#compose(this.#last.checks.database, this.#last.checks.migrations));
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** the last report (undefined before the first check) */
  get last(): ReadinessReport | undefined {
    return this.#last;
  }

  /** Runs the checks (concurrent callers share one run). */
  check(): Promise<ReadinessReport> {
    this.#inflight ??= this.#run().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  /** Calls `listener` whenever readiness changes (and once with the first result). */
  onChange(listener: (ready: boolean, report: ReadinessReport) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Checks every `ms` (the gRPC health status follows); `stop()` ends it. */
  poll(ms: number): void {
    if (this.#timer) return;
    const tick = () => void this.check().catch(() => undefined);
    tick();
    this.#timer = setInterval(tick, ms);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #run(): Promise<ReadinessReport> {
    const database = await this.#database();
    // a database that does not answer cannot say what is pending: keep the last answer
    const migrations = database.ok ? await this.#migrationsCheck() : (this.#migrations?.result ?? { ok: false, error: "not checked: the database is unavailable" });
    const report = this.#compose(database, migrations);
    this.#publish(report);
    return report;
  }

  #compose(database: CheckResult, migrations: CheckResult): ReadinessReport {
    const checks: Record<CheckName, CheckResult> = {
      database,
      migrations,
      masterKey: this.#masterKey,
      draining: this.#draining ? { ok: false, error: "the process is shutting down" } : { ok: true },
    };
    const failing = (Object.keys(checks) as CheckName[]).filter((k) => !checks[k].ok);
    return { status: failing.length ? "unavailable" : "ok", checks, failing };
  }

  #publish(report: ReadinessReport): void {
    const was = this.#last?.status;
    this.#last = report;
    if (was === report.status) return;
    if (was !== undefined) {
      if (report.status === "ok") this.#logger?.info({ checks: report.checks }, "ready");
      else this.#logger?.warn({ failing: report.failing, checks: report.checks }, "not ready");
    }
    for (const l of this.#listeners) l(report.status === "ok", report);
  }

  async #database(): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, error: `the database did not answer within ${this.#dbTimeoutMs} ms` }), this.#dbTimeoutMs);
    });
    try {
      return await Promise.race([
        this.#probes.ping().then(
          () => ({ ok: true }),
          // the driver's code or a fixed text, never its message (it may quote the statement)
          (e: unknown) => ({ ok: false, error: `the database is unavailable${errorCode(e)}` }),
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #migrationsCheck(): Promise<CheckResult> {
    const now = Date.now();
    if (this.#migrations && this.#migrations.result.ok && now - this.#migrations.at < this.#migrationsTtlMs) return this.#migrations.result;
    let result: CheckResult;
    try {
      const pending = await this.#probes.pendingMigrations();
      result = pending.length ? { ok: false, error: `${pending.length} pending migration(s): ${pending.slice(0, 5).join(", ")}; run sigil migrate` } : { ok: true };
    } catch (e) {
      result = { ok: false, error: `cannot read the applied migrations${errorCode(e)}` };
    }
    this.#migrations = { at: now, result };
    return result;
  }
}

function errorCode(e: unknown): string {
  const code = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^[A-Z0-9_]{1,32}$/.test(code) ? ` (${code})` : "";
}
