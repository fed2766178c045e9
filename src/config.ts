import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { SigilError } from "./core/errors.js";
import { parseTrustProxy, type TrustProxy } from "./core/client-address.js";
import { NetworkPolicyError, parseNetworkPolicy, type NetworkPolicy } from "./validation/network-policy.js";
import { parseRateLimitsSpec, RateLimitSpecError, type RateLimitSet } from "./policy/rate-limits.js";

/**
 * The one validated configuration object. Every field comes from an
 * environment variable (named in its doc comment) or, for the same names,
 * from an optional JSON file given by SIGIL_CONFIG_FILE whose keys are the
 * variable names; the environment wins over the file. A wrong value stops the
 * process with a message that names the variable.
 */
export interface SigilConfig {
  /** DATABASE_URL: PostgreSQL URL. Unset: the embedded PGlite database in `<dataDir>/pgdata`. DATABASE_PASSWORD_FILE (unset): a file holding the password, set into this URL (which then must have none). */
  databaseUrl?: string;
  /** SIGIL_DATA_DIR (default ./data): embedded database, generated master key. */
  dataDir: string;
  /** SIGIL_HOST (default 127.0.0.1): the address both listeners bind to. */
  host: string;
  /** SIGIL_HTTP_PORT (default 8080): ACME and relying-party HTTP listener. */
  httpPort: number;
  /** SIGIL_GRPC_PORT (default 9090): admin gRPC listener. */
  grpcPort: number;
  /**
   * SIGIL_HTTPS_PORT (default 8443): the TLS 1.2/1.3 listener serving ACME
   * (RFC 8555 §6.1 requires HTTPS) and the relying-party routes. Its
   * certificate: SIGIL_HTTPS_CERT / SIGIL_HTTPS_KEY, or issued by Sigil from
   * the `default` intermediate when those are unset (src/tls/).
   */
  httpsPort: number;
  /** SIGIL_HTTPS_CERT / SIGIL_HTTPS_KEY: PEM files (certificate chain, private key) of the HTTPS listener, reloaded when they change or on SIGHUP; unset: self-issued. */
  httpsCert?: string;
  httpsKey?: string;
  /** SIGIL_ACME_ON_HTTP (default true): ACME also on the plain HTTP listener (for a TLS-terminating proxy in front); false leaves only the relying-party routes there. */
  acmeOnHttp: boolean;
  /** SIGIL_TRUST_PROXY (default false): honour X-Forwarded-Proto/Host/For (client address, logging); the URLs Sigil writes still come from SIGIL_PUBLIC_URL. */
  trustProxy: boolean;
  /** SIGIL_TRUST_PROXY as a rule (src/core/client-address.ts): true = one proxy hop, a number = that many hops, or a list of proxy addresses / CIDR blocks; false when off. */
  trustProxyRule: TrustProxy;
  /** SIGIL_PUBLIC_URL (default http://localhost:8080): external base of the relying-party URLs Sigil signs into certificates (CRL DP, AIA caIssuers and OCSP; http, RFC 5280 §4.2.1.13, RFC 6960) and, unless SIGIL_ACME_URL is set, of ACME links; no trailing slash. */
  publicUrl: string;
  /** SIGIL_ACME_URL (default SIGIL_PUBLIC_URL): external base of ACME links (directory, orders, ...), e.g. https://ca.example.com:8443 when Sigil terminates TLS itself (RFC 8555 §6.1: ACME over HTTPS) while CRLs and OCSP stay on http; no trailing slash. */
  acmeUrl: string;
  /** SIGIL_MASTER_KEY (64 hex chars or base64 of 32 bytes) or SIGIL_MASTER_KEY_FILE; unset on the embedded default: generated into `<dataDir>/master.key`. */
  masterKey?: string;
  /** SIGIL_MASTER_KEY_FILE: path of a file holding the master key. */
  masterKeyFile?: string;
  /** SIGIL_PREVIOUS_MASTER_KEYS: comma-separated older master keys still accepted for decryption (rotation). */
  previousMasterKeys: string[];
  /** SIGIL_BOOTSTRAP_ADMIN_PASSWORD: password of the first-run superuser `admin`; unset: generated and printed once. */
  bootstrapAdminPassword?: string;
  /**
   * SIGIL_BOOTSTRAP_MODE (default embedded-root): what the first start makes. embedded-root: a root and an
   * intermediate; external-root: only the intermediate, pending until an offline root signs its CSR
   * (`<dataDir>/default-intermediate.csr`; docs/key-custody.md, "Offline root").
   */
  bootstrapMode: "embedded-root" | "external-root";
  /** SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE: external-root: the certificate the offline root signed for that CSR. */
  bootstrapIntermediateCertFile?: string;
  /** SIGIL_BOOTSTRAP_ROOT_CERT_FILE: external-root: the offline root's certificate (its chain, the root last). */
  bootstrapRootCertFile?: string;
  /** SIGIL_MIGRATE_ON_START (default true): `sigil serve` applies pending migrations before listening. */
  migrateOnStart: boolean;
  /** SIGIL_LOG_LEVEL (default info): pino level. */
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** SIGIL_VALIDATION_HTTP_PORT (default 80): port http-01 validation connects to. */
  validationHttpPort: number;
  /** SIGIL_VALIDATION_TLS_PORT (default 443): port tls-alpn-01 validation connects to. */
  validationTlsPort: number;
  /** SIGIL_DNS_SERVERS: comma-separated host:port resolvers for dns-01 and name lookups; default the system resolver. */
  dnsServers: string[];
  /**
   * SIGIL_VALIDATION_ALLOWED_NETWORKS (default "public,private"): where http-01
   * and tls-alpn-01 may connect, comma-separated `public`, `private` and CIDRs
   * (src/validation/network-policy.ts). Loopback, link-local, metadata,
   * shared (100.64/10) and reserved ranges need an explicit CIDR. Unset here
   * means the default (undefined; the validator then reads the variable
   * from the process environment, which is what the test setup sets).
   */
  validationAllowedNetworks?: NetworkPolicy;
  /**
   * SIGIL_OIDC_ALLOW_HTTP_LOOPBACK (default false): identity providers may
   * have an http issuer and endpoints on a loopback address (a provider run
   * beside Sigil, tests). Off, every issuer and endpoint must be https.
   */
  oidcAllowHttpLoopback: boolean;
  /** SIGIL_VALIDATION_MAX_CONCURRENT (default 64): challenge validations running at once; more wait in a bounded queue. */
  validationMaxConcurrent: number;
  /** SIGIL_VALIDATION_MAX_PER_ACCOUNT (default 8): validations of one ACME account running at once; more wait. */
  validationMaxPerAccount: number;
  /** SIGIL_GRPC_TLS_CERT / SIGIL_GRPC_TLS_KEY: PEM files enabling TLS on the gRPC listener. */
  grpcTlsCert?: string;
  grpcTlsKey?: string;
  /** SIGIL_GRPC_CLIENT_CA: PEM file; when set, gRPC clients must present a certificate it issued. */
  grpcClientCa?: string;
  /** SIGIL_CRL_LIFETIME_HOURS (default 168 = 7 days): nextUpdate - thisUpdate of CRLs. */
  crlLifetimeHours: number;
  /** SIGIL_CRL_DEBOUNCE_MS (default 1000): delay between a revocation and its CA's regenerated CRL; revocations in between join it. */
  crlDebounceMs: number;
  /** SIGIL_CRL_CHECK_MS (default 5000): how often each instance looks for CRLs that are due or miss a revocation (one cheap query). */
  crlCheckMs: number;
  /** SIGIL_OCSP_RESPONSE_HOURS (default 24): nextUpdate - thisUpdate of OCSP responses; cached ones are re-signed after half of it. */
  ocspResponseHours: number;
  /** SIGIL_OCSP_SIGNER_DAYS (default 30): lifetime of the delegated OCSP signing certificates (short: they cannot be revoked, RFC 6960 §4.2.2.2.1). */
  ocspSignerDays: number;
  /** SIGIL_OCSP_SIGNER_RENEW_DAYS (default 10): a new OCSP signing certificate is issued when the current one has less left; below SIGIL_OCSP_SIGNER_DAYS. */
  ocspSignerRenewDays: number;
  /** SIGIL_OCSP_POLL_MS (default 2000): how often OCSP caches look for revocations made by other instances. */
  ocspPollMs: number;
  /** SIGIL_DB_POOL_MAX (default 10): PostgreSQL connection pool size (the embedded database always uses 1). */
  dbPoolMax: number;
  /** SIGIL_BCRYPT_COST (default 12, 4-15): bcrypt cost of new password hashes; lower only for tests. */
  bcryptCost: number;
  /** SIGIL_METRICS (default true): Prometheus metrics at GET /metrics on the HTTP listener; false removes the route. */
  metrics: boolean;
  /**
   * SIGIL_SHUTDOWN_GRACE_SECONDS (default 25, 0-3600): on SIGTERM/SIGINT, how long requests
   * and RPCs in flight may take to finish after readiness turned 503 and the listeners
   * stopped accepting; then the remaining connections are closed. Below Kubernetes'
   * default terminationGracePeriodSeconds (30).
   */
  shutdownGraceSeconds: number;
  /** SIGIL_CLEANUP_INTERVAL_SECONDS (default 300, 0-86400; 0 = off): how often the ACME clean-up job runs (docs/cleanup.md). */
  cleanupIntervalSeconds: number;
  /** SIGIL_CLEANUP_BATCH (default 1000, 1-100000): rows per clean-up batch (one bounded statement each). */
  cleanupBatch: number;
  /** SIGIL_INVALID_ORDER_RETENTION_DAYS (default 30, 0-3650): invalid ACME orders older than this are deleted by the clean-up job. */
  invalidOrderRetentionDays: number;
  /**
   * SIGIL_ARI_RETRY_AFTER_SECONDS (default 21600, 60-604800): RFC 9773 §4.3 Retry-After of a
   * renewalInfo answer (±10% jitter), also its Cache-Control max-age (docs/renewal.md).
   */
  ariRetryAfterSeconds: number;
  /**
   * SIGIL_RATE_LIMITS (default `default`): the server's ACME rate limits (docs/rate-limits.md):
   * `default` (Let's Encrypt's values), `off` (none, for load tests), or a list such as
   * `new-orders-per-account=300/3h,new-accounts-per-ip=off` (changes to the defaults; `off,...`
   * starts from none). A directory's own entries (AcmeDirectory.rate_limits) apply on top.
   */
  rateLimits: RateLimitSet;
  /**
   * The PKCS#11 token CA keys can be created in (docs/key-custody.md, "HSM (PKCS#11)"); unset: none.
   * SIGIL_PKCS11_MODULE: the PKCS#11 library (.so, e.g. /usr/lib/softhsm/libsofthsm2.so); with it,
   * SIGIL_PKCS11_TOKEN_LABEL (the token's label) or SIGIL_PKCS11_SLOT (its slot id), and
   * SIGIL_PKCS11_PIN or SIGIL_PKCS11_PIN_FILE (a file holding the user PIN; one trailing newline is dropped).
   * SIGIL_PKCS11_SESSIONS (default 4, 1-64): sessions kept open for signing.
   */
  pkcs11?: { module: string; tokenLabel?: string; slot?: bigint; pin: string; sessions: number };
  /** SIGIL_RATE_LIMITS_HELP_URL: the Link rel="help" of rateLimited answers (RFC 8555 §6.6); default the directory's website URL, else its /acme/{directory}/rate-limits page. */
  rateLimitsHelpUrl?: string;
  /** SIGIL_JWT_AUDIENCE (default SIGIL_PUBLIC_URL): the "aud" a service account's JWT (RFC 7523 §3 item 3, docs/service-auth.md) must carry; any string up to 512 characters. */
  jwtAudience: string;
}

type Source = Record<string, string | undefined>;

function loadFile(env: Source): Source {
  const file = env.SIGIL_CONFIG_FILE;
  if (!file) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw SigilError.config(`SIGIL_CONFIG_FILE: cannot read ${file} as JSON (${(e as Error).message})`, "SIGIL_CONFIG_FILE");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw SigilError.config("SIGIL_CONFIG_FILE: must hold a JSON object of VARIABLE: value", "SIGIL_CONFIG_FILE");
  }
  const out: Source = {};
  for (const [k, v] of Object.entries(parsed)) out[k] = v === null || v === undefined ? undefined : String(v);
  return out;
}

function port(src: Source, name: string, dflt: number): number {
  const raw = src[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw SigilError.config(`${name}: "${raw}" is not a port number (0-65535)`, name);
  return n;
}

function positiveInt(src: Source, name: string, dflt: number): number {
  const raw = src[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw SigilError.config(`${name}: "${raw}" is not a positive integer`, name);
  return n;
}

function intInRange(src: Source, name: string, dflt: number, min: number, max: number): number {
  const raw = src[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw SigilError.config(`${name}: "${raw}" is not an integer from ${min} to ${max}`, name);
  return n;
}

function bool(src: Source, name: string, dflt: boolean): boolean {
  const raw = src[name];
  if (raw === undefined || raw === "") return dflt;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw SigilError.config(`${name}: "${raw}" is not a boolean (true/false)`, name);
}

/** SIGIL_TRUST_PROXY: a boolean, a hop count or a list of proxy addresses / CIDR blocks (src/core/client-address.ts). */
function trustProxyRule(src: Source): TrustProxy {
  try {
    return parseTrustProxy(src.SIGIL_TRUST_PROXY);
  } catch (e) {
    throw SigilError.config(`SIGIL_TRUST_PROXY: ${(e as Error).message}`, "SIGIL_TRUST_PROXY");
  }
}

function url(src: Source, name: string, dflt: string | undefined, protocols: string[]): string | undefined {
  const raw = src[name];
  if (raw === undefined || raw === "") return dflt;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw SigilError.config(`${name}: "${redactUrl(raw)}" is not a URL`, name);
  }
  if (!protocols.includes(u.protocol)) throw SigilError.config(`${name}: must use ${protocols.join(" or ")}`, name);
  return raw;
}

/** never echo a password from a database URL */
function redactUrl(raw: string): string {
  return raw.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
}

function hostPortList(src: Source, name: string): string[] {
  const raw = src[name];
  if (!raw) return [];
  return raw.split(",").map((s) => s.trim()).filter(Boolean).map((entry) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
    if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
      throw SigilError.config(`${name}: "${entry}" is not host or host:port`, name);
    }
    return entry;
  });
}

function networkPolicy(src: Source, name: string): NetworkPolicy | undefined {
  const raw = src[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  try {
    return parseNetworkPolicy(raw);
  } catch (e) {
    if (e instanceof NetworkPolicyError) throw SigilError.config(`${name}: ${e.message}`, name);
    throw e;
  }
}

function rateLimits(src: Source, name: string): RateLimitSet {
  try {
    return parseRateLimitsSpec(src[name]);
  } catch (e) {
    if (e instanceof RateLimitSpecError) throw SigilError.config(`${name}: ${e.message}`, name);
    throw e;
  }
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * The one table of configuration variables: every name loadConfig reads,
 * one a line (the fields they fill are documented on SigilConfig). Unknown
 * keys in SIGIL_CONFIG_FILE and unknown SIGIL_* environment variables are
 * judged against it; test/unit/config/config-strict.test.ts keeps it equal
 * to what loadConfig actually reads, and README's table covers it.
 */
export const CONFIG_VARIABLES = [
  "DATABASE_URL",
  "DATABASE_PASSWORD_FILE",
  "SIGIL_CONFIG_FILE",
  "SIGIL_DATA_DIR",
  "SIGIL_HOST",
  "SIGIL_HTTP_PORT",
  "SIGIL_HTTPS_PORT",
  "SIGIL_HTTPS_CERT",
  "SIGIL_HTTPS_KEY",
  "SIGIL_ACME_ON_HTTP",
  "SIGIL_TRUST_PROXY",
  "SIGIL_GRPC_PORT",
  "SIGIL_PUBLIC_URL",
  "SIGIL_ACME_URL",
  "SIGIL_MASTER_KEY",
  "SIGIL_MASTER_KEY_FILE",
  "SIGIL_PREVIOUS_MASTER_KEYS",
  "SIGIL_BOOTSTRAP_ADMIN_PASSWORD",
  "SIGIL_BOOTSTRAP_MODE",
  "SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE",
  "SIGIL_BOOTSTRAP_ROOT_CERT_FILE",
  "SIGIL_MIGRATE_ON_START",
  "SIGIL_LOG_LEVEL",
  "SIGIL_VALIDATION_HTTP_PORT",
  "SIGIL_VALIDATION_TLS_PORT",
  "SIGIL_DNS_SERVERS",
  "SIGIL_VALIDATION_ALLOWED_NETWORKS",
  "SIGIL_OIDC_ALLOW_HTTP_LOOPBACK",
  "SIGIL_VALIDATION_MAX_CONCURRENT",
  "SIGIL_VALIDATION_MAX_PER_ACCOUNT",
  "SIGIL_GRPC_TLS_CERT",
  "SIGIL_GRPC_TLS_KEY",
  "SIGIL_GRPC_CLIENT_CA",
  "SIGIL_CRL_LIFETIME_HOURS",
  "SIGIL_CRL_DEBOUNCE_MS",
  "SIGIL_CRL_CHECK_MS",
  "SIGIL_OCSP_RESPONSE_HOURS",
  "SIGIL_OCSP_SIGNER_DAYS",
  "SIGIL_OCSP_SIGNER_RENEW_DAYS",
  "SIGIL_OCSP_POLL_MS",
  "SIGIL_DB_POOL_MAX",
  "SIGIL_BCRYPT_COST",
  "SIGIL_METRICS",
  "SIGIL_SHUTDOWN_GRACE_SECONDS",
  "SIGIL_CLEANUP_INTERVAL_SECONDS",
  "SIGIL_CLEANUP_BATCH",
  "SIGIL_INVALID_ORDER_RETENTION_DAYS",
  "SIGIL_ARI_RETRY_AFTER_SECONDS",
  "SIGIL_RATE_LIMITS",
  "SIGIL_RATE_LIMITS_HELP_URL",
  "SIGIL_PKCS11_MODULE",
  "SIGIL_PKCS11_TOKEN_LABEL",
  "SIGIL_PKCS11_SLOT",
  "SIGIL_PKCS11_PIN",
  "SIGIL_PKCS11_PIN_FILE",
  "SIGIL_PKCS11_SESSIONS",
  "SIGIL_JWT_AUDIENCE",
] as const;

/**
 * SIGIL_* variables that are not server configuration: the CLI's own
 * (src/cli: server address, credentials, TLS to the admin API, the
 * break-glass password) and the test harness's (SIGIL_TEST_* and these).
 * They are never warned about.
 */
export const NON_CONFIG_VARIABLES = [
  "SIGIL_SERVER",
  "SIGIL_API_KEY",
  "SIGIL_TOKEN",
  "SIGIL_USERNAME",
  "SIGIL_PASSWORD",
  "SIGIL_NEW_PASSWORD",
  "SIGIL_CURRENT_PASSWORD",
  "SIGIL_TLS",
  "SIGIL_CA",
  "SIGIL_CLIENT_CERT",
  "SIGIL_CLIENT_KEY",
  "SIGIL_KEEP_CERTBOT",
] as const;

/** names read by loadConfig that the table lacks (only until someone adds them; the strict test fails meanwhile) */
const readOutsideTable = new Set<string>();

function knownVariables(): Set<string> {
  return new Set<string>([...CONFIG_VARIABLES, ...readOutsideTable]);
}

/** Damerau-Levenshtein (optimal string alignment) distance: a typo's transposed pair counts once. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest known name within a third of its length (at most 4 edits), for "did you mean". */
export function closestVariable(name: string, candidates: Iterable<string> = knownVariables()): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const upper = name.toUpperCase();
  for (const c of candidates) {
    const dist = editDistance(upper, c);
    if (dist < bestDistance) [best, bestDistance] = [c, dist];
  }
  return best !== undefined && bestDistance <= Math.min(4, Math.max(2, Math.floor(name.length / 3))) ? best : undefined;
}

function didYouMean(name: string, candidates?: Iterable<string>): string {
  const m = closestVariable(name, candidates);
  return m ? ` (did you mean ${m}?)` : "";
}

/**
 * Unknown SIGIL_* environment variables, each with a "did you mean" when
 * one is close: a typo would otherwise silently leave the default in force.
 * `sigil serve` logs them as warnings (the environment also carries the
 * CLI's and other tools' variables, so they do not stop start-up).
 */
export function unknownEnvironmentVariables(env: Source = process.env): string[] {
  const known = knownVariables();
  const other = new Set<string>(NON_CONFIG_VARIABLES);
  return Object.keys(env)
    .filter((k) => k.startsWith("SIGIL_") && !known.has(k) && !other.has(k) && !k.startsWith("SIGIL_TEST_"))
    .sort()
    .map((k) => `unknown environment variable ${k}${didYouMean(k)}; it is ignored`);
}

/** DATABASE_PASSWORD_FILE: the PostgreSQL password from a file (a container secret), set into DATABASE_URL; never echoed. */
function withPasswordFile(databaseUrl: string | undefined, file: string | undefined): string | undefined {
  if (!file) return databaseUrl;
  if (!databaseUrl) throw SigilError.config("DATABASE_PASSWORD_FILE needs DATABASE_URL (the embedded database has no password)", "DATABASE_PASSWORD_FILE");
  let password: string;
  try {
    password = readFileSync(file, "utf8").replace(/\r?\n$/, "");
  } catch (e) {
    throw SigilError.config(`DATABASE_PASSWORD_FILE: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? "error"})`, "DATABASE_PASSWORD_FILE");
  }
  if (!password) throw SigilError.config(`DATABASE_PASSWORD_FILE: ${file} is empty`, "DATABASE_PASSWORD_FILE");
  const u = new URL(databaseUrl);
  if (u.password) throw SigilError.config("DATABASE_URL has a password and DATABASE_PASSWORD_FILE is set: use only one", "DATABASE_PASSWORD_FILE");
  // the pg driver decodes the URL's userinfo (RFC 3986 §3.2.1): encode every reserved character
  u.password = encodeURIComponent(password);
  return u.toString();
}

/**
 * Reads and validates the configuration; throws SigilError kind "config"
 * naming the variable. A key of SIGIL_CONFIG_FILE that is no variable stops
 * start-up (with the closest name): a typo in a file is never what the
 * operator meant, while the environment carries other programs' variables
 * too (see unknownEnvironmentVariables).
 */
export function loadConfig(env: Source = process.env): SigilConfig {
  const file = loadFile(env);
  const merged: Source = { ...file, ...Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== "")) };
  // every name read is recorded, so a variable missing from CONFIG_VARIABLES is still never called unknown
  const src = new Proxy(merged, {
    get(target, key) {
      if (typeof key === "string" && !(CONFIG_VARIABLES as readonly string[]).includes(key)) readOutsideTable.add(key);
      return typeof key === "string" ? target[key] : undefined;
    },
  });
  let config: SigilConfig | undefined;
  let failure: unknown;
  try {
    config = readConfig(src);
  } catch (e) {
    failure = e;
  }
  const known = knownVariables();
  const unknown = Object.keys(file).filter((k) => !known.has(k));
  if (unknown.length) {
    const list = unknown.map((k) => `"${k}"${didYouMean(k)}`).join(", ");
    throw SigilError.config(`SIGIL_CONFIG_FILE: unknown key${unknown.length > 1 ? "s" : ""} ${list}; keys are the variable names of the configuration table`, "SIGIL_CONFIG_FILE");
  }
  if (failure !== undefined) throw failure;
  return config!;
}

/** The names loadConfig read outside CONFIG_VARIABLES (for the strict test). */
export function variablesReadOutsideTable(): string[] {
  return [...readOutsideTable].sort();
}

/** SIGIL_JWT_AUDIENCE: trimmed, 1-512 printable characters; unset or empty: SIGIL_PUBLIC_URL. */
function jwtAudience(value: string | undefined, publicUrl: string): string {
  const v = (value ?? "").trim();
  if (!v) return publicUrl;
  if (v.length > 512 || !/^[\x21-\x7e]+$/.test(v)) throw SigilError.config("SIGIL_JWT_AUDIENCE: at most 512 printable ASCII characters without spaces", "SIGIL_JWT_AUDIENCE");
  return v;
}

/** SIGIL_BOOTSTRAP_MODE and its two files (set together, external-root only) */
function bootstrapMode(src: Source): SigilConfig["bootstrapMode"] {
  const mode = src.SIGIL_BOOTSTRAP_MODE || "embedded-root";
  if (mode !== "embedded-root" && mode !== "external-root") {
    throw SigilError.config(`SIGIL_BOOTSTRAP_MODE: "${mode}" is not embedded-root or external-root`, "SIGIL_BOOTSTRAP_MODE");
  }
  if (Boolean(src.SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE) !== Boolean(src.SIGIL_BOOTSTRAP_ROOT_CERT_FILE)) {
    throw SigilError.config("SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE and SIGIL_BOOTSTRAP_ROOT_CERT_FILE must be set together", "SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE");
  }
  if (src.SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE && mode !== "external-root") {
    throw SigilError.config("SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE needs SIGIL_BOOTSTRAP_MODE=external-root", "SIGIL_BOOTSTRAP_MODE");
  }
  return mode;
}

function readConfig(src: Source): SigilConfig {
  const publicUrl = url(src, "SIGIL_PUBLIC_URL", "http://localhost:8080", ["http:", "https:"])!.replace(/\/+$/, "");
  const logLevel = src.SIGIL_LOG_LEVEL ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw SigilError.config(`SIGIL_LOG_LEVEL: "${logLevel}" is not one of ${LOG_LEVELS.join(", ")}`, "SIGIL_LOG_LEVEL");
  }
  if (src.SIGIL_MASTER_KEY && src.SIGIL_MASTER_KEY_FILE) {
    throw SigilError.config("SIGIL_MASTER_KEY and SIGIL_MASTER_KEY_FILE: set only one", "SIGIL_MASTER_KEY");
  }
  if (Boolean(src.SIGIL_GRPC_TLS_CERT) !== Boolean(src.SIGIL_GRPC_TLS_KEY)) {
    throw SigilError.config("SIGIL_GRPC_TLS_CERT and SIGIL_GRPC_TLS_KEY must be set together", "SIGIL_GRPC_TLS_CERT");
  }
  if (Boolean(src.SIGIL_HTTPS_CERT) !== Boolean(src.SIGIL_HTTPS_KEY)) {
    throw SigilError.config("SIGIL_HTTPS_CERT and SIGIL_HTTPS_KEY must be set together", "SIGIL_HTTPS_CERT");
  }
  if (src.SIGIL_GRPC_CLIENT_CA && !src.SIGIL_GRPC_TLS_CERT) {
    throw SigilError.config("SIGIL_GRPC_CLIENT_CA needs SIGIL_GRPC_TLS_CERT and SIGIL_GRPC_TLS_KEY", "SIGIL_GRPC_CLIENT_CA");
  }
  const ocspSignerDays = positiveInt(src, "SIGIL_OCSP_SIGNER_DAYS", 30);
  const ocspSignerRenewDays = positiveInt(src, "SIGIL_OCSP_SIGNER_RENEW_DAYS", 10);
  if (ocspSignerRenewDays >= ocspSignerDays) {
    throw SigilError.config(
      `SIGIL_OCSP_SIGNER_RENEW_DAYS: ${ocspSignerRenewDays} must be below SIGIL_OCSP_SIGNER_DAYS (${ocspSignerDays}), else every signer is due at once`,
      "SIGIL_OCSP_SIGNER_RENEW_DAYS",
    );
  }
  return {
    databaseUrl: withPasswordFile(url(src, "DATABASE_URL", undefined, ["postgres:", "postgresql:"]), src.DATABASE_PASSWORD_FILE),
    dataDir: path.resolve(src.SIGIL_DATA_DIR ?? "./data"),
    host: src.SIGIL_HOST ?? "127.0.0.1",
    httpPort: port(src, "SIGIL_HTTP_PORT", 8080),
    grpcPort: port(src, "SIGIL_GRPC_PORT", 9090),
    httpsPort: port(src, "SIGIL_HTTPS_PORT", 8443),
    httpsCert: src.SIGIL_HTTPS_CERT,
    httpsKey: src.SIGIL_HTTPS_KEY,
    acmeOnHttp: bool(src, "SIGIL_ACME_ON_HTTP", true),
    trustProxyRule: trustProxyRule(src),
    trustProxy: trustProxyRule(src) !== false,
    publicUrl,
    acmeUrl: url(src, "SIGIL_ACME_URL", publicUrl, ["http:", "https:"])!.replace(/\/+$/, ""),
    masterKey: src.SIGIL_MASTER_KEY,
    masterKeyFile: src.SIGIL_MASTER_KEY_FILE,
    previousMasterKeys: (src.SIGIL_PREVIOUS_MASTER_KEYS ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    bootstrapAdminPassword: src.SIGIL_BOOTSTRAP_ADMIN_PASSWORD,
    bootstrapMode: bootstrapMode(src),
    bootstrapIntermediateCertFile: src.SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE || undefined,
    bootstrapRootCertFile: src.SIGIL_BOOTSTRAP_ROOT_CERT_FILE || undefined,
    migrateOnStart: bool(src, "SIGIL_MIGRATE_ON_START", true),
    logLevel: logLevel as SigilConfig["logLevel"],
    validationHttpPort: port(src, "SIGIL_VALIDATION_HTTP_PORT", 80),
    validationTlsPort: port(src, "SIGIL_VALIDATION_TLS_PORT", 443),
    dnsServers: hostPortList(src, "SIGIL_DNS_SERVERS"),
    validationAllowedNetworks: networkPolicy(src, "SIGIL_VALIDATION_ALLOWED_NETWORKS"),
    oidcAllowHttpLoopback: bool(src, "SIGIL_OIDC_ALLOW_HTTP_LOOPBACK", false),
    validationMaxConcurrent: positiveInt(src, "SIGIL_VALIDATION_MAX_CONCURRENT", 64),
    validationMaxPerAccount: positiveInt(src, "SIGIL_VALIDATION_MAX_PER_ACCOUNT", 8),
    grpcTlsCert: src.SIGIL_GRPC_TLS_CERT,
    grpcTlsKey: src.SIGIL_GRPC_TLS_KEY,
    grpcClientCa: src.SIGIL_GRPC_CLIENT_CA,
    crlLifetimeHours: positiveInt(src, "SIGIL_CRL_LIFETIME_HOURS", 168),
    crlDebounceMs: positiveInt(src, "SIGIL_CRL_DEBOUNCE_MS", 1000),
    crlCheckMs: positiveInt(src, "SIGIL_CRL_CHECK_MS", 5000),
    ocspResponseHours: positiveInt(src, "SIGIL_OCSP_RESPONSE_HOURS", 24),
    ocspSignerDays,
    ocspSignerRenewDays,
    ocspPollMs: positiveInt(src, "SIGIL_OCSP_POLL_MS", 2000),
    dbPoolMax: positiveInt(src, "SIGIL_DB_POOL_MAX", 10),
    bcryptCost: intInRange(src, "SIGIL_BCRYPT_COST", 12, 4, 15),
    metrics: bool(src, "SIGIL_METRICS", true),
    shutdownGraceSeconds: intInRange(src, "SIGIL_SHUTDOWN_GRACE_SECONDS", 25, 0, 3600),
    cleanupIntervalSeconds: intInRange(src, "SIGIL_CLEANUP_INTERVAL_SECONDS", 300, 0, 86_400),
    cleanupBatch: intInRange(src, "SIGIL_CLEANUP_BATCH", 1000, 1, 100_000),
    invalidOrderRetentionDays: intInRange(src, "SIGIL_INVALID_ORDER_RETENTION_DAYS", 30, 0, 3650),
    ariRetryAfterSeconds: intInRange(src, "SIGIL_ARI_RETRY_AFTER_SECONDS", 21_600, 60, 604_800),
    rateLimits: rateLimits(src, "SIGIL_RATE_LIMITS"),
    rateLimitsHelpUrl: url(src, "SIGIL_RATE_LIMITS_HELP_URL", undefined, ["http:", "https:"]),
    pkcs11: pkcs11Config(src),
    jwtAudience: jwtAudience(src.SIGIL_JWT_AUDIENCE, publicUrl),
  };
}

/** SIGIL_PKCS11_*: all or nothing, checked here; the token itself is opened (and the PIN tried) at start-up. */
function pkcs11Config(src: Source): SigilConfig["pkcs11"] {
  const module = src.SIGIL_PKCS11_MODULE;
  const others = ["SIGIL_PKCS11_TOKEN_LABEL", "SIGIL_PKCS11_SLOT", "SIGIL_PKCS11_PIN", "SIGIL_PKCS11_PIN_FILE", "SIGIL_PKCS11_SESSIONS"] as const;
  if (!module) {
    const stray = others.find((n) => src[n]);
    if (stray) throw SigilError.config(`${stray} is set but SIGIL_PKCS11_MODULE is not`, stray);
    return undefined;
  }
  if (!path.isAbsolute(module)) throw SigilError.config(`SIGIL_PKCS11_MODULE: "${module}" must be an absolute path to the PKCS#11 library`, "SIGIL_PKCS11_MODULE");
  if (!existsSync(module)) throw SigilError.config(`SIGIL_PKCS11_MODULE: ${module} does not exist`, "SIGIL_PKCS11_MODULE");
  const tokenLabel = src.SIGIL_PKCS11_TOKEN_LABEL;
  const slotText = src.SIGIL_PKCS11_SLOT;
  if (tokenLabel && slotText) throw SigilError.config("SIGIL_PKCS11_TOKEN_LABEL and SIGIL_PKCS11_SLOT: set only one", "SIGIL_PKCS11_SLOT");
  if (!tokenLabel && !slotText) throw SigilError.config("SIGIL_PKCS11_MODULE needs SIGIL_PKCS11_TOKEN_LABEL or SIGIL_PKCS11_SLOT", "SIGIL_PKCS11_TOKEN_LABEL");
  // CK_TOKEN_INFO.label is 32 bytes, blank padded (PKCS#11 v2.40 §3.2)
  if (tokenLabel && Buffer.byteLength(tokenLabel) > 32) throw SigilError.config("SIGIL_PKCS11_TOKEN_LABEL: a token label has at most 32 bytes", "SIGIL_PKCS11_TOKEN_LABEL");
  if (slotText && !/^\d{1,20}$/.test(slotText)) throw SigilError.config(`SIGIL_PKCS11_SLOT: "${slotText}" is not a slot id (a non-negative integer)`, "SIGIL_PKCS11_SLOT");
  if (src.SIGIL_PKCS11_PIN && src.SIGIL_PKCS11_PIN_FILE) throw SigilError.config("SIGIL_PKCS11_PIN and SIGIL_PKCS11_PIN_FILE: set only one", "SIGIL_PKCS11_PIN");
  let pin = src.SIGIL_PKCS11_PIN;
  if (src.SIGIL_PKCS11_PIN_FILE) {
    try {
      pin = readFileSync(src.SIGIL_PKCS11_PIN_FILE, "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      throw SigilError.config(`SIGIL_PKCS11_PIN_FILE: cannot read ${src.SIGIL_PKCS11_PIN_FILE} (${(e as NodeJS.ErrnoException).code ?? "error"})`, "SIGIL_PKCS11_PIN_FILE");
    }
    if (!pin) throw SigilError.config(`SIGIL_PKCS11_PIN_FILE: ${src.SIGIL_PKCS11_PIN_FILE} is empty`, "SIGIL_PKCS11_PIN_FILE");
  }
  if (!pin) throw SigilError.config("SIGIL_PKCS11_MODULE needs SIGIL_PKCS11_PIN or SIGIL_PKCS11_PIN_FILE", "SIGIL_PKCS11_PIN");
  return {
    module,
    ...(tokenLabel ? { tokenLabel } : {}),
    ...(slotText ? { slot: BigInt(slotText) } : {}),
    pin,
    sessions: intInRange(src, "SIGIL_PKCS11_SESSIONS", 4, 1, 64),
  };
}
