/**
 * AcmeService through a real gRPC client against the running server on
 * PostgreSQL: directory policy validation, update and delete, EAB keys
 * (created once-visible, usable by an ACME client, revoked keys refused),
 * accounts (operator deactivation) and orders, one audit entry per write.
 */
import assert from "node:assert/strict";
import * as acmeClient from "acme-client";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { AcmeAccountStatus, AcmeCertificateKind, ChallengeType } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg, createUser, PASSWORD, rejectsWith, unique } from "./helpers.js";
import { auditDuring, createIntermediate, createRoot, PkiClients } from "./pki-helpers.js";

describe("admin AcmeService", function () {
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
    c.acme.createAcmeDirectory({ name: unique("dir"), organizationId: orgId, caId: issuerId, allowedDnsSuffixes: ["example.test"], ...extra }, su).then((r) => r.directory!);

  it("creates a directory with its policy (one acme_directory_create entry) and serves it over ACME", async () => {
    let dir!: Awaited<ReturnType<typeof newDir>>;
    const audit = await auditDuring(server, async () => {
      dir = await newDir({
        eabRequired: false,
        allowedDnsSuffixes: ["*.Example.TEST", "internal"],
        allowedIpRanges: ["10.0.0.0/8", "2001:db8::/32"],
        challengeTypes: [ChallengeType.DNS_01, ChallengeType.HTTP_01],
        maxValidityDays: 30,
        certificateKind: AcmeCertificateKind.DUAL,
        termsOfServiceUrl: "https://example.test/tos",
        websiteUrl: "https://example.test/",
        caaIdentities: ["ca.example.test"],
      });
    });
    assert.deepEqual(
      audit.map((a) => [a.action, a.resource_id]),
      [["acme_directory_create", dir.id]],
    );
    assert.deepEqual(dir.allowedDnsSuffixes, ["example.test", "internal"]);
    assert.deepEqual(dir.challengeTypes, [ChallengeType.DNS_01, ChallengeType.HTTP_01]);
    assert.equal(dir.certificateKind, AcmeCertificateKind.DUAL);
    assert.equal(dir.directoryUrl, `${server.baseUrl}/acme/${dir.name}/directory`);
    const res = await fetch(dir.directoryUrl);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { meta?: { termsOfService?: string; caaIdentities?: string[] } };
    assert.equal(body.meta?.termsOfService, "https://example.test/tos");
    assert.deepEqual(body.meta?.caaIdentities, ["ca.example.test"]);
    const defaults = await newDir();
    assert.equal(defaults.maxValidityDays, 90);
    assert.equal(defaults.challengeTypes.length, 3);
    assert.equal(defaults.certificateKind, AcmeCertificateKind.SERVER);
  });

  it("validates the policy and the CA binding", async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ name: "Bad Name" }, "INVALID_ARGUMENT", /name/],
      [{ allowedDnsSuffixes: ["bad_suffix.test"] }, "INVALID_ARGUMENT", /allowed_dns_suffixes/],
      [{ allowedIpRanges: ["10.0.0.0/33"] }, "INVALID_ARGUMENT", /allowed_ip_ranges/],
      [{ maxValidityDays: 5000 }, "INVALID_ARGUMENT", /max_validity_days/],
      [{ termsOfServiceUrl: "javascript:alert(1)" }, "INVALID_ARGUMENT", /terms_of_service_url/],
      [{ caaIdentities: ["not a name"] }, "INVALID_ARGUMENT", /caa_identities/],
      [{ challengeTypes: [9] }, "INVALID_ARGUMENT", /challenge/],
      [{ caId: "00000000-0000-7000-8000-000000000000" }, "NOT_FOUND", /certificate authority/],
    ];
    for (const [extra, code, details] of cases) await rejectsWith(newDir(extra), code as "INVALID_ARGUMENT", details);
    const noLeaves = await createRoot(c, su, orgId, { allowLeafCerts: false });
    await rejectsWith(newDir({ caId: noLeaves.id }), "FAILED_PRECONDITION", /allow_leaf_certs/);
    const otherOrg = await createOrg(c, su);
    const foreign = await createRoot(c, su, otherOrg, { allowLeafCerts: true });
    await rejectsWith(newDir({ caId: foreign.id }), "NOT_FOUND", /in this organization/);
    const dir = await newDir();
    await rejectsWith(newDir({ name: dir.name }), "ALREADY_EXISTS", /name/);
  });

  it("updates the policy and the CA binding (one acme_directory_update entry), lists and deletes", async () => {
    const dir = await newDir();
    const other = (await createIntermediate(c, su, (await createRoot(c, su, orgId)).id)).id;
    const audit = await auditDuring(server, async () => {
      const { directory } = await c.acme.updateAcmeDirectory(
        { id: dir.id, caId: other, eabRequired: true, allowedDnsSuffixes: { values: [] }, challengeTypes: { values: [ChallengeType.TLS_ALPN_01] }, maxValidityDays: 7 },
        su,
      );
      assert.equal(directory!.caId, other);
      assert.equal(directory!.eabRequired, true);
      assert.deepEqual(directory!.allowedDnsSuffixes, []);
      assert.deepEqual(directory!.challengeTypes, [ChallengeType.TLS_ALPN_01]);
      assert.equal(directory!.maxValidityDays, 7);
      assert.deepEqual(directory!.allowedIpRanges, dir.allowedIpRanges); // absent: unchanged
    });
    assert.deepEqual(
      audit.map((a) => a.action),
      ["acme_directory_update"],
    );
    const listed = await c.acme.listAcmeDirectories({ organizationId: orgId, caId: other }, su);
    assert.deepEqual(
      listed.directories.map((d) => d.id),
      [dir.id],
    );
    const del = await auditDuring(server, () => c.acme.deleteAcmeDirectory({ id: dir.id }, su));
    assert.deepEqual(
      del.map((a) => [a.action, a.resource_id]),
      [["acme_directory_delete", dir.id]],
    );
    await rejectsWith(c.acme.getAcmeDirectory({ id: dir.id }, su), "NOT_FOUND");
  });

  it("EAB keys: the HMAC key is shown once, binds an ACME account, and a revoked key binds nothing", async () => {
    const dir = await newDir({ eabRequired: true });
    let created!: Awaited<ReturnType<typeof c.acme.createEabKey>>;
    const audit = await auditDuring(server, async () => {
      created = await c.acme.createEabKey({ directoryId: dir.id, description: "ci runner" }, su);
    });
    assert.deepEqual(
      audit.map((a) => [a.action, a.resource_id]),
      [["eab_create", created.eabKey!.id]],
    );
    assert.ok(!JSON.stringify(audit).includes(created.hmacKey), "the audit entry never holds the HMAC key");
    const listed = await c.acme.listEabKeys({ directoryId: dir.id }, su);
    assert.equal(listed.eabKeys.length, 1);
    assert.ok(!JSON.stringify(listed, (_k, v) => (typeof v === "bigint" ? String(v) : v)).includes(created.hmacKey));

    const client = new acmeClient.Client({
      directoryUrl: dir.directoryUrl,
      accountKey: await acmeClient.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid: created.eabKey!.kid, hmacKey: created.hmacKey },
    });
    await client.createAccount({ termsOfServiceAgreed: true });
    const accountId = client.getAccountUrl().split("/").pop()!;
    const used = (await c.acme.listEabKeys({ directoryId: dir.id }, su)).eabKeys[0]!;
    assert.ok(used.usedAt);
    assert.equal(used.boundAccountId, accountId);

    const second = await c.acme.createEabKey({ directoryId: dir.id }, su);
    const revokeAudit = await auditDuring(server, async () => {
      const { eabKey } = await c.acme.revokeEabKey({ id: second.eabKey!.id }, su);
      assert.ok(eabKey!.revokedAt);
    });
    assert.deepEqual(
      revokeAudit.map((a) => a.action),
      ["eab_revoke"],
    );
    await rejectsWith(c.acme.revokeEabKey({ id: second.eabKey!.id }, su), "FAILED_PRECONDITION", /already revoked/);
    const refused = new acmeClient.Client({
      directoryUrl: dir.directoryUrl,
      accountKey: await acmeClient.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid: second.eabKey!.kid, hmacKey: second.hmacKey },
    });
    await assert.rejects(refused.createAccount({ termsOfServiceAgreed: true }), /unauthorized|External Account Binding|eab/i);
    assert.equal((await c.acme.listEabKeys({ directoryId: dir.id }, su)).eabKeys.length, 1, "revoked keys are hidden by default");
    assert.equal((await c.acme.listEabKeys({ directoryId: dir.id, includeRevoked: true }, su)).eabKeys.length, 2);
  });

  it("lists accounts and orders; an operator-deactivated account can no longer order (RFC 8555 §7.3.6)", async () => {
    const dir = await newDir();
    const client = new acmeClient.Client({ directoryUrl: dir.directoryUrl, accountKey: await acmeClient.crypto.createPrivateEcdsaKey() });
    await client.createAccount({ termsOfServiceAgreed: true, contact: ["mailto:ops@example.test"] });
    const order = await client.createOrder({ identifiers: [{ type: "dns", value: "app.example.test" }] });
    const accounts = await c.acme.listAcmeAccounts({ directoryId: dir.id }, su);
    assert.equal(accounts.accounts.length, 1);
    const account = accounts.accounts[0]!;
    assert.deepEqual(account.contacts, ["mailto:ops@example.test"]);
    assert.equal(account.status, AcmeAccountStatus.VALID);
    const orders = await c.acme.listAcmeOrders({ directoryId: dir.id }, su);
    assert.equal(orders.orders.length, 1);
    assert.equal(orders.orders[0]!.accountId, account.id);
    assert.deepEqual(
      orders.orders[0]!.identifiers.map((i) => [i.type, i.value]),
      [["dns", "app.example.test"]],
    );
    assert.ok(order.url.endsWith(orders.orders[0]!.id));

    const audit = await auditDuring(server, async () => {
      const { account: after } = await c.acme.deactivateAcmeAccount({ id: account.id }, su);
      assert.equal(after!.status, AcmeAccountStatus.DEACTIVATED);
    });
    assert.deepEqual(
      audit.map((a) => [a.action, a.resource_id]),
      [["acme_account_deactivate", account.id]],
    );
    await rejectsWith(c.acme.deactivateAcmeAccount({ id: account.id }, su), "FAILED_PRECONDITION", /deactivated/);
    await assert.rejects(client.createOrder({ identifiers: [{ type: "dns", value: "two.example.test" }] }), /deactivated|unauthorized/i);
    assert.equal((await c.acme.listAcmeAccounts({ directoryId: dir.id, status: AcmeAccountStatus.DEACTIVATED }, su)).accounts.length, 1);
    assert.equal((await c.acme.listAcmeAccounts({ directoryId: dir.id, status: AcmeAccountStatus.VALID }, su)).accounts.length, 0);
  });

  it("members read, only organization admins write, other tenants see NOT_FOUND", async () => {
    const dir = await newDir();
    const member = await createUser(c, su, { organizationId: orgId, role: Role.USER, flags: { createCa: true, createCert: true, revokeCert: true, exportPrivateKey: true, deleteCa: true } });
    const admin = await createUser(c, su, { organizationId: orgId, role: Role.ADMIN });
    const other = await createUser(c, su, { organizationId: await createOrg(c, su), role: Role.ADMIN });
    const m = await c.login(member.username, PASSWORD);
    const a = await c.login(admin.username, PASSWORD);
    const o = await c.login(other.username, PASSWORD);
    assert.equal((await c.acme.getAcmeDirectory({ id: dir.id }, m)).directory!.id, dir.id);
    await rejectsWith(c.acme.updateAcmeDirectory({ id: dir.id, maxValidityDays: 10 }, m), "PERMISSION_DENIED", /admin/);
    await rejectsWith(c.acme.createEabKey({ directoryId: dir.id }, m), "PERMISSION_DENIED");
    await c.acme.updateAcmeDirectory({ id: dir.id, maxValidityDays: 10 }, a);
    await c.acme.createEabKey({ directoryId: dir.id }, a);
    await rejectsWith(c.acme.getAcmeDirectory({ id: dir.id }, o), "NOT_FOUND");
    await rejectsWith(c.acme.listEabKeys({ directoryId: dir.id }, o), "NOT_FOUND");
    assert.deepEqual((await c.acme.listAcmeDirectories({}, o)).directories, []);
  });
});
