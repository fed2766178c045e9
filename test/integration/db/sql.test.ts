/**
 * src/db/sql.ts on real PostgreSQL: prepared statements, and transactions
 * whose BEGIN and COMMIT travel with the first and last statements
 * (pipelined): commits, rollbacks on a failing statement (its COMMIT never
 * goes through), a statement that does not parse.
 */
import assert from "node:assert/strict";
import { MikroORM } from "@mikro-orm/postgresql";
import { ormOptions } from "../../../src/db/orm.js";
import { sqlPool, statement } from "../../../src/db/sql.js";
import { createTestDatabase } from "../../helpers/postgres.js";

const INSERT = statement("test_sql_insert", "insert into sql_test (id, v) values ($1, $2) returning id");
const COUNT = statement("test_sql_count", "select count(*)::int as n from sql_test");
const BAD = statement("test_sql_bad", "select nope from sql_test where id = $1");

describe("db/sql: prepared statements and pipelined transactions", () => {
  let db: { url: string; drop(): Promise<void> };
  let orm: MikroORM;
  const count = async () => (await sqlPool(orm).query<{ n: number }>(COUNT))[0]!.n;

  before(async () => {
    db = await createTestDatabase("sigil_sql");
    orm = await MikroORM.init(ormOptions(db.url, 2));
    await orm.em.getConnection().execute("create table sql_test (id int primary key, v text not null)");
  });
  after(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  it("commits: BEGIN with the first statement, COMMIT with the last", async () => {
    const ids = await sqlPool(orm).transaction(async (q) => {
      const a = await q.query<{ id: number }>(INSERT, [1, "a"]);
      const b = await q.commitWith<{ id: number }>(INSERT, [2, "b"]);
      return [a[0]!.id, b[0]!.id];
    });
    assert.deepEqual(ids, [1, 2]);
    assert.equal(await count(), 2);
  });

  it("a failing last statement rolls the whole transaction back (its COMMIT is skipped)", async () => {
    await assert.rejects(
      sqlPool(orm).transaction(async (q) => {
        await q.query(INSERT, [3, "c"]);
        await q.commitWith(INSERT, [1, "duplicate"]);
      }),
      (e: { code?: string }) => e.code === "23505",
    );
    assert.equal(await count(), 2);
  });

  it("an error thrown by the caller rolls back; a statement that does not parse fails every time, its connection is replaced, later transactions work", async () => {
    await assert.rejects(
      sqlPool(orm).transaction(async (q) => {
        await q.query(INSERT, [4, "d"]);
        throw new Error("caller");
      }),
      /caller/,
    );
    for (let i = 0; i < 3; i++) {
      await assert.rejects(sqlPool(orm).transaction(async (q) => q.commitWith(BAD, [1])), (e: { code?: string }) => e.code === "42703");
    }
    assert.equal(await count(), 2);
    await sqlPool(orm).transaction(async (q) => q.commitWith(INSERT, [5, "e"]));
    assert.equal(await count(), 3);
  });

  it("no statement after the commit", async () => {
    await assert.rejects(
      sqlPool(orm).transaction(async (q) => {
        await q.commitWith(INSERT, [6, "f"]);
        await q.query(COUNT);
      }),
      /after the transaction ended/,
    );
    assert.equal(await count(), 4);
  });
});
