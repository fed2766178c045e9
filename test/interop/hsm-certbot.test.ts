/**
 * Issue 14 "done when", PKCS#11 part, on a real SoftHSM2 token of the
 * test's own (test/helpers/softhsm.ts): a root and an intermediate created
 * with key_storage PKCS11 over the admin API; the intermediate issues over
 * ACME (real certbot, real http-01 validation) and over the admin API
 * (IssueCertificate, SignCsr); openssl verifies every chain, its CRL
 * (`openssl crl -verify`) and its OCSP answers (`openssl ocsp`, signed by a
 * responder the HSM key certified); the key export is refused; a restart
 * (stop, then start against the same database, master key and token)
 * reconnects and the intermediate still signs. A missing certbot,
 * pebble-challtestsrv, openssl or softhsm2 fails the suite.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ClientCallOptions } from "../../src/admin/grpc-adapter.js";
import { KeyStorage } from "../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateType } from "../../src/gen/sigil/admin/v1/certificate_pb.js";
import { RevocationReason } from "../../src/gen/sigil/admin/v1/common_pb.js";
import { systemActor } from "../../src/ra/actor.js";
import { createDirectory } from "../../src/ra/acme/directories.js";
import { createOrg, rejectsWith } from "../integration/admin/helpers.js";
import { openssl, PkiClients } from "../integration/admin/pki-helpers.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { freePort, startTestServer, type TestServer } from "../helpers/server.js";
import { createTestToken, type TestToken } from "../helpers/softhsm.js";
import { Certbot } from "./helpers/certbot.js";
import { startChallTestSrv, type ChallTestSrv } from "./helpers/challtestsrv.js";
import { dnsNamesOf, opensslOcsp, opensslVerify, serialOf } from "./helpers/openssl.js";
import { requireTool } from "./helpers/tools.js";

describe("HSM-backed CAs on SoftHSM2 (PKCS#11): certbot, admin API, CRL, OCSP, export refusal, restart", function () {
  this.timeout(240_000);

  let token: TestToken;
  let cts: ChallTestSrv;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let server: TestServer;
  let c: PkiClients;
  let su: ClientCallOptions;
  let tmp: string;
  let http01Port: number;
  let rootId: string;
  let intId: string;
  let rootPem: string;
  let intPem: string;
  const masterKey = randomBytes(32).toString("hex");
  const certbots: Certbot[] = [];

  const start = async () => {
    server = await startTestServer({
      embedded: false,
      env: {
        ...token.env,
        DATABASE_URL: db.url,
        SIGIL_MASTER_KEY: masterKey,
        SIGIL_DNS_SERVERS: cts.dnsServer,
        SIGIL_VALIDATION_HTTP_PORT: String(http01Port),
        SIGIL_CRL_DEBOUNCE_MS: "100",
      },
    });
    c = new PkiClients(server);
    su = await c.superuser();
  };
  const stop = async () => {
    c?.close();
    await server?.stop();
  };
  const file = (name: string, content: string) => {
    const p = path.join(tmp, name);
    writeFileSync(p, content);
    return p;
  };
  const keyColumns = async (id: string) =>
    (
      await server.db.orm.em
        .getConnection()
        .execute<Array<{ key_storage: string; key_reference: string | null; encrypted_private_key: string | null }>>(
          `select key_storage, key_reference, encrypted_private_key from certificate_authorities where id = ?`,
          [id],
        )
    )[0]!;
  const issueAndVerify = async (commonName: string) => {
    const { certificate } = await c.certs.issueCertificate({ caId: intId, type: CertificateType.SERVER, commonName, dnsNames: [commonName] }, su);
    const r = await opensslVerify({ rootPem, chainPem: intPem, certPem: file(`${commonName}.pem`, certificate!.certificatePem), purpose: "sslserver" });
    assert.ok(r.ok, r.stdout + r.stderr);
    return certificate!;
  };

  before(async function () {
    requireTool("certbot", "install the Debian package certbot (.ci/run does)");
    requireTool("openssl");
    requireTool("softhsm2-util", "install the Debian package softhsm2 (.ci/run does)");
    tmp = mkdtempSync(path.join(tmpdir(), "sigil-hsm-test-"));
    token = createTestToken("sigil-hsm-interop");
    cts = await startChallTestSrv();
    http01Port = await freePort();
    db = await createTestDatabase();
    await start();
    const orgId = await createOrg(c, su);
    const root = await c.cas.createRootCertificateAuthority(
      { organizationId: orgId, name: "hsm-root", subject: { commonName: "HSM Test Root" }, pathLength: 1, keyStorage: KeyStorage.PKCS11 },
      su,
    );
    rootId = root.certificateAuthority!.id;
    rootPem = file("root.pem", root.certificateAuthority!.certificatePem);
    const int = await c.cas.createIntermediateCertificateAuthority(
      { parentId: rootId, name: "hsm-int", subject: { commonName: "HSM Test Intermediate" }, allowLeafCerts: true, keyStorage: KeyStorage.PKCS11 },
      su,
    );
    intId = int.certificateAuthority!.id;
    intPem = file("int.pem", int.certificateAuthority!.certificatePem);
    await createDirectory(server.ra, systemActor("hsm-test"), { name: "hsm", ca: intId });
  });

  after(async () => {
    for (const b of certbots) b.cleanup();
    await stop();
    await db?.drop();
    await cts?.stop();
    token?.remove();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("creates the root and intermediate keys in the token: the CA reports PKCS11 with its CKA_ID and the database holds no key", async () => {
    for (const id of [rootId, intId]) {
      const { certificateAuthority: ca } = await c.cas.getCertificateAuthority({ id }, su);
      assert.equal(ca!.keyStorage, KeyStorage.PKCS11);
      assert.match(ca!.keyReference, /^[0-9a-f]{32}$/);
      const row = await keyColumns(id);
      assert.equal(row.key_storage, "pkcs11");
      assert.equal(row.key_reference, ca!.keyReference);
      assert.equal(row.encrypted_private_key, null);
    }
    // the chain root -> intermediate verifies (the root's token key signed the intermediate)
    assert.match(openssl(["verify", "-CAfile", rootPem, intPem]), /: OK/);
  });

  it("IssueCertificate and SignCsr sign with the HSM intermediate; openssl verifies root -> intermediate -> leaf", async () => {
    await issueAndVerify("admin-api.hsm.test");
    const keyFile = path.join(tmp, "csr.key");
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile]);
    const csr = openssl(["req", "-new", "-key", keyFile, "-subj", "/CN=csr.hsm.test", "-addext", "subjectAltName=DNS:csr.hsm.test"]);
    const { certificate } = await c.certs.signCsr({ caId: intId, csrPem: csr, type: CertificateType.SERVER }, su);
    const r = await opensslVerify({ rootPem, chainPem: intPem, certPem: file("csr.pem", certificate!.certificatePem), purpose: "sslserver" });
    assert.ok(r.ok, r.stdout + r.stderr);
  });

  it("certbot obtains a certificate over http-01 from a directory on the HSM intermediate; openssl verifies it", async () => {
    const certbot = new Certbot({ server: `${server.baseUrl}/acme/hsm/directory` });
    certbots.push(certbot);
    await certbot.runOk("certonly", [
      "--standalone",
      "--preferred-challenges", "http",
      "--http-01-port", String(http01Port),
      "--http-01-address", "127.0.0.1",
      "--agree-tos", "-m", "test@example.org",
      "-d", "web.hsm.test",
    ]);
    const l = certbot.lineage("web.hsm.test");
    assert.deepEqual(dnsNamesOf(l.cert), ["web.hsm.test"]);
    const r = await opensslVerify({ rootPem, chainPem: l.chain, certPem: l.cert, purpose: "sslserver" });
    assert.ok(r.ok, r.stdout + r.stderr);

    // OCSP (RFC 6960): good, then revoked, each response verified by openssl up to the root
    const ocsp = () => opensslOcsp({ certPem: l.cert, issuerPem: l.chain, rootPem });
    const good = await ocsp();
    assert.equal(good.status, "good", good.output);
    assert.ok(good.verified, good.output);
    await certbot.runOk("revoke", ["--cert-path", l.cert, "--reason", "keycompromise", "--no-delete-after-revoke"]);
    const revoked = await ocsp();
    assert.equal(revoked.status, "revoked", revoked.output);
    assert.equal(revoked.reason, "keyCompromise");
    assert.ok(revoked.verified, revoked.output);

    // the CRL (RFC 5280 §5), signed by the token key, lists it and verifies with openssl crl -verify
    const serial = serialOf(l.cert);
    let text = "";
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${server.baseUrl}/crl/${intId}.crl`);
      assert.equal(res.status, 200);
      const crl = path.join(tmp, "int.crl");
      writeFileSync(crl, Buffer.from(await res.arrayBuffer()));
      text = openssl(["crl", "-inform", "DER", "-in", crl, "-CAfile", intPem, "-verify", "-noout", "-text"], undefined, { stderr: true });
      if (new RegExp(`Serial Number: 0*${serial}`, "i").test(text)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(text, /verify OK/);
    assert.match(text, new RegExp(`Serial Number: 0*${serial}`, "i"));
    assert.match(text, /Key Compromise/);
  });

  it("refuses to export an HSM key with FAILED_PRECONDITION and a clear message", async () => {
    for (const id of [rootId, intId]) {
      await rejectsWith(c.cas.exportCertificateAuthorityPrivateKey({ id }, su), "FAILED_PRECONDITION", /PKCS#11 token .*cannot be exported/);
    }
  });

  it("after a restart against the same database and token, the intermediate finds its key again and still signs", async () => {
    await stop();
    await start();
    const cert = await issueAndVerify("after-restart.hsm.test");
    assert.ok(cert.serial);
    // and a CRL regenerated after the restart verifies
    await c.certs.revokeCertificate({ id: cert.id, reason: RevocationReason.SUPERSEDED }, su);
    let text = "";
    for (let i = 0; i < 50; i++) {
      const crl = path.join(tmp, "int-after.crl");
      writeFileSync(crl, Buffer.from(await (await fetch(`${server.baseUrl}/crl/${intId}.crl`)).arrayBuffer()));
      text = openssl(["crl", "-inform", "DER", "-in", crl, "-CAfile", intPem, "-verify", "-noout", "-text"], undefined, { stderr: true });
      if (new RegExp(`Serial Number: 0*${cert.serial.replace(/^0+/, "")}`, "i").test(text)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(text, /verify OK/);
    assert.match(text, new RegExp(`Serial Number: 0*${cert.serial.replace(/^0+/, "")}`, "i"));
  });
});
