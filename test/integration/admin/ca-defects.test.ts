/**
 * CertificateAuthorityService / CertificateService defects of the PKI side,
 * each with the behaviour that was wrong:
 * - a CRL base URL the signer refuses (a space) was accepted, and signing
 *   then failed naming a field the API does not have;
 * - a sub-intermediate clamped to its parent's validity always failed
 *   ("notAfter must not be after the issuer's notAfter"): database
 *   milliseconds against certificate seconds;
 * - SignCsr signed a CSR whose key is a CA's own key;
 * - an encrypted PKCS#8 with a huge PBKDF2 iteration count was decrypted on
 *   the event loop (now refused before decrypting).
 */
import assert from "node:assert/strict";
import { randomBytes, X509Certificate } from "node:crypto";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { derInteger, derOctetString, derOid, seq, toPem } from "../../../src/ca/der.js";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg, rejectsWith, unique } from "./helpers.js";
import { createIntermediate, createRoot, openssl, PkiClients, TempDir, verifyChain } from "./pki-helpers.js";

describe("admin PKI defects", function () {
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

  describe("CRL base URL", () => {
    const bad = ["http://crl.example.test/a b", "http://crl.example.test/caf\u00e9", "HTTP://crl.example.test", "ftp://crl.example.test", "http://crl.example.test/?x=1", `http://crl.example.test/${"a".repeat(600)}`];

    it("refuses, naming crl_base_url, a URL the signer would refuse when creating a root or an intermediate", async () => {
      for (const crlBaseUrl of bad) {
        await rejectsWith(
          c.cas.createRootCertificateAuthority({ organizationId: orgId, name: unique("root"), subject: { commonName: "Root" }, crlBaseUrl }, su),
          "INVALID_ARGUMENT",
          /^crl_base_url: /,
        );
      }
      const root = await createRoot(c, su, orgId);
      await rejectsWith(
        c.cas.createIntermediateCertificateAuthority({ parentId: root.id, name: unique("int"), subject: { commonName: "Int" }, crlBaseUrl: bad[0] }, su),
        "INVALID_ARGUMENT",
        /^crl_base_url: /,
      );
    });

    it("refuses it on update and leaves the CA issuing", async () => {
      const root = await createRoot(c, su, orgId);
      const int = await createIntermediate(c, su, root.id);
      for (const crlBaseUrl of bad) {
        await rejectsWith(c.cas.updateCertificateAuthority({ id: int.id, crlBaseUrl }, su), "INVALID_ARGUMENT", /^crl_base_url: /);
      }
      const { certificate } = await c.certs.issueCertificate({ caId: int.id, type: CertificateType.SERVER, dnsNames: ["ok.example.test"] }, su);
      assert.ok(certificate!.certificatePem);
    });

    it("refuses it on import", async () => {
      const key = tmp.write("crl-import.key", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
      const cert = openssl(["req", "-x509", "-new", "-key", key, "-subj", "/CN=Imported", "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
      await rejectsWith(
        c.cas.importCertificateAuthority({ organizationId: orgId, name: unique("imp"), certificatePem: cert, privateKeyPem: openssl(["pkey", "-in", key]), crlBaseUrl: bad[0] }, su),
        "INVALID_ARGUMENT",
        /^crl_base_url: /,
      );
    });

    it("accepts a valid one: an intermediate under a CA that has it carries its URLs, and so do the intermediate's leaves", async () => {
      const base = "https://pki.example.test/sigil";
      const { certificateAuthority: root } = await c.cas.createRootCertificateAuthority(
        { organizationId: orgId, name: unique("root"), subject: { commonName: "URL Root" }, crlBaseUrl: base },
        su,
      );
      const int = await createIntermediate(c, su, root!.id);
      const text = openssl(["x509", "-noout", "-text"], int.certificatePem);
      assert.match(text, new RegExp(`URI:${base}/crl/${root!.id}\\.crl`));
      const updated = await c.cas.updateCertificateAuthority({ id: int.id, crlBaseUrl: `${base}/int/` }, su);
      assert.equal(updated.certificateAuthority!.crlBaseUrl, `${base}/int/`);
      const { certificate } = await c.certs.issueCertificate({ caId: int.id, type: CertificateType.SERVER, dnsNames: ["url.example.test"] }, su);
      assert.match(openssl(["x509", "-noout", "-text"], certificate!.certificatePem), new RegExp(`URI:${base}/int/crl/${int.id}\\.crl`));
    });
  });

  it("creates root -> intermediate -> sub-intermediate asking for more than the parent's validity, clamped to the parent certificate's notAfter", async () => {
    const { certificateAuthority: root } = await c.cas.createRootCertificateAuthority(
      { organizationId: orgId, name: unique("root"), subject: { commonName: "Clamp Root" }, validityDays: 400 },
      su,
    );
    const { certificateAuthority: int } = await c.cas.createIntermediateCertificateAuthority(
      { parentId: root!.id, name: unique("int"), subject: { commonName: "Clamp Int" }, validityDays: 2000 },
      su,
    );
    const { certificateAuthority: sub } = await c.cas.createIntermediateCertificateAuthority(
      { parentId: int!.id, name: unique("sub"), subject: { commonName: "Clamp Sub" }, validityDays: 5000, allowLeafCerts: true },
      su,
    );
    const rootEnd = new Date(new X509Certificate(root!.certificatePem).validTo).getTime();
    const intEnd = new Date(new X509Certificate(int!.certificatePem).validTo).getTime();
    const subEnd = new Date(new X509Certificate(sub!.certificatePem).validTo).getTime();
    assert.equal(intEnd, rootEnd);
    assert.equal(subEnd, intEnd);
    // the row states the certificate's validity
    assert.equal(Number(sub!.notAfter!.seconds) * 1000, subEnd);
    const { certificate } = await c.certs.issueCertificate({ caId: sub!.id, type: CertificateType.SERVER, dnsNames: ["deep.example.test"], validityDays: 3650 }, su);
    assert.equal(new Date(new X509Certificate(certificate!.certificatePem).validTo).getTime(), subEnd);
    verifyChain(tmp, root!.certificatePem, [int!.certificatePem, sub!.certificatePem], certificate!.certificatePem, "sslserver");
  });

  describe("SignCsr with a CA's key", () => {
    it("refuses a CSR whose key is the issuing CA's, or its parent's, own key", async () => {
      const root = await createRoot(c, su, orgId);
      const int = await createIntermediate(c, su, root.id);
      for (const ca of [int, root]) {
        const exported = await c.cas.exportCertificateAuthorityPrivateKey({ id: ca.id }, su);
        const key = tmp.write(`ca-${ca.id}.key`, exported.key.value as string);
        const csr = openssl(["req", "-new", "-key", key, "-subj", "/CN=reuse.example.test", "-addext", "subjectAltName=DNS:reuse.example.test"]);
        await rejectsWith(c.certs.signCsr({ caId: int.id, csrPem: csr, type: CertificateType.SERVER }, su), "INVALID_ARGUMENT", /certificate authority's key/);
      }
      // a key of its own is signed
      const own = tmp.write("own.key", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
      const csr = openssl(["req", "-new", "-key", own, "-subj", "/CN=own.example.test", "-addext", "subjectAltName=DNS:own.example.test"]);
      const { certificate } = await c.certs.signCsr({ caId: int.id, csrPem: csr, type: CertificateType.SERVER }, su);
      assert.ok(certificate!.id);
    });
  });

  describe("ImportCertificateAuthority with an encrypted key", () => {
    /** an EncryptedPrivateKeyInfo (PBES2, PBKDF2, AES-256-CBC) naming `iterations`; the ciphertext is random */
    function pbes2Pem(iterations: number): string {
      const kdf = seq(derOid("1.2.840.113549.1.5.12"), seq(derOctetString(randomBytes(16)), derInteger(iterations), seq(derOid("1.2.840.113549.2.9"))));
      const enc = seq(derOid("2.16.840.1.101.3.4.1.42"), derOctetString(randomBytes(16)));
      return toPem(seq(seq(derOid("1.2.840.113549.1.5.13"), seq(kdf, enc)), derOctetString(randomBytes(144))), "ENCRYPTED PRIVATE KEY");
    }

    it("refuses a key encrypted with 40,000,000 PBKDF2 iterations at once, naming private_key_pem; a normal one imports", async () => {
      const key = tmp.write("iter.key", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]));
      const cert = openssl(["req", "-x509", "-new", "-key", key, "-subj", "/CN=Iter", "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
      const started = Date.now();
      await rejectsWith(
        c.cas.importCertificateAuthority({ organizationId: orgId, name: unique("imp"), certificatePem: cert, privateKeyPem: pbes2Pem(40_000_000), privateKeyPassword: "pw" }, su),
        "INVALID_ARGUMENT",
        /^private_key_pem: .*iterations/,
      );
      assert.ok(Date.now() - started < 2000, "refused without deriving the key");
      const encrypted = openssl(["pkcs8", "-topk8", "-in", key, "-v2", "aes-256-cbc", "-iter", "100000", "-passout", "pass:import-pass"]);
      const { certificateAuthority } = await c.cas.importCertificateAuthority(
        { organizationId: orgId, name: unique("imp"), certificatePem: cert, privateKeyPem: encrypted, privateKeyPassword: "import-pass" },
        su,
      );
      assert.ok(certificateAuthority!.id);
    });
  });
});
