/**
 * The real server on a fresh PostgreSQL database (as the ACME harness
 * does), with the options the operations tests need: a captured log, a
 * fast readiness poll, a fake validator, extra environment.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pg from "pg";
import { loadConfig, type SigilConfig } from "../../../src/config.js";
import { createLogger } from "../../../src/logger.js";
import { startSigil, type SigilServer, type StartOptions } from "../../../src/server.js";
import type { ChallengeValidator } from "../../../src/validation/types.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { freePort, testServerEnv } from "../../helpers/server.js";

export interface OpsTestServer extends SigilServer {
  config: SigilConfig;
  baseUrl: string;
  databaseUrl: string;
  /** every JSON log line written so far */
  logs: Array<Record<string, unknown>>;
  directoryUrl(name?: string): string;
  stop(): Promise<void>;
}

export async function startOpsServer(
  opts: { validator?: ChallengeValidator; env?: Record<string, string>; acme?: StartOptions["acme"]; readinessPollMs?: number } = {},
): Promise<OpsTestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-ops-test-"));
  const db = await createTestDatabase();
  const httpPort = await freePort();
  // info: the tests read the log lines
  const config = loadConfig({ ...testServerEnv({ dataDir, httpPort, databaseUrl: db.url }), SIGIL_LOG_LEVEL: "info", ...opts.env });
  const logs: Array<Record<string, unknown>> = [];
  let partial = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      partial += chunk.toString("utf8");
      const lines = partial.split("\n");
      partial = lines.pop()!;
      for (const l of lines) if (l) logs.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const server = await startSigil({
    config,
    logger: createLogger(config.logLevel, sink),
    validator: opts.validator,
    acme: opts.acme,
    readinessPollMs: opts.readinessPollMs,
  });
  const baseUrl = `http://127.0.0.1:${server.httpPort}`;
  return {
    ...server,
    config,
    baseUrl,
    databaseUrl: db.url,
    logs,
    directoryUrl: (name = "default") => `${baseUrl}/acme/${name}/directory`,
    async stop() {
      await server.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Makes the test database refuse connections and cuts the open ones (as if
 * its PostgreSQL stopped, without stopping the server other tests share);
 * `restore()` lets connections in again.
 */
export async function cutDatabase(databaseUrl: string): Promise<{ restore(): Promise<void> }> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const admin = new URL(databaseUrl);
  admin.pathname = "/postgres";
  const run = async (sql: string) => {
    const c = new pg.Client({ connectionString: admin.toString() });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  const ident = `"${name.replace(/"/g, '""')}"`;
  await run(`alter database ${ident} allow_connections false`);
  await run(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${name.replace(/'/g, "''")}' and pid <> pg_backend_pid()`);
  return { restore: () => run(`alter database ${ident} allow_connections true`) };
}
