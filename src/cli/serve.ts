import path from "node:path";
import { parseArgs } from "node:util";
import { loadConfig, unknownEnvironmentVariables } from "../config.js";
import { createLogger } from "../logger.js";
import { startSigil } from "../server.js";
import { INITIAL_ADMIN_PASSWORD_FILE, initialPasswordFileExists } from "../ra/bootstrap.js";
import { runCli, UsageError } from "./admin-client.js";
import { untilAborted, type CliIo } from "./io.js";

const USAGE = `usage: sigil serve [--no-migrate]

Starts the HTTP listener (ACME, CRL, CA certificates, OCSP, health) and the
gRPC admin listener, configured from the environment (DATABASE_URL, SIGIL_*;
see the README), and runs until SIGINT or SIGTERM.

  --no-migrate   do not apply pending migrations at start (as SIGIL_MIGRATE_ON_START=false)
`;

/**
 * `sigil serve`: start everything, print what is served, and stop cleanly
 * when io.signal aborts (SIGINT/SIGTERM); resolves with the exit code after
 * the shutdown.
 */
export async function runServe(argv: string[], io: CliIo): Promise<number> {
  return runCli(USAGE, io, async () => {
    let values: { help?: boolean; "no-migrate"?: boolean };
    try {
      ({ values } = parseArgs({ args: argv, options: { help: { type: "boolean", short: "h" }, "no-migrate": { type: "boolean" } }, strict: true }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (values.help) return void io.stdout.write(USAGE);
    const config = loadConfig(io.env);
    if (values["no-migrate"]) config.migrateOnStart = false;
    const logger = createLogger(config.logLevel);
    // a mistyped variable would silently leave its default in force
    for (const warning of unknownEnvironmentVariables(io.env)) logger.warn(warning);
    const t0 = performance.now();
    const server = await startSigil({ config, logger });
    const startMs = Math.round(performance.now() - t0);
    const out: string[] = [`Sigil is up (${server.db.kind} database, started in ${startMs} ms)`];
    if (server.bootstrap.created.length) out.push(`first run: created ${server.bootstrap.created.join(", ")}`);
    // the password itself never goes to stdout (terminals scroll, logs are collected): only its 0600 file
    if (server.bootstrap.adminPasswordFile) {
      out.push(`superuser "admin": generated password written to ${server.bootstrap.adminPasswordFile} (mode 0600); store it and delete the file`);
    } else if (initialPasswordFileExists(config.dataDir)) {
      logger.warn({ file: path.join(config.dataDir, INITIAL_ADMIN_PASSWORD_FILE) }, "the first-run admin password file is still there: store the password elsewhere and delete it");
    }
    for (const [what, url] of Object.entries(server.urls)) out.push(`  ${what.padEnd(26)} ${url}`);
    io.stdout.write(`${out.join("\n")}\n`);
    await untilAborted(io.signal);
    logger.info("shutting down");
    // readiness 503 and gRPC NOT_SERVING at once; requests in flight finish within SIGIL_SHUTDOWN_GRACE_SECONDS
    await server.drain();
    return 0;
  });
}
