import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { SigilError } from "../../src/core/errors.js";
import { Organization } from "../../src/db/entities/index.js";
import { migrate, openDatabase, type Database } from "../../src/db/orm.js";
import { sqlPool } from "../../src/db/sql.js";
import { createLogger, sanitizeText, serializeError, statementShape } from "../../src/logger.js";
import { createTestDatabase } from "../helpers/postgres.js";

/** a logger whose lines land in `lines` */
function capture(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  return { logger: createLogger("info", sink), lines };
}

async function flushed(lines: string[], n: number): Promise<void> {
  const until = Date.now() + 2000;
  while (lines.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  assert.ok(lines.length >= n, "log line written");
}

describe("logger: errors are logged without SQL values", () => {
  it("statementShape replaces every literal and keeps identifiers and placeholders", () => {
    assert.equal(
      statementShape(`insert into "organizations" ("id", "name", "n2") values ('0191-ab', 'it''s secret', 42), (E'\\\\x00ff', -1.5e3, $1) returning "id"`),
      `insert into "organizations" ("id", "name", "n2") values (?, ?, ?), (?, ?, $1) returning "id"`,
    );
    assert.equal(statementShape("select t0.* from users as t0 where t0.key_hash = 'abc' limit 1"), "select t0.* from users as t0 where t0.key_hash = ? limit ?");
    assert.equal(statementShape("select $$body with 'secret'$$, $tag$x$tag$"), "select ?, ?");
    assert.equal(statementShape("update x set y = 'unterminated secret"), "update x set y = ?");
  });

  it("sanitizeText splits '<query> - <message>' and removes values PostgreSQL quotes", () => {
    assert.deepEqual(sanitizeText(`insert into "t" ("a") values ('s3cret') - duplicate key value violates unique constraint "t_a_unique"`), {
      statement: `insert into "t" ("a") values (?)`,
      message: `duplicate key value violates unique constraint "t_a_unique"`,
    });
    // a " - " inside a literal is not the end of the statement; the appended detail line quotes the value
    assert.deepEqual(sanitizeText(`update "t" set "a" = 'x - s3cret' - boom\n - detail: Key (a)=(s3cret) already exists.`), {
      statement: `update "t" set "a" = ?`,
      message: "boom",
    });
    assert.equal(sanitizeText(`invalid input syntax for type uuid: "s3cret"`).message, "invalid input syntax for type uuid: [value]");
    assert.equal(sanitizeText(`value "99999999999" is out of range for type integer`).message, "value [value] is out of range for type integer");
    assert.equal(sanitizeText(`syntax error at or near "'s3cret'"`).message, "syntax error at or near [fragment]");
    assert.equal(sanitizeText(`invalid byte sequence for encoding "UTF8": 0x00`).message, `invalid byte sequence for encoding "UTF8": [bytes]`);
    assert.equal(sanitizeText(`Key (name)=(s3cret) already exists.`).message, "Key (name)=([value]) already exists.");
  });

  it("sanitizeText masks values PostgreSQL quotes without doubling inner quotes, and values quoted mid-message", () => {
    for (const [message, secret] of [
      ['invalid input syntax for type uuid: "sec"ret-value"', "ret-value"],
      ['time zone "secretzone" not recognized', "secretzone"],
      ['invalid value "s3cr3t" for "YYYY"', "s3cr3t"],
    ] as const) {
      const out = sanitizeText(message).message;
      assert.doesNotMatch(out, new RegExp(secret), out);
      assert.match(out, /\[value\]/, out);
    }
  });

  it("serializeError follows the cause chain and keeps only naming fields", () => {
    const pgLike = Object.assign(new Error(`select 1 from t where k = 'SECRET-VALUE' - boom`), {
      code: "23505",
      table: "t",
      constraint: "t_k_key",
      detail: "Key (k)=(SECRET-VALUE) already exists.",
      where: "SQL statement with SECRET-VALUE",
      internalQuery: "SECRET-VALUE",
      parameters: ["SECRET-VALUE"],
    });
    const wrapped = SigilError.internal("could not store", pgLike);
    const out = JSON.stringify(serializeError(wrapped));
    assert.ok(!out.includes("SECRET-VALUE"), out);
    const s = serializeError(wrapped);
    assert.ok(typeof s === "object");
    assert.equal(s.kind, "internal");
    const cause = s.cause;
    assert.ok(typeof cause === "object");
    assert.deepEqual([cause.code, cause.table, cause.constraint, cause.statement, cause.message], ["23505", "t", "t_k_key", "select ? from t where k = ?", "boom"]);
  });

  describe("through the real ORM and the pipelined SQL path (PostgreSQL)", function () {
    this.timeout(60_000);
    const SECRET = "sk_live_SECRET_9f8e7d6c5b4a";
    let dbHandle: { url: string; drop(): Promise<void> };
    let db: Database;

    before(async () => {
      dbHandle = await createTestDatabase();
      // dataDir is only used by the embedded database
      db = await openDatabase({ databaseUrl: dbHandle.url, dataDir: "./data", poolMax: 2 });
      await migrate(db.orm);
      const em = db.orm.em.fork();
      em.create(Organization, { name: SECRET, description: "first", slug: "logger-first" });
      await em.flush();
    });
    after(async () => {
      await db?.close();
      await dbHandle?.drop();
    });

    it("a unique violation through the ORM is logged with code, table, constraint and the statement's shape, never the value", async () => {
      const em = db.orm.em.fork();
      em.create(Organization, { name: SECRET, description: `-----BEGIN ENCRYPTED PRIVATE KEY----- ${SECRET}`, slug: "logger-second" });
      const err = await em.flush().then(
        () => assert.fail("the duplicate must be refused"),
        (e: unknown) => e,
      );
      // the premise: the ORM's own message carries the values
      assert.ok(err instanceof Error && err.message.includes(SECRET), "MikroORM puts the query with its values in the message");

      const { logger, lines } = capture();
      logger.error({ err, rpc: "/sigil.admin.v1.OrganizationService/CreateOrganization" }, "rpc failed");
      logger.error({ err: SigilError.internal("could not create the organization", err) }, "rpc failed");
      await flushed(lines, 2);
      for (const line of lines) {
        assert.ok(!line.includes(SECRET), line);
        assert.ok(!line.includes("BEGIN ENCRYPTED"), line);
      }
      const first = JSON.parse(lines[0]!) as { err: Record<string, unknown> };
      assert.equal(first.err.code, "23505");
      assert.equal(first.err.table, "organizations");
      assert.equal(typeof first.err.constraint, "string");
      assert.match(String(first.err.statement), /^insert into "organizations" \(.*\) values \(\?, \?, \?/);
      assert.match(String(first.err.message), /duplicate key value violates unique constraint/);
      assert.equal(first.err.type, "UniqueConstraintViolationException");
      const second = JSON.parse(lines[1]!) as { err: { cause: Record<string, unknown> } };
      assert.equal(second.err.cause.code, "23505");
    });

    it("a pipelined-statement error (pg's own, with its detail) is logged without the value", async () => {
      const err = await sqlPool(db.orm)
        .query("insert into organizations (id, name, created_at, updated_at) values (gen_random_uuid(), $1, now(), now())", [SECRET])
        .then(
          () => assert.fail("the duplicate must be refused"),
          (e: unknown) => e,
        );
      assert.ok(JSON.stringify(err).includes(SECRET), "the premise: pg's error detail quotes the value");
      const { logger, lines } = capture();
      logger.error({ err }, "challenge validation failed");
      await flushed(lines, 1);
      assert.ok(!lines[0]!.includes(SECRET), lines[0]);
      const logged = JSON.parse(lines[0]!) as { err: Record<string, unknown> };
      assert.equal(logged.err.code, "23505");
      assert.equal(logged.err.table, "organizations");
    });
  });
});
