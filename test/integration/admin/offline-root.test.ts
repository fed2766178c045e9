/**
 * The offline-root ceremony end to end (docs/key-custody.md, "Offline
 * root"), on PostgreSQL with the real server and openssl checking every
 * artefact: `sigil ca init-offline-root` (no server) writes the encrypted
 * root key, a pending intermediate's CSR is signed offline by `sigil ca
 * sign-intermediate`, ActivateIntermediateCertificateAuthority stores the
 * root as a key-less CA, a leaf issued over the admin API verifies against
 * the root; the root's CRL signed offline (`sigil ca sign-crl`) is imported
 * and served. Then the refusals: wrong key, not a CA, expired, bad chain,
 * wrong state, lower or equal CRL numbers, CRLs of another key.
 */
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { decodeStatusDetails, STATUS_DETAILS_TRAILER } from "../../../src/admin/error-details.js";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { CertificateAuthorityStatus, KeyStorage } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import { runSigil } from "../../helpers/sigil-cli.js";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { createOrg, rejectsWith, unique } from "./helpers.js";
import { opensslCrl, opensslRoot } from "./offline-root-helpers.js";
import { auditEntries, createRoot, openssl, PkiClients, TempDir, verifyChain } from "./pki-helpers.js";

const DAY_MS = 86_400_000;

describe("offline root ceremony (init-offline-root, pending intermediate, activation, offline CRL)", function () {
  this.timeout(300_000);
  let server: TestServer;
  let c: PkiClients;
  let su: ClientCallOptions;
  let orgId: string;
  let tmp: TempDir;
  let passFile: string;
  let rootKeyFile: string;
  let rootPem: string;
  /** the server's clock runs this far ahead of real time (the "expired" case moves it) */
  let clockOffsetMs = 0;

  before(async () => {
    server = await startTestServer({ clock: { now: () => new Date(Date.now() + clockOffsetMs) } });
    c = new PkiClients(server);
    su = await c.superuser();
    orgId = await createOrg(c, su);
    tmp = new TempDir();
    passFile = tmp.write("passphrase", "correct horse battery staple\n");
    rootKeyFile = path.join(tmp.dir, "root.key");
    const r = await runSigil(
      ["ca", "init-offline-root", "--out", rootKeyFile, "--cn", "Sigil Test Offline Root", "--o", "Sigil Tests", "--key", "p384", "--passphrase-file", passFile],
      {},
    );
    assert.equal(r.code, 0, r.stderr);
    rootPem = r.stdout;
  });
  after(async () => {
    c?.close();
    tmp?.remove();
    await server?.stop();
  });

  async function pending(name = unique("offline-int")) {
    const { certificateAuthority } = await c.cas.createIntermediateCertificateAuthority(
      { externalParent: true, organizationId: orgId, name, subject: { commonName: `Test ${name}`, organization: "Sigil Tests" }, allowLeafCerts: true },
      su,
    );
    return certificateAuthority!;
  }

  /** `sigil ca sign-intermediate` with the offline root key file; the signed certificate PEM */
  async function signOffline(csrPem: string, extra: string[] = []): Promise<string> {
    const csr = tmp.write(`${unique("csr")}.pem`, csrPem);
    const out = path.join(tmp.dir, `${unique("int")}.pem`);
    const r = await runSigil(["ca", "sign-intermediate", "--root-key", rootKeyFile, "--csr", csr, "--out", out, "--passphrase-file", passFile, ...extra], {});
    assert.equal(r.code, 0, r.stderr);
    return readFileSync(out, "utf8");
  }

  /** `sigil ca sign-crl`; the CRL file's bytes */
  async function signCrlOffline(args: string[]): Promise<Buffer> {
    const out = path.join(tmp.dir, `${unique("crl")}.pem`);
    const r = await runSigil(["ca", "sign-crl", "--root-key", rootKeyFile, "--out", out, "--passphrase-file", passFile, ...args], {});
    assert.equal(r.code, 0, r.stderr);
    return readFileSync(out);
  }

  async function violations(p: Promise<unknown>): Promise<Array<{ field: string; description: string }>> {
    try {
      await p;
    } catch (e) {
      const err = e as grpc.ServiceError;
      assert.equal(grpc.status[err.code], "INVALID_ARGUMENT", err.details);
      const details = decodeStatusDetails(err.metadata?.get(STATUS_DETAILS_TRAILER)[0] as Buffer | undefined);
      return (details?.badRequest?.fieldViolations ?? []).map((v) => ({ field: v.field, description: v.description }));
    }
    throw new Error("the call succeeded");
  }

  it("init-offline-root writes the key as PBES2/PBKDF2/AES-256 encrypted PKCS#8 (0600) with the certificate, and never overwrites", async () => {
    assert.equal(statSync(rootKeyFile).mode & 0o777, 0o600);
    const text = readFileSync(rootKeyFile, "utf8");
    assert.match(text, /-----BEGIN ENCRYPTED PRIVATE KEY-----[\s\S]+-----BEGIN CERTIFICATE-----/);
    assert.doesNotMatch(text, /BEGIN (EC )?PRIVATE KEY/);
    const asn1 = openssl(["asn1parse", "-in", rootKeyFile]);
    assert.match(asn1, /:PBES2/);
    assert.match(asn1, /:PBKDF2/);
    assert.match(asn1, /:hmacWithSHA256/);
    assert.match(asn1, /:aes-256-cbc/);
    // openssl opens it with the passphrase, and not without
    openssl(["pkey", "-in", rootKeyFile, "-passin", `file:${passFile}`, "-noout"]);
    assert.throws(() => openssl(["pkey", "-in", rootKeyFile, "-passin", "pass:wrong passphrase", "-noout"]));
    const x509 = openssl(["x509", "-noout", "-subject", "-ext", "basicConstraints,keyUsage"], rootPem);
    assert.match(x509, /CN = Sigil Test Offline Root/);
    assert.match(x509, /CA:TRUE, pathlen:1/);
    assert.match(x509, /Certificate Sign, CRL Sign/);
    assert.equal(openssl(["x509", "-noout", "-fingerprint"], rootPem), openssl(["x509", "-noout", "-fingerprint", "-in", rootKeyFile]));
    const again = await runSigil(["ca", "init-offline-root", "--out", rootKeyFile, "--cn", "Another", "--passphrase-file", passFile], {});
    assert.equal(again.code, 2);
    assert.match(again.stderr, /exists/);
    assert.equal(readFileSync(rootKeyFile, "utf8"), text);
    const weak = await runSigil(["ca", "init-offline-root", "--out", path.join(tmp.dir, "weak.key"), "--cn", "Weak", "--passphrase-file", tmp.write("short", "short\n")], {});
    assert.notEqual(weak.code, 0);
    assert.match(weak.stderr, /at least 12 characters/);
    const wrong = await runSigil(
      ["ca", "sign-crl", "--root-key", rootKeyFile, "--out", path.join(tmp.dir, "never.crl"), "--passphrase-file", tmp.write("wrong", "not the passphrase\n")],
      {},
    );
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /wrong passphrase/);
  });

  it("end to end: pending intermediate -> CSR signed offline -> activated -> admin leaf that openssl verifies against the offline root", async () => {
    const int = await pending();
    assert.equal(int.status, CertificateAuthorityStatus.PENDING_ACTIVATION);
    assert.equal(int.certificatePem, "");
    assert.equal(int.parentId, "");
    assert.match(int.csrPem, /-----BEGIN CERTIFICATE REQUEST-----/);
    // RFC 2986: the CSR's self-signature verifies, and it asks for a CA certificate
    const req = openssl(["req", "-verify", "-noout", "-text"], int.csrPem);
    assert.match(req, /CA:TRUE/);
    assert.match(req, /Certificate Sign, CRL Sign/);

    // pending: issues nothing, publishes nothing
    await rejectsWith(c.certs.issueCertificate({ caId: int.id, type: CertificateType.SERVER, dnsNames: ["pending.example.test"] }, su), "FAILED_PRECONDITION", /pending_activation/);
    assert.equal((await fetch(`${server.baseUrl}/ca/${int.id}.cer`)).status, 404);
    assert.equal((await fetch(`${server.baseUrl}/crl/${int.id}.crl`)).status, 404);

    const certPem = await signOffline(int.csrPem, ["--days", "365", "--path-length", "0"]);
    const { certificateAuthority: active } = await c.cas.activateIntermediateCertificateAuthority({ id: int.id, certificatePem: certPem, chainPems: [rootPem] }, su);
    assert.equal(active!.status, CertificateAuthorityStatus.ACTIVE);
    assert.equal(active!.csrPem, "");
    assert.equal(active!.pathLength, 0);
    assert.equal(active!.offlineKey, false);
    assert.ok(active!.parentId);
    const { certificateAuthority: root } = await c.cas.getCertificateAuthority({ id: active!.parentId }, su);
    assert.equal(root!.offlineKey, true);
    assert.equal(root!.allowLeafCerts, false);
    assert.equal(root!.parentId, "");
    assert.equal(openssl(["x509", "-noout", "-fingerprint"], root!.certificatePem), openssl(["x509", "-noout", "-fingerprint"], rootPem));
    const chain = await c.cas.getCertificateAuthorityChain({ id: int.id }, su);
    assert.equal(chain.certificatePems.length, 2);
    assert.equal(chain.certificatePems[1], root!.certificatePem);

    const { certificate } = await c.certs.issueCertificate(
      { caId: int.id, type: CertificateType.SERVER, commonName: "www.offline.example.test", dnsNames: ["www.offline.example.test"], keyAlgorithm: KeyAlgorithm.P256 },
      su,
    );
    // openssl verify -CAfile root.pem -untrusted inter.pem leaf.pem
    verifyChain(tmp, rootPem, [active!.certificatePem], certificate!.certificatePem, "sslserver");
    // AIA serves the offline root's certificate; Sigil never signs with its key
    const aia = await fetch(`${server.baseUrl}/ca/${root!.id}.cer`);
    assert.equal(aia.status, 200);
    assert.equal(openssl(["x509", "-inform", "DER", "-noout", "-fingerprint"], Buffer.from(await aia.arrayBuffer())), openssl(["x509", "-noout", "-fingerprint"], rootPem));
    assert.equal((await fetch(`${server.baseUrl}/crl/${root!.id}.crl`)).status, 404); // none imported yet
    await rejectsWith(c.cas.createIntermediateCertificateAuthority({ parentId: root!.id, name: unique("under-offline"), subject: { commonName: "x" } }, su), "FAILED_PRECONDITION", /offline/);
    // OCSP for the offline root's certificates: Sigil holds no key to answer with: no responder there (404, as for an unknown CA; never a 5xx)
    const ocspReq = path.join(tmp.dir, `${unique("ocsp")}.der`);
    openssl(["ocsp", "-issuer", tmp.write(`${unique("root")}.pem`, rootPem), "-cert", tmp.write(`${unique("int")}.pem`, active!.certificatePem), "-no_nonce", "-reqout", ocspReq]);
    const ocsp = await fetch(`${server.baseUrl}/ocsp/${root!.id}`, { method: "POST", headers: { "content-type": "application/ocsp-request" }, body: readFileSync(ocspReq) });
    assert.equal(ocsp.status, 404);

    const audit = await auditEntries(server, { action: "ca_activate", resourceId: int.id });
    assert.equal(audit.length, 1);

    // a second intermediate under the same root reuses the stored root row
    const second = await pending();
    const { certificateAuthority: secondActive } = await c.cas.activateIntermediateCertificateAuthority(
      { id: second.id, certificatePem: await signOffline(second.csrPem), chainPems: [rootPem] },
      su,
    );
    assert.equal(secondActive!.parentId, root!.id);

    // wrong state: active CAs and Sigil-made CAs cannot be activated
    await rejectsWith(c.cas.activateIntermediateCertificateAuthority({ id: int.id, certificatePem: certPem, chainPems: [rootPem] }, su), "FAILED_PRECONDITION", /only a pending_activation CA/);
    const sigilRoot = await createRoot(c, su, orgId);
    await rejectsWith(c.cas.activateIntermediateCertificateAuthority({ id: sigilRoot.id, certificatePem: certPem, chainPems: [rootPem] }, su), "FAILED_PRECONDITION");
  });

  it("the root's CRL signed offline is imported, served at /crl/{id}.crl and verifies with openssl; lower or equal numbers and other keys are refused", async () => {
    const int = await pending();
    const certPem = await signOffline(int.csrPem);
    const { certificateAuthority: active } = await c.cas.activateIntermediateCertificateAuthority({ id: int.id, certificatePem: certPem, chainPems: [rootPem] }, su);
    const rootId = active!.parentId;
    const serial = openssl(["x509", "-noout", "-serial"], certPem).trim().replace(/^serial=/, "");

    const crl = await signCrlOffline(["--revoked", `${serial}:superseded`, "--crl-number", "4000000000", "--days", "30"]);
    const imported = await c.cas.importCertificateAuthorityCrl({ id: rootId, crl }, su);
    assert.equal(imported.crlNumber, "4000000000");
    assert.equal(imported.entryCount, 1);
    const res = await fetch(`${server.baseUrl}/crl/${rootId}.crl`);
    assert.equal(res.status, 200);
    const der = Buffer.from(await res.arrayBuffer());
    const rootFile = tmp.write(`${unique("root")}.pem`, rootPem);
    const out = openssl(["crl", "-inform", "DER", "-CAfile", rootFile, "-noout", "-verify", "-text"], der, { stderr: true });
    assert.match(out, /verify OK/);
    assert.match(out, /X509v3 CRL Number:\s*\n\s*4000000000/);
    assert.match(out, new RegExp(`Serial Number: ${serial}`, "i"));
    assert.match(out, /Superseded/);
    assert.equal((await auditEntries(server, { action: "ca_crl_import", resourceId: rootId })).length, 1);

    // RFC 5280 §5.2.3: numbers only go up
    assert.match((await violations(c.cas.importCertificateAuthorityCrl({ id: rootId, crl: await signCrlOffline(["--crl-number", "3999999999"]) }, su)))[0]!.description, /not above/);
    assert.match((await violations(c.cas.importCertificateAuthorityCrl({ id: rootId, crl }, su)))[0]!.description, /not above/);
    const newer = await c.cas.importCertificateAuthorityCrl({ id: rootId, crl: await signCrlOffline(["--crl-number", "4000000001"]) }, su);
    assert.equal(newer.entryCount, 0);
    assert.match(openssl(["crl", "-inform", "DER", "-noout", "-text"], Buffer.from(await (await fetch(`${server.baseUrl}/crl/${rootId}.crl`)).arrayBuffer())), /4000000001/);

    // a CRL of another key with the same name is refused, so is garbage; so is an import for a CA Sigil signs for
    const impostor = opensslRoot("Sigil Test Offline Root");
    const forged = await violations(c.cas.importCertificateAuthorityCrl({ id: rootId, crl: opensslCrl(impostor, { number: "FFFFFFFF00" }) }, su));
    assert.equal(forged[0]!.field, "crl");
    assert.match(forged[0]!.description, /issuer|signature/);
    assert.equal((await violations(c.cas.importCertificateAuthorityCrl({ id: rootId, crl: Buffer.from("not a crl") }, su)))[0]!.field, "crl");
    await rejectsWith(c.cas.importCertificateAuthorityCrl({ id: active!.id, crl }, su), "FAILED_PRECONDITION", /signs this CA's CRLs itself/);
  });

  it("refuses external_parent with KEY_STORAGE_PKCS11 (FAILED_PRECONDITION, nothing written): the pending key lives in the database", async () => {
    const name = unique("offline-hsm");
    const req = { externalParent: true, organizationId: orgId, name, subject: { commonName: `Test ${name}` }, allowLeafCerts: true };
    await rejectsWith(
      c.cas.createIntermediateCertificateAuthority({ ...req, keyStorage: KeyStorage.PKCS11 }, su),
      "FAILED_PRECONDITION",
      /an intermediate with an external parent keeps its key in the database for now/,
    );
    // no half-written row: the name is still free, and the database key is still what a pending intermediate gets
    const { certificateAuthority } = await c.cas.createIntermediateCertificateAuthority({ ...req, keyStorage: KeyStorage.DATABASE }, su);
    assert.equal(certificateAuthority!.status, CertificateAuthorityStatus.PENDING_ACTIVATION);
    assert.equal(certificateAuthority!.keyStorage, KeyStorage.DATABASE);
  });

  it("refuses certificates that are not for the pending key, not a CA, expired, or that do not chain to the given root, naming the field", async () => {
    const a = await pending();
    const b = await pending();
    const certForB = await signOffline(b.csrPem);

    // the wrong key: a certificate signed for another CSR
    const wrongKey = await violations(c.cas.activateIntermediateCertificateAuthority({ id: a.id, certificatePem: certForB, chainPems: [rootPem] }, su));
    assert.deepEqual(wrongKey.map((v) => v.field), ["certificate_pem"]);
    assert.match(wrongKey[0]!.description, /not this CA's pending key/);

    // not a CA: the offline root (through openssl, with its encrypted key) signs a leaf profile
    const leafProfile = execOpensslSign(a.csrPem, ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature"]);
    const notCa = await violations(c.cas.activateIntermediateCertificateAuthority({ id: a.id, certificatePem: leafProfile, chainPems: [rootPem] }, su));
    assert.ok(notCa.some((v) => v.field === "certificate_pem" && /cA is not TRUE/.test(v.description)), JSON.stringify(notCa));
    assert.ok(notCa.some((v) => /keyCertSign/.test(v.description)), JSON.stringify(notCa));

    // a chain that does not lead to its certificate, or ends in no self-signed root
    const other = opensslRoot("Some Other Root");
    const badChain = await violations(c.cas.activateIntermediateCertificateAuthority({ id: a.id, certificatePem: await signOffline(a.csrPem), chainPems: [other.pem] }, su));
    assert.ok(badChain.some((v) => v.field === "certificate_pem" && /not issued by chain_pems\[0\]/.test(v.description)), JSON.stringify(badChain));
    const noRoot = await violations(c.cas.activateIntermediateCertificateAuthority({ id: a.id, certificatePem: await signOffline(a.csrPem), chainPems: [] }, su));
    assert.equal(noRoot[0]!.field, "chain_pems");
    const garbage = await violations(c.cas.activateIntermediateCertificateAuthority({ id: a.id, certificatePem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", chainPems: ["nothing"] }, su));
    assert.deepEqual(garbage.map((v) => v.field).sort(), ["certificate_pem", "chain_pems[0]"]);

    // the path length must be below the root's (1): sign-intermediate refuses to write one, openssl does not
    const refused = await runSigil(["ca", "sign-intermediate", "--root-key", rootKeyFile, "--csr", tmp.write(`${unique("csr")}.pem`, a.csrPem), "--out", path.join(tmp.dir, `${unique("deep")}.pem`), "--path-length", "1", "--passphrase-file", passFile], {});
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /path length/);
    const deepCert = execOpensslSign(a.csrPem, ["basicConstraints=critical,CA:TRUE,pathlen:1", "keyUsage=critical,keyCertSign,cRLSign"]);
    const deep = await violations(c.cas.activateIntermediateCertificateAuthority({ id: a.id, certificatePem: deepCert, chainPems: [rootPem] }, su));
    assert.ok(deep.some((v) => /path length must be below/.test(v.description)), JSON.stringify(deep));

    // expired: signed for one day, activated (by the server's clock) two days later
    const shortLived = await signOffline(a.csrPem, ["--days", "1"]);
    clockOffsetMs = 2 * DAY_MS;
    try {
      // a token from two days ago has expired too: log in again at the server's new time
      const later = await c.superuser();
      const expired = await violations(c.cas.activateIntermediateCertificateAuthority({ id: a.id, certificatePem: shortLived, chainPems: [rootPem] }, later));
      assert.ok(expired.some((v) => v.field === "certificate_pem" && /expired/.test(v.description)), JSON.stringify(expired));
    } finally {
      clockOffsetMs = 0;
    }
    su = await c.superuser();

    // none of that changed the pending CA; the right certificate still activates it
    const { certificateAuthority: still } = await c.cas.getCertificateAuthority({ id: a.id }, su);
    assert.equal(still!.status, CertificateAuthorityStatus.PENDING_ACTIVATION);
    const { certificateAuthority: ok } = await c.cas.activateIntermediateCertificateAuthority({ id: a.id, certificatePem: await signOffline(a.csrPem), chainPems: [rootPem] }, su);
    assert.equal(ok!.status, CertificateAuthorityStatus.ACTIVE);
  });

  it("the CLI's online half: request-intermediate writes the CSR, activate takes the offline signature, import-crl the root's CRL", async () => {
    const home = path.join(tmp.dir, unique("xdg"));
    const env = { XDG_CONFIG_HOME: home, SIGIL_SERVER: `127.0.0.1:${server.grpcPort}`, SIGIL_API_KEY: "" };
    const login = await runSigil(["login", "--username", "admin", "--password-stdin"], env, `${TEST_ADMIN_PASSWORD}\n`);
    assert.equal(login.code, 0, login.stderr);
    const csrFile = path.join(tmp.dir, `${unique("cli")}.csr`);
    const req = await runSigil(["ca", "request-intermediate", "--org", orgId, "--name", unique("cli-int"), "--cn", "CLI Issuing CA", "--csr-out", csrFile, "--json"], env);
    assert.equal(req.code, 0, req.stderr);
    const pendingId = (JSON.parse(req.stdout) as { certificateAuthority: { id: string; status: string } }).certificateAuthority.id;
    assert.match(readFileSync(csrFile, "utf8"), /BEGIN CERTIFICATE REQUEST/);
    const certFile = tmp.write(`${unique("cli-int")}.pem`, await signOffline(readFileSync(csrFile, "utf8")));
    const rootFile = tmp.write(`${unique("cli-root")}.pem`, rootPem);
    const act = await runSigil(["ca", "activate", pendingId, "--cert", certFile, "--chain", rootFile], env);
    assert.equal(act.code, 0, act.stderr);
    assert.match(act.stdout, /status:\s+active/);
    const { certificateAuthority } = await c.cas.getCertificateAuthority({ id: pendingId }, su);
    const crlFile = path.join(tmp.dir, `${unique("cli")}.crl`);
    const signed = await runSigil(["ca", "sign-crl", "--root-key", rootKeyFile, "--out", crlFile, "--der", "--passphrase-file", passFile, "--crl-number", "9000000000"], {});
    assert.equal(signed.code, 0, signed.stderr);
    const imp = await runSigil(["ca", "import-crl", certificateAuthority!.parentId, "--crl", crlFile], env);
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /9000000000/);
    // a refusal prints the field violation and exits 1
    const again = await runSigil(["ca", "import-crl", certificateAuthority!.parentId, "--crl", crlFile], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not above/);
  });

  /** openssl signing with the ceremony's encrypted root key file (what an operator's own tooling would do) */
  function execOpensslSign(csrPem: string, extensions: string[]): string {
    const csr = tmp.write(`${unique("csr")}.pem`, csrPem);
    const ext = tmp.write(`${unique("ext")}.cnf`, `${extensions.join("\n")}\n`);
    const out = path.join(tmp.dir, `${unique("leafprofile")}.pem`);
    const rootCert = tmp.write(`${unique("root")}.pem`, rootPem);
    openssl(["x509", "-req", "-in", csr, "-CA", rootCert, "-CAkey", rootKeyFile, "-passin", `file:${passFile}`, "-CAcreateserial", "-days", "30", "-sha384", "-extfile", ext, "-out", out]);
    return readFileSync(out, "utf8");
  }
});
