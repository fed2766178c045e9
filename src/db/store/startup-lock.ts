/**
 * The start-up lock: several instances starting at once against one empty
 * PostgreSQL database would otherwise race each other through the
 * migrations (a unique violation on the migrations table or on a created
 * type) and the first-run bootstrap. One session-level advisory lock,
 * held on its own connection around migrate + bootstrap, makes them take
 * turns: the first migrates and bootstraps, the others then find the work
 * done. The lock is the connection's: a process that dies releases it.
 *
 * The embedded database (PGlite) is one process by construction (the lock
 * file in src/db/embedded.ts) and has a single connection that a second
 * session would wait on for ever, so there the lock is a no-op.
 */
import pg from "pg";
import type { Database } from "../orm.js";

/** pg_advisory_lock key: a fixed 64-bit number ("sigil-st" in ASCII) no other code uses */
export const STARTUP_LOCK_KEY = "8316291889400476532";

/** Runs `fn` while holding the database-wide start-up lock (PostgreSQL), or just runs it (embedded). */
export async function withStartupLock<T>(db: Pick<Database, "orm" | "kind">, fn: () => Promise<T>): Promise<T> {
  if (db.kind === "embedded") return fn();
  const client = new pg.Client({ connectionString: db.orm.config.get("clientUrl") });
  await client.connect();
  try {
    await client.query("select pg_advisory_lock($1::bigint)", [STARTUP_LOCK_KEY]);
    try {
      return await fn();
    } finally {
      await client.query("select pg_advisory_unlock($1::bigint)", [STARTUP_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
