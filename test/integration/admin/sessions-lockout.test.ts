/**
 * Issue 13 item 6: sessions you can see and revoke, the current password
 * for one's own password change, and the lockout rules (sliding windows,
 * per-address counting before per-account lockout, the superuser never
 * account-locked, UnlockUser). Logins "from other addresses" go through a
 * second AuthManager on the same database (as a second instance would),
 * with the peer address it is given.
 */
import assert from "node:assert/strict";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { FixedClock } from "../../../src/core/clock.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import {
  ACCOUNT_LOCKOUT_THRESHOLD,
  AuthManager,
  INVALID_CREDENTIALS,
  LOCKOUT_DURATION_MS,
  LOCKOUT_THRESHOLD,
  LOGIN_THROTTLE_FAILURES,
  LOCKOUT_WINDOW_MS,
  LOGIN_THROTTLE_WINDOW_MS,
  SUPERUSER_THROTTLE_FAILURES,
} from "../../../src/ra/auth.js";
import { SigilError } from "../../../src/core/errors.js";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { AdminClients, createOrg, createUser, PASSWORD, rejectsWith } from "./helpers.js";

describe("sessions and lockout", function () {
  this.timeout(180_000);
  const clock = new FixedClock(new Date());
  let server: TestServer;
  let c: AdminClients;
  let su: Awaited<ReturnType<AdminClients["superuser"]>>;
  let orgId: string;
  let otherOrgId: string;
  let admin: Awaited<ReturnType<AdminClients["login"]>>;
  let otherAdmin: Awaited<ReturnType<AdminClients["login"]>>;
  let elsewhere: AuthManager;
  let adminName: string;
  let otherAdminName: string;

  before(async () => {
    server = await startTestServer({ clock });
    c = new AdminClients(server);
    su = await c.superuser();
    orgId = await createOrg(c, su);
    otherOrgId = await createOrg(c, su);
    adminName = (await createUser(c, su, { organizationId: orgId, role: Role.ADMIN })).username;
    otherAdminName = (await createUser(c, su, { organizationId: otherOrgId, role: Role.ADMIN })).username;
    elsewhere = await AuthManager.create(server.ra);
  });

  after(async () => {
    c?.close();
    await server?.stop();
  });

  // each test starts with every earlier failure out of the windows, and fresh tokens
  beforeEach(async () => {
    clock.advance(Math.max(LOGIN_THROTTLE_WINDOW_MS, LOCKOUT_DURATION_MS) + 1000);
    su = await c.superuser();
    admin = await c.login(adminName, PASSWORD);
    otherAdmin = await c.login(otherAdminName, PASSWORD);
  });

  /** a login from another address through the second instance: "ok" or the SigilError kind */
  async function loginFrom(address: string, username: string, password: string): Promise<string> {
    try {
      await elsewhere.login(username, password, `ipv4:${address}:40000`);
      return "ok";
    } catch (e) {
      if (e instanceof SigilError) return e.kind;
      throw e;
    }
  }

  describe("ListSessions / RevokeSession", () => {
    it("ok/lists one's own sessions with client, address, created and last-used times", async () => {
      const u = await createUser(c, su, { organizationId: orgId });
      const first = await c.login(u.username, PASSWORD);
      clock.advance(5 * 60_000);
      const second = await c.login(u.username, PASSWORD);
      const { sessions } = await c.auth.listSessions({}, second);
      assert.equal(sessions.length, 2);
      const [newest, oldest] = sessions;
      assert.equal(newest!.current, true);
      assert.equal(oldest!.current, false);
      assert.equal(newest!.userId, u.id);
      assert.equal(newest!.username, u.username);
      assert.equal(newest!.clientAddress, "127.0.0.1");
      assert.match(newest!.client, /grpc-node-js/);
      assert.ok(timestampDate(newest!.createdAt!).getTime() > timestampDate(oldest!.createdAt!).getTime());
      // using the older session moves its last-used time
      assert.equal(timestampDate(oldest!.lastUsedAt!).getTime(), timestampDate(oldest!.createdAt!).getTime(), "last used at its login");
      clock.advance(2 * 60_000);
      await c.auth.whoAmI({}, first);
      const usedAt = clock.now().getTime();
      const again = (await c.auth.listSessions({}, second)).sessions.find((s) => s.id === oldest!.id)!;
      assert.ok(Math.abs(timestampDate(again.lastUsedAt!).getTime() - usedAt) < 1000, "last used when whoAmI ran");
    });

    it("ok/revoking one session ends its tokens at once and leaves the others", async () => {
      const u = await createUser(c, su, { organizationId: orgId });
      const a = await c.login(u.username, PASSWORD);
      const b = await c.login(u.username, PASSWORD);
      const target = (await c.auth.listSessions({}, b)).sessions.find((s) => !s.current)!;
      await c.auth.revokeSession({ sessionId: target.id }, b);
      await rejectsWith(c.auth.whoAmI({}, a), "UNAUTHENTICATED");
      await rejectsWith(c.auth.refresh({ refreshToken: a.refreshToken }), "UNAUTHENTICATED");
      await c.auth.whoAmI({}, b);
      const live = (await c.auth.listSessions({}, b)).sessions;
      assert.deepEqual(live.map((s) => s.current), [true]);
      const all = (await c.auth.listSessions({ includeEnded: true }, b)).sessions;
      assert.equal(all.find((s) => s.id === target.id)?.revokedReason, "revoked");
      // revoking it again changes nothing
      await c.auth.revokeSession({ sessionId: target.id }, b);
    });

    it("ok/an org admin lists and revokes its users' sessions; other tenants get NOT_FOUND, users PERMISSION_DENIED", async () => {
      const u = await createUser(c, su, { organizationId: orgId });
      const v = await createUser(c, su, { organizationId: orgId });
      const s = await c.login(u.username, PASSWORD);
      const asV = await c.login(v.username, PASSWORD);
      const mine = (await c.auth.listSessions({ userId: u.id }, admin)).sessions;
      assert.equal(mine.length, 1);
      const org = (await c.auth.listSessions({ organizationId: orgId, pageSize: 500 }, admin)).sessions;
      assert.ok(org.some((x) => x.id === mine[0]!.id));
      assert.ok(org.every((x) => x.username !== "admin"), "no superuser sessions in an organization's list");
      await rejectsWith(c.auth.listSessions({ userId: u.id }, otherAdmin), "NOT_FOUND");
      await rejectsWith(c.auth.listSessions({ organizationId: orgId }, otherAdmin), "NOT_FOUND");
      await rejectsWith(c.auth.revokeSession({ sessionId: mine[0]!.id }, otherAdmin), "NOT_FOUND");
      await rejectsWith(c.auth.listSessions({ userId: u.id }, asV), "PERMISSION_DENIED");
      await rejectsWith(c.auth.revokeSession({ sessionId: mine[0]!.id }, asV), "PERMISSION_DENIED");
      await rejectsWith(c.auth.revokeSession({ sessionId: "00000000-0000-7000-8000-000000000000" }, admin), "NOT_FOUND");
      await rejectsWith(c.auth.revokeSession({ sessionId: "nope" }, admin), "INVALID_ARGUMENT", /^session_id: /);
      await c.auth.revokeSession({ sessionId: mine[0]!.id }, admin);
      await rejectsWith(c.auth.whoAmI({}, s), "UNAUTHENTICATED");
    });
  });

  describe("password change", () => {
    it("fail/one's own password change needs the current password", async () => {
      const u = await createUser(c, su, { organizationId: orgId });
      const s = await c.login(u.username, PASSWORD);
      await rejectsWith(c.users.updateUser({ id: u.id, password: "a new password 1" }, s), "INVALID_ARGUMENT", /^current_password: required/);
      await rejectsWith(c.users.updateUser({ id: u.id, password: "a new password 1", currentPassword: "not it at all" }, s), "INVALID_ARGUMENT", /^current_password: does not match/);
      // nothing changed: the old password still works, the session too
      await c.auth.whoAmI({}, s);
      await c.login(u.username, PASSWORD);
      await c.users.updateUser({ id: u.id, password: "a new password 1", currentPassword: PASSWORD }, s);
      await c.login(u.username, "a new password 1");
      // an admin resetting someone else's password is not asked for one
      await c.users.updateUser({ id: u.id, password: "reset by admin 1" }, admin);
      await c.login(u.username, "reset by admin 1");
    });
  });

  describe("lockout", () => {
    it(`fail/${LOCKOUT_THRESHOLD} wrong passwords from one address lock that address out of the account, not other addresses`, async () => {
      const u = await createUser(c, su, { organizationId: orgId });
      for (let i = 0; i < LOCKOUT_THRESHOLD; i++) assert.equal(await loginFrom("10.1.0.1", u.username, "wrong password"), "unauthenticated");
      assert.equal(await loginFrom("10.1.0.1", u.username, PASSWORD), "unauthenticated", "locked from there, even with the right password");
      assert.equal(await loginFrom("10.1.0.2", u.username, PASSWORD), "ok", "another address still logs in");
      await c.login(u.username, PASSWORD);
      clock.advance(LOCKOUT_DURATION_MS + 1000);
      assert.equal(await loginFrom("10.1.0.1", u.username, PASSWORD), "ok", "the lock ends");
    });

    it(`fail/${ACCOUNT_LOCKOUT_THRESHOLD} wrong passwords from several addresses lock the account everywhere; UnlockUser lifts it`, async () => {
      const u = await createUser(c, su, { organizationId: orgId });
      for (let i = 0; i < ACCOUNT_LOCKOUT_THRESHOLD; i++) {
        assert.equal(await loginFrom(`10.2.0.${Math.floor(i / (LOCKOUT_THRESHOLD - 1))}`, u.username, "wrong password"), "unauthenticated");
      }
      await rejectsWith(c.auth.login({ username: u.username, password: PASSWORD }), "UNAUTHENTICATED", INVALID_CREDENTIALS);
      const { user } = await c.users.getUser({ id: u.id }, admin);
      assert.ok(user!.lockedUntil && timestampDate(user!.lockedUntil).getTime() > clock.now().getTime());
      await rejectsWith(c.users.unlockUser({ id: u.id }, otherAdmin), "NOT_FOUND");
      const asOther = await c.login((await createUser(c, su, { organizationId: orgId })).username, PASSWORD);
      await rejectsWith(c.users.unlockUser({ id: u.id }, asOther), "PERMISSION_DENIED");
      const unlocked = await c.users.unlockUser({ id: u.id }, admin);
      assert.equal(unlocked.user!.lockedUntil, undefined);
      await c.login(u.username, PASSWORD);
      assert.equal(await loginFrom("10.2.0.0", u.username, PASSWORD), "ok", "the per-address locks are lifted too");
    });

    it("ok/the superuser cannot be locked out by anyone who knows its name", async () => {
      // many addresses, each staying under the per-address throttle, guess the superuser's password
      let n = 0;
      for (let a = 0; a < 8; a++) {
        for (let i = 0; i < LOCKOUT_THRESHOLD + 1; i++, n++) await loginFrom(`10.3.0.${a}`, "admin", "guess guess guess");
      }
      assert.ok(n > ACCOUNT_LOCKOUT_THRESHOLD);
      // the guessing addresses are locked out of it ...
      assert.equal(await loginFrom("10.3.0.0", "admin", TEST_ADMIN_PASSWORD), "unauthenticated");
      // ... the superuser is not: from an address it logged in from before (rule 4 spares those) ...
      await c.login("admin", TEST_ADMIN_PASSWORD);
      // ... while a new address waits until the superuser's failures leave the window (rule 4, review 2 H3)
      assert.ok(n >= SUPERUSER_THROTTLE_FAILURES);
      assert.equal(await loginFrom("10.3.9.9", "admin", TEST_ADMIN_PASSWORD), "unauthenticated");
      clock.advance(LOCKOUT_WINDOW_MS + 1000);
      assert.equal(await loginFrom("10.3.9.9", "admin", TEST_ADMIN_PASSWORD), "ok");
      su = await c.superuser(); // the window outlived the access token
      const { user } = await c.users.getUser({ id: (await c.auth.whoAmI({}, su)).principal.value!.id }, su);
      assert.equal(user!.lockedUntil, undefined);
    });

    it(`fail/${LOGIN_THROTTLE_FAILURES} failures from one address (any accounts) answer RESOURCE_EXHAUSTED there, and the window slides`, async () => {
      for (let i = 0; i < LOGIN_THROTTLE_FAILURES; i++) {
        assert.equal(await loginFrom("10.4.0.1", `nobody-${i}`, "wrong password"), "unauthenticated");
        clock.advance(10_000);
      }
      assert.equal(await loginFrom("10.4.0.1", "admin", TEST_ADMIN_PASSWORD), "resourceExhausted");
      assert.equal(await loginFrom("10.4.0.2", "admin", TEST_ADMIN_PASSWORD), "ok");
      // sliding: once the first failure is older than the window, one more attempt is allowed
      clock.advance(LOGIN_THROTTLE_WINDOW_MS - (LOGIN_THROTTLE_FAILURES - 1) * 10_000 + 1000);
      assert.equal(await loginFrom("10.4.0.1", "admin", TEST_ADMIN_PASSWORD), "ok");
    });
  });
});
