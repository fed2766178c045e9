/**
 * CertificateService through a real gRPC client against the running server
 * on PostgreSQL: server-side key generation and SAN rules per type, CSR
 * signing, listing filters, chains, revocation, renewal, private-key export
 * (flag, audit, openssl), and one audit entry per write.
 */
import assert from "node:assert/strict";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { CertificateSource, CertificateStatus, CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm, PrivateKeyFormat, RevocationReason } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg, createUser, PASSWORD, rejectsWith, unique } from "./helpers.js";
import { auditDuring, createIntermediate, createRoot, openssl, PkiClients, TempDir, verifyChain } from "./pki-helpers.js";

describe("admin CertificateService", function () {
  this.timeout(120_000);
  let server: TestServer;
  let c: PkiClients;
  let su: ClientCallOptions;
  let orgId: string;
  let tmp: TempDir;
  let root: Awaited<ReturnType<typeof createRoot>>;
  let int: Awaited<ReturnType<typeof createIntermediate>>;

  before(async () => {
    server = await startTestServer();
    c = new PkiClients(server);
    su = await c.superuser();
    orgId = await createOrg(c, su);
    tmp = new TempDir();
    root = await createRoot(c, su, orgId, { pathLength: 1 });
    int = await createIntermediate(c, su, root.id);
  });
  after(async () => {
    c?.close();
    tmp?.remove();
    await server?.stop();
  });

  const issue = (req: Record<string, unknown>, opts: ClientCallOptions = su) =>
    c.certs.issueCertificate({ caId: int.id, ...req }, opts).then((r) => r.certificate!);

  describe("IssueCertificate", () => {
    it("issues server certificates (EC and RSA) that openssl verifies root -> intermediate -> leaf for sslserver", async () => {
      for (const keyAlgorithm of [KeyAlgorithm.P256, KeyAlgorithm.P384, KeyAlgorithm.RSA2048, KeyAlgorithm.RSA3072]) {
        const cert = await issue({
          type: CertificateType.SERVER,
          commonName: "api.example.test",
          dnsNames: ["api.example.test", "*.api.example.test"],
          ipAddresses: ["192.0.2.10", "2001:db8::1"],
          keyAlgorithm,
        });
        assert.equal(cert.type, CertificateType.SERVER);
        assert.equal(cert.status, CertificateStatus.VALID);
        assert.equal(cert.source, CertificateSource.ADMIN);
        assert.equal(cert.hasPrivateKey, true);
        assert.equal(cert.keyAlgorithm, keyAlgorithm);
        assert.equal(cert.issuerCaId, int.id);
        assert.deepEqual(cert.ipAddresses, ["192.0.2.10", "2001:db8::1"]);
        verifyChain(tmp, root.certificatePem, [int.certificatePem], cert.certificatePem, "sslserver");
        assert.throws(() => verifyChain(tmp, root.certificatePem, [int.certificatePem], cert.certificatePem, "sslclient"));
        const text = openssl(["x509", "-noout", "-ext", "subjectAltName"], cert.certificatePem);
        assert.match(text, /DNS:api\.example\.test, DNS:\*\.api\.example\.test, IP Address:192\.0\.2\.10, IP Address:2001:DB8:0:0:0:0:0:1/);
      }
    });

    it("issues client certificates with emails, verified for sslclient", async () => {
      const cert = await issue({ type: CertificateType.CLIENT, commonName: "Alice", emails: ["alice@Example.TEST"] });
      assert.deepEqual(cert.emails, ["alice@example.test"]);
      verifyChain(tmp, root.certificatePem, [int.certificatePem], cert.certificatePem, "sslclient");
      assert.throws(() => verifyChain(tmp, root.certificatePem, [int.certificatePem], cert.certificatePem, "sslserver"));
    });

    it("issues dual certificates valid for both purposes", async () => {
      const cert = await issue({ type: CertificateType.DUAL, dnsNames: ["svc.example.test"], emails: ["ops@example.test"], keyAlgorithm: KeyAlgorithm.RSA2048 });
      verifyChain(tmp, root.certificatePem, [int.certificatePem], cert.certificatePem, "sslserver");
      verifyChain(tmp, root.certificatePem, [int.certificatePem], cert.certificatePem, "sslclient");
    });

    it("applies the SAN rules of each type", async () => {
      const cases: Array<[string, Record<string, unknown>, RegExp]> = [
        ["fail/server-without-dns-or-ip", { type: CertificateType.SERVER, commonName: "x" }, /dns_names.*DNS name or IP/],
        ["fail/server-with-email", { type: CertificateType.SERVER, dnsNames: ["a.example.test"], emails: ["a@example.test"] }, /emails/],
        ["fail/client-with-dns", { type: CertificateType.CLIENT, dnsNames: ["a.example.test"], emails: ["a@example.test"] }, /dns_names.*dual/],
        ["fail/client-with-ip", { type: CertificateType.CLIENT, ipAddresses: ["192.0.2.1"], emails: ["a@example.test"] }, /ip_addresses/],
        ["fail/client-without-email", { type: CertificateType.CLIENT, commonName: "x" }, /emails/],
        ["fail/dual-without-dns-or-ip", { type: CertificateType.DUAL, emails: ["a@example.test"] }, /dns_names/],
        ["fail/bad-dns", { type: CertificateType.SERVER, dnsNames: ["bad_name.example"] }, /dns_names/],
        ["fail/bad-ip", { type: CertificateType.SERVER, ipAddresses: ["300.1.1.1"] }, /ip_addresses/],
        ["fail/bad-email", { type: CertificateType.CLIENT, emails: ["not-an-email"] }, /emails/],
        ["fail/type-unspecified", { dnsNames: ["a.example.test"] }, /type/],
        ["fail/type-ca", { type: CertificateType.CA, dnsNames: ["a.example.test"] }, /type/],
        ["fail/validity", { type: CertificateType.SERVER, dnsNames: ["a.example.test"], validityDays: 99999 }, /validity_days/],
        ["fail/subject-attributes", { type: CertificateType.SERVER, dnsNames: ["a.example.test"], subject: { organization: "O" } }, /subject/],
      ];
      for (const [name, req, details] of cases) {
        await rejectsWith(issue(req), "INVALID_ARGUMENT", details).catch((e: Error) => {
          throw new Error(`${name}: ${e.message}`);
        });
      }
    });

    it("clamps validity to the issuing CA's notAfter (RFC 5280 §6.1.3)", async () => {
      const cert = await issue({ type: CertificateType.SERVER, dnsNames: ["long.example.test"], validityDays: 3650 });
      assert.ok(Number(cert.notAfter!.seconds) <= Number(int.notAfter!.seconds));
    });
  });

  describe("SignCsr", () => {
    it("signs an openssl CSR (names from the CSR); Sigil holds no key for it", async () => {
      const key = tmp.write("csr.key", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
      const csr = openssl(["req", "-new", "-key", key, "-subj", "/CN=csr.example.test", "-addext", "subjectAltName=DNS:csr.example.test,IP:198.51.100.7"]);
      const { certificate } = await c.certs.signCsr({ caId: int.id, csrPem: csr, type: CertificateType.SERVER }, su);
      assert.equal(certificate!.hasPrivateKey, false);
      assert.equal(certificate!.commonName, "csr.example.test");
      assert.deepEqual(certificate!.dnsNames, ["csr.example.test"]);
      assert.deepEqual(certificate!.ipAddresses, ["198.51.100.7"]);
      verifyChain(tmp, root.certificatePem, [int.certificatePem], certificate!.certificatePem, "sslserver");
      assert.equal(openssl(["x509", "-noout", "-pubkey"], certificate!.certificatePem), openssl(["pkey", "-in", key, "-pubout"]));
      await rejectsWith(c.certs.exportCertificatePrivateKey({ id: certificate!.id }, su), "FAILED_PRECONDITION", /does not hold/);
    });

    it("refuses a CSR asking for a CA, a bad signature, a weak key, and names that break the type's rules", async () => {
      const key = tmp.write("csr2.key", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
      const caCsr = openssl(["req", "-new", "-key", key, "-subj", "/CN=x", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "subjectAltName=DNS:x.example.test"]);
      await rejectsWith(c.certs.signCsr({ caId: int.id, csrPem: caCsr, type: CertificateType.SERVER }, su), "INVALID_ARGUMENT", /CA/);
      await rejectsWith(c.certs.signCsr({ caId: int.id, csrPem: "garbage", type: CertificateType.SERVER }, su), "INVALID_ARGUMENT");
      const weak = tmp.write("weak.key", openssl(["genrsa", "1024"]));
      const weakCsr = openssl(["req", "-new", "-key", weak, "-subj", "/CN=w", "-addext", "subjectAltName=DNS:w.example.test"]);
      await rejectsWith(c.certs.signCsr({ caId: int.id, csrPem: weakCsr, type: CertificateType.SERVER }, su), "INVALID_ARGUMENT", /1024 bits/);
      const emailCsr = openssl(["req", "-new", "-key", key, "-subj", "/CN=e", "-addext", "subjectAltName=email:e@example.test"]);
      await rejectsWith(c.certs.signCsr({ caId: int.id, csrPem: emailCsr, type: CertificateType.SERVER }, su), "INVALID_ARGUMENT", /emails/);
      const { certificate } = await c.certs.signCsr({ caId: int.id, csrPem: emailCsr, type: CertificateType.CLIENT }, su);
      verifyChain(tmp, root.certificatePem, [int.certificatePem], certificate!.certificatePem, "sslclient");
    });
  });

  describe("Get / List / GetChain", () => {
    it("filters by CA, status, name, expiring before and serial, with pagination", async () => {
      const org = await createOrg(c, su);
      const r = await createRoot(c, su, org, { allowLeafCerts: true });
      const i = await createIntermediate(c, su, r.id);
      const tag = unique("flt");
      const a = (await c.certs.issueCertificate({ caId: i.id, type: CertificateType.SERVER, dnsNames: [`a.${tag}.example.test`], validityDays: 10 }, su)).certificate!;
      const b = (await c.certs.issueCertificate({ caId: i.id, type: CertificateType.SERVER, dnsNames: [`b.${tag}.example.test`], validityDays: 100 }, su)).certificate!;
      const d = (await c.certs.issueCertificate({ caId: r.id, type: CertificateType.CLIENT, commonName: `Dora ${tag}`, emails: [`dora@${tag}.example.test`] }, su)).certificate!;
      await c.certs.revokeCertificate({ id: b.id, reason: RevocationReason.KEY_COMPROMISE }, su);
      const ids = async (req: Record<string, unknown>) => (await c.certs.listCertificates({ organizationId: org, ...req }, su)).certificates.map((x) => x.id);
      // the intermediate's own certificate (type ca) is listed under the root
      const all = await c.certs.listCertificates({ organizationId: org }, su);
      assert.equal(all.certificates.length, 4);
      assert.deepEqual(await ids({ caId: i.id }), [a.id, b.id]);
      assert.deepEqual(await ids({ caId: i.id, status: CertificateStatus.VALID }), [a.id]);
      assert.deepEqual(await ids({ status: CertificateStatus.REVOKED }), [b.id]);
      assert.deepEqual(await ids({ status: CertificateStatus.EXPIRED }), []);
      assert.deepEqual(await ids({ nameContains: `A.${tag.toUpperCase()}` }), [a.id]);
      assert.deepEqual(await ids({ nameContains: `dora ${tag}` }), [d.id]);
      assert.deepEqual(await ids({ nameContains: "%" }), []);
      assert.deepEqual(await ids({ caId: i.id, expiringBefore: timestampFromDate(new Date(Date.now() + 30 * 86_400_000)) }), [a.id]);
      assert.deepEqual(await ids({ serial: b.serial.toUpperCase() }), [b.id]);
      const page1 = await c.certs.listCertificates({ organizationId: org, pageSize: 3 }, su);
      assert.equal(page1.certificates.length, 3);
      const page2 = await c.certs.listCertificates({ organizationId: org, pageSize: 3, pageToken: page1.nextPageToken }, su);
      assert.equal(page2.certificates.length, 1);
      assert.equal(page2.nextPageToken, "");
      const got = await c.certs.getCertificate({ id: a.id }, su);
      assert.equal(got.certificate!.certificatePem, a.certificatePem);
      const chain = await c.certs.getCertificateChain({ id: a.id }, su);
      assert.deepEqual(chain.certificatePems, [a.certificatePem, i.certificatePem, r.certificatePem]);
    });

    it("hides other organizations' certificates (NOT_FOUND) and lists only the caller's organization", async () => {
      const other = await createOrg(c, su);
      const otherAdmin = await createUser(c, su, { organizationId: other, role: Role.ADMIN });
      const opts = await c.login(otherAdmin.username, PASSWORD);
      const cert = await issue({ type: CertificateType.SERVER, dnsNames: ["hidden.example.test"] });
      await rejectsWith(c.certs.getCertificate({ id: cert.id }, opts), "NOT_FOUND");
      await rejectsWith(c.certs.listCertificates({ organizationId: orgId }, opts), "NOT_FOUND");
      const mine = await c.certs.listCertificates({}, opts);
      assert.ok(mine.certificates.every((x) => x.organizationId === other));
    });
  });

  describe("RevokeCertificate", () => {
    it("revokes with a reason (one cert_revoke entry); a second revocation is FAILED_PRECONDITION", async () => {
      const cert = await issue({ type: CertificateType.SERVER, dnsNames: ["rev.example.test"] });
      const audit = await auditDuring(server, async () => {
        const { certificate } = await c.certs.revokeCertificate({ id: cert.id, reason: RevocationReason.AFFILIATION_CHANGED }, su);
        assert.equal(certificate!.status, CertificateStatus.REVOKED);
        assert.equal(certificate!.revocationReason, RevocationReason.AFFILIATION_CHANGED);
      });
      assert.deepEqual(
        audit.map((a) => [a.action, a.resource_id]),
        [["cert_revoke", cert.id]],
      );
      await rejectsWith(c.certs.revokeCertificate({ id: cert.id }, su), "FAILED_PRECONDITION", /already revoked/);
      await rejectsWith(c.certs.revokeCertificate({ id: cert.id, reason: 7 as RevocationReason }, su), "INVALID_ARGUMENT", /reason/);
    });
  });

  describe("RenewCertificate", () => {
    it("renews a server-key certificate with the same names and a NEW key, recording renewed_from (one cert_renew entry)", async () => {
      const orig = await issue({ type: CertificateType.DUAL, commonName: "ren", dnsNames: ["ren.example.test"], emails: ["r@example.test"], keyAlgorithm: KeyAlgorithm.P384, validityDays: 30 });
      let renewed!: typeof orig;
      const audit = await auditDuring(server, async () => {
        renewed = (await c.certs.renewCertificate({ id: orig.id }, su)).certificate!;
      });
      assert.deepEqual(
        audit.map((a) => [a.action, a.resource_id, a.detail.renewedFromId]),
        [["cert_renew", renewed.id, orig.id]],
      );
      assert.equal(renewed.renewedFromId, orig.id);
      assert.equal(renewed.type, CertificateType.DUAL);
      assert.deepEqual([renewed.commonName, renewed.dnsNames, renewed.emails], [orig.commonName, orig.dnsNames, orig.emails]);
      assert.equal(renewed.keyAlgorithm, KeyAlgorithm.P384);
      assert.equal(renewed.hasPrivateKey, true);
      assert.notEqual(renewed.serial, orig.serial);
      assert.notEqual(openssl(["x509", "-noout", "-pubkey"], renewed.certificatePem), openssl(["x509", "-noout", "-pubkey"], orig.certificatePem));
      const days = (Number(renewed.notAfter!.seconds) - Number(renewed.notBefore!.seconds)) / 86_400;
      assert.ok(Math.abs(days - 30) < 0.1, `validity ${days} days`);
      verifyChain(tmp, root.certificatePem, [int.certificatePem], renewed.certificatePem, "sslserver");
      const shorter = (await c.certs.renewCertificate({ id: orig.id, validityDays: 5 }, su)).certificate!;
      assert.ok((Number(shorter.notAfter!.seconds) - Number(shorter.notBefore!.seconds)) / 86_400 < 5.1);
    });

    it("renews a CSR certificate for the same public key; refuses revoked and CA certificates", async () => {
      const key = tmp.write("ren.key", openssl(["genrsa", "2048"]));
      const csr = openssl(["req", "-new", "-key", key, "-subj", "/CN=c", "-addext", "subjectAltName=DNS:c.example.test"]);
      const orig = (await c.certs.signCsr({ caId: int.id, csrPem: csr, type: CertificateType.SERVER }, su)).certificate!;
      const renewed = (await c.certs.renewCertificate({ id: orig.id }, su)).certificate!;
      assert.equal(renewed.hasPrivateKey, false);
      assert.equal(openssl(["x509", "-noout", "-pubkey"], renewed.certificatePem), openssl(["x509", "-noout", "-pubkey"], orig.certificatePem));
      await c.certs.revokeCertificate({ id: orig.id }, su);
      await rejectsWith(c.certs.renewCertificate({ id: orig.id }, su), "FAILED_PRECONDITION", /revoked/);
      const caCert = (await c.certs.listCertificates({ caId: root.id }, su)).certificates.find((x) => x.type === CertificateType.CA)!;
      await rejectsWith(c.certs.renewCertificate({ id: caCert.id }, su), "FAILED_PRECONDITION", /CA/);
    });
  });

  describe("ExportCertificatePrivateKey", () => {
    let withFlag: ClientCallOptions;
    let withoutFlag: ClientCallOptions;
    let cert: Awaited<ReturnType<typeof issue>>;

    before(async () => {
      const u1 = await createUser(c, su, { organizationId: orgId, role: Role.USER, flags: { exportPrivateKey: true } });
      const u2 = await createUser(c, su, { organizationId: orgId, role: Role.USER, flags: { createCa: true, createCert: true, revokeCert: true, deleteCa: true } });
      withFlag = await c.login(u1.username, PASSWORD);
      withoutFlag = await c.login(u2.username, PASSWORD);
      cert = await issue({ type: CertificateType.SERVER, commonName: "exp.example.test", dnsNames: ["exp.example.test"], keyAlgorithm: KeyAlgorithm.RSA2048 }, withoutFlag);
    });

    it("is refused without export_private_key (nothing audited)", async () => {
      const audit = await auditDuring(server, () =>
        rejectsWith(c.certs.exportCertificatePrivateKey({ id: cert.id }, withoutFlag), "PERMISSION_DENIED", /export_private_key/),
      );
      assert.deepEqual(audit, []);
    });

    it("with the flag returns a PEM key openssl reads, matching the certificate, audited cert_export_private_key", async () => {
      const audit = await auditDuring(server, async () => {
        const res = await c.certs.exportCertificatePrivateKey({ id: cert.id, format: PrivateKeyFormat.PEM }, withFlag);
        assert.equal(res.key.case, "privateKeyPem");
        const pem = res.key.value as string;
        openssl(["pkey", "-check", "-noout"], pem);
        assert.equal(openssl(["pkey", "-pubout"], pem), openssl(["x509", "-noout", "-pubkey"], cert.certificatePem));
      });
      assert.deepEqual(
        audit.map((a) => [a.action, a.resource_id, a.detail.format]),
        [["cert_export_private_key", cert.id, "pem"]],
      );
    });

    it("with the flag returns a PKCS#12 with the key, the certificate and its chain that openssl pkcs12 opens", async () => {
      const audit = await auditDuring(server, async () => {
        const res = await c.certs.exportCertificatePrivateKey({ id: cert.id, format: PrivateKeyFormat.PKCS12, password: "leaf-p12-pass" }, withFlag);
        assert.equal(res.key.case, "pkcs12");
        const p12 = tmp.write("leaf.p12", res.key.value as Uint8Array);
        const certs = openssl(["pkcs12", "-in", p12, "-nokeys", "-passin", "pass:leaf-p12-pass"]);
        assert.equal(certs.match(/BEGIN CERTIFICATE/g)?.length, 3);
        assert.match(certs, /friendlyName: exp\.example\.test/);
        const key = openssl(["pkcs12", "-in", p12, "-nocerts", "-nodes", "-passin", "pass:leaf-p12-pass"]);
        assert.equal(openssl(["pkey", "-pubout"], key), openssl(["x509", "-noout", "-pubkey"], cert.certificatePem));
      });
      assert.deepEqual(
        audit.map((a) => a.action),
        ["cert_export_private_key"],
      );
      await rejectsWith(
        c.certs.exportCertificatePrivateKey({ id: cert.id, format: PrivateKeyFormat.PKCS12, password: "ab" }, withFlag),
        "INVALID_ARGUMENT",
        /password/,
      );
    });

    it("no other certificate response carries a private key", async () => {
      const responses = [
        await c.certs.getCertificate({ id: cert.id }, withFlag),
        await c.certs.listCertificates({ organizationId: orgId }, withFlag),
        await c.certs.getCertificateChain({ id: cert.id }, withFlag),
        await c.certs.renewCertificate({ id: cert.id }, su),
        await c.certs.issueCertificate({ caId: int.id, type: CertificateType.SERVER, dnsNames: ["k.example.test"] }, su),
      ];
      for (const r of responses) assert.ok(!/PRIVATE KEY/.test(JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? String(v) : v))));
    });
  });

  it("every write RPC leaves exactly its audit entry", async () => {
    const key = tmp.write("aud.key", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
    const csr = openssl(["req", "-new", "-key", key, "-subj", "/CN=aud", "-addext", "subjectAltName=DNS:aud.example.test"]);
    let id = "";
    const steps: Array<[string, () => Promise<unknown>]> = [
      ["cert_create", async () => (id = (await issue({ type: CertificateType.SERVER, dnsNames: ["aud.example.test"] })).id)],
      ["cert_create", () => c.certs.signCsr({ caId: int.id, csrPem: csr, type: CertificateType.SERVER }, su)],
      ["cert_renew", () => c.certs.renewCertificate({ id }, su)],
      ["cert_export_private_key", () => c.certs.exportCertificatePrivateKey({ id }, su)],
      ["cert_revoke", () => c.certs.revokeCertificate({ id }, su)],
    ];
    for (const [action, fn] of steps) {
      const audit = await auditDuring(server, fn);
      assert.deepEqual(
        audit.map((a) => a.action),
        [action],
      );
    }
  });
});
