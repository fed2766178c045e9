/**
 * The offline-root building blocks in src/ca: the CA CSR (RFC 2986) that
 * openssl verifies and readCaCsr reads back, the key file's PBES2 PKCS#8
 * that openssl opens, and the checks of an imported CRL (RFC 5280 §5) on
 * CRLs openssl signed.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { isSigilError } from "../../../src/core/errors.js";
import { csrDerFromPem } from "../../../src/ca/csr.js";
import { buildCaCsr, keyObjectCsrSigner, readCaCsr } from "../../../src/ca/csr-builder.js";
import { fromPem } from "../../../src/ca/der.js";
import { checkImportedCrl, CrlImportError, inspectCaCertificate, issuedBy } from "../../../src/ca/external-ca.js";
import { spkiOf } from "../../../src/ca/keys.js";
import { encryptPrivateKeyPem, formatOfflineRootFile, openOfflineRootFile } from "../../../src/ca/offline-root-file.js";

function openssl(args: string[], cwd: string, input?: string | Buffer): string {
  return execFileSync("openssl", args, { cwd, input, stdio: ["pipe", "pipe", "pipe"] }).toString("utf8");
}

describe("ca/offline root building blocks", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sigil-offline-unit-"));
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "root.key"], dir);
    openssl(["req", "-x509", "-new", "-key", "root.key", "-sha256", "-days", "30", "-subj", "/CN=Unit Root", "-out", "root.pem", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], dir);
    writeFileSync(path.join(dir, "index.txt"), "");
    writeFileSync(path.join(dir, "crlnumber"), "10\n");
    writeFileSync(path.join(dir, "ca.cnf"), `[ca]\ndefault_ca = r\n[r]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\n[delta]\n2.5.29.27 = critical,ASN1:INTEGER:9\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const name of ["P-384", "RSA 2048"] as const) {
    it(`ok/${name}: buildCaCsr writes a CSR openssl verifies, asking for a CA; readCaCsr returns its subject and key`, () => {
      const { privateKey } = name === "P-384" ? generateKeyPairSync("ec", { namedCurve: "secp384r1" }) : generateKeyPairSync("rsa", { modulusLength: 2048 });
      const csr = buildCaCsr({ subject: { commonName: "Issuing CA", organization: "Example", country: "DE" }, signer: keyObjectCsrSigner(privateKey) });
      const text = openssl(["req", "-verify", "-noout", "-text"], dir, csr.pem);
      assert.match(text, /Subject: C ?= ?DE, O ?= ?Example, CN ?= ?Issuing CA/);
      assert.match(text, /CA:TRUE/);
      assert.match(text, /Digital Signature, Certificate Sign, CRL Sign/);
      const read = readCaCsr(csrDerFromPem(csr.pem));
      assert.ok(read.spki.equals(spkiOf(privateKey)));
      assert.equal(read.keyAlgorithm, name.startsWith("RSA") ? "rsa2048" : "p384");
    });
  }

  it("fail/tampered: readCaCsr refuses a CSR whose signature does not verify (badCsr)", () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const der = Buffer.from(buildCaCsr({ subject: { commonName: "Tampered CA" }, signer: keyObjectCsrSigner(privateKey) }).der);
    const at = der.indexOf(Buffer.from("Tampered"));
    der[at] = "X".charCodeAt(0);
    assert.throws(() => readCaCsr(der), (e: unknown) => isSigilError(e, "badCsr"));
  });

  it("ok: the key file's PKCS#8 is PBES2 that openssl opens; openOfflineRootFile refuses a wrong passphrase without saying more", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const pem = encryptPrivateKeyPem(privateKey, "a long enough passphrase", 1000);
    writeFileSync(path.join(dir, "enc.key"), pem);
    openssl(["pkey", "-in", "enc.key", "-passin", "pass:a long enough passphrase", "-noout"], dir);
    const file = formatOfflineRootFile(pem, readFileSync(path.join(dir, "root.pem"), "utf8"));
    const opened = await openOfflineRootFile(file, "a long enough passphrase");
    assert.ok(spkiOf(opened.privateKey).equals(spkiOf(privateKey)));
    await assert.rejects(openOfflineRootFile(file, "not the passphrase"), (e: unknown) => isSigilError(e, "invalidArgument") && e.message === "wrong passphrase for the key file");
    assert.throws(() => encryptPrivateKeyPem(privateKey, "short"), /at least 12/);
  });

  it("ok/fail: checkImportedCrl accepts the root's CRL and refuses delta CRLs, other issuers' and altered ones", () => {
    const root = inspectCaCertificate(fromPem(readFileSync(path.join(dir, "root.pem"), "utf8"), "CERTIFICATE")!, "root");
    assert.ok(issuedBy(root, root));
    openssl(["ca", "-gencrl", "-config", "ca.cnf", "-keyfile", "root.key", "-cert", "root.pem", "-out", "crl.pem"], dir);
    const pem = readFileSync(path.join(dir, "crl.pem"));
    const ok = checkImportedCrl(pem, root);
    assert.equal(ok.crlNumber, 0x10n);
    assert.equal(ok.entryCount, 0);
    assert.ok(checkImportedCrl(fromPem(pem.toString(), "X509 CRL")!, root).der.equals(ok.der));

    openssl(["ca", "-gencrl", "-config", "ca.cnf", "-crlexts", "delta", "-keyfile", "root.key", "-cert", "root.pem", "-out", "delta.pem"], dir);
    assert.throws(() => checkImportedCrl(readFileSync(path.join(dir, "delta.pem")), root), (e: unknown) => e instanceof CrlImportError && /delta CRL/.test(e.message));

    const altered = Buffer.from(ok.der);
    altered[altered.length - 5] ^= 0xff;
    assert.throws(() => checkImportedCrl(altered, root), (e: unknown) => e instanceof CrlImportError);
    assert.throws(() => checkImportedCrl(Buffer.from("garbage"), root), (e: unknown) => e instanceof CrlImportError && /not a valid CRL/.test(e.message));

    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "other.key"], dir);
    openssl(["req", "-x509", "-new", "-key", "other.key", "-sha256", "-days", "30", "-subj", "/CN=Other Root", "-out", "other.pem"], dir);
    const other = inspectCaCertificate(fromPem(readFileSync(path.join(dir, "other.pem"), "utf8"), "CERTIFICATE")!, "root");
    assert.throws(() => checkImportedCrl(pem, other), (e: unknown) => e instanceof CrlImportError && /issuer/.test(e.message));
  });
});
