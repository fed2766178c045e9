/**
 * CertificateAuthorityService through a real gRPC client against the running
 * server on PostgreSQL: path length and allow_leaf_certs rules, delete
 * refusals, intermediate revocation (on the parent's CRL), import, CA key
 * export (flag, audit, openssl), and that no other response carries a key.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { CertificateAuthorityStatus } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateStatus, CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm, PrivateKeyFormat, RevocationReason } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg, createUser, PASSWORD, rejectsWith, unique } from "./helpers.js";
import { auditDuring, auditEntries, createIntermediate, createRoot, openssl, PkiClients, TempDir, verifyChain } from "./pki-helpers.js";

describe("admin CertificateAuthorityService", function () {
  this.timeout(120_000);
  let server: TestServer;
  let c: PkiClients;
  let su: ClientCallOptions;
  let orgId: string;
  let tmp: TempDir;

  before(async () => {
    server = await startTestServer();
    c = new PkiClients(server);
    su = await c.superuser();
    orgId = await createOrg(c, su);
    tmp = new TempDir();
  });
  after(async () => {
    c?.close();
    tmp?.remove();
    await server?.stop();
  });

  it("creates root -> intermediate -> leaf chains that openssl verifies, for every key algorithm", async () => {
    for (const alg of [KeyAlgorithm.P256, KeyAlgorithm.P384, KeyAlgorithm.RSA2048]) {
      const root = await createRoot(c, su, orgId, { keyAlgorithm: alg });
      assert.equal(root.status, CertificateAuthorityStatus.ACTIVE);
      assert.equal(root.keyAlgorithm, alg);
      assert.equal(root.parentId, "");
      const int = await createIntermediate(c, su, root.id, { keyAlgorithm: alg });
      assert.equal(int.parentId, root.id);
      const chain = await c.cas.getCertificateAuthorityChain({ id: int.id }, su);
      assert.deepEqual(chain.certificatePems, [int.certificatePem, root.certificatePem]);
      const { certificate } = await c.certs.issueCertificate(
        { caId: int.id, type: CertificateType.SERVER, commonName: "www.example.test", dnsNames: ["www.example.test"], keyAlgorithm: alg },
        su,
      );
      verifyChain(tmp, root.certificatePem, [int.certificatePem], certificate!.certificatePem, "sslserver");
    }
  });

  it("enforces path length: below the parent's, and none under a path length 0 CA", async () => {
    const root = await createRoot(c, su, orgId, { pathLength: 1 });
    assert.equal(root.pathLength, 1);
    await rejectsWith(createIntermediate(c, su, root.id, { pathLength: 1 }), "INVALID_ARGUMENT", /path_length/);
    const int = await createIntermediate(c, su, root.id); // defaults to one below the parent's
    assert.equal(int.pathLength, 0);
    await rejectsWith(createIntermediate(c, su, int.id), "FAILED_PRECONDITION", /path length/);
    const txt = openssl(["x509", "-noout", "-ext", "basicConstraints"], int.certificatePem);
    assert.match(txt, /CA:TRUE, pathlen:0/);
    const unlimited = await createRoot(c, su, orgId);
    assert.equal(unlimited.pathLength, undefined);
    const deep = await createIntermediate(c, su, unlimited.id, { pathLength: 5 });
    assert.equal(deep.pathLength, 5);
  });

  it("issues no leaves from a CA with allow_leaf_certs false, until Update allows it (audited ca_update)", async () => {
    const root = await createRoot(c, su, orgId, { allowLeafCerts: false });
    const req = { caId: root.id, type: CertificateType.SERVER, dnsNames: ["a.example.test"] };
    await rejectsWith(c.certs.issueCertificate(req, su), "FAILED_PRECONDITION", /allow_leaf_certs/);
    const audit = await auditDuring(server, async () => {
      const { certificateAuthority } = await c.cas.updateCertificateAuthority({ id: root.id, allowLeafCerts: true, description: "now issuing" }, su);
      assert.equal(certificateAuthority!.allowLeafCerts, true);
      assert.equal(certificateAuthority!.description, "now issuing");
    });
    assert.deepEqual(
      audit.map((a) => [a.action, a.resource_id]),
      [["ca_update", root.id]],
    );
    const { certificate } = await c.certs.issueCertificate(req, su);
    verifyChain(tmp, root.certificatePem, [], certificate!.certificatePem, "sslserver");
    await rejectsWith(c.cas.updateCertificateAuthority({ id: root.id, crlBaseUrl: "ftp://x" }, su), "INVALID_ARGUMENT", /crl_base_url/);
  });

  it("refuses to delete a CA with children or unexpired valid certificates; deletes it once they are gone", async () => {
    const root = await createRoot(c, su, orgId);
    const int = await createIntermediate(c, su, root.id);
    const { certificate } = await c.certs.issueCertificate({ caId: int.id, type: CertificateType.SERVER, dnsNames: ["d.example.test"] }, su);
    await rejectsWith(c.cas.deleteCertificateAuthority({ id: root.id }, su), "FAILED_PRECONDITION", /child/);
    await rejectsWith(c.cas.deleteCertificateAuthority({ id: int.id }, su), "FAILED_PRECONDITION", /unexpired valid/);
    await c.certs.revokeCertificate({ id: certificate!.id, reason: RevocationReason.SUPERSEDED }, su);
    const audit = await auditDuring(server, () => c.cas.deleteCertificateAuthority({ id: int.id }, su));
    assert.deepEqual(
      audit.map((a) => [a.action, a.resource_id]),
      [["ca_delete", int.id]],
    );
    await rejectsWith(c.cas.getCertificateAuthority({ id: int.id }, su), "NOT_FOUND");
    // the deleted intermediate's own certificate is revoked (cessationOfOperation) under the root
    const listed = await c.certs.listCertificates({ caId: root.id, status: CertificateStatus.REVOKED }, su);
    assert.equal(listed.certificates.length, 1);
    assert.equal(listed.certificates[0]!.type, CertificateType.CA);
    assert.equal(listed.certificates[0]!.revocationReason, RevocationReason.CESSATION_OF_OPERATION);
    await c.cas.deleteCertificateAuthority({ id: root.id }, su);
    await rejectsWith(c.cas.getCertificateAuthority({ id: root.id }, su), "NOT_FOUND");
  });

  it("refuses to delete a CA an ACME directory issues from", async () => {
    const root = await createRoot(c, su, orgId, { allowLeafCerts: true });
    await c.acme.createAcmeDirectory({ name: unique("dir"), organizationId: orgId, caId: root.id }, su);
    await rejectsWith(c.cas.deleteCertificateAuthority({ id: root.id }, su), "FAILED_PRECONDITION", /ACME directory/);
  });

  it("revokes an intermediate: it is on the parent's CRL and issues nothing more; roots are not revocable", async () => {
    const root = await createRoot(c, su, orgId);
    const int = await createIntermediate(c, su, root.id);
    const audit = await auditDuring(server, async () => {
      const { certificateAuthority } = await c.cas.revokeCertificateAuthority({ id: int.id, reason: RevocationReason.KEY_COMPROMISE }, su);
      assert.equal(certificateAuthority!.status, CertificateAuthorityStatus.REVOKED);
      assert.equal(certificateAuthority!.revocationReason, RevocationReason.KEY_COMPROMISE);
      assert.ok(certificateAuthority!.revokedAt);
    });
    assert.deepEqual(
      audit.map((a) => a.action),
      ["ca_revoke"],
    );
    await rejectsWith(c.cas.revokeCertificateAuthority({ id: int.id }, su), "FAILED_PRECONDITION", /already revoked/);
    await rejectsWith(c.cas.revokeCertificateAuthority({ id: root.id }, su), "FAILED_PRECONDITION", /root/);
    await rejectsWith(
      c.certs.issueCertificate({ caId: int.id, type: CertificateType.SERVER, dnsNames: ["r.example.test"] }, su),
      "FAILED_PRECONDITION",
      /revoked/,
    );
    // RFC 5280 §5.3: the parent's CRL lists the intermediate's serial with its reason
    const serial = int.serial.toUpperCase();
    let text = "";
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${server.baseUrl}/crl/${root.id}.crl`);
      assert.equal(res.status, 200);
      const der = Buffer.from(await res.arrayBuffer());
      text = openssl(["crl", "-inform", "DER", "-noout", "-text"], der);
      if (text.includes(serial)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(text.includes(serial), `intermediate serial ${serial} not on the root's CRL:\n${text}`);
    assert.match(text, /Key Compromise/);
  });

  it("lists CAs with pagination, roots only, and children", async () => {
    const org = await createOrg(c, su);
    const root = await createRoot(c, su, org);
    const kids = [await createIntermediate(c, su, root.id), await createIntermediate(c, su, root.id), await createIntermediate(c, su, root.id)];
    const seen: string[] = [];
    let token = "";
    do {
      const page = await c.cas.listCertificateAuthorities({ organizationId: org, pageSize: 2, pageToken: token }, su);
      assert.ok(page.certificateAuthorities.length <= 2);
      seen.push(...page.certificateAuthorities.map((x) => x.id));
      token = page.nextPageToken;
    } while (token);
    assert.deepEqual(seen, [root.id, ...kids.map((k) => k.id)]);
    const roots = await c.cas.listCertificateAuthorities({ organizationId: org, rootsOnly: true }, su);
    assert.deepEqual(
      roots.certificateAuthorities.map((x) => x.id),
      [root.id],
    );
    const children = await c.cas.listCertificateAuthorityChildren({ id: root.id, pageSize: 2 }, su);
    assert.equal(children.certificateAuthorities.length, 2);
    assert.ok(children.nextPageToken);
    await rejectsWith(c.cas.listCertificateAuthorities({ pageToken: "garbage" }, su), "INVALID_ARGUMENT", /page_token/);
  });

  it("imports an existing CA (PKCS#1 RSA key, encrypted PKCS#8 key) and issues from it; refuses a mismatched key", async () => {
    const key = tmp.write("imp.key", openssl(["genrsa", "2048"]));
    const cert = openssl([
      "req", "-x509", "-new", "-key", key, "-subj", "/O=Imported/CN=Imported Root", "-days", "30",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    const keyPem = openssl(["rsa", "-in", key, "-traditional"]);
    assert.match(keyPem, /BEGIN RSA PRIVATE KEY/);
    const audit = await auditDuring(server, async () => {
      const { certificateAuthority } = await c.cas.importCertificateAuthority(
        { organizationId: orgId, name: unique("imported"), certificatePem: cert, privateKeyPem: keyPem, allowLeafCerts: true },
        su,
      );
      const ca = certificateAuthority!;
      assert.equal(ca.keyAlgorithm, KeyAlgorithm.RSA2048);
      assert.equal(ca.subject, "CN=Imported Root,O=Imported");
      const { certificate } = await c.certs.issueCertificate({ caId: ca.id, type: CertificateType.CLIENT, emails: ["me@example.test"] }, su);
      verifyChain(tmp, cert, [], certificate!.certificatePem, "sslclient");
    });
    assert.deepEqual(
      audit.map((a) => a.action),
      ["ca_import", "cert_create"],
    );
    const encrypted = openssl(["pkcs8", "-topk8", "-in", key, "-v2", "aes-256-cbc", "-passout", "pass:import-pass"]);
    await rejectsWith(
      c.cas.importCertificateAuthority({ organizationId: orgId, name: unique("imported"), certificatePem: cert, privateKeyPem: encrypted, privateKeyPassword: "wrong" }, su),
      "INVALID_ARGUMENT",
      /private_key_password/,
    );
    await rejectsWith(
      c.cas.importCertificateAuthority({ organizationId: orgId, name: unique("imported"), certificatePem: cert, privateKeyPem: keyPem }, su),
      "ALREADY_EXISTS",
      /already imported/,
    );
    const otherOrg = await createOrg(c, su);
    await c.cas.importCertificateAuthority(
      { organizationId: otherOrg, name: unique("imported"), certificatePem: cert, privateKeyPem: encrypted, privateKeyPassword: "import-pass" },
      su,
    );
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    await rejectsWith(
      c.cas.importCertificateAuthority({ organizationId: orgId, name: unique("imported"), certificatePem: cert, privateKeyPem: other }, su),
      "INVALID_ARGUMENT",
      /does not match/,
    );
    const leafKey = tmp.write("leaf.key", openssl(["genrsa", "2048"]));
    const notCa = openssl(["req", "-x509", "-new", "-key", leafKey, "-subj", "/CN=leaf", "-days", "3", "-addext", "basicConstraints=critical,CA:FALSE"]);
    await rejectsWith(
      c.cas.importCertificateAuthority({ organizationId: orgId, name: unique("imported"), certificatePem: notCa, privateKeyPem: openssl(["pkey", "-in", leafKey]) }, su),
      "INVALID_ARGUMENT",
      /not a CA/,
    );
  });

  it("imports an intermediate issued by a Sigil CA under that parent, and refuses one the parent did not issue", async () => {
    const root = await createRoot(c, su, orgId, { pathLength: 2 });
    const exported = await c.cas.exportCertificateAuthorityPrivateKey({ id: root.id }, su);
    assert.equal(exported.key.case, "privateKeyPem");
    const rootKey = tmp.write("root.key", exported.key.value as string);
    const rootCert = tmp.write("root.pem", root.certificatePem);
    const subKey = tmp.write("sub.key", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
    const csr = tmp.write("sub.csr", openssl(["req", "-new", "-key", subKey, "-subj", "/CN=Offline Sub"]));
    const ext = tmp.write("sub.ext", "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n");
    const subCert = openssl(["x509", "-req", "-in", csr, "-CA", rootCert, "-CAkey", rootKey, "-CAcreateserial", "-days", "10", "-extfile", ext]);
    const { certificateAuthority } = await c.cas.importCertificateAuthority(
      { organizationId: orgId, name: unique("sub"), certificatePem: subCert, privateKeyPem: openssl(["pkey", "-in", subKey]), parentId: root.id, allowLeafCerts: true },
      su,
    );
    assert.equal(certificateAuthority!.parentId, root.id);
    const chain = await c.cas.getCertificateAuthorityChain({ id: certificateAuthority!.id }, su);
    assert.equal(chain.certificatePems.length, 2);
    // recorded under the parent, so it can be revoked onto the parent's CRL
    await c.cas.revokeCertificateAuthority({ id: certificateAuthority!.id }, su);
    const other = await createRoot(c, su, orgId);
    await rejectsWith(
      c.cas.importCertificateAuthority(
        { organizationId: orgId, name: unique("sub"), certificatePem: subCert, privateKeyPem: openssl(["pkey", "-in", subKey]), parentId: other.id },
        su,
      ),
      "INVALID_ARGUMENT",
      /not issued by this parent/,
    );
  });

  describe("ExportCertificateAuthorityPrivateKey", () => {
    let withFlag: ClientCallOptions;
    let withoutFlag: ClientCallOptions;
    let root: Awaited<ReturnType<typeof createRoot>>;
    let int: Awaited<ReturnType<typeof createIntermediate>>;

    before(async () => {
      const u1 = await createUser(c, su, { organizationId: orgId, role: Role.USER, flags: { exportPrivateKey: true } });
      const u2 = await createUser(c, su, { organizationId: orgId, role: Role.USER, flags: { createCa: true, createCert: true, revokeCert: true, deleteCa: true } });
      withFlag = await c.login(u1.username, PASSWORD);
      withoutFlag = await c.login(u2.username, PASSWORD);
      root = await createRoot(c, su, orgId);
      int = await createIntermediate(c, su, root.id);
    });

    it("is refused without export_private_key, and nothing is audited", async () => {
      const audit = await auditDuring(server, () =>
        rejectsWith(c.cas.exportCertificateAuthorityPrivateKey({ id: int.id }, withoutFlag), "PERMISSION_DENIED", /export_private_key/),
      );
      assert.deepEqual(audit, []);
    });

    it("with the flag returns a PEM key that openssl reads and that matches the CA certificate, audited ca_export_private_key", async () => {
      const since = new Date(Date.now() - 1000);
      const res = await c.cas.exportCertificateAuthorityPrivateKey({ id: int.id, format: PrivateKeyFormat.PEM }, withFlag);
      assert.equal(res.key.case, "privateKeyPem");
      const pem = res.key.value as string;
      assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
      const keyPub = openssl(["pkey", "-pubout"], pem);
      const certPub = openssl(["x509", "-noout", "-pubkey"], int.certificatePem);
      assert.equal(keyPub, certPub);
      const entries = await auditEntries(server, { action: "ca_export_private_key", resourceId: int.id, since });
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.detail.format, "pem");
      assert.ok(!JSON.stringify(entries[0]!.detail).includes("PRIVATE KEY"));
    });

    it("with the flag returns a PKCS#12 (AES-256-CBC, PBKDF2) that openssl pkcs12 opens with the password", async () => {
      await rejectsWith(
        c.cas.exportCertificateAuthorityPrivateKey({ id: int.id, format: PrivateKeyFormat.PKCS12 }, withFlag),
        "INVALID_ARGUMENT",
        /password/,
      );
      const audit = await auditDuring(server, async () => {
        const res = await c.cas.exportCertificateAuthorityPrivateKey({ id: int.id, format: PrivateKeyFormat.PKCS12, password: "p12-secret" }, withFlag);
        assert.equal(res.key.case, "pkcs12");
        const p12 = tmp.write("ca.p12", res.key.value as Uint8Array);
        const certs = openssl(["pkcs12", "-in", p12, "-nokeys", "-passin", "pass:p12-secret"]);
        assert.equal(certs.match(/BEGIN CERTIFICATE/g)?.length, 2); // the CA and its root
        const key = openssl(["pkcs12", "-in", p12, "-nocerts", "-nodes", "-passin", "pass:p12-secret"]);
        assert.equal(openssl(["pkey", "-pubout"], key), openssl(["x509", "-noout", "-pubkey"], int.certificatePem));
        const info = openssl(["pkcs12", "-in", p12, "-info", "-noout", "-passin", "pass:p12-secret"], undefined, { stderr: true });
        assert.match(info, /PBES2, PBKDF2, AES-256-CBC/);
        assert.throws(() => openssl(["pkcs12", "-in", p12, "-nokeys", "-passin", "pass:wrong"]));
      });
      assert.deepEqual(
        audit.map((a) => [a.action, a.resource_id, a.detail.format]),
        [["ca_export_private_key", int.id, "pkcs12"]],
      );
    });

    it("no other CA response carries a private key", async () => {
      const responses = [
        await c.cas.getCertificateAuthority({ id: int.id }, withFlag),
        await c.cas.listCertificateAuthorities({ organizationId: orgId }, withFlag),
        await c.cas.getCertificateAuthorityChain({ id: int.id }, withFlag),
        await c.cas.listCertificateAuthorityChildren({ id: root.id }, withFlag),
        await c.cas.updateCertificateAuthority({ id: int.id, description: "x" }, su),
        await c.cas.createRootCertificateAuthority({ organizationId: orgId, name: unique("r"), subject: { commonName: "k" } }, su),
      ];
      for (const r of responses) {
        const text = JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
        assert.ok(!/PRIVATE KEY|encryptedPrivateKey/i.test(text), "a response carried key material");
      }
    });
  });

  it("rejects bad input with INVALID_ARGUMENT naming the field", async () => {
    await rejectsWith(c.cas.createRootCertificateAuthority({ organizationId: orgId, name: "x", subject: {} }, su), "INVALID_ARGUMENT", /common_name/);
    await rejectsWith(
      c.cas.createRootCertificateAuthority({ organizationId: orgId, name: "x", subject: { commonName: "x", locality: "Paris" } }, su),
      "INVALID_ARGUMENT",
      /locality/,
    );
    await rejectsWith(c.cas.getCertificateAuthority({ id: "nope" }, su), "INVALID_ARGUMENT", /id/);
    for (const organizationId of ["", "not-a-uuid"]) {
      await rejectsWith(
        c.cas.createRootCertificateAuthority({ organizationId, name: "x", subject: { commonName: "x" } }, su),
        "INVALID_ARGUMENT",
        /^organization_id: /,
      );
    }
    const root = await createRoot(c, su, orgId);
    await rejectsWith(
      c.cas.createRootCertificateAuthority({ organizationId: orgId, name: (await c.cas.getCertificateAuthority({ id: root.id }, su)).certificateAuthority!.name, subject: { commonName: "dup" } }, su),
      "ALREADY_EXISTS",
      /name/,
    );
  });
});
