import { loadConfig } from "../config.js";
import { migrate, openDatabase } from "../db/orm.js";

/** `sigil migrate`: apply pending migrations to DATABASE_URL (or the embedded database) and exit. */
export async function runMigrate(_argv: string[]): Promise<number> {
  const config = loadConfig();
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const applied = await migrate(db.orm);
    process.stdout.write(applied.length ? `applied: ${applied.join(", ")}\n` : "database is up to date\n");
    return 0;
  } finally {
    await db.close();
  }
}
