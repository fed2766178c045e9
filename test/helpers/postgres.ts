import pg from "pg";
import { randomBytes } from "node:crypto";

/** Admin URL of the test PostgreSQL server (TEST_DATABASE_URL, default the local trust-auth server). */
export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

/**
 * Creates an empty, uniquely named database on the test PostgreSQL server and
 * returns its URL and a drop function. Each test file gets its own database,
 * so files never see each other's rows.
 */
export async function createTestDatabase(prefix = "sigil_test"): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(TEST_PG_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: TEST_PG_URL });
      await c.connect();
      try {
        await c.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}
