import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import bcrypt from "bcrypt";
import { MasterKeyRing } from "../../../src/ca/key-encryption.js";
import { systemClock } from "../../../src/core/clock.js";
import { migrate, openDatabase, type Database } from "../../../src/db/orm.js";
import { organizationHoldings } from "../../../src/db/store/organizations.js";
import { NestedSessionError } from "../../../src/db/store/session.js";
import { getSetting, putSettingIfAbsent } from "../../../src/db/store/system-settings.js";
import { findUserForLogin } from "../../../src/db/store/users.js";
import { systemActor } from "../../../src/ra/actor.js";
import { AuthManager } from "../../../src/ra/auth.js";
import { bootstrap } from "../../../src/ra/bootstrap.js";
import { createRaContext, DEFAULT_BCRYPT_COST, inTransaction, type RaContext } from "../../../src/ra/context.js";
import { createOrganization } from "../../../src/ra/organizations.js";
import { createServiceAccount } from "../../../src/ra/service-accounts.js";
import { createUser, getUser, updateUser } from "../../../src/ra/users.js";
import { createTestDatabase } from "../../helpers/postgres.js";

/** the cost field of a bcrypt hash ("$2b$05$..." -> 5) */
function costOf(hash: string): number {
  return bcrypt.getRounds(hash);
}

async function passwordHashOf(ctx: RaContext, username: string): Promise<string> {
  const u = await findUserForLogin(ctx.store, username);
  assert.ok(u, `user ${username} exists`);
  return u.passwordHash;
}

describe("identity on the store", function () {
  this.timeout(60_000);
  let tdb: { url: string; drop(): Promise<void> };
  let db: Database;
  const keyRing = MasterKeyRing.fromKeys(randomBytes(32));
  const ctxWith = (bcryptCost?: number) =>
    createRaContext({ orm: db.orm, keyRing, clock: systemClock, publicUrl: "http://127.0.0.1:1", ...(bcryptCost === undefined ? {} : { bcryptCost }) });
  const actor = systemActor("test");
  let n = 0;
  const name = (p: string) => `${p}-${++n}-${randomBytes(3).toString("hex")}`;

  before(async () => {
    tdb = await createTestDatabase();
    db = await openDatabase({ databaseUrl: tdb.url, dataDir: "/nonexistent" });
    await migrate(db.orm);
  });
  after(async () => {
    await db?.close();
    await tdb?.drop();
  });

  describe("bcrypt cost (RaContext.bcryptCost, SIGIL_BCRYPT_COST)", () => {
    it("hashes a new user's password, a changed password and the bootstrap admin's at the configured cost", async () => {
      const ctx = ctxWith(5);
      await bootstrap(ctx, { adminPassword: "bootstrap-admin-password" });
      assert.equal(costOf(await passwordHashOf(ctx, "admin")), 5);

      const org = await createOrganization(ctx, actor, { name: name("org"), description: "" });
      const username = name("user");
      const user = await createUser(ctx, actor, { username, email: `${username}@example.com`, password: "first password 1", role: "user", organizationId: org.id, flags: {} });
      assert.equal(costOf(await passwordHashOf(ctx, username)), 5);

      await updateUser(ctx, actor, { id: user.id, password: "second password 2", flags: {} });
      const changed = await passwordHashOf(ctx, username);
      assert.equal(costOf(changed), 5);
      assert.ok(await bcrypt.compare("second password 2", changed));
    });

    it(`keeps the production default (${DEFAULT_BCRYPT_COST}) when the context sets none`, async () => {
      assert.equal(DEFAULT_BCRYPT_COST, 12);
      const ctx = ctxWith(undefined);
      const org = await createOrganization(ctx, actor, { name: name("org"), description: "" });
      const username = name("user");
      await createUser(ctx, actor, { username, email: `${username}@example.com`, password: "default cost pw 1", role: "user", organizationId: org.id, flags: {} });
      assert.equal(costOf(await passwordHashOf(ctx, username)), DEFAULT_BCRYPT_COST);
    });

    it("logs in with a password hashed at a low cost", async () => {
      const ctx = ctxWith(4);
      const org = await createOrganization(ctx, actor, { name: name("org"), description: "" });
      const username = name("user");
      await createUser(ctx, actor, { username, email: `${username}@example.com`, password: "low cost password", role: "user", organizationId: org.id, flags: {} });
      const auth = await AuthManager.create(ctx);
      const r = await auth.login(username, "low cost password", "ipv4:127.0.0.1:1000");
      assert.equal(r.user.username, username);
      assert.equal((await auth.authenticate(r.accessToken)).actor.kind, "user");
    });
  });

  describe("system settings", () => {
    it("keeps the first value written under a key (instances starting at once agree)", async () => {
      const ctx = ctxWith(4);
      const key = name("k");
      assert.equal(await getSetting(ctx.store, key), undefined);
      assert.equal(await putSettingIfAbsent(ctx.store, key, "first", new Date()), "first");
      assert.equal(await putSettingIfAbsent(ctx.store, key, "second", new Date()), "first");
      assert.equal(await getSetting(ctx.store, key), "first");
    });

    it("two AuthManagers on one database share the JWT signing key", async () => {
      const ctx = ctxWith(4);
      const [a, b] = await Promise.all([AuthManager.create(ctx), AuthManager.create(ctxWith(4))]);
      const org = await createOrganization(ctx, actor, { name: name("org"), description: "" });
      const username = name("user");
      await createUser(ctx, actor, { username, email: `${username}@example.com`, password: "shared key password", role: "user", organizationId: org.id, flags: {} });
      const r = await a.login(username, "shared key password", "ipv4:127.0.0.1:1000");
      assert.equal((await b.authenticate(r.accessToken)).actor.kind, "user");
    });
  });

  describe("organization holdings", () => {
    it("counts what still belongs to an organization, table by table, in one statement", async () => {
      const ctx = ctxWith(4);
      const org = await createOrganization(ctx, actor, { name: name("org"), description: "" });
      const empty = await organizationHoldings(ctx.store, org.id);
      assert.deepEqual(empty, {
        users: 0,
        certificateAuthorities: 0,
        certificates: 0,
        acmeDirectories: 0,
        acmeAccounts: 0,
        acmeEabKeys: 0,
        serviceAccounts: 0,
      });
      const username = name("user");
      await createUser(ctx, actor, { username, email: `${username}@example.com`, password: "holdings password", role: "user", organizationId: org.id, flags: {} });
      await createServiceAccount(ctx, actor, { organizationId: org.id, name: name("sa"), description: "", flags: {} });
      await createServiceAccount(ctx, actor, { organizationId: org.id, name: name("sa"), description: "", flags: {} });
      const held = await organizationHoldings(ctx.store, org.id);
      assert.equal(held.users, 1);
      assert.equal(held.serviceAccounts, 2);
      assert.equal(held.certificateAuthorities, 0);
    });
  });

  describe("sessions", () => {
    it("a read through the root store inside an open transaction throws NestedSessionError (the embedded database would wait for ever)", async () => {
      const ctx = ctxWith(4);
      const org = await createOrganization(ctx, actor, { name: name("org"), description: "" });
      const username = name("user");
      const user = await createUser(ctx, actor, { username, email: `${username}@example.com`, password: "nested password", role: "user", organizationId: org.id, flags: {} });
      await assert.rejects(
        inTransaction(ctx, async () => getUser(ctx, actor, user.id)),
        (e: unknown) => e instanceof NestedSessionError,
      );
      // outside the transaction the same read works
      assert.equal((await getUser(ctx, actor, user.id)).username, username);
    });
  });
});
