/**
 * Sigil's Prometheus metrics (https://prometheus.io/docs/practices/naming/):
 * one prom-client Registry per server instance, never the library's global
 * default, so several servers in one process (the tests) keep their counts
 * apart. Transports and the wiring record through the small methods below;
 * the text exposition is `render()`, served at GET /metrics.
 *
 * Label values are bounded sets: route templates (never raw paths), method
 * names, status codes, problem types, CA ids.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** seconds buckets of request latencies: 1 ms .. 10 s */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** validations take network round trips: 10 ms .. 60 s */
const VALIDATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What the scrape reads at collection time (a store read; cheap). */
export interface ScrapeSources {
  /** active CAs with the notAfter of their certificate and the nextUpdate of their CRL */
  caExpiries?: () => Promise<Array<{ id: string; notAfter: Date; crlNextUpdate: Date | null }>>;
  /** the database pool's occupancy; undefined when not known */
  pool?: () => { used: number; free: number; pending: number; max: number } | undefined;
  /** the clock the expiry gauges count from */
  now?: () => Date;
}

export class SigilMetrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: "sigil_http_requests_total",
    help: "HTTP requests answered, by route template, method and status code.",
    labelNames: ["route", "method", "status"] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: "sigil_http_request_duration_seconds",
    help: "HTTP request latency in seconds, by route template and method.",
    labelNames: ["route", "method"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly acmeOperations = new Counter({
    name: "sigil_acme_operations_total",
    help: "ACME operations (RFC 8555 newAccount, newOrder, challenge, finalize, revoke) by outcome and problem type (empty on success).",
    labelNames: ["operation", "outcome", "problem"] as const,
    registers: [this.registry],
  });
  readonly validations = new Counter({
    name: "sigil_validations_total",
    help: "ACME challenge validations by challenge type and result (valid, or the problem type of an invalid one).",
    labelNames: ["type", "result"] as const,
    registers: [this.registry],
  });
  readonly validationDuration = new Histogram({
    name: "sigil_validation_duration_seconds",
    help: "ACME challenge validation duration in seconds, by challenge type.",
    labelNames: ["type"] as const,
    buckets: VALIDATION_BUCKETS,
    registers: [this.registry],
  });
  readonly certificatesIssued = new Counter({
    name: "sigil_certificates_issued_total",
    help: "Certificates issued (committed), by issuing CA id and source (acme, admin, ocsp_signer).",
    labelNames: ["ca", "source"] as const,
    registers: [this.registry],
  });
  readonly certificatesRevoked = new Counter({
    name: "sigil_certificates_revoked_total",
    help: "Certificates revoked (committed), by issuing CA id and source (acme, admin).",
    labelNames: ["ca", "source"] as const,
    registers: [this.registry],
  });
  readonly ocspResponses = new Counter({
    name: "sigil_ocsp_responses_total",
    help: "OCSP responses (RFC 6960) by response status, and cache: hit (the whole response from the responder's cache), miss (built now), not_modified (HTTP 304: the relying party's copy was still current).",
    labelNames: ["status", "cache"] as const,
    registers: [this.registry],
  });
  readonly acmeRateLimited = new Counter({
    name: "sigil_acme_rate_limited_total",
    help: "ACME requests refused with rateLimited (RFC 8555 §6.6), by rate limit (docs/rate-limits.md).",
    labelNames: ["limit"] as const,
    registers: [this.registry],
  });
  readonly acmeCleanupRows = new Counter({
    name: "sigil_acme_cleanup_rows_total",
    help: "Rows the ACME clean-up job changed, by action: orders_expired, authorizations_expired, nonces_deleted, orders_deleted, authorizations_deleted.",
    labelNames: ["action"] as const,
    registers: [this.registry],
  });
  readonly acmeCleanupRuns = new Counter({
    name: "sigil_acme_cleanup_runs_total",
    help: "ACME clean-up runs by outcome: complete, partial (time budget spent, work left), error.",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly grpcRequests = new Counter({
    name: "sigil_grpc_requests_total",
    help: "Admin gRPC calls by full method path and status code name.",
    labelNames: ["method", "code"] as const,
    registers: [this.registry],
  });
  readonly grpcDuration = new Histogram({
    name: "sigil_grpc_request_duration_seconds",
    help: "Admin gRPC call latency in seconds, by full method path.",
    labelNames: ["method"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  constructor(sources: ScrapeSources = {}, opts: { defaultMetrics?: boolean } = {}) {
    const now = sources.now ?? (() => new Date());
    // process CPU/memory/fds and nodejs_eventloop_lag_seconds (+ percentiles), on this registry only
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    if (sources.caExpiries) {
      const read = sources.caExpiries;
      // one store read per scrape for both gauges (collect() of each runs in the same scrape)
      let current: Promise<Array<{ id: string; notAfter: Date; crlNextUpdate: Date | null }>> | undefined;
      const rows = () => {
        // a database that does not answer leaves the gauges out of this scrape rather than failing it
        current ??= withTimeout(read(), 2000)
          .catch(() => [])
          .finally(() => setTimeout(() => (current = undefined), 0).unref());
        return current;
      };
      new Gauge({
        name: "sigil_ca_expiry_seconds",
        help: "Seconds until the certificate of each active CA expires (negative: expired).",
        labelNames: ["ca"] as const,
        registers: [this.registry],
        async collect() {
          this.reset();
          const t = now().getTime();
          for (const r of await rows()) this.set({ ca: r.id }, (r.notAfter.getTime() - t) / 1000);
        },
      });
      new Gauge({
        name: "sigil_crl_expiry_seconds",
        help: "Seconds until the current CRL of each active CA reaches its nextUpdate (negative: stale); absent until its first CRL.",
        labelNames: ["ca"] as const,
        registers: [this.registry],
        async collect() {
          this.reset();
          const t = now().getTime();
          for (const r of await rows()) if (r.crlNextUpdate) this.set({ ca: r.id }, (r.crlNextUpdate.getTime() - t) / 1000);
        },
      });
    }
    if (sources.pool) {
      const pool = sources.pool;
      const gauge = (name: string, help: string, pick: (p: { used: number; free: number; pending: number; max: number }) => number) =>
        new Gauge({
          name,
          help,
          registers: [this.registry],
          collect() {
            const p = pool();
            if (p) this.set(pick(p));
          },
        });
      gauge("sigil_db_pool_connections_in_use", "Database connections checked out of the pool.", (p) => p.used);
      gauge("sigil_db_pool_connections_idle", "Open database connections idle in the pool.", (p) => p.free);
      gauge("sigil_db_pool_waiting", "Callers waiting for a database connection.", (p) => p.pending);
      gauge("sigil_db_pool_connections_max", "Maximum size of the database connection pool.", (p) => p.max);
    }
  }

  /** one answered HTTP request; `route` is the matched template ("unmatched" when none) */
  httpRequest(route: string, method: string, status: number, seconds: number): void {
    this.httpRequests.inc({ route, method, status: String(status) });
    this.httpDuration.observe({ route, method }, seconds);
  }

  acmeOperation(operation: AcmeOperation, outcome: "success" | "error", problem: string): void {
    this.acmeOperations.inc({ operation, outcome, problem });
  }

  /** one ACME request refused by a rate limit (its name: a bounded set) */
  rateLimited(limit: string): void {
    this.acmeRateLimited.inc({ limit });
  }

  validation(type: string, result: string, seconds: number): void {
    this.validations.inc({ type, result });
    this.validationDuration.observe({ type }, seconds);
  }

  grpcRequest(method: string, code: string, seconds: number): void {
    this.grpcRequests.inc({ method, code });
    this.grpcDuration.observe({ method }, seconds);
  }

  /** one run of the ACME clean-up job (undefined: it failed) */
  acmeCleanup(r: AcmeCleanupCounts | undefined): void {
    if (!r) {
      this.acmeCleanupRuns.inc({ outcome: "error" });
      return;
    }
    this.acmeCleanupRuns.inc({ outcome: r.complete ? "complete" : "partial" });
    this.acmeCleanupRows.inc({ action: "orders_expired" }, r.ordersExpired);
    this.acmeCleanupRows.inc({ action: "authorizations_expired" }, r.authorizationsExpired);
    this.acmeCleanupRows.inc({ action: "nonces_deleted" }, r.noncesDeleted);
    this.acmeCleanupRows.inc({ action: "orders_deleted" }, r.ordersDeleted);
    this.acmeCleanupRows.inc({ action: "authorizations_deleted" }, r.authorizationsDeleted);
  }

  ocspResponse(status: string, cache: "hit" | "miss" | "not_modified"): void {
    this.ocspResponses.inc({ status, cache });
  }

  /** the Prometheus text exposition format (version 0.0.4) */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("scrape source timed out")), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** what sigil_acme_cleanup_* count of one clean-up run (src/ra/acme/cleanup.ts CleanupResult) */
export interface AcmeCleanupCounts {
  complete: boolean;
  ordersExpired: number;
  authorizationsExpired: number;
  noncesDeleted: number;
  ordersDeleted: number;
  authorizationsDeleted: number;
}

/** RFC 8555 operations counted by sigil_acme_operations_total */
export type AcmeOperation = "newAccount" | "newOrder" | "challenge" | "finalize" | "revoke";
