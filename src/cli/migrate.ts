import { parseArgs } from "node:util";
import { loadConfig } from "../config.js";
import { migrate, openDatabase } from "../db/orm.js";
import { withStartupLock } from "../db/store/startup-lock.js";
import { runCli, UsageError } from "./admin-client.js";
import type { CliIo } from "./io.js";

const USAGE = `usage: sigil migrate

Applies the pending database migrations to DATABASE_URL (or to the embedded
database in SIGIL_DATA_DIR, default ./data) and exits. \`sigil serve\` does the
same at start unless SIGIL_MIGRATE_ON_START=false or --no-migrate.
`;

/** `sigil migrate`: apply pending migrations to DATABASE_URL (or the embedded database) and exit. */
export async function runMigrate(argv: string[], io: CliIo): Promise<number> {
  return runCli(USAGE, io, async () => {
    let help: boolean | undefined;
    try {
      ({ help } = parseArgs({ args: argv, options: { help: { type: "boolean", short: "h" } }, strict: true }).values);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (help) return void io.stdout.write(USAGE);
    const config = loadConfig(io.env);
    const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, holder: "sigil migrate" });
    try {
      // the same start-up lock as sigil serve: a migrate beside instances starting on an empty database takes turns
      const applied = await withStartupLock(db, () => migrate(db.orm));
      io.stdout.write(applied.length ? `applied: ${applied.join(", ")}\n` : "database is up to date\n");
    } finally {
      await db.close();
    }
  });
}
