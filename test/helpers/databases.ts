/**
 * A fresh database of each kind for tests that must hold on both back ends:
 * an empty PostgreSQL database (dropped afterwards), or an empty embedded
 * PGlite data directory (removed afterwards), opened with openDatabase and
 * closed whatever `fn` does.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openDatabase, type Database } from "../../src/db/orm.js";
import { createTestDatabase } from "./postgres.js";

export async function withPostgresDatabase(fn: (db: Database) => Promise<void>): Promise<void> {
  const tdb = await createTestDatabase();
  const db = await openDatabase({ databaseUrl: tdb.url, dataDir: "/nonexistent" });
  try {
    await fn(db);
  } finally {
    await db.close();
    await tdb.drop();
  }
}

export async function withEmbeddedDatabase(name: string, fn: (db: Database) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), `sigil-${name}-`));
  try {
    const db = await openDatabase({ dataDir: dir });
    try {
      assert.equal(db.kind, "embedded");
      await fn(db);
    } finally {
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
