import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { loadConfig, type SigilConfig } from "../../src/config.js";
import type { Clock } from "../../src/core/clock.js";
import { migrate, openDatabase } from "../../src/db/orm.js";
import { createLogger } from "../../src/logger.js";
import { startSigil, type SigilServer } from "../../src/server.js";
import { createTestDatabase } from "./postgres.js";

export const TEST_ADMIN_PASSWORD = "test-admin-password-1";

export interface TestServer extends SigilServer {
  config: SigilConfig;
  /** http://127.0.0.1:<port> — also SIGIL_PUBLIC_URL, so URLs inside certificates resolve here */
  baseUrl: string;
  stop(): Promise<void>;
}

/**
 * The database backend of test servers that do not ask for one:
 * SIGIL_TEST_DB=embedded (npm test runs the admin files again that way,
 * test/helpers/run-suites.mjs) or PostgreSQL (the default).
 */
export function testBackend(): "postgresql" | "embedded" {
  const v = process.env.SIGIL_TEST_DB ?? "postgresql";
  if (v !== "postgresql" && v !== "embedded") throw new Error(`SIGIL_TEST_DB must be postgresql or embedded, not "${v}"`);
  return v;
}

/**
 * The environment every test server starts from: loopback, the given HTTP
 * port (the public URL names it), free gRPC and HTTPS ports (parallel
 * servers never collide), the test admin password, a quiet log and the
 * suite's low bcrypt cost (bcrypt at 12 was most of the suite's time), no
 * ACME rate limits (SIGIL_RATE_LIMITS=off; the server's default is on). With
 * a database URL, PostgreSQL and a fresh master key; without, the embedded
 * database of `dataDir` (which generates its key).
 */
export function testServerEnv(o: { dataDir: string; httpPort: number; databaseUrl?: string }): Record<string, string> {
  return {
    SIGIL_DATA_DIR: o.dataDir,
    SIGIL_HOST: "127.0.0.1",
    SIGIL_HTTP_PORT: String(o.httpPort),
    SIGIL_GRPC_PORT: "0",
    SIGIL_HTTPS_PORT: "0",
    SIGIL_PUBLIC_URL: `http://127.0.0.1:${o.httpPort}`,
    SIGIL_BOOTSTRAP_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
    SIGIL_LOG_LEVEL: process.env.SIGIL_TEST_LOG_LEVEL ?? "silent",
    SIGIL_BCRYPT_COST: process.env.SIGIL_BCRYPT_COST ?? "4",
    // no ACME rate limits in tests unless a test sets them (test/integration/acme/rate-limits*.test.ts)
    SIGIL_RATE_LIMITS: "off",
    // the test OpenID provider listens on http://127.0.0.1 (test/helpers/oidc-provider.ts)
    SIGIL_OIDC_ALLOW_HTTP_LOOPBACK: "true",
    ...(o.databaseUrl ? { DATABASE_URL: o.databaseUrl, SIGIL_MASTER_KEY: randomBytes(32).toString("hex") } : {}),
  };
}

/**
 * Starts the real server on ephemeral ports against a fresh PostgreSQL
 * database or a fresh embedded database (`embedded`, default: testBackend()).
 * The public URL is the real listener's, so URLs read out of issued
 * certificates work.
 */
export async function startTestServer(opts: { env?: Record<string, string>; embedded?: boolean; clock?: Clock } = {}): Promise<TestServer> {
  const embedded = opts.embedded ?? testBackend() === "embedded";
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-test-"));
  // SIGIL_TEST_DB=embedded servers start from a migrated copy; `embedded: true` keeps a true first start
  if (embedded && opts.embedded === undefined) cpSync(await migratedEmbeddedTemplate(), path.join(dataDir, "pgdata"), { recursive: true });
  const db = embedded ? undefined : await createTestDatabase();
  // pick the HTTP port first so SIGIL_PUBLIC_URL can name it
  const httpPort = await freePort();
  const env = { ...testServerEnv({ dataDir, httpPort, databaseUrl: db?.url }), ...opts.env };
  const config = loadConfig(env);
  const logger = createLogger(config.logLevel);
  const server = await startSigil({ config, logger, clock: opts.clock });
  return {
    ...server,
    config,
    baseUrl: `http://127.0.0.1:${server.httpPort}`,
    async stop() {
      await server.close();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** a free TCP port on 127.0.0.1 (bound and released) */
export async function freePort(): Promise<number> {
  const net = await import("node:net");
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as import("node:net").AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

let template: Promise<string> | undefined;

/**
 * An empty, migrated PGlite pgdata directory to copy: PGlite's initdb (in
 * WASM) was ~4 s of every embedded test server's start, a copy is ~0.4 s.
 * Shared by processes and runs under a name that hashes the migrations and
 * the PGlite version, so a changed migration makes a new one; built aside
 * and renamed into place, so concurrent workers never see half of one.
 */
export function migratedEmbeddedTemplate(): Promise<string> {
  template ??= (async () => {
    const migrations = path.resolve("migrations");
    const hash = createHash("sha256");
    for (const f of readdirSync(migrations).sort()) hash.update(f).update(readFileSync(path.join(migrations, f)));
    // its package.json is not in its exports map: read it from node_modules
    hash.update(readFileSync(path.resolve("node_modules/@electric-sql/pglite/package.json")));
    const dir = path.join(tmpdir(), `sigil-test-pglite-${hash.digest("hex").slice(0, 16)}`);
    if (existsSync(path.join(dir, "pgdata"))) return path.join(dir, "pgdata");
    const building = mkdtempSync(`${dir}.building-`);
    try {
      const db = await openDatabase({ dataDir: building, holder: "test template" });
      try {
        await migrate(db.orm);
      } finally {
        await db.close();
      }
      rmSync(path.join(building, "sigil.lock"), { force: true });
      renameSync(building, dir);
    } catch (e) {
      rmSync(building, { recursive: true, force: true });
      // another worker renamed its copy into place first
      if (!existsSync(path.join(dir, "pgdata"))) throw e;
    }
    return path.join(dir, "pgdata");
  })();
  return template;
}
