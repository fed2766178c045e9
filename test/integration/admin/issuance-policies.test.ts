/**
 * Issuance policies of the admin plane (issue 13 item 7,
 * src/ra/issuance-policies.ts) through the real gRPC API on PostgreSQL:
 * no policy = allowed; an organization's policy refuses names, CAs, kinds,
 * validity and key types outside it (PERMISSION_DENIED, every refusal a
 * field violation, audited, nothing signed or written); a service
 * account's or user's own policy narrows; SignCsr and RenewCertificate are
 * bound too; CRUD audited with old and new rules.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type { ClientCallOptions, Client } from "../../../src/admin/grpc-adapter.js";
import { decodeStatusDetails, STATUS_DETAILS_TRAILER } from "../../../src/admin/error-details.js";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import { IssuancePolicyService, IssuancePolicySubjectType as Subject } from "../../../src/gen/sigil/admin/v1/issuance_policy_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { bearer, createOrg, createUser, PASSWORD, rejectsWith, unique } from "./helpers.js";
import { auditDuring, createIntermediate, createRoot, openssl, PkiClients, TempDir } from "./pki-helpers.js";

const DAY_MS = 86_400_000;

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; fields: string[]; descriptions: string[]; reason?: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    const details = decodeStatusDetails(err.metadata?.get(STATUS_DETAILS_TRAILER)[0] as Buffer | undefined);
    return {
      code: grpc.status[err.code]!,
      message: err.details,
      fields: details?.badRequest?.fieldViolations.map((v) => v.field) ?? [],
      descriptions: details?.badRequest?.fieldViolations.map((v) => v.description) ?? [],
      reason: details?.errorInfo?.reason,
    };
  }
  throw new Error("the call succeeded");
}

describe("admin: issuance policies (IssueCertificate, SignCsr, RenewCertificate)", function () {
  this.timeout(180_000);
  let server: TestServer;
  let c: PkiClients;
  let policies: Client<typeof IssuancePolicyService>;
  let su: ClientCallOptions;
  let orgId: string;
  let admin: ClientCallOptions;
  let caA: string;
  let caB: string;
  let tmp: TempDir;

  async function certificateCount(): Promise<number> {
    const [r] = await server.db.orm.em.getConnection().execute<Array<{ n: string }>>(`select count(*) as n from certificates where organization_id = ?`, [orgId]);
    return Number(r!.n);
  }

  async function serviceAccount(name: string): Promise<{ id: string; opts: ClientCallOptions }> {
    const { serviceAccount } = await c.sas.createServiceAccount({ organizationId: orgId, name: unique(name), createCert: true }, su);
    const { key } = await c.sas.createApiKey({ serviceAccountId: serviceAccount!.id, name: "k" }, su);
    return { id: serviceAccount!.id, opts: bearer(key) };
  }

  function issue(opts: ClientCallOptions, req: { caId?: string; type?: CertificateType; dnsNames?: string[]; ipAddresses?: string[]; emails?: string[]; commonName?: string; validityDays?: number; keyAlgorithm?: KeyAlgorithm }) {
    return c.certs.issueCertificate(
      { caId: req.caId ?? caA, type: req.type ?? CertificateType.SERVER, dnsNames: req.dnsNames ?? [], ipAddresses: req.ipAddresses ?? [], emails: req.emails ?? [], commonName: req.commonName ?? "", validityDays: req.validityDays ?? 0, keyAlgorithm: req.keyAlgorithm ?? KeyAlgorithm.P256 },
      opts,
    );
  }

  before(async () => {
    server = await startTestServer();
    c = new PkiClients(server);
    policies = c.client(IssuancePolicyService);
    su = await c.superuser();
    orgId = await createOrg(c, su);
    const root = await createRoot(c, su, orgId);
    caA = (await createIntermediate(c, su, root.id)).id;
    caB = (await createIntermediate(c, su, root.id)).id;
    const a = await createUser(c, su, { organizationId: orgId, role: Role.ADMIN });
    admin = await c.login(a.username, PASSWORD);
    tmp = new TempDir();
  });

  after(async () => {
    tmp?.remove();
    c?.close();
    await server?.stop();
  });

  it("ok/no policy: today's behaviour (any names, any CA of the organization)", async () => {
    const { certificate } = await issue(admin, { dnsNames: ["anything.unbound.test"], ipAddresses: ["203.0.113.9"], validityDays: 400 });
    assert.deepEqual(certificate!.dnsNames, ["anything.unbound.test"]);
    await issue(admin, { caId: caB, dnsNames: ["other.unbound.test"] });
  });

  describe("with an organization policy", () => {
    let orgPolicyId: string;
    before(async () => {
      const { issuancePolicy } = await policies.createIssuancePolicy(
        {
          subjectType: Subject.ORGANIZATION,
          subjectId: orgId,
          rules: { dnsNames: ["*.example.com", ".corp.test", "Bücher.example"], ipRanges: ["10.0.0.0/8", "2001:db8::/32"], emails: ["*@example.com"], caIds: [caA], maxValidityDays: 90 },
          description: "org-wide",
        },
        admin,
      );
      orgPolicyId = issuancePolicy!.id;
      assert.deepEqual(issuancePolicy!.rules!.dnsNames, ["*.example.com", ".corp.test", "xn--bcher-kva.example"]);
    });

    it("ok/names inside the policy are issued; validity 0 takes the default clipped to max_validity_days", async () => {
      const { certificate } = await issue(admin, { dnsNames: ["www.example.com", "a.b.corp.test", "xn--bcher-kva.example"], ipAddresses: ["10.1.2.3", "2001:db8::5"] });
      const days = (certificate!.notAfter!.seconds - certificate!.notBefore!.seconds) / 86400n;
      assert.ok(days <= 91n && days >= 89n, `validity ${days} days`);
      const { certificate: client } = await issue(admin, { type: CertificateType.CLIENT, emails: ["alice@example.com"] });
      assert.deepEqual(client!.emails, ["alice@example.com"]);
    });

    it("fail/names outside: PERMISSION_DENIED naming each refused name, audited, nothing signed or written", async () => {
      const before = await certificateCount();
      let r: Awaited<ReturnType<typeof refusal>> | undefined;
      const audit = await auditDuring(server, async () => {
        r = await refusal(issue(admin, { dnsNames: ["www.example.com", "example.com", "a.b.example.com", "evil.test"], ipAddresses: ["10.0.0.1", "192.0.2.1"] }));
      });
      assert.equal(r!.code, "PERMISSION_DENIED");
      assert.equal(r!.reason, "ISSUANCE_POLICY_DENIED");
      assert.deepEqual(r!.fields, ["dns_names[1]", "dns_names[2]", "dns_names[3]", "ip_addresses[1]"]);
      assert.match(r!.descriptions[0]!, /"example\.com" is not allowed by the organization's issuance policy/);
      assert.equal(await certificateCount(), before, "no certificate row");
      assert.deepEqual(audit.map((a) => a.action), ["cert_policy_denied"]);
      assert.equal(audit[0]!.resource_id, caA);
      assert.equal((audit[0]!.detail.refusals as unknown[]).length, 4);
    });

    it("fail/a CA not in the list, validity over the maximum, a common name outside", async () => {
      const r = await refusal(issue(admin, { caId: caB, dnsNames: ["www.example.com"], validityDays: 91, commonName: "www.evil.test" }));
      assert.equal(r.code, "PERMISSION_DENIED");
      assert.deepEqual(r.fields, ["ca_id", "validity_days", "common_name"]);
      await issue(admin, { dnsNames: ["www.example.com"], validityDays: 90, commonName: "Web server" });
    });

    it("fail/SignCsr: the CSR's names are checked the same way (field csr_pem)", async () => {
      const key = tmp.write("p.key", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
      const bad = openssl(["req", "-new", "-key", key, "-subj", "/CN=x", "-addext", "subjectAltName=DNS:api.example.com,DNS:api.evil.test"]);
      const r = await refusal(c.certs.signCsr({ caId: caA, csrPem: bad, type: CertificateType.SERVER }, admin));
      assert.equal(r.code, "PERMISSION_DENIED");
      assert.deepEqual(r.fields, ["csr_pem"]);
      assert.match(r.descriptions[0]!, /api\.evil\.test/);
      const good = openssl(["req", "-new", "-key", key, "-subj", "/CN=api.example.com", "-addext", "subjectAltName=DNS:api.example.com"]);
      const { certificate } = await c.certs.signCsr({ caId: caA, csrPem: good, type: CertificateType.SERVER, validityDays: 30 }, admin);
      assert.deepEqual(certificate!.dnsNames, ["api.example.com"]);
    });

    it("ok/a service account's own policy narrows the organization's; the organization's still applies", async () => {
      const narrow = await serviceAccount("ci");
      const other = await serviceAccount("other");
      await policies.createIssuancePolicy({ subjectType: Subject.SERVICE_ACCOUNT, subjectId: narrow.id, rules: { dnsNames: ["*.ci.corp.test", "*.wider.test"], caIds: [], certificateTypes: [CertificateType.SERVER], keyTypes: [KeyAlgorithm.P256] } }, admin);
      await issue(narrow.opts, { dnsNames: ["build.ci.corp.test"] });
      const r = await refusal(issue(narrow.opts, { dnsNames: ["db.corp.test", "x.wider.test"] }));
      // the organization's refusals first: x.wider.test (its own allows it); then its own: db.corp.test
      assert.deepEqual(r.fields, ["dns_names[1]", "dns_names[0]"]);
      assert.match(r.descriptions[0]!, /"x\.wider\.test" is not allowed by the organization's issuance policy/);
      assert.match(r.descriptions[1]!, /"db\.corp\.test" is not allowed by the service account's issuance policy/);
      // kind and key type of its own policy
      assert.deepEqual((await refusal(issue(narrow.opts, { type: CertificateType.DUAL, dnsNames: ["b.ci.corp.test"], keyAlgorithm: KeyAlgorithm.P384 }))).fields, ["type", "key_algorithm"]);
      // another service account is bound by the organization's policy only
      await issue(other.opts, { dnsNames: ["db.corp.test"] });
    });

    it("ok/a user's own policy narrows; a superuser is not bound", async () => {
      const u = await createUser(c, su, { organizationId: orgId, flags: { createCert: true } });
      await policies.createIssuancePolicy({ subjectType: Subject.USER, subjectId: u.id, rules: { dnsNames: ["me.example.com"] } }, admin);
      const login = await c.login(u.username, PASSWORD);
      await issue(login, { dnsNames: ["me.example.com"] });
      assert.deepEqual((await refusal(issue(login, { dnsNames: ["you.example.com"] }))).fields, ["dns_names[0]"]);
      await issue(su, { caId: caB, dnsNames: ["outside.anything.test"], validityDays: 365 });
      const superuserId = (await c.auth.whoAmI({}, su)).principal.value!.id;
      await rejectsWith(policies.createIssuancePolicy({ subjectType: Subject.USER, subjectId: superuserId, rules: {} }, su), "INVALID_ARGUMENT");
      // an organization admin learns nothing of a superuser: the same answer as for a missing user
      await rejectsWith(policies.createIssuancePolicy({ subjectType: Subject.USER, subjectId: superuserId, rules: {} }, admin), "NOT_FOUND", "not found");
      await rejectsWith(policies.createIssuancePolicy({ subjectType: Subject.USER, subjectId: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", rules: {} }, admin), "NOT_FOUND", "not found");
    });

    it("fail/RenewCertificate: the policy as it is now applies (narrowed: refused)", async () => {
      const { certificate } = await issue(admin, { dnsNames: ["renew.example.com"], validityDays: 60 });
      const { issuancePolicy } = await policies.getIssuancePolicy({ id: orgPolicyId }, admin);
      await policies.updateIssuancePolicy({ id: orgPolicyId, rules: { ...issuancePolicy!.rules!, dnsNames: [".corp.test"] }, description: "narrowed" }, admin);
      const r = await refusal(c.certs.renewCertificate({ id: certificate!.id }, admin));
      assert.equal(r.code, "PERMISSION_DENIED");
      assert.deepEqual(r.fields, ["id"]);
      await policies.updateIssuancePolicy({ id: orgPolicyId, rules: issuancePolicy!.rules!, description: "org-wide" }, admin);
      const { certificate: renewed } = await c.certs.renewCertificate({ id: certificate!.id }, admin);
      assert.equal(renewed!.renewedFromId, certificate!.id);
    });

    it("ok/deleting the policy restores today's behaviour", async () => {
      const { issuancePolicies } = await policies.listIssuancePolicies({ organizationId: orgId }, admin);
      assert.equal(issuancePolicies.length, 3);
      const org = issuancePolicies.find((p) => p.subjectType === Subject.ORGANIZATION)!;
      await policies.deleteIssuancePolicy({ id: org.id }, admin);
      await issue(admin, { caId: caB, dnsNames: ["free.again.test"], validityDays: 365 });
      await rejectsWith(policies.getIssuancePolicy({ id: org.id }, admin), "NOT_FOUND");
    });
  });

  it("fail/a bound principal with create_ca + export_private_key may not create, import or export CA keys; an unbound one may", async () => {
    const org = await createOrg(c, su);
    const root = await createRoot(c, su, org);
    async function caAccount() {
      const { serviceAccount } = await c.sas.createServiceAccount({ organizationId: org, name: unique("ca-sa"), createCa: true, exportPrivateKey: true }, su);
      const { key } = await c.sas.createApiKey({ serviceAccountId: serviceAccount!.id, name: "k" }, su);
      return { id: serviceAccount!.id, opts: bearer(key) };
    }
    const bound = await caAccount();
    const free = await caAccount();
    await policies.createIssuancePolicy({ subjectType: Subject.SERVICE_ACCOUNT, subjectId: bound.id, rules: { dnsNames: ["*.only.test"] } }, su);
    const subject = { commonName: "Escape", organization: "Sigil Tests" };
    const message = "an issuance policy binds this principal: it may not create or export CA keys";
    const attempts: Array<[string, (o: ClientCallOptions) => Promise<unknown>]> = [
      ["root", (o) => c.cas.createRootCertificateAuthority({ organizationId: org, name: unique("esc-root"), subject, keyAlgorithm: KeyAlgorithm.P256 }, o)],
      ["intermediate", (o) => c.cas.createIntermediateCertificateAuthority({ parentId: root.id, name: unique("esc-int"), subject, keyAlgorithm: KeyAlgorithm.P256 }, o)],
      ["external parent", (o) => c.cas.createIntermediateCertificateAuthority({ externalParent: true, organizationId: org, name: unique("esc-ext"), subject, keyAlgorithm: KeyAlgorithm.P256 }, o)],
      ["import", (o) => c.cas.importCertificateAuthority({ organizationId: org, name: unique("esc-imp"), certificatePem: "not a certificate", privateKeyPem: "" }, o)],
      ["export", (o) => c.cas.exportCertificateAuthorityPrivateKey({ id: root.id }, o)],
    ];
    const [caRows] = await server.db.orm.em.getConnection().execute<Array<{ n: string }>>(`select count(*) as n from certificate_authorities where organization_id = ?`, [org]);
    const audited = await auditDuring(server, async () => {
      for (const [what, call] of attempts) {
        const r = await refusal(call(bound.opts));
        assert.deepEqual([what, r.code, r.reason, r.message], [what, "PERMISSION_DENIED", "ISSUANCE_POLICY_DENIED", message]);
      }
    });
    assert.deepEqual(audited.map((e) => e.action), []);
    const [after] = await server.db.orm.em.getConnection().execute<Array<{ n: string }>>(`select count(*) as n from certificate_authorities where organization_id = ?`, [org]);
    assert.equal(after!.n, caRows!.n);
    // the same calls from a principal no policy binds: created, exported (the import fails on its bad certificate, not on a policy)
    await c.cas.createRootCertificateAuthority({ organizationId: org, name: unique("free-root"), subject, keyAlgorithm: KeyAlgorithm.P256 }, free.opts);
    const { certificateAuthority: int } = await c.cas.createIntermediateCertificateAuthority({ parentId: root.id, name: unique("free-int"), subject, keyAlgorithm: KeyAlgorithm.P256 }, free.opts);
    await c.cas.createIntermediateCertificateAuthority({ externalParent: true, organizationId: org, name: unique("free-ext"), subject, keyAlgorithm: KeyAlgorithm.P256 }, free.opts);
    await rejectsWith(c.cas.importCertificateAuthority({ organizationId: org, name: unique("free-imp"), certificatePem: "not a certificate", privateKeyPem: "" }, free.opts), "INVALID_ARGUMENT");
    const exported = await c.cas.exportCertificateAuthorityPrivateKey({ id: int!.id }, free.opts);
    assert.match(JSON.stringify(exported), /BEGIN PRIVATE KEY/);
  });

  describe("administration", () => {
    it("create, update and delete are audited with the old and new rules", async () => {
      const org = await createOrg(c, su);
      const a = await createUser(c, su, { organizationId: org, role: Role.ADMIN });
      const opts = await c.login(a.username, PASSWORD);
      let id = "";
      const created = await auditDuring(server, async () => {
        // the caller's organization by default
        id = (await policies.createIssuancePolicy({ subjectType: Subject.ORGANIZATION, rules: { dnsNames: ["*.a.test"], maxValidityDays: 30 } }, opts)).issuancePolicy!.id;
      });
      assert.deepEqual(created.map((e) => e.action), ["issuance_policy_create"]);
      assert.deepEqual((created[0]!.detail.new as { dnsNames: string[] }).dnsNames, ["*.a.test"]);
      const updated = await auditDuring(server, () => policies.updateIssuancePolicy({ id, rules: { dnsNames: ["*.b.test"], ipRanges: ["192.0.2.0/24"] }, description: "b" }, opts));
      assert.deepEqual(updated.map((e) => e.action), ["issuance_policy_update"]);
      const d = updated[0]!.detail as { old: { dnsNames: string[]; maxValidityDays: number }; new: { dnsNames: string[]; ipRanges: string[]; description: string } };
      assert.deepEqual([d.old.dnsNames, d.old.maxValidityDays, d.new.dnsNames, d.new.ipRanges, d.new.description], [["*.a.test"], 30, ["*.b.test"], ["192.0.2.0/24"], "b"]);
      await rejectsWith(policies.createIssuancePolicy({ subjectType: Subject.ORGANIZATION, subjectId: org, rules: {} }, opts), "ALREADY_EXISTS");
      const deleted = await auditDuring(server, () => policies.deleteIssuancePolicy({ id }, opts));
      assert.deepEqual(deleted.map((e) => e.action), ["issuance_policy_delete"]);
      assert.deepEqual((deleted[0]!.detail.old as { dnsNames: string[] }).dnsNames, ["*.b.test"]);
    });

    it("ok/a service account's policy goes with the service account", async () => {
      const { serviceAccount } = await c.sas.createServiceAccount({ organizationId: orgId, name: unique("gone") }, su);
      const { issuancePolicy } = await policies.createIssuancePolicy({ subjectType: Subject.SERVICE_ACCOUNT, subjectId: serviceAccount!.id, rules: { dnsNames: ["*.gone.test"] } }, admin);
      assert.equal(issuancePolicy!.subjectId, serviceAccount!.id);
      await c.sas.deleteServiceAccount({ id: serviceAccount!.id }, su);
      await rejectsWith(policies.getIssuancePolicy({ id: issuancePolicy!.id }, admin), "NOT_FOUND");
    });

    it("fail/bad rules: INVALID_ARGUMENT naming every bad entry, nothing written", async () => {
      const org = await createOrg(c, su);
      const other = await createOrg(c, su);
      const foreignCa = (await createRoot(c, su, other, { allowLeafCerts: true })).id;
      const r = await refusal(
        policies.createIssuancePolicy(
          { subjectType: Subject.ORGANIZATION, subjectId: org, rules: { dnsNames: ["ok.test", "a.*.test", "*"], ipRanges: ["10.0.0.0/33"], emails: ["nobody"], keyTypes: [KeyAlgorithm.UNSPECIFIED], certificateTypes: [CertificateType.CA], maxValidityDays: 5000 } },
          su,
        ),
      );
      assert.equal(r.code, "INVALID_ARGUMENT");
      assert.deepEqual(r.fields, ["rules.dns_names[1]", "rules.dns_names[2]", "rules.emails[0]", "rules.ip_ranges[0]", "rules.certificate_types[0]", "rules.key_types[0]", "rules.max_validity_days"]);
      const ca = await refusal(policies.createIssuancePolicy({ subjectType: Subject.ORGANIZATION, subjectId: org, rules: { caIds: [foreignCa] } }, su));
      assert.deepEqual([ca.code, ca.fields], ["INVALID_ARGUMENT", ["rules.ca_ids[0]"]]);
      assert.equal((await policies.listIssuancePolicies({ organizationId: org }, su)).issuancePolicies.length, 0);
    });
  });
});
