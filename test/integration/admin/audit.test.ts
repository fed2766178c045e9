import assert from "node:assert/strict";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import type { AuditEvent } from "../../../src/gen/sigil/admin/v1/audit_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { AdminClients, createOrg, createUser, PASSWORD, unique } from "./helpers.js";

describe("admin audit log", function () {
  this.timeout(120_000);
  let server: TestServer;
  let c: AdminClients;
  let su: ClientCallOptions & { accessToken: string; refreshToken: string };

  before(async () => {
    server = await startTestServer();
    c = new AdminClients(server);
    su = await c.superuser();
  });

  after(async () => {
    c?.close();
    await server?.stop();
  });

  async function allIds(): Promise<Set<string>> {
    const { events } = await c.audit.listAuditEvents({ pageSize: 500 }, su);
    return new Set(events.map((e) => e.id));
  }

  /** Runs `fn` and returns the audit events it wrote. */
  async function written(fn: () => Promise<unknown>): Promise<AuditEvent[]> {
    const before = await allIds();
    await fn();
    const { events } = await c.audit.listAuditEvents({ pageSize: 500 }, su);
    return events.filter((e) => !before.has(e.id));
  }

  it("every write RPC of the core services leaves exactly its entry, reads and Refresh none", async () => {
    let orgId = "";
    let userId = "";
    let saId = "";
    let keyId = "";
    let username = "";
    let session: Awaited<ReturnType<AdminClients["login"]>> | undefined;
    const cases: Array<[string, string | null, () => Promise<unknown>]> = [
      ["CreateOrganization", "org_create", async () => (orgId = (await c.orgs.createOrganization({ name: unique("audited") }, su)).organization!.id)],
      ["UpdateOrganization", "org_update", () => c.orgs.updateOrganization({ id: orgId, description: "new" }, su)],
      ["CreateUser", "user_create", async () => ({ id: userId, username } = await createUser(c, su, { organizationId: orgId }))],
      ["UpdateUser", "user_update", () => c.users.updateUser({ id: userId, createCert: true }, su)],
      ["Login", "login_success", async () => (session = await c.login(username, PASSWORD))],
      ["Login (failure)", "login_failure", () => c.auth.login({ username, password: "wrong password" }).catch(() => undefined)],
      ["Refresh", null, () => c.auth.refresh({ refreshToken: session!.refreshToken })],
      ["Logout", "logout", () => c.auth.logout({}, session!)],
      ["InvalidateAllSessions", "sessions_invalidate", () => c.auth.invalidateAllSessions({ userId }, su)],
      ["RemoveOrganizationUser", "org_remove_user", () => c.orgs.removeOrganizationUser({ organizationId: orgId, userId }, su)],
      ["AddOrganizationUser", "org_add_user", () => c.orgs.addOrganizationUser({ organizationId: orgId, userId }, su)],
      ["DeactivateUser", "user_deactivate", () => c.users.deactivateUser({ id: userId }, su)],
      ["CreateServiceAccount", "service_account_create", async () => (saId = (await c.sas.createServiceAccount({ organizationId: orgId, name: "bot" }, su)).serviceAccount!.id)],
      ["UpdateServiceAccount", "service_account_update", () => c.sas.updateServiceAccount({ id: saId, createCert: true }, su)],
      ["CreateApiKey", "api_key_create", async () => (keyId = (await c.sas.createApiKey({ serviceAccountId: saId, name: "k" }, su)).apiKey!.id)],
      ["RevokeApiKey", "api_key_revoke", () => c.sas.revokeApiKey({ id: keyId }, su)],
      ["DeleteServiceAccount", "service_account_delete", () => c.sas.deleteServiceAccount({ id: saId }, su)],
      ["GetOrganization", null, () => c.orgs.getOrganization({ id: orgId }, su)],
      ["ListUsers", null, () => c.users.listUsers({ organizationId: orgId }, su)],
      ["WhoAmI", null, () => c.auth.whoAmI({}, su)],
    ];
    for (const [name, action, fn] of cases) {
      const events = await written(fn);
      const actions = events.map((e) => e.action);
      assert.deepEqual(actions, action ? [action] : [], `${name} writes ${action ?? "nothing"}`);
      for (const e of events) assert.ok(e.time && e.resourceType, `${name}: entry is complete`);
    }
    // an empty organization can be deleted once its user moved away: one org_delete
    const other = await createOrg(c, su);
    await c.users.updateUser({ id: userId, organizationId: other }, su);
    const del = await written(() => c.orgs.deleteOrganization({ id: orgId }, su));
    assert.deepEqual(del.map((e) => e.action), ["org_delete"]);
  });

  it("never carries a password, token or key in an entry", async () => {
    const orgId = await createOrg(c, su);
    const u = await createUser(c, su, { organizationId: orgId });
    const s = await c.login(u.username, PASSWORD);
    await c.users.updateUser({ id: u.id, password: "secret new password" }, su);
    const { serviceAccount } = await c.sas.createServiceAccount({ organizationId: orgId, name: "bot" }, su);
    const { key } = await c.sas.createApiKey({ serviceAccountId: serviceAccount!.id, name: "k" }, su);
    const { events } = await c.audit.listAuditEvents({ organizationId: orgId, pageSize: 500 }, su);
    const all = JSON.stringify(events.map((e) => [e.detail, e.username, e.resourceId]));
    for (const secret of [PASSWORD, "secret new password", s.accessToken, s.refreshToken, key]) {
      assert.equal(all.includes(secret), false, "no secret in the audit log");
    }
  });

  it("filters by action, user, organization, resource and time range", async () => {
    const orgId = await createOrg(c, su);
    const u = await createUser(c, su, { organizationId: orgId, role: Role.ADMIN });
    const admin = await c.login(u.username, PASSWORD);
    const made = await createUser(c, admin, { organizationId: orgId });
    const byAction = await c.audit.listAuditEvents({ action: "user_create", organizationId: orgId }, su);
    assert.deepEqual(byAction.events.map((e) => e.resourceId).sort(), [u.id, made.id].sort());
    const byUser = await c.audit.listAuditEvents({ userId: u.id }, su);
    assert.deepEqual(byUser.events.map((e) => e.action).sort(), ["login_success", "user_create"]);
    const byResource = await c.audit.listAuditEvents({ resourceType: "user", resourceId: made.id }, su);
    assert.deepEqual(byResource.events.map((e) => e.action), ["user_create"]);
    const future = await c.audit.listAuditEvents({ organizationId: orgId, startTime: timestampFromDate(new Date(Date.now() + 60_000)) }, su);
    assert.equal(future.events.length, 0);
    const past = await c.audit.listAuditEvents({ organizationId: orgId, endTime: timestampFromDate(new Date(Date.now() + 60_000)) }, su);
    assert.ok(past.events.length >= 3);
    // newest first
    const times = past.events.map((e) => Number(e.time!.seconds) * 1e9 + e.time!.nanos);
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
    // paging
    const p1 = await c.audit.listAuditEvents({ organizationId: orgId, pageSize: 1 }, su);
    assert.equal(p1.events.length, 1);
    assert.ok(p1.nextPageToken);
    const p2 = await c.audit.listAuditEvents({ organizationId: orgId, pageSize: 1, pageToken: p1.nextPageToken }, su);
    assert.notEqual(p2.events[0]!.id, p1.events[0]!.id);
    // an org admin sees its slice only; another organization is NOT_FOUND
    const mine = await c.audit.listAuditEvents({ pageSize: 500 }, admin);
    assert.ok(mine.events.length > 0 && mine.events.every((e) => e.organizationId === orgId));
    await assert.rejects(c.audit.listAuditEvents({ organizationId: await createOrg(c, su) }, admin), { code: 5 });
  });

  it("Watch delivers an event written after it subscribed, with its filter, until cancelled", async () => {
    const orgId = await createOrg(c, su);
    const controller = new AbortController();
    const stream = c.audit.watchAuditEvents({ organizationId: orgId, action: "user_create" }, { ...su, signal: controller.signal });
    const it = stream[Symbol.asyncIterator]();
    const first = it.next();
    // the subscription is set up once the call is authenticated; give it a moment
    await new Promise((r) => setTimeout(r, 300));
    await c.orgs.updateOrganization({ id: orgId, description: "not a user_create" }, su);
    await createOrg(c, su);
    const u = await createUser(c, su, { organizationId: orgId });
    const got = await Promise.race([first, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000))]);
    assert.notEqual(got, "timeout", "an event arrived");
    const event = (got as IteratorResult<{ event?: AuditEvent }>).value.event!;
    assert.equal(event.action, "user_create");
    assert.equal(event.resourceId, u.id);
    assert.equal(event.organizationId, orgId);
    controller.abort();
    await it.next().catch((e: { code?: number }) => assert.equal(e.code, 1 /* CANCELLED */));
  });

  it("Watch of an org admin never shows another organization's events", async () => {
    const orgId = await createOrg(c, su);
    const otherOrg = await createOrg(c, su);
    const a = await createUser(c, su, { organizationId: orgId, role: Role.ADMIN });
    const admin = await c.login(a.username, PASSWORD);
    const controller = new AbortController();
    const it = c.audit.watchAuditEvents({}, { ...admin, signal: controller.signal })[Symbol.asyncIterator]();
    const first = it.next();
    await new Promise((r) => setTimeout(r, 300));
    await createUser(c, su, { organizationId: otherOrg });
    const mine = await createUser(c, su, { organizationId: orgId });
    const got = (await first) as IteratorResult<{ event?: AuditEvent }>;
    assert.equal(got.value.event!.resourceId, mine.id);
    controller.abort();
    await it.next().catch(() => undefined);
  });

  it("Watch stops delivering once the watcher's credential no longer works (deactivation, revoked sessions)", async () => {
    const orgId = await createOrg(c, su);
    for (const end of ["deactivate", "invalidate"] as const) {
      const a = await createUser(c, su, { organizationId: orgId, role: Role.ADMIN });
      const admin = await c.login(a.username, PASSWORD);
      const controller = new AbortController();
      const it = c.audit.watchAuditEvents({}, { ...admin, signal: controller.signal })[Symbol.asyncIterator]();
      const first = it.next();
      first.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));
      if (end === "deactivate") await c.users.deactivateUser({ id: a.id }, su);
      else await c.auth.invalidateAllSessions({ userId: a.id }, su);
      // written after the credential was revoked: must not reach the revoked watcher
      const after = await createUser(c, su, { organizationId: orgId });
      const got = await Promise.race([
        first.then(
          (r) => ({ event: (r as IteratorResult<{ event?: AuditEvent }>).value?.event }),
          (e: { code?: number }) => ({ code: e.code }),
        ),
        new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5_000)),
      ]);
      controller.abort();
      if (got === "timeout") assert.fail(`${end}: the stream neither ended nor delivered`);
      // nothing committed after the revocation (its own entry included) reaches the revoked watcher
      if ("event" in got) assert.fail(`${end}: the revoked watcher received ${got.event?.action} ${got.event?.resourceId} (after: ${after.id})`);
      assert.equal(got.code, 16 /* UNAUTHENTICATED */, end);
    }
  });
});
