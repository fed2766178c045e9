/**
 * `sigil admin ...`: break-glass commands that run against the database
 * directly, not through the admin API, for an operator locked out of it.
 * They need what `sigil serve` needs: DATABASE_URL (or the embedded data
 * directory) and the master key. The embedded database refuses them while
 * a server holds its data directory (src/db/embedded.ts); with PostgreSQL
 * they run beside running instances.
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadMasterKey } from "../ca/master-key-source.js";
import { loadConfig } from "../config.js";
import { systemClock } from "../core/clock.js";
import { openDatabase } from "../db/orm.js";
import { resetPasswordFile, resetUserPassword, writeSecretFile } from "../ra/bootstrap.js";
import { createRaContext } from "../ra/context.js";
import { runCli, UsageError } from "./admin-client.js";
import type { CliIo } from "./io.js";

const USAGE = `usage: sigil admin <command> [options]

commands:
  reset-password --username NAME [--output FILE]

reset-password sets a new password for a user directly in the database (break-glass: no
admin API, no login). Needs the database (DATABASE_URL, or the embedded one
in SIGIL_DATA_DIR, which must not be in use by a running server) and the
master key the database was created with. The change is audited as a user
update by "reset-password" and ends the user's sessions.

The new password is SIGIL_NEW_PASSWORD when set; otherwise one is generated
and written to a mode-0600 file (default <SIGIL_DATA_DIR>/reset-password-NAME),
whose path is printed. The password itself is never printed.

  --username NAME   the user (for the first-run superuser: admin)
  --output FILE     where a generated password goes
`;

/** `sigil admin <subcommand>` */
export async function runAdminLocal(argv: string[], io: CliIo): Promise<number> {
  return runCli(USAGE, io, async () => {
    const [sub, ...rest] = argv;
    if (!sub || sub === "--help" || sub === "-h" || sub === "help") {
      (sub ? io.stdout : io.stderr).write(USAGE);
      return sub ? 0 : 2;
    }
    if (sub !== "reset-password") throw new UsageError(`unknown admin command "${sub}"`);
    let values: { help?: boolean; username?: string; output?: string };
    try {
      ({ values } = parseArgs({
        args: rest,
        options: { help: { type: "boolean", short: "h" }, username: { type: "string" }, output: { type: "string" } },
        strict: true,
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (values.help) return void io.stdout.write(USAGE);
    if (!values.username) throw new UsageError("--username is required");
    const username = values.username;
    const fromEnv = io.env.SIGIL_NEW_PASSWORD;
    const password = fromEnv || randomBytes(18).toString("base64url");

    const config = loadConfig(io.env);
    const masterKey = loadMasterKey(config);
    const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: 2, holder: "sigil admin reset-password" });
    let result: Awaited<ReturnType<typeof resetUserPassword>>;
    let file: string | undefined;
    try {
      const ra = createRaContext({ orm: db.orm, keyRing: masterKey.ring, clock: systemClock, publicUrl: config.publicUrl, bcryptCost: config.bcryptCost });
      // the file first: a password that changed but was never kept would lock the user out
      if (!fromEnv) {
        file = values.output ?? resetPasswordFile(config.dataDir, username);
        writeSecretFile(file, password);
      }
      result = await resetUserPassword(ra, username, password);
    } catch (e) {
      if (file) rmSync(file, { force: true });
      throw e;
    } finally {
      await db.close();
    }
    const lines = [`password of "${username}" reset (${fromEnv ? "from SIGIL_NEW_PASSWORD" : `written to ${file}, mode 0600: store it and delete the file`}); the user's sessions ended`];
    if (!result.isActive) lines.push(`note: "${username}" is deactivated; a superuser can reactivate it with sigil user update`);
    io.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  });
}
