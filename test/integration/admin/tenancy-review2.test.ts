/**
 * Review 2 (tenancy, A): H2 leaver revocation stays inside the organizations
 * the deactivating admin may revoke in and follows each certificate's own
 * organization's setting; M5 unused EAB keys of the leaver are revoked and
 * one's own email change needs the current password; H3 the superuser is
 * throttled per IPv6 /64 and per account (rule 4); M4 a wrong current
 * password counts as a login failure; LOW: one NOT_FOUND message for
 * missing and other-organization resources, full session pages for an
 * organization admin, concurrent guesses from one address bounded by the
 * throttle.
 */
import assert from "node:assert/strict";
import { FixedClock } from "../../../src/core/clock.js";
import { SigilError } from "../../../src/core/errors.js";
import { CertificateStatus, CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import {
  AuthManager,
  LOCKOUT_DURATION_MS,
  LOCKOUT_THRESHOLD,
  LOCKOUT_WINDOW_MS,
  LOGIN_THROTTLE_FAILURES,
  LOGIN_THROTTLE_WINDOW_MS,
  SUPERUSER_THROTTLE_FAILURES,
} from "../../../src/ra/auth.js";
import { countAddressFailures } from "../../../src/db/store/sessions.js";
import { NOT_FOUND_OUTSIDE_ORGANIZATION } from "../../../src/policy/permissions.js";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { createOrg, createUser, PASSWORD, rejectsWith, unique } from "./helpers.js";
import { createRoot, PkiClients } from "./pki-helpers.js";

describe("tenancy review 2", function () {
  this.timeout(300_000);
  const clock = new FixedClock(new Date());
  let server: TestServer;
  let c: PkiClients;
  let su: Awaited<ReturnType<PkiClients["superuser"]>>;
  let elsewhere: AuthManager;

  before(async () => {
    server = await startTestServer({ clock });
    c = new PkiClients(server);
    su = await c.superuser();
    elsewhere = await AuthManager.create(server.ra);
  });
  after(async () => {
    c?.close();
    await server?.stop();
  });
  beforeEach(async () => {
    clock.advance(Math.max(LOGIN_THROTTLE_WINDOW_MS, LOCKOUT_DURATION_MS, LOCKOUT_WINDOW_MS) + 1000);
    su = await c.superuser();
  });

  async function loginFrom(peer: string, username: string, password: string): Promise<string> {
    try {
      await elsewhere.login(username, password, peer);
      return "ok";
    } catch (e) {
      if (e instanceof SigilError) return e.kind;
      throw e;
    }
  }

  describe("H2: leaver revocation across organizations", () => {
    it("ok/org B's admin deactivating a user moved from org A leaves org A's certificates alone", async () => {
      const orgA = await createOrg(c, su);
      const orgB = await createOrg(c, su);
      await c.orgs.updateOrganization({ id: orgA, settings: { revokeCertificatesOnDeactivation: false } } as never, su);
      const rootA = await createRoot(c, su, orgA, { allowLeafCerts: true });
      const mover = await createUser(c, su, { organizationId: orgA, flags: { createCert: true } });
      const asMover = await c.login(mover.username, PASSWORD);
      const prod = (await c.certs.issueCertificate({ caId: rootA.id, type: CertificateType.SERVER, dnsNames: ["api.org-a.example"] }, asMover)).certificate!;
      await c.users.updateUser({ id: mover.id, organizationId: orgB }, su);
      const adminB = await createUser(c, su, { organizationId: orgB, role: Role.ADMIN });
      const asAdminB = await c.login(adminB.username, PASSWORD);
      await assert.rejects(c.certs.getCertificate({ id: prod.id }, asAdminB));
      const r = await c.users.deactivateUser({ id: mover.id }, asAdminB);
      assert.equal(r.revokedCertificates, 0);
      const after = (await c.certs.getCertificate({ id: prod.id }, su)).certificate!;
      assert.equal(after.status, CertificateStatus.VALID);
    });

    it("ok/a superuser's deactivation applies each certificate's own organization's setting", async () => {
      const keep = await createOrg(c, su);
      const revoke = await createOrg(c, su);
      await c.orgs.updateOrganization({ id: keep, settings: { revokeCertificatesOnDeactivation: false } } as never, su);
      const rootKeep = await createRoot(c, su, keep, { allowLeafCerts: true });
      const rootRevoke = await createRoot(c, su, revoke, { allowLeafCerts: true });
      const mover = await createUser(c, su, { organizationId: revoke, flags: { createCert: true } });
      let asMover = await c.login(mover.username, PASSWORD);
      const inRevoke = (await c.certs.issueCertificate({ caId: rootRevoke.id, type: CertificateType.SERVER, dnsNames: ["r.example.test"] }, asMover)).certificate!;
      await c.users.updateUser({ id: mover.id, organizationId: keep }, su);
      asMover = await c.login(mover.username, PASSWORD);
      const inKeep = (await c.certs.issueCertificate({ caId: rootKeep.id, type: CertificateType.SERVER, dnsNames: ["k.example.test"] }, asMover)).certificate!;
      // the user now belongs to `keep` (which says no), yet its old organization's certificate follows its own "yes"
      const r = await c.users.deactivateUser({ id: mover.id }, su);
      assert.equal(r.revokedCertificates, 1);
      assert.equal((await c.certs.getCertificate({ id: inRevoke.id }, su)).certificate!.status, CertificateStatus.REVOKED);
      assert.equal((await c.certs.getCertificate({ id: inKeep.id }, su)).certificate!.status, CertificateStatus.VALID);
    });
  });

  describe("M5: what else the leaver takes", () => {
    it("ok/the leaver's unused EAB keys are revoked with the deactivation; others' stay", async () => {
      const org = await createOrg(c, su);
      const root = await createRoot(c, su, org, { allowLeafCerts: true });
      const dir = (await c.acme.createAcmeDirectory({ name: unique("dir"), organizationId: org, caId: root.id, eabRequired: true, allowedDnsSuffixes: ["example.test"] }, su)).directory!;
      const leaver = await createUser(c, su, { organizationId: org, role: Role.ADMIN });
      const asLeaver = await c.login(leaver.username, PASSWORD);
      const theirs = (await c.acme.createEabKey({ directoryId: dir.id, description: "leaver's" }, asLeaver)).eabKey!;
      const others = (await c.acme.createEabKey({ directoryId: dir.id, description: "superuser's" }, su)).eabKey!;
      await c.users.deactivateUser({ id: leaver.id }, su);
      const keys = (await c.acme.listEabKeys({ directoryId: dir.id, includeRevoked: true }, su)).eabKeys;
      assert.ok(keys.find((k) => k.id === theirs.id)!.revokedAt, "the leaver's unused key is revoked");
      assert.equal(keys.find((k) => k.id === others.id)!.revokedAt, undefined, "another user's key stays");
    });

    it("fail/one's own email change needs the current password; an admin changing someone's does not", async () => {
      const org = await createOrg(c, su);
      const admin = await c.login((await createUser(c, su, { organizationId: org, role: Role.ADMIN })).username, PASSWORD);
      const u = await createUser(c, su, { organizationId: org });
      const s = await c.login(u.username, PASSWORD);
      await rejectsWith(c.users.updateUser({ id: u.id, email: `${unique("x")}@example.com` }, s), "INVALID_ARGUMENT", /^current_password: required to change your own email/);
      await rejectsWith(c.users.updateUser({ id: u.id, email: `${unique("x")}@example.com`, currentPassword: "not it at all" }, s), "INVALID_ARGUMENT", /^current_password: does not match/);
      // the same email again is no change and needs nothing
      await c.users.updateUser({ id: u.id, email: `${u.username}@example.com` }, s);
      const mine = `${unique("mine")}@example.com`;
      const r = await c.users.updateUser({ id: u.id, email: mine, currentPassword: PASSWORD }, s);
      assert.equal(r.user!.email, mine);
      const byAdmin = `${unique("admin")}@example.com`;
      assert.equal((await c.users.updateUser({ id: u.id, email: byAdmin }, admin)).user!.email, byAdmin);
    });
  });

  describe("H3: superuser guessing", () => {
    it("fail/200 guesses from one IPv6 /64 within a minute are throttled and the right password from that /64 is refused", async () => {
      const outcomes = new Map<string, number>();
      for (let i = 1; i <= 200; i++) {
        const r = await loginFrom(`[2001:db8:1:2::${i.toString(16)}]:40000`, "admin", `guess-${i}-xxxxxxxx`);
        outcomes.set(r, (outcomes.get(r) ?? 0) + 1);
        clock.advance(250);
      }
      // the /64 is one address: after LOCKOUT_THRESHOLD judged guesses it is locked out of the account (rule 2),
      // so no further guess was ever checked against the password
      assert.deepEqual([...outcomes], [["unauthenticated", 200]]);
      const since = new Date(clock.now().getTime() - LOCKOUT_WINDOW_MS);
      assert.equal(await countAddressFailures(server.ra.store, "2001:db8:1:2::/64", since), LOCKOUT_THRESHOLD);
      assert.notEqual(await loginFrom("[2001:db8:1:2::ffff]:40000", "admin", TEST_ADMIN_PASSWORD), "ok");
      // another /64 of another site is not affected
      assert.equal(await loginFrom("[2001:db8:9:9::1]:40000", "admin", TEST_ADMIN_PASSWORD), "ok");
    });

    it("fail/rule 4: guesses from many /64s stop at the superuser's budget; a usual address still logs in", async () => {
      let judged = 0;
      for (let i = 0; i < SUPERUSER_THROTTLE_FAILURES + 10; i++) {
        // a fresh /48 each time: rules 1 and 2 never trigger
        const r = await loginFrom(`[2001:db8:${(0x100 + i).toString(16)}:1::1]:1`, "admin", "wrong wrong wrong");
        assert.equal(r, "unauthenticated");
        judged++;
      }
      assert.ok(judged > SUPERUSER_THROTTLE_FAILURES);
      // a fresh address is refused even with the right password while the budget is spent ...
      assert.equal(await loginFrom("[2001:db8:ffff:1::1]:1", "admin", TEST_ADMIN_PASSWORD), "unauthenticated");
      // ... the test client's usual address (sessions from it) is not
      await c.login("admin", TEST_ADMIN_PASSWORD);
      clock.advance(LOCKOUT_WINDOW_MS + 1000);
      assert.equal(await loginFrom("[2001:db8:ffff:1::1]:1", "admin", TEST_ADMIN_PASSWORD), "ok");
    });

    it("fail/concurrent wrong guesses from one address: at most the throttle's worth are judged", async () => {
      const outcomes = await Promise.all(Array.from({ length: 2 * LOGIN_THROTTLE_FAILURES }, (_, i) => loginFrom("ipv4:198.51.100.77:1", `nobody-${i}`, "wrong wrong wrong")));
      const judged = outcomes.filter((o) => o === "unauthenticated").length;
      assert.ok(judged <= LOGIN_THROTTLE_FAILURES, `judged ${judged}`);
      assert.equal(outcomes.filter((o) => o === "resourceExhausted").length, 2 * LOGIN_THROTTLE_FAILURES - judged);
    });
  });

  describe("M4: the current-password check counts as a login", () => {
    it(`fail/${LOCKOUT_THRESHOLD} wrong current passwords lock that address out of the account`, async () => {
      const org = await createOrg(c, su);
      const u = await createUser(c, su, { organizationId: org });
      const s = await c.login(u.username, PASSWORD);
      for (let i = 0; i < LOCKOUT_THRESHOLD; i++) {
        await rejectsWith(c.users.updateUser({ id: u.id, password: "a new password 1", currentPassword: `wrong ${i}` }, s), "INVALID_ARGUMENT", /^current_password: does not match/);
      }
      // locked from the caller's address: even the right current password is refused, and so is a login from there
      await rejectsWith(c.users.updateUser({ id: u.id, password: "a new password 1", currentPassword: PASSWORD }, s), "INVALID_ARGUMENT", /^current_password: does not match/);
      await rejectsWith(c.auth.login({ username: u.username, password: PASSWORD }), "UNAUTHENTICATED");
      // another address still logs in
      assert.equal(await loginFrom("ipv4:192.0.2.200:1", u.username, PASSWORD), "ok");
    });
  });

  describe("LOW", () => {
    it("fail/a missing user or session reads like another organization's to an organization admin", async () => {
      const org = await createOrg(c, su);
      const other = await createOrg(c, su);
      const admin = await c.login((await createUser(c, su, { organizationId: org, role: Role.ADMIN })).username, PASSWORD);
      const stranger = await createUser(c, su, { organizationId: other });
      const strangerSession = await c.login(stranger.username, PASSWORD);
      const mySessions = await c.auth.listSessions({}, strangerSession);
      const missing = "0190d2d0-0000-7000-8000-000000000000";
      for (const id of [stranger.id, missing]) {
        await rejectsWith(c.users.unlockUser({ id }, admin), "NOT_FOUND", NOT_FOUND_OUTSIDE_ORGANIZATION);
        await rejectsWith(c.users.getUser({ id }, admin), "NOT_FOUND", NOT_FOUND_OUTSIDE_ORGANIZATION);
        await rejectsWith(c.auth.listSessions({ userId: id }, admin), "NOT_FOUND", NOT_FOUND_OUTSIDE_ORGANIZATION);
      }
      for (const id of [mySessions.sessions[0]!.id, missing]) await rejectsWith(c.auth.revokeSession({ sessionId: id }, admin), "NOT_FOUND", NOT_FOUND_OUTSIDE_ORGANIZATION);
      // a superuser still hears which
      await rejectsWith(c.users.getUser({ id: missing }, su), "NOT_FOUND", "user not found");
    });

    it("ok/an organization admin's session pages are full: superusers' sessions are filtered in the query", async () => {
      const org = await createOrg(c, su);
      const adminUser = await createUser(c, su, { organizationId: org, role: Role.ADMIN });
      const admin = await c.login(adminUser.username, PASSWORD);
      const member = await createUser(c, su, { organizationId: org });
      await c.login(member.username, PASSWORD);
      // a superuser placed in the organization, with the newest sessions
      const sup = await createUser(c, su, { organizationId: org, role: Role.SUPERUSER });
      for (let i = 0; i < 3; i++) await c.login(sup.username, PASSWORD);
      const page = await c.auth.listSessions({ organizationId: org, pageSize: 2 }, admin);
      assert.equal(page.sessions.length, 2);
      assert.ok(page.sessions.every((s) => s.userId !== sup.id));
      const all = await c.auth.listSessions({ organizationId: org }, admin);
      assert.deepEqual(new Set(all.sessions.map((s) => s.userId)), new Set([adminUser.id, member.id]));
      assert.equal(all.sessions.length, 2);
      assert.ok((await c.auth.listSessions({ organizationId: org }, su)).sessions.some((s) => s.userId === sup.id), "a superuser sees them");
    });
  });
});
