import { loadConfig } from "../config.js";
import { createLogger } from "../logger.js";
import { startSigil } from "../server.js";

/** `sigil serve`: start everything, print what is served, stop cleanly on SIGINT/SIGTERM. */
export async function runServe(argv: string[]): Promise<number> {
  const config = loadConfig();
  if (argv.includes("--no-migrate")) config.migrateOnStart = false;
  const logger = createLogger(config.logLevel);
  const t0 = performance.now();
  const server = await startSigil({ config, logger });
  const startMs = Math.round(performance.now() - t0);
  const out: string[] = [`Sigil is up (${server.db.kind} database, started in ${startMs} ms)`];
  if (server.bootstrap.created.length) out.push(`first run: created ${server.bootstrap.created.join(", ")}`);
  if (server.bootstrap.generatedAdminPassword) {
    out.push(`superuser "admin" password (shown once, store it now): ${server.bootstrap.generatedAdminPassword}`);
  }
  for (const [what, url] of Object.entries(server.urls)) out.push(`  ${what.padEnd(26)} ${url}`);
  process.stdout.write(`${out.join("\n")}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  return 0;
}
