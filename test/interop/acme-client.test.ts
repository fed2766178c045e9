/**
 * Interop with the real `acme-client` npm package against the real server and
 * the real validator (src/validation), with pebble-challtestsrv as the local
 * http-01 / tls-alpn-01 responder and DNS server. Every issued chain is
 * checked with `openssl verify` against the root.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import acme from "acme-client";
import { createDirectory, createEabKey } from "../../src/ra/acme/directories.js";
import { systemActor } from "../../src/ra/actor.js";
import { freePort } from "../helpers/server.js";
import { startAcmeTestServer, type AcmeTestServer } from "../integration/acme/harness.js";

class ChallTestSrv {
  proc!: ChildProcess;
  ports!: { http: number; tls: number; dns: number; mgmt: number };
  async start(): Promise<void> {
    this.ports = { http: await freePort(), tls: await freePort(), dns: await freePort(), mgmt: await freePort() };
    this.proc = spawn(
      "pebble-challtestsrv",
      [
        "-http01", `127.0.0.1:${this.ports.http}`,
        "-https01", "",
        "-tlsalpn01", `127.0.0.1:${this.ports.tls}`,
        "-dns01", `127.0.0.1:${this.ports.dns}`,
        "-management", `127.0.0.1:${this.ports.mgmt}`,
        "-defaultIPv4", "127.0.0.1",
        "-defaultIPv6", "",
      ],
      { stdio: "ignore" },
    );
    for (let i = 0; i < 100; i++) {
      try {
        await this.call("set-default-ipv4", { ip: "127.0.0.1" });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error("pebble-challtestsrv did not start (is it installed?)");
  }
  async call(what: string, body: unknown): Promise<void> {
    const r = await fetch(`http://127.0.0.1:${this.ports.mgmt}/${what}`, { method: "POST", body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`challtestsrv ${what}: ${r.status}`);
  }
  stop(): void {
    this.proc?.kill();
  }
}

describe("interop: acme-client (npm) against Sigil with real validation", function () {
  this.timeout(60_000);
  let server: AcmeTestServer;
  const cts = new ChallTestSrv();
  let work: string;
  let rootPem: string;

  before(async () => {
    await cts.start();
    server = await startAcmeTestServer({
      env: {
        SIGIL_VALIDATION_HTTP_PORT: String(cts.ports.http),
        SIGIL_VALIDATION_TLS_PORT: String(cts.ports.tls),
        SIGIL_DNS_SERVERS: `127.0.0.1:${cts.ports.dns}`,
      },
    });
    const actor = systemActor("test");
    await createDirectory(server.ra, actor, { name: "ips", ca: "default-intermediate", allowedIpRanges: ["127.0.0.0/8"] });
    await createDirectory(server.ra, actor, { name: "clients", ca: "default-intermediate", certificateKind: "client" });
    await createDirectory(server.ra, actor, { name: "eab", ca: "default-intermediate", eabRequired: true });
    const rows = await server.db.orm.em.getConnection().execute<Array<{ certificate_pem: string }>>(
      `select certificate_pem from certificate_authorities where parent_id is null`,
    );
    rootPem = rows[0]!.certificate_pem;
    work = mkdtempSync(path.join(tmpdir(), "sigil-interop-"));
    writeFileSync(path.join(work, "root.pem"), rootPem);
  });
  after(async () => {
    await server?.stop();
    cts.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const challengeFns = {
    challengeCreateFn: async (authz: acme.Authorization, ch: { type: string; token: string }, keyAuthorization: string) => {
      if (ch.type === "http-01") await cts.call("add-http01", { token: ch.token, content: keyAuthorization });
      else if (ch.type === "dns-01") await cts.call("set-txt", { host: `_acme-challenge.${authz.identifier.value}.`, value: keyAuthorization });
      else if (ch.type === "tls-alpn-01") await cts.call("add-tlsalpn01", { host: authz.identifier.value, content: keyAuthorization });
    },
    challengeRemoveFn: async () => {},
    skipChallengeVerification: true,
    termsOfServiceAgreed: true,
  };

  /** openssl verify -CAfile root -untrusted chain leaf; returns openssl's output */
  function opensslVerify(chainPem: string, purpose?: string): string {
    const certs = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
    assert.ok(certs.length >= 2, "leaf and intermediate");
    assert.ok(chainPem.endsWith("-----END CERTIFICATE-----\n") && !chainPem.includes("\r"), "LF endings, trailing newline");
    writeFileSync(path.join(work, "leaf.pem"), certs[0]!);
    writeFileSync(path.join(work, "chain.pem"), certs.slice(1).join(""));
    const args = ["verify", "-CAfile", path.join(work, "root.pem"), "-untrusted", path.join(work, "chain.pem")];
    if (purpose) args.push("-purpose", purpose);
    return execFileSync("openssl", [...args, path.join(work, "leaf.pem")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  it("ES256 account: http-01 for a DNS name; the chain verifies", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const [, csr] = await acme.crypto.createCsr({ commonName: "web.example.com", altNames: ["web.example.com", "www.example.com"] });
    const cert = await client.auto({ csr, challengePriority: ["http-01"], ...challengeFns });
    assert.match(opensslVerify(cert), /leaf.pem: OK/);
  });

  it("RS256 account: dns-01 for a wildcard name; the chain verifies", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateRsaKey(2048) });
    const [, csr] = await acme.crypto.createCsr({ altNames: ["*.wild.example.com"] });
    const cert = await client.auto({ csr, challengePriority: ["dns-01"], ...challengeFns });
    assert.match(opensslVerify(cert), /leaf.pem: OK/);
    const info = acme.crypto.readCertificateInfo(cert);
    assert.deepEqual(info.domains.altNames, ["*.wild.example.com"]);
  });

  it("tls-alpn-01 for a DNS name; the chain verifies", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const [, csr] = await acme.crypto.createCsr({ commonName: "alpn.example.com", altNames: ["alpn.example.com"] });
    const cert = await client.auto({ csr, challengePriority: ["tls-alpn-01"], ...challengeFns });
    assert.match(opensslVerify(cert), /leaf.pem: OK/);
  });

  it("an IP identifier (RFC 8738) with http-01", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl("ips"), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const [, csr] = await acme.crypto.createCsr({ altNames: ["127.0.0.1"] });
    // acme-client's auto() orders IP names as dns identifiers, so drive the RFC 8738 flow by hand
    await client.createAccount({ termsOfServiceAgreed: true });
    const order = await client.createOrder({ identifiers: [{ type: "ip", value: "127.0.0.1" }] });
    for (const authz of await client.getAuthorizations(order)) {
      assert.deepEqual(authz.identifier, { type: "ip", value: "127.0.0.1" });
      assert.ok(!authz.challenges.some((c) => c.type === "dns-01"), "no dns-01 for IP identifiers (RFC 8738 §7)");
      const ch = authz.challenges.find((c) => c.type === "http-01")!;
      await challengeFns.challengeCreateFn(authz, ch, await client.getChallengeKeyAuthorization(ch));
      await client.completeChallenge(ch);
      await client.waitForValidStatus(ch);
    }
    const finalized = await client.finalizeOrder(order, csr);
    const cert = await client.getCertificate(finalized);
    assert.match(opensslVerify(cert), /leaf.pem: OK/);
    assert.match(execFileSync("openssl", ["x509", "-noout", "-ext", "subjectAltName"], { input: cert, encoding: "utf8" }), /IP Address:127\.0\.0\.1/);
  });

  it("a client-certificate directory issues certificates openssl accepts for sslclient and refuses for sslserver", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl("clients"), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const [, csr] = await acme.crypto.createCsr({ commonName: "device.example.com", altNames: ["device.example.com"] });
    const cert = await client.auto({ csr, challengePriority: ["http-01"], ...challengeFns });
    assert.match(opensslVerify(cert, "sslclient"), /OK/);
    assert.throws(() => opensslVerify(cert, "sslserver"));
  });

  it("key rollover: the new key works, the old key no longer finds the account", async () => {
    const oldKey = await acme.crypto.createPrivateEcdsaKey();
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: oldKey });
    await client.createAccount({ termsOfServiceAgreed: true });
    const url = client.getAccountUrl();
    const newKey = await acme.crypto.createPrivateRsaKey(2048);
    await client.updateAccountKey(newKey);
    const again = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: newKey });
    await again.createAccount({ onlyReturnExisting: true });
    assert.equal(again.getAccountUrl(), url);
    const old = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: oldKey });
    await assert.rejects(old.createAccount({ onlyReturnExisting: true }), /accountDoesNotExist|No account/i);
    // rolling over to a key that already has an account is refused with 409 and that account's Location
    const other = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: oldKey });
    await other.createAccount({ termsOfServiceAgreed: true });
    await assert.rejects(client.updateAccountKey(oldKey), /409|already belongs/);
  });

  it("account deactivation: a deactivated account cannot order", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    await client.createAccount({ termsOfServiceAgreed: true });
    const acct = await client.updateAccount({ status: "deactivated" });
    assert.equal(acct.status, "deactivated");
    await assert.rejects(client.createOrder({ identifiers: [{ type: "dns", value: "gone.example.com" }] }), /unauthorized|not valid/i);
  });

  it("revocation with the certificate's own key (jwk), then alreadyRevoked", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const certKey = await acme.crypto.createPrivateEcdsaKey();
    const [, csr] = await acme.crypto.createCsr({ commonName: "revoke.example.com", altNames: ["revoke.example.com"] }, certKey);
    const cert = await client.auto({ csr, challengePriority: ["http-01"], ...challengeFns });
    const byKey = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: certKey });
    const api = (byKey as unknown as { api: { apiResourceRequest(r: string, d: unknown, s: number[], o: object): Promise<{ status: number }> } }).api;
    const r = await api.apiResourceRequest("revokeCert", { certificate: acme.crypto.getPemBodyAsB64u(cert), reason: 1 }, [200], { includeJwsKid: false });
    assert.equal(r.status, 200);
    await assert.rejects(client.revokeCertificate(cert), /alreadyRevoked|already revoked/i);
    const rows = await server.db.orm.em.getConnection().execute<Array<{ status: string; revocation_reason: number }>>(
      `select status, revocation_reason from certificates where common_name = 'revoke.example.com'`,
    );
    assert.deepEqual(rows[0], { status: "revoked", revocation_reason: 1 });
  });

  it("revocation by the ordering account with a reason; reason 7 and a stranger account are refused", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const [, csr] = await acme.crypto.createCsr({ commonName: "acct-revoke.example.com", altNames: ["acct-revoke.example.com"] });
    const cert = await client.auto({ csr, challengePriority: ["http-01"], ...challengeFns });
    await assert.rejects(client.revokeCertificate(cert, { reason: 7 } as unknown as { reason: 4 }), /revocation reason/);
    const stranger = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    await stranger.createAccount({ termsOfServiceAgreed: true });
    await assert.rejects(stranger.revokeCertificate(cert), /did not order/);
    await client.revokeCertificate(cert, { reason: 4 });
  });

  it("External Account Binding: binds once; the same key cannot bind a second account", async () => {
    const eab = await createEabKey(server.ra, systemActor("test"), { directory: "eab" });
    const client = new acme.Client({
      directoryUrl: server.directoryUrl("eab"),
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid: eab.kid, hmacKey: eab.hmacKey },
    });
    const [, csr] = await acme.crypto.createCsr({ commonName: "eab.example.com", altNames: ["eab.example.com"] });
    const cert = await client.auto({ csr, challengePriority: ["http-01"], ...challengeFns });
    assert.match(opensslVerify(cert), /leaf.pem: OK/);
    const second = new acme.Client({
      directoryUrl: server.directoryUrl("eab"),
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      externalAccountBinding: { kid: eab.kid, hmacKey: eab.hmacKey },
    });
    await assert.rejects(second.createAccount({ termsOfServiceAgreed: true }), /unauthorized|already been used/);
  });
});
