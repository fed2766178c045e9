/**
 * Interop: real certbot (Debian package) against the real server, with real
 * challenge validation. DNS is pebble-challtestsrv (every name resolves to
 * 127.0.0.1; dns-01 TXT records set by certbot's manual hooks), http-01 is
 * certbot's own standalone server on a free high port that the server's
 * validator connects to (SIGIL_VALIDATION_HTTP_PORT). openssl checks every
 * issued chain against the root. A missing certbot, pebble-challtestsrv,
 * curl or openssl fails the suite.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { systemActor } from "../../src/ra/actor.js";
import { createDirectory, createEabKey } from "../../src/ra/acme/directories.js";
import { freePort, startTestServer, type TestServer } from "../helpers/server.js";
import { Certbot } from "./helpers/certbot.js";
import { startChallTestSrv, type ChallTestSrv } from "./helpers/challtestsrv.js";
import { dnsNamesOf, ekuOf, normalizeSerial, opensslOcsp, opensslVerify, serialOf, splitPem } from "./helpers/openssl.js";
import { requireTool } from "./helpers/tools.js";

const EAB_DIRECTORY = "certbot-eab";
const CLIENT_DIRECTORY = "certbot-clients";

interface CertRow {
  status: string;
  revocation_reason: number | null;
  source: string;
  acme_account_id: string | null;
}

describe("certbot interop (real certbot, real validation)", function () {
  this.timeout(180_000);

  let cts: ChallTestSrv;
  let server: TestServer;
  let http01Port: number;
  let tmp: string;
  let rootPem: string;
  const certbots: Certbot[] = [];

  const directoryUrl = (name: string) => `${server.baseUrl}/acme/${name}/directory`;
  const newCertbot = (directory: string) => {
    const c = new Certbot({ server: directoryUrl(directory) });
    certbots.push(c);
    return c;
  };
  const standalone = (names: string[], extra: string[] = []) => [
    "--standalone",
    "--preferred-challenges", "http",
    "--http-01-port", String(http01Port),
    "--http-01-address", "127.0.0.1",
    "--agree-tos", "-m", "test@example.org",
    ...names.flatMap((n) => ["-d", n]),
    ...extra,
  ];
  const certRow = async (certPath: string): Promise<CertRow> => {
    const serial = serialOf(certPath);
    const rows = await server.db.orm.em.getConnection().execute<Array<CertRow & { serial: string }>>(
      `select serial, status, revocation_reason, source, acme_account_id from certificates where type <> 'ca'`,
    );
    const row = rows.find((r) => normalizeSerial(r.serial) === serial);
    assert.ok(row, `no certificates row for serial ${serial}`);
    return row;
  };
  /** openssl verify of an issued lineage against the root, optionally for a purpose */
  const verifyLineage = async (certbot: Certbot, name: string, purpose?: "sslserver" | "sslclient") => {
    const l = certbot.lineage(name);
    return opensslVerify({ rootPem, chainPem: l.chain, certPem: l.cert, purpose });
  };
  const assertVerifies = async (certbot: Certbot, name: string, purpose?: "sslserver" | "sslclient") => {
    const r = await verifyLineage(certbot, name, purpose);
    assert.ok(r.ok, `openssl verify${purpose ? ` -purpose ${purpose}` : ""} failed:\n${r.stdout}${r.stderr}`);
  };

  before(async function () {
    // fail (not skip) when a tool is missing
    requireTool("certbot", "install the Debian package certbot (.ci/run does)");
    requireTool("openssl");
    requireTool("curl");
    tmp = mkdtempSync(path.join(tmpdir(), "sigil-certbot-test-"));
    cts = await startChallTestSrv();
    http01Port = await freePort();
    server = await startTestServer({
      env: { SIGIL_DNS_SERVERS: cts.dnsServer, SIGIL_VALIDATION_HTTP_PORT: String(http01Port) },
    });
    const root = await server.db.orm.em
      .getConnection()
      .execute<Array<{ certificate_pem: string }>>(`select certificate_pem from certificate_authorities where id = ?`, [server.bootstrap.rootCaId]);
    rootPem = path.join(tmp, "root.pem");
    writeFileSync(rootPem, root[0]!.certificate_pem);
    const actor = systemActor("certbot-test");
    await createDirectory(server.ra, actor, { name: EAB_DIRECTORY, ca: server.bootstrap.intermediateCaId, eabRequired: true });
    await createDirectory(server.ra, actor, { name: CLIENT_DIRECTORY, ca: server.bootstrap.intermediateCaId, certificateKind: "client" });
  });

  after(async () => {
    for (const c of certbots) c.cleanup();
    await server?.stop();
    await cts?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  describe("default directory (no EAB)", () => {
    let certbot: Certbot;
    before(() => {
      certbot = newCertbot("default");
    });

    it("registers an account", async () => {
      const r = await certbot.register();
      assert.match(r.stdout + r.stderr, /Account registered/i);
    });

    it("certonly --standalone obtains a server certificate over http-01 that openssl verifies against the root", async () => {
      await certbot.runOk("certonly", standalone(["web.sigil.test", "www.web.sigil.test"]));
      const l = certbot.lineage("web.sigil.test");
      assert.deepEqual(dnsNamesOf(l.cert), ["web.sigil.test", "www.web.sigil.test"]);
      await assertVerifies(certbot, "web.sigil.test");
      await assertVerifies(certbot, "web.sigil.test", "sslserver");
      // fullchain = leaf then the intermediate, nothing else
      assert.equal(splitPem(readFileSync(l.fullchain, "utf8")).length, 2);
      const row = await certRow(l.cert);
      assert.equal(row.status, "valid");
      assert.equal(row.source, "acme");
    });

    it("renew --force-renewal replaces the certificate with a new one", async () => {
      const before = serialOf(certbot.lineage("web.sigil.test").cert);
      await certbot.runOk("renew", ["--force-renewal", "--no-random-sleep-on-renew", "--cert-name", "web.sigil.test"]);
      const after = serialOf(certbot.lineage("web.sigil.test").cert);
      assert.notEqual(after, before);
      await assertVerifies(certbot, "web.sigil.test", "sslserver");
      assert.equal((await certRow(certbot.lineage("web.sigil.test").cert)).status, "valid");
    });

    it("revoke (account key) marks the certificate revoked with the given reason, and OCSP says so", async () => {
      const l = certbot.lineage("web.sigil.test");
      const ocsp = () => opensslOcsp({ certPem: l.cert, issuerPem: l.chain, rootPem });
      const beforeRevoke = await ocsp();
      assert.equal(beforeRevoke.status, "good", beforeRevoke.output);
      await certbot.runOk("revoke", ["--cert-path", l.cert, "--reason", "keycompromise", "--no-delete-after-revoke"]);
      const row = await certRow(l.cert);
      assert.equal(row.status, "revoked");
      assert.equal(row.revocation_reason, 1); // RFC 5280 §5.3.1 keyCompromise
      const afterRevoke = await ocsp();
      assert.equal(afterRevoke.status, "revoked", afterRevoke.output);
      assert.equal(afterRevoke.reason, "keyCompromise");
      assert.ok(afterRevoke.verified, `OCSP response signature: ${afterRevoke.output}`);
    });

    it("revoke --key-path (the certificate's own key) revokes a certificate", async () => {
      await certbot.runOk("certonly", standalone(["keyrevoke.sigil.test"]));
      const l = certbot.lineage("keyrevoke.sigil.test");
      await assertVerifies(certbot, "keyrevoke.sigil.test", "sslserver");
      // a second certbot without any account: only the certificate key can authorize this
      const stranger = newCertbot("default");
      await stranger.runOk("revoke", ["--cert-path", l.cert, "--key-path", l.privkey, "--reason", "superseded", "--no-delete-after-revoke"]);
      const row = await certRow(l.cert);
      assert.equal(row.status, "revoked");
      assert.equal(row.revocation_reason, 4); // superseded
      const ocsp = await opensslOcsp({ certPem: l.cert, issuerPem: l.chain, rootPem });
      assert.equal(ocsp.status, "revoked", ocsp.output);
      assert.equal(ocsp.reason, "superseded");
    });

    it("dns-01 through --manual hooks obtains a certificate for a name and its wildcard", async () => {
      const hooks = certbot.dnsHooks(cts.managementUrl);
      await certbot.runOk("certonly", [
        "--manual",
        "--preferred-challenges", "dns",
        "--manual-auth-hook", hooks.auth,
        "--manual-cleanup-hook", hooks.cleanup,
        "--cert-name", "wild.sigil.test",
        "-d", "wild.sigil.test",
        "-d", "*.wild.sigil.test",
      ]);
      const l = certbot.lineage("wild.sigil.test");
      assert.deepEqual(dnsNamesOf(l.cert), ["*.wild.sigil.test", "wild.sigil.test"]);
      await assertVerifies(certbot, "wild.sigil.test", "sslserver");
    });

    it("dns-01 alone obtains a wildcard-only certificate", async () => {
      const hooks = certbot.dnsHooks(cts.managementUrl);
      await certbot.runOk("certonly", [
        "--manual",
        "--preferred-challenges", "dns",
        "--manual-auth-hook", hooks.auth,
        "--manual-cleanup-hook", hooks.cleanup,
        "--cert-name", "onlywild",
        "-d", "*.only.sigil.test",
      ]);
      assert.deepEqual(dnsNamesOf(certbot.lineage("onlywild").cert), ["*.only.sigil.test"]);
      await assertVerifies(certbot, "onlywild");
    });
  });

  describe("directory requiring External Account Binding", () => {
    it("refuses to register without EAB (externalAccountRequired)", async () => {
      const certbot = newCertbot(EAB_DIRECTORY);
      const r = await certbot.run("register", ["--agree-tos", "-m", "test@example.org"]);
      assert.notEqual(r.code, 0);
      // certbot reads meta.externalAccountRequired and refuses before asking; either way no account exists
      assert.match(r.stdout + r.stderr + certbot.logTail(200), /externalAccountRequired|external account/i);
    });

    it("registers with --eab-kid/--eab-hmac-key and obtains an RSA-key certificate that verifies", async () => {
      const eab = await createEabKey(server.ra, systemActor("certbot-test"), { directory: EAB_DIRECTORY });
      const certbot = newCertbot(EAB_DIRECTORY);
      await certbot.register(["--eab-kid", eab.kid, "--eab-hmac-key", eab.hmacKey]);
      await certbot.runOk("certonly", standalone(["eab.sigil.test"], ["--key-type", "rsa", "--rsa-key-size", "2048"]));
      await assertVerifies(certbot, "eab.sigil.test", "sslserver");
      const row = await certRow(certbot.lineage("eab.sigil.test").cert);
      assert.equal(row.source, "acme");
      assert.ok(row.acme_account_id);

      // an EAB key binds one account only
      const second = newCertbot(EAB_DIRECTORY);
      const r = await second.run("register", ["--agree-tos", "-m", "test@example.org", "--eab-kid", eab.kid, "--eab-hmac-key", eab.hmacKey]);
      assert.notEqual(r.code, 0, "a used EAB key must not bind a second account");
    });
  });

  describe("directory issuing client certificates", () => {
    it("gives certbot a certificate that openssl accepts for sslclient and refuses for sslserver", async () => {
      const certbot = newCertbot(CLIENT_DIRECTORY);
      await certbot.register();
      await certbot.runOk("certonly", standalone(["device1.sigil.test"]));
      await assertVerifies(certbot, "device1.sigil.test");
      await assertVerifies(certbot, "device1.sigil.test", "sslclient");
      const asServer = await verifyLineage(certbot, "device1.sigil.test", "sslserver");
      assert.equal(asServer.ok, false, `a client certificate must not verify as sslserver:\n${asServer.stdout}`);
      // OpenSSL 3: "error 26 at 0 depth lookup: unsuitable certificate purpose" (X509_V_ERR_INVALID_PURPOSE)
      assert.match(asServer.stdout + asServer.stderr, /error 26 .*(unsuitable|unsupported) certificate purpose/i);
      // RFC 5280 §4.2.1.12: clientAuth only
      assert.deepEqual(ekuOf(certbot.lineage("device1.sigil.test").cert), ["1.3.6.1.5.5.7.3.2"]);
    });
  });
});
