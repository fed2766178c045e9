import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { migrate, openDatabase, type Database } from "../../../src/db/orm.js";
import { createTestDatabase } from "../../helpers/postgres.js";

async function assertMigratesCleanly(db: Database): Promise<void> {
  const first = await migrate(db.orm);
  assert.ok(first.length >= 1, "the first run applies the migrations");
  const second = await migrate(db.orm);
  assert.deepEqual(second, [], "a second run is a no-op");
  const diff = await db.orm.getSchemaGenerator().getUpdateSchemaSQL({ wrap: false });
  assert.equal(diff.trim(), "", `the ORM sees no difference between entities and the migrated schema:\n${diff}`);
}

describe("migrations", () => {
  it("apply on an empty PostgreSQL, re-run as a no-op, and leave no schema diff", async () => {
    const tdb = await createTestDatabase();
    const db = await openDatabase({ databaseUrl: tdb.url, dataDir: "/nonexistent" });
    try {
      await assertMigratesCleanly(db);
      const conn = db.orm.em.getConnection();
      await conn.execute(`insert into organizations (id, name, created_at, updated_at) values (gen_random_uuid(), 'o', now(), now())`);
      await conn.execute(
        `insert into users (id, username, password_hash, organization_id, created_at, updated_at) select gen_random_uuid(), 'u', 'x', id, now(), now() from organizations`,
      );
      await assert.rejects(conn.execute(`delete from users`), /never deleted/);
    } finally {
      await db.close();
      await tdb.drop();
    }
  });

  it("apply on an empty embedded PGlite database the same way", async function () {
    this.timeout(120_000);
    const dir = mkdtempSync(path.join(tmpdir(), "sigil-embedded-"));
    try {
      const db = await openDatabase({ dataDir: dir });
      try {
        assert.equal(db.kind, "embedded");
        await assertMigratesCleanly(db);
      } finally {
        await db.close();
      }
      // reopening the same data dir finds everything applied
      const again = await openDatabase({ dataDir: dir });
      try {
        assert.deepEqual(await migrate(again.orm), []);
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
