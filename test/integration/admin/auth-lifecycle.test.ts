import assert from "node:assert/strict";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { FixedClock } from "../../../src/core/clock.js";
import {
  ACCESS_TOKEN_TTL_MS,
  INVALID_CREDENTIALS,
  LOCKOUT_DURATION_MS,
  LOCKOUT_THRESHOLD,
  LOCKOUT_WINDOW_MS,
  LOGIN_THROTTLE_FAILURES,
  LOGIN_THROTTLE_WINDOW_MS,
} from "../../../src/ra/auth.js";
import type { AuditEvent } from "../../../src/gen/sigil/admin/v1/audit_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { AdminClients, bearer, createOrg, createUser, PASSWORD, rejectsWith } from "./helpers.js";

describe("admin authentication: token lifecycle", function () {
  this.timeout(120_000);
  const clock = new FixedClock(new Date());
  let server: TestServer;
  let c: AdminClients;
  let su: Awaited<ReturnType<AdminClients["superuser"]>>;
  let orgId: string;

  before(async () => {
    server = await startTestServer({ clock });
    c = new AdminClients(server);
    su = await c.superuser();
    orgId = await createOrg(c, su);
  });

  after(async () => {
    c?.close();
    await server?.stop();
  });

  // every test starts with a fresh per-address login throttle window and fresh superuser tokens
  beforeEach(async () => {
    clock.advance(LOGIN_THROTTLE_WINDOW_MS + 1000);
    su = await c.superuser();
  });

  it("refuses an access token once it expired (injected clock), and Refresh gets a working one", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const s = await c.login(u.username, PASSWORD);
    const me = await c.auth.whoAmI({}, s);
    assert.equal(me.principal.case, "user");
    assert.equal(me.principal.value?.id, u.id);
    clock.advance(ACCESS_TOKEN_TTL_MS - 1000);
    await c.auth.whoAmI({}, s);
    clock.advance(2000);
    await rejectsWith(c.auth.whoAmI({}, s), "UNAUTHENTICATED");
    const r = await c.auth.refresh({ refreshToken: s.refreshToken });
    const again = await c.auth.whoAmI({}, bearer(r.accessToken));
    assert.equal(again.principal.value?.id, u.id);
  });

  it("rotates the refresh token on every use", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const s = await c.login(u.username, PASSWORD);
    const r1 = await c.auth.refresh({ refreshToken: s.refreshToken });
    assert.notEqual(r1.refreshToken, s.refreshToken);
    assert.notEqual(r1.accessToken, s.accessToken);
    const r2 = await c.auth.refresh({ refreshToken: r1.refreshToken });
    assert.notEqual(r2.refreshToken, r1.refreshToken);
    await c.auth.whoAmI({}, bearer(r2.accessToken));
  });

  it("revokes the whole family when a used refresh token is presented again", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const s = await c.login(u.username, PASSWORD);
    const r1 = await c.auth.refresh({ refreshToken: s.refreshToken });
    await rejectsWith(c.auth.refresh({ refreshToken: s.refreshToken }), "UNAUTHENTICATED");
    // the thief's and the owner's later tokens are dead too
    await rejectsWith(c.auth.refresh({ refreshToken: r1.refreshToken }), "UNAUTHENTICATED");
    await rejectsWith(c.auth.whoAmI({}, bearer(r1.accessToken)), "UNAUTHENTICATED");
    await rejectsWith(c.auth.whoAmI({}, s), "UNAUTHENTICATED");
    const { events } = await c.audit.listAuditEvents({ action: "sessions_invalidate", organizationId: orgId }, su);
    assert.ok(events.some((e) => JSON.parse(e.detail).reason === "refresh_token_reuse" && JSON.parse(e.detail).userId === u.id));
    // a new login still works
    await c.login(u.username, PASSWORD);
  });

  it("logout ends the session (access and refresh) and leaves other sessions alone", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const a = await c.login(u.username, PASSWORD);
    const b = await c.login(u.username, PASSWORD);
    await c.auth.logout({ refreshToken: a.refreshToken }, a);
    await rejectsWith(c.auth.whoAmI({}, a), "UNAUTHENTICATED");
    await rejectsWith(c.auth.refresh({ refreshToken: a.refreshToken }), "UNAUTHENTICATED");
    await c.auth.whoAmI({}, b);
    await c.auth.refresh({ refreshToken: b.refreshToken });
  });

  it("InvalidateAllSessions ends every session of the user", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const a = await c.login(u.username, PASSWORD);
    const b = await c.login(u.username, PASSWORD);
    const { revokedSessions } = await c.auth.invalidateAllSessions({}, a);
    assert.equal(revokedSessions, 2);
    for (const s of [a, b]) {
      await rejectsWith(c.auth.whoAmI({}, s), "UNAUTHENTICATED");
      await rejectsWith(c.auth.refresh({ refreshToken: s.refreshToken }), "UNAUTHENTICATED");
    }
    await c.auth.whoAmI({}, await c.login(u.username, PASSWORD));
  });

  it("an admin's InvalidateAllSessions on a user of its organization ends that user's sessions", async () => {
    const admin = await createUser(c, su, { organizationId: orgId, role: 2 });
    const u = await createUser(c, su, { organizationId: orgId });
    const s = await c.login(u.username, PASSWORD);
    const { revokedSessions } = await c.auth.invalidateAllSessions({ userId: u.id }, await c.login(admin.username, PASSWORD));
    assert.equal(revokedSessions, 1);
    await rejectsWith(c.auth.whoAmI({}, s), "UNAUTHENTICATED");
  });

  it("a password change revokes the user's tokens; the new password works", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const s = await c.login(u.username, PASSWORD);
    await c.users.updateUser({ id: u.id, password: "a brand new password" }, su);
    await rejectsWith(c.auth.whoAmI({}, s), "UNAUTHENTICATED");
    await rejectsWith(c.auth.refresh({ refreshToken: s.refreshToken }), "UNAUTHENTICATED");
    await rejectsWith(c.auth.login({ username: u.username, password: PASSWORD }), "UNAUTHENTICATED", INVALID_CREDENTIALS);
    await c.login(u.username, "a brand new password");
  });

  it("a user changing its own password ends its own sessions too", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const s = await c.login(u.username, PASSWORD);
    // issue 13 item 6: changing one's own password asks for the current one
    await c.users.updateUser({ id: u.id, password: "my own new password", currentPassword: PASSWORD }, s);
    await rejectsWith(c.auth.whoAmI({}, s), "UNAUTHENTICATED");
    await c.login(u.username, "my own new password");
  });

  it("deactivation revokes the user's tokens and refuses its logins with the usual error", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const s = await c.login(u.username, PASSWORD);
    const { user } = await c.users.deactivateUser({ id: u.id }, su);
    assert.equal(user?.isActive, false);
    await rejectsWith(c.auth.whoAmI({}, s), "UNAUTHENTICATED");
    await rejectsWith(c.auth.refresh({ refreshToken: s.refreshToken }), "UNAUTHENTICATED");
    await rejectsWith(c.auth.login({ username: u.username, password: PASSWORD }), "UNAUTHENTICATED", INVALID_CREDENTIALS);
  });

  it(`locks an account after ${LOCKOUT_THRESHOLD} failures within 15 minutes, and unlocks it 15 minutes later`, async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    for (let i = 0; i < LOCKOUT_THRESHOLD; i++) {
      await rejectsWith(c.auth.login({ username: u.username, password: "wrong password" }), "UNAUTHENTICATED", INVALID_CREDENTIALS);
      clock.advance(60_000);
    }
    // locked: even the right password gets the same answer
    await rejectsWith(c.auth.login({ username: u.username, password: PASSWORD }), "UNAUTHENTICATED", INVALID_CREDENTIALS);
    // the lock started with the last failure, one minute ago
    clock.advance(LOCKOUT_DURATION_MS - 2 * 60_000);
    await rejectsWith(c.auth.login({ username: u.username, password: PASSWORD }), "UNAUTHENTICATED", INVALID_CREDENTIALS);
    clock.advance(2 * 60_000);
    const s = await c.login(u.username, PASSWORD);
    await c.auth.whoAmI({}, s);
    su = await c.superuser(); // time moved past the old token's expiry
    const { events } = await c.audit.listAuditEvents({ action: "login_failure", resourceId: u.id }, su);
    const reasons = events.map((e) => JSON.parse(e.detail).reason as string);
    assert.equal(reasons.filter((r) => r === "bad_password").length, LOCKOUT_THRESHOLD);
    assert.equal(reasons.filter((r) => r === "locked").length, 2);
  });

  it("does not lock when the failures are spread over more than the window", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    for (let i = 0; i < LOCKOUT_THRESHOLD - 1; i++) {
      await rejectsWith(c.auth.login({ username: u.username, password: "wrong password" }), "UNAUTHENTICATED");
    }
    clock.advance(LOCKOUT_WINDOW_MS + 1000);
    await rejectsWith(c.auth.login({ username: u.username, password: "wrong password" }), "UNAUTHENTICATED");
    await c.login(u.username, PASSWORD);
  });

  it("does not reveal whether a username exists", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const inactive = await createUser(c, su, { organizationId: orgId });
    await c.users.deactivateUser({ id: inactive.id }, su);
    const answers: string[] = [];
    for (const [username, password] of [
      ["no-such-user-anywhere", PASSWORD],
      [u.username, "wrong password"],
      [inactive.username, PASSWORD],
    ] as const) {
      try {
        await c.auth.login({ username, password });
        assert.fail("login should fail");
      } catch (e) {
        const err = e as { code: number; details: string };
        answers.push(`${err.code} ${err.details}`);
      }
    }
    assert.deepEqual(new Set(answers).size, 1, `identical answers: ${answers.join(" | ")}`);
    assert.equal(answers[0], `16 ${INVALID_CREDENTIALS}`);
    // the unknown name is audited as an anonymous attempt
    const { events } = await c.audit.listAuditEvents({ action: "login_failure" }, su);
    const unknown = events.find((e) => e.username === "no-such-user-anywhere");
    assert.ok(unknown);
    assert.equal(unknown.userId, "");
    assert.equal(JSON.parse(unknown.detail).reason, "unknown_user");
  });

  it(`throttles a client address after ${LOGIN_THROTTLE_FAILURES} failed logins with RESOURCE_EXHAUSTED`, async () => {
    for (let i = 0; i < LOGIN_THROTTLE_FAILURES; i++) {
      await rejectsWith(c.auth.login({ username: `nobody-${i}`, password: "wrong password" }), "UNAUTHENTICATED");
    }
    await rejectsWith(c.auth.login({ username: "admin", password: "whatever it is" }), "RESOURCE_EXHAUSTED");
    clock.advance(LOGIN_THROTTLE_WINDOW_MS + 1000);
    await c.superuser();
  });

  it("an audit Watch outlives its access token's exp, but ends once the session is revoked", async () => {
    const a = await createUser(c, su, { organizationId: orgId, role: Role.ADMIN });
    const s = await c.login(a.username, PASSWORD);
    const controller = new AbortController();
    const it = c.audit.watchAuditEvents({ action: "user_create" }, { ...s, signal: controller.signal })[Symbol.asyncIterator]();
    try {
      const first = it.next();
      await new Promise((r) => setTimeout(r, 300));
      clock.advance(ACCESS_TOKEN_TTL_MS + 60_000);
      await rejectsWith(c.auth.whoAmI({}, s), "UNAUTHENTICATED");
      const fresh = await c.superuser();
      const u = await createUser(c, fresh, { organizationId: orgId });
      const got = (await first) as IteratorResult<{ event?: AuditEvent }>;
      assert.equal(got.value.event?.resourceId, u.id);
      await c.auth.invalidateAllSessions({ userId: a.id }, fresh);
      const second = it.next();
      await createUser(c, fresh, { organizationId: orgId });
      await assert.rejects(second, { code: 16 /* UNAUTHENTICATED */ });
    } finally {
      controller.abort();
    }
  });

  it("accepts an API key until it expires or is revoked, and records last use", async () => {
    const { serviceAccount } = await c.sas.createServiceAccount({ organizationId: orgId, name: "robot-lifecycle" }, su);
    const expires = new Date(clock.now().getTime() + 60 * 60 * 1000);
    const created = await c.sas.createApiKey({ serviceAccountId: serviceAccount!.id, name: "ci", expiresAt: timestampFromDate(expires) }, su);
    assert.match(created.key, /^sigil_/);
    const me = await c.auth.whoAmI({}, bearer(created.key));
    assert.equal(me.principal.case, "serviceAccount");
    assert.equal(me.principal.value?.id, serviceAccount!.id);
    assert.equal(me.expiresAt?.seconds, BigInt(Math.floor(expires.getTime() / 1000)));
    const { apiKeys } = await c.sas.listApiKeys({ serviceAccountId: serviceAccount!.id }, su);
    assert.equal(apiKeys.length, 1);
    assert.ok(apiKeys[0]!.lastUsedAt, "last_used_at is recorded");
    assert.equal(JSON.stringify(apiKeys[0], (_k, v) => (typeof v === "bigint" ? v.toString() : v)).includes(created.key), false, "the key itself is never listed");
    clock.advance(60 * 60 * 1000 + 1000);
    await rejectsWith(c.auth.whoAmI({}, bearer(created.key)), "UNAUTHENTICATED");
    su = await c.superuser(); // time moved past the old token's expiry

    const second = await c.sas.createApiKey({ serviceAccountId: serviceAccount!.id, name: "ci-2" }, su);
    await c.auth.whoAmI({}, bearer(second.key));
    await c.sas.updateServiceAccount({ id: serviceAccount!.id, isActive: false }, su);
    await rejectsWith(c.auth.whoAmI({}, bearer(second.key)), "UNAUTHENTICATED");
    await c.sas.updateServiceAccount({ id: serviceAccount!.id, isActive: true }, su);
    await c.auth.whoAmI({}, bearer(second.key));
    await c.sas.revokeApiKey({ id: second.apiKey!.id }, su);
    await rejectsWith(c.auth.whoAmI({}, bearer(second.key)), "UNAUTHENTICATED");
    await rejectsWith(c.auth.whoAmI({}, bearer("sigil_not-a-key")), "UNAUTHENTICATED");
  });

  it("refuses a malformed authorization header and a forged token", async () => {
    await rejectsWith(c.auth.whoAmI({}, { metadata: { authorization: "Basic YWRtaW46eA==" } }), "UNAUTHENTICATED");
    const [h, p] = su.accessToken.split(".");
    await rejectsWith(c.auth.whoAmI({}, bearer(`${h}.${p}.AAAA`)), "UNAUTHENTICATED");
    await rejectsWith(c.auth.whoAmI({}), "UNAUTHENTICATED");
  });
});
