import assert from "node:assert/strict";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { AdminClients, createOrg, createUser, PASSWORD, rejectsWith, unique } from "./helpers.js";

describe("admin users and organizations: the rules beyond the matrix", function () {
  this.timeout(120_000);
  let server: TestServer;
  let c: AdminClients;
  let su: Awaited<ReturnType<AdminClients["superuser"]>>;
  let orgId: string;
  let adminOpts: Awaited<ReturnType<AdminClients["login"]>>;

  before(async () => {
    server = await startTestServer();
    c = new AdminClients(server);
    su = await c.superuser();
    orgId = await createOrg(c, su);
    const a = await createUser(c, su, { organizationId: orgId, role: Role.ADMIN });
    adminOpts = await c.login(a.username, PASSWORD);
  });

  after(async () => {
    c?.close();
    await server?.stop();
  });

  it("a superuser cannot demote or deactivate itself", async () => {
    const me = await c.auth.whoAmI({}, su);
    const id = me.principal.value!.id;
    await rejectsWith(c.users.updateUser({ id, role: Role.ADMIN }, su), "PERMISSION_DENIED", "a superuser cannot demote itself");
    await rejectsWith(c.users.updateUser({ id, isActive: false }, su), "PERMISSION_DENIED", "a superuser cannot deactivate itself");
    await rejectsWith(c.users.deactivateUser({ id }, su), "PERMISSION_DENIED", "a superuser cannot deactivate itself");
    // another superuser may
    const other = await createUser(c, su, { organizationId: orgId, role: Role.SUPERUSER });
    const { user } = await c.users.updateUser({ id: other.id, role: Role.ADMIN }, su);
    assert.equal(user?.role, Role.ADMIN);
  });

  it("an org admin manages its users' flags and roles, but never grants superuser or moves them", async () => {
    const u = await createUser(c, adminOpts, { organizationId: orgId });
    const { user } = await c.users.updateUser({ id: u.id, createCa: true, exportPrivateKey: true, role: Role.ADMIN }, adminOpts);
    assert.equal(user?.createCa, true);
    assert.equal(user?.exportPrivateKey, true);
    assert.equal(user?.role, Role.ADMIN);
    await rejectsWith(c.users.updateUser({ id: u.id, role: Role.SUPERUSER }, adminOpts), "PERMISSION_DENIED");
    await rejectsWith(c.users.updateUser({ id: u.id, organizationId: await createOrg(c, su) }, adminOpts), "PERMISSION_DENIED");
    await rejectsWith(c.users.updateUser({ id: u.id, organizationId: "" }, adminOpts), "PERMISSION_DENIED");
  });

  it("a user changes its own email and password but not its flags or role", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const s = await c.login(u.username, PASSWORD);
    const { user } = await c.users.updateUser({ id: u.id, email: `${unique("me")}@example.com`, currentPassword: PASSWORD }, s);
    assert.ok(user?.email.startsWith("me-"));
    await rejectsWith(c.users.updateUser({ id: u.id, createCa: true }, s), "PERMISSION_DENIED");
    await rejectsWith(c.users.updateUser({ id: u.id, role: Role.ADMIN }, s), "PERMISSION_DENIED");
    // and reads itself
    await c.users.getUser({ id: u.id }, s);
  });

  it("validates input with INVALID_ARGUMENT naming the field", async () => {
    const base = { username: unique("v"), email: "v@example.com", password: PASSWORD, role: Role.USER, organizationId: orgId };
    await rejectsWith(c.users.createUser({ ...base, username: "" }, su), "INVALID_ARGUMENT", /^username: /);
    await rejectsWith(c.users.createUser({ ...base, username: "has space" }, su), "INVALID_ARGUMENT", /^username: /);
    await rejectsWith(c.users.createUser({ ...base, email: "nope" }, su), "INVALID_ARGUMENT", /^email: /);
    await rejectsWith(c.users.createUser({ ...base, password: "short" }, su), "INVALID_ARGUMENT", /^password: /);
    await rejectsWith(c.users.createUser({ ...base, password: "x".repeat(73) }, su), "INVALID_ARGUMENT", /^password: at most 72 bytes/);
    await rejectsWith(c.users.createUser({ ...base, role: Role.UNSPECIFIED }, su), "INVALID_ARGUMENT", /^role: /);
    await rejectsWith(c.users.createUser({ ...base, organizationId: "" }, su), "INVALID_ARGUMENT", /^organization_id: /);
    await rejectsWith(c.users.createUser({ ...base, organizationId: "not-a-uuid" }, su), "INVALID_ARGUMENT", /^organization_id: /);
    await rejectsWith(c.users.updateUser({ id: "nope" }, su), "INVALID_ARGUMENT", /^id: /);
    await rejectsWith(c.orgs.createOrganization({ name: "  " }, su), "INVALID_ARGUMENT", /^name: /);
    await rejectsWith(c.orgs.listOrganizations({ pageToken: "garbage" }, su), "INVALID_ARGUMENT", /^page_token: /);
    await rejectsWith(c.auth.login({ username: "", password: "x" }), "INVALID_ARGUMENT", /^username: /);
  });

  it("refuses duplicates with ALREADY_EXISTS naming the field", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    await rejectsWith(
      c.users.createUser({ username: u.username, email: "other@example.com", password: PASSWORD, role: Role.USER, organizationId: orgId }, su),
      "ALREADY_EXISTS",
      /^username: /,
    );
    await rejectsWith(
      c.users.createUser({ username: unique("x"), email: `${u.username}@example.com`, password: PASSWORD, role: Role.USER, organizationId: orgId }, su),
      "ALREADY_EXISTS",
      /^email: /,
    );
    const { organization } = await c.orgs.getOrganization({ id: orgId }, su);
    await rejectsWith(c.orgs.createOrganization({ name: organization!.name }, su), "ALREADY_EXISTS", /^name: /);
  });

  it("refuses to delete an organization that still has users, CAs or service accounts", async () => {
    const org = await createOrg(c, su);
    const u = await createUser(c, su, { organizationId: org });
    await rejectsWith(c.orgs.deleteOrganization({ id: org }, su), "FAILED_PRECONDITION", /1 users/);
    await c.orgs.removeOrganizationUser({ organizationId: org, userId: u.id }, su);
    const { serviceAccount } = await c.sas.createServiceAccount({ organizationId: org, name: "bot" }, su);
    await rejectsWith(c.orgs.deleteOrganization({ id: org }, su), "FAILED_PRECONDITION", /1 service accounts/);
    await c.sas.deleteServiceAccount({ id: serviceAccount!.id }, su);
    await c.orgs.deleteOrganization({ id: org }, su);
    await rejectsWith(c.orgs.getOrganization({ id: org }, su), "NOT_FOUND");
    // the default organization holds the bootstrap CAs
    const { organizations } = await c.orgs.listOrganizations({}, su);
    const dflt = organizations.find((o) => o.name === "default")!;
    await rejectsWith(c.orgs.deleteOrganization({ id: dflt.id }, su), "FAILED_PRECONDITION", /certificate authorities/);
  });

  it("never returns a password hash", async () => {
    const u = await createUser(c, su, { organizationId: orgId });
    const { user } = await c.users.getUser({ id: u.id }, su);
    const json = JSON.stringify(user, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    assert.equal(/\$2[aby]\$/.test(json), false);
    assert.equal(/password/i.test(json), false);
  });
});
