/**
 * Rate limits through the admin API (docs/rate-limits.md): a directory's own
 * entries over SIGIL_RATE_LIMITS (create, get, update, refused input), and
 * overrides per ACME account or EAB key (Set/List/Delete, audited, permission
 * rule) taking effect on the ACME front end. The test server runs with
 * SIGIL_RATE_LIMITS=off, so only the directory's entries apply.
 */
import assert from "node:assert/strict";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { RawAcme } from "../acme/raw-client.js";
import { createOrg, createUser, PASSWORD, rejectsWith, unique } from "./helpers.js";
import { auditDuring, createIntermediate, createRoot, PkiClients } from "./pki-helpers.js";

describe("admin: ACME rate limits (directory entries, overrides)", function () {
  this.timeout(120_000);
  let server: TestServer;
  let c: PkiClients;
  let su: ClientCallOptions;
  let orgId: string;
  let issuerId: string;

  before(async () => {
    server = await startTestServer();
    c = new PkiClients(server);
    su = await c.superuser();
    orgId = await createOrg(c, su);
    const root = await createRoot(c, su, orgId);
    issuerId = (await createIntermediate(c, su, root.id)).id;
  });
  after(async () => {
    c?.close();
    await server?.stop();
  });

  const newDir = (extra: Record<string, unknown> = {}) =>
    c.acme.createAcmeDirectory({ name: unique("rl"), organizationId: orgId, caId: issuerId, allowedDnsSuffixes: ["example.test"], ...extra }, su).then((r) => r.directory!);
  const order = (a: RawAcme, name: string) => a.post(a.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });

  it("creates, reads and replaces a directory's entries; refuses unknown names, duplicates and bad values", async () => {
    const dir = await newDir({
      rateLimits: {
        limits: [
          { name: "new-orders-per-account", count: 1, periodSeconds: 3600n },
          { name: "new-accounts-per-ip", disabled: true },
        ],
      },
    });
    assert.deepEqual(
      dir.rateLimits!.limits.map((l) => [l.name, l.disabled, l.count, l.periodSeconds]),
      [
        ["new-orders-per-account", false, 1, 3600n],
        ["new-accounts-per-ip", true, 0, 0n],
      ],
    );
    const got = (await c.acme.getAcmeDirectory({ id: dir.id }, su)).directory!;
    assert.equal(got.rateLimits!.limits.length, 2);
    const audit = await auditDuring(server, async () => {
      const { directory } = await c.acme.updateAcmeDirectory({ id: dir.id, rateLimits: { limits: [{ name: "pending-authorizations-per-account", count: 10 }] } }, su);
      assert.deepEqual(directory!.rateLimits!.limits.map((l) => [l.name, l.count, l.periodSeconds]), [["pending-authorizations-per-account", 10, 0n]]);
    });
    assert.deepEqual(audit.map((a) => a.action), ["acme_directory_update"]);
    assert.ok((audit[0]!.detail as { changed: Record<string, unknown> }).changed.rateLimits, "the change is in the audit entry");
    // an update without rate_limits leaves them; an empty list returns to the server's
    await c.acme.updateAcmeDirectory({ id: dir.id, eabRequired: false }, su);
    assert.equal((await c.acme.getAcmeDirectory({ id: dir.id }, su)).directory!.rateLimits!.limits.length, 1);
    await c.acme.updateAcmeDirectory({ id: dir.id, rateLimits: { limits: [] } }, su);
    assert.equal((await c.acme.getAcmeDirectory({ id: dir.id }, su)).directory!.rateLimits!.limits.length, 0);

    const bad: Array<[unknown, RegExp]> = [
      [{ limits: [{ name: "orders", count: 1, periodSeconds: 60n }] }, /not a rate limit/],
      [{ limits: [{ name: "new-orders-per-account", count: 1, periodSeconds: 60n }, { name: "new-orders-per-account", disabled: true }] }, /twice/],
      [{ limits: [{ name: "new-orders-per-account", count: 0, periodSeconds: 60n }] }, /count must be/],
      [{ limits: [{ name: "new-orders-per-account", count: 1, periodSeconds: 0n }] }, /period must be/],
      [{ limits: [{ name: "pending-authorizations-per-account", count: 5, periodSeconds: 60n }] }, /without a period/],
      [{ limits: [{ name: "new-orders-per-account", count: 1, periodSeconds: 2n ** 63n }] }, /period must be/],
    ];
    for (const [rateLimits, msg] of bad) {
      await rejectsWith(c.acme.updateAcmeDirectory({ id: dir.id, rateLimits } as never, su), "INVALID_ARGUMENT", msg);
    }
    const before = (await c.acme.listAcmeDirectories({ organizationId: orgId }, su)).directories.length;
    await rejectsWith(newDir({ rateLimits: bad[0]![0] }), "INVALID_ARGUMENT", /rate_limits/);
    assert.equal((await c.acme.listAcmeDirectories({ organizationId: orgId }, su)).directories.length, before, "a refused create writes no directory");
  });

  it("a directory's limit applies on ACME even with the server's off; an account override (audited) lifts it, deleting it restores it", async () => {
    const dir = await newDir({ rateLimits: { limits: [{ name: "new-orders-per-account", count: 1, periodSeconds: 3600n }] } });
    const acme = await RawAcme.create(dir.directoryUrl);
    assert.equal((await acme.register()).status, 201);
    assert.equal((await order(acme, "a.example.test")).status, 201);
    const refused = await order(acme, "a.example.test");
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.body.type, "urn:ietf:params:acme:error:rateLimited");
    assert.ok(refused.headers.get("link")?.includes(`/acme/${dir.name}/rate-limits>;rel="help"`));

    const accountId = acme.kid!.split("/").pop()!;
    let id = "";
    const audit = await auditDuring(server, async () => {
      const { rateLimitOverride } = await c.acme.setAcmeRateLimitOverride(
        { subject: { case: "accountId", value: accountId }, limit: "new-orders-per-account", unlimited: true, comment: "load test customer" },
        su,
      );
      id = rateLimitOverride!.id;
      assert.equal(rateLimitOverride!.directoryId, dir.id);
      assert.equal(rateLimitOverride!.subject.case, "accountId");
      assert.equal(rateLimitOverride!.comment, "load test customer");
    });
    assert.deepEqual(audit.map((a) => [a.action, a.resource_id]), [["acme_rate_limit_override_set", id]]);
    for (let i = 0; i < 3; i++) assert.equal((await order(acme, "a.example.test")).status, 201, "exempt");
    // setting it again replaces it (same row): 2 per hour, already used up by the orders above
    const again = await c.acme.setAcmeRateLimitOverride({ subject: { case: "accountId", value: accountId }, limit: "new-orders-per-account", count: 2, periodSeconds: 3600n }, su);
    assert.equal(again.rateLimitOverride!.id, id);
    const listed = await c.acme.listAcmeRateLimitOverrides({ directoryId: dir.id }, su);
    assert.deepEqual(listed.rateLimitOverrides.map((o) => [o.limit, o.unlimited, o.count, o.periodSeconds]), [["new-orders-per-account", false, 2, 3600n]]);
    const del = await auditDuring(server, () => c.acme.deleteAcmeRateLimitOverride({ id }, su));
    assert.deepEqual(del.map((a) => [a.action, a.resource_id]), [["acme_rate_limit_override_delete", id]]);
    assert.equal((await c.acme.listAcmeRateLimitOverrides({ directoryId: dir.id }, su)).rateLimitOverrides.length, 0);
    assert.equal((await order(acme, "a.example.test")).status, 429, "the directory's limit again");
    await rejectsWith(c.acme.deleteAcmeRateLimitOverride({ id }, su), "NOT_FOUND");
  });

  it("an EAB key's override applies to the account it creates", async () => {
    const dir = await newDir({ eabRequired: true, rateLimits: { limits: [{ name: "new-orders-per-account", count: 1, periodSeconds: 3600n }] } });
    const key = await c.acme.createEabKey({ directoryId: dir.id }, su);
    await c.acme.setAcmeRateLimitOverride({ subject: { case: "eabKeyId", value: key.eabKey!.id }, limit: "new-orders-per-account", count: 3, periodSeconds: 3600n }, su);
    const acme = await RawAcme.create(dir.directoryUrl);
    const reg = await acme.register({ externalAccountBinding: await acme.eab(key.eabKey!.kid, key.hmacKey) });
    assert.equal(reg.status, 201, reg.text);
    for (let i = 0; i < 3; i++) assert.equal((await order(acme, "b.example.test")).status, 201, `order ${i + 1} of 3`);
    const refused = await order(acme, "b.example.test");
    assert.equal(refused.status, 429, refused.text);
    assert.match(refused.body.detail, /3\/1h/);
    const byKey = await c.acme.listAcmeRateLimitOverrides({ directoryId: dir.id, eabKeyId: key.eabKey!.id }, su);
    assert.equal(byKey.rateLimitOverrides.length, 1);
  });

  it("refuses bad overrides and follows the permission rule (members read, admins write, other tenants see nothing)", async () => {
    const dir = await newDir();
    const acme = await RawAcme.create(dir.directoryUrl);
    await acme.register();
    const accountId = acme.kid!.split("/").pop()!;
    const set = (req: Record<string, unknown>, who = su) => c.acme.setAcmeRateLimitOverride(req as never, who);
    await rejectsWith(set({ limit: "new-orders-per-account", unlimited: true }), "INVALID_ARGUMENT", /exactly one/);
    await rejectsWith(set({ subject: { case: "accountId", value: accountId }, limit: "new-accounts-per-ip", unlimited: true }), "INVALID_ARGUMENT", /no overrides/);
    await rejectsWith(set({ subject: { case: "accountId", value: accountId }, limit: "orders", unlimited: true }), "INVALID_ARGUMENT", /not a rate limit/);
    await rejectsWith(set({ subject: { case: "accountId", value: accountId }, limit: "new-orders-per-account", count: 5 }), "INVALID_ARGUMENT", /period/);
    await rejectsWith(set({ subject: { case: "accountId", value: "0192f7a0-0000-7000-8000-000000000000" }, limit: "new-orders-per-account", unlimited: true }), "NOT_FOUND");
    await rejectsWith(set({ subject: { case: "accountId", value: "nope" }, limit: "new-orders-per-account", unlimited: true }), "INVALID_ARGUMENT");

    const member = await c.login((await createUser(c, su, { organizationId: orgId })).username, PASSWORD);
    const admin = await c.login((await createUser(c, su, { organizationId: orgId, role: Role.ADMIN })).username, PASSWORD);
    const other = await c.login((await createUser(c, su, { organizationId: await createOrg(c, su), role: Role.ADMIN })).username, PASSWORD);
    const req = { subject: { case: "accountId", value: accountId }, limit: "pending-authorizations-per-account", count: 50 };
    await rejectsWith(set(req, member), "PERMISSION_DENIED");
    await rejectsWith(set(req, other), "NOT_FOUND");
    const { rateLimitOverride } = await set(req, admin);
    assert.equal(rateLimitOverride!.periodSeconds, 0n);
    assert.equal((await c.acme.listAcmeRateLimitOverrides({ directoryId: dir.id }, member)).rateLimitOverrides.length, 1);
    await rejectsWith(c.acme.listAcmeRateLimitOverrides({ directoryId: dir.id }, other), "NOT_FOUND");
    await rejectsWith(c.acme.deleteAcmeRateLimitOverride({ id: rateLimitOverride!.id }, member), "PERMISSION_DENIED");
    await rejectsWith(c.acme.deleteAcmeRateLimitOverride({ id: rateLimitOverride!.id }, other), "NOT_FOUND");
    await c.acme.deleteAcmeRateLimitOverride({ id: rateLimitOverride!.id }, admin);
  });
});
