/**
 * Issue 13 item 8: usernames and emails unique in any letter case, without a
 * cross-organization existence oracle, and the migration that adds the
 * lower(...) unique indexes refusing (loudly) existing case duplicates.
 */
import assert from "node:assert/strict";
import { migrationsList } from "../../../migrations/index.js";
import { openDatabase } from "../../../src/db/orm.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { AdminClients, createOrg, createUser, PASSWORD, rejectsWith, unique } from "./helpers.js";

const MIGRATION = "Migration20261202160000CaseInsensitiveUsers";

describe("users: case-insensitive usernames and emails, no existence oracle", function () {
  this.timeout(120_000);
  let server: TestServer;
  let c: AdminClients;
  let su: Awaited<ReturnType<AdminClients["superuser"]>>;
  let orgA: string;
  let orgB: string;
  let adminA: Awaited<ReturnType<AdminClients["login"]>>;

  before(async () => {
    server = await startTestServer();
    c = new AdminClients(server);
    su = await c.superuser();
    orgA = await createOrg(c, su);
    orgB = await createOrg(c, su);
    const a = await createUser(c, su, { organizationId: orgA, role: Role.ADMIN });
    adminA = await c.login(a.username, PASSWORD);
  });

  after(async () => {
    c?.close();
    await server?.stop();
  });

  const create = (opts: typeof su, username: string, email: string, organizationId: string): Promise<unknown> =>
    c.users.createUser({ username, email, password: PASSWORD, role: Role.USER, organizationId }, opts);

  it("ok/a superuser is told ALREADY_EXISTS for a name differing only by case", async () => {
    const name = unique("Case");
    await create(su, name, `${name}@Example.com`, orgB);
    await rejectsWith(create(su, name.toUpperCase(), `${unique("x")}@example.com`, orgA), "ALREADY_EXISTS", /^username: /);
    await rejectsWith(create(su, unique("y"), `${name.toUpperCase()}@EXAMPLE.COM`, orgA), "ALREADY_EXISTS", /^email: /);
  });

  it("ok/an org admin is told ALREADY_EXISTS for a holder in its own organization", async () => {
    const name = unique("own");
    await create(adminA, name, `${name}@example.com`, orgA);
    await rejectsWith(create(adminA, name.toUpperCase(), `${unique("x")}@example.com`, orgA), "ALREADY_EXISTS", /^username: /);
  });

  it("fail/another organization's name answers exactly like an invalid value", async () => {
    const name = unique("hidden");
    await create(su, name, `${name}@example.com`, orgB);
    const invalidName = await create(adminA, "has space", `${unique("x")}@example.com`, orgA).catch((e: { code: number; details: string }) => e);
    const takenName = await create(adminA, name.toUpperCase(), `${unique("x")}@example.com`, orgA).catch((e: { code: number; details: string }) => e);
    assert.deepEqual(
      { code: (takenName as { code: number }).code, details: (takenName as { details: string }).details },
      { code: (invalidName as { code: number }).code, details: (invalidName as { details: string }).details },
    );
    await rejectsWith(Promise.reject(takenName), "INVALID_ARGUMENT", /^username: not an acceptable username/);

    const invalidMail = await create(adminA, unique("m"), "nope", orgA).catch((e: { code: number; details: string }) => e);
    const takenMail = await create(adminA, unique("m"), `${name.toUpperCase()}@EXAMPLE.com`, orgA).catch((e: { code: number; details: string }) => e);
    assert.equal((takenMail as { details: string }).details, (invalidMail as { details: string }).details);
    assert.equal((takenMail as { code: number }).code, (invalidMail as { code: number }).code);

    // the superuser's own name is hidden too
    await rejectsWith(create(adminA, "ADMIN", `${unique("x")}@example.com`, orgA), "INVALID_ARGUMENT", /^username: not an acceptable username/);
    // and an email change onto another tenant's address
    const mine = await createUser(c, adminA, { organizationId: orgA });
    const asMe = await c.login(mine.username, PASSWORD);
    await rejectsWith(c.users.updateUser({ id: mine.id, email: `${name}@example.com`, currentPassword: PASSWORD }, asMe), "INVALID_ARGUMENT", /^email: not an acceptable email/);
    // nothing was written by the refusals
    const { users } = await c.users.listUsers({ organizationId: orgA, pageSize: 200 }, su);
    assert.equal(users.filter((u) => u.username.toLowerCase() === name.toLowerCase()).length, 0);
  });

  it("ok/login takes the username in any case", async () => {
    const u = await createUser(c, su, { organizationId: orgA });
    const r = await c.auth.login({ username: u.username.toUpperCase(), password: PASSWORD });
    assert.equal(r.user?.id, u.id);
  });
});

describe(`migration ${MIGRATION}`, function () {
  this.timeout(120_000);
  const before = migrationsList[migrationsList.findIndex((m) => m.name === MIGRATION) - 1]!.name;

  it("fail/stops naming every group of users that differ only by case, and applies nothing", async () => {
    const tdb = await createTestDatabase();
    const db = await openDatabase({ databaseUrl: tdb.url, dataDir: "/nonexistent" });
    try {
      await db.orm.getMigrator().up({ to: before });
      const conn = db.orm.em.getConnection();
      for (const [u, e] of [
        ["alice", "alice@example.com"],
        ["Alice", "a2@example.com"],
        ["bob", "Bob@Example.com"],
        ["bobby", "bob@example.com"],
        ["carol", "carol@example.com"],
      ]) {
        await conn.execute(`insert into users (id, username, email, password_hash, role, created_at, updated_at) values (gen_random_uuid(), ?, ?, 'x', 'superuser', now(), now())`, [u, e]);
      }
      await assert.rejects(db.orm.getMigrator().up(), (e: Error) => {
        assert.match(e.message, /users differ only by letter case/);
        assert.match(e.message, /usernames: \[Alice \/ alice\]/);
        assert.match(e.message, /emails: \[Bob@Example\.com \/ bob@example\.com\]/);
        assert.doesNotMatch(e.message, /carol/);
        return true;
      });
      const idx = await conn.execute(`select indexname from pg_indexes where tablename = 'users' and indexname like '%lower%'`);
      assert.deepEqual(idx, [], "no index was created");
      const applied = await conn.execute(`select name from sigil_migrations where name like ?`, [`${MIGRATION}%`]);
      assert.deepEqual(applied, []);

      // renamed, the migration goes through and enforces the rule
      await conn.execute(`update users set username = 'alice2' where username = 'Alice'`);
      await conn.execute(`update users set email = 'bobby@example.com' where username = 'bobby'`);
      const ran = (await db.orm.getMigrator().up()).map((m) => m.name);
      assert.ok(ran.includes(MIGRATION));
      await assert.rejects(
        conn.execute(`insert into users (id, username, password_hash, created_at, updated_at) values (gen_random_uuid(), 'CAROL', 'x', now(), now())`),
        /users_username_lower_unique/,
      );
    } finally {
      await db.close();
      await tdb.drop();
    }
  });
});
