/**
 * The HTTPS listener (RFC 8555 §6.1): the self-issued listener certificate
 * (issued from the default intermediate, recorded, found again on restart,
 * renewed when a third is left), certificate files reloaded without a
 * restart (poll and SIGHUP; a broken file keeps the old one), ACME off the
 * plain listener, and the proxy topology (X-Forwarded-* honoured only when
 * trusted, never in the URLs Sigil writes).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import Router from "@koa/router";
import pg from "pg";
import { loadConfig } from "../../../src/config.js";
import { buildHttpApp } from "../../../src/http-app.js";
import { createLogger } from "../../../src/logger.js";
import { startSigil } from "../../../src/server.js";
import { FileCertificateSource } from "../../../src/tls/file-certificate.js";
import { startHttpsListener } from "../../../src/tls/https-listener.js";
import { MIN_TLS_VERSION } from "../../../src/tls/material.js";
import { LISTENER_ACTOR, listenerNames, SelfIssuedCertificate } from "../../../src/tls/self-issued.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { freePort, startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { eventually, fingerprintOf, httpsGet, OffsetClock, peerCertificate, selfSignedPair } from "./helpers.js";

const DAY_MS = 86_400_000;
const silent = createLogger("silent");

async function rootPemOf(server: TestServer): Promise<string> {
  // the root as relying parties get it: the AIA caIssuers path on the plain listener (RFC 5280 §4.2.2.1), in PEM
  const res = await fetch(`http://127.0.0.1:${server.httpPort}/ca/${server.bootstrap.rootCaId}.pem`);
  assert.equal(res.status, 200);
  return res.text();
}

async function query<R>(url: string, sql: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, values)).rows as R[];
  } finally {
    await c.end();
  }
}

describe("HTTPS listener: self-issued certificate", function () {
  this.timeout(60_000);
  let server: TestServer;
  let rootPem: string;
  let httpsPort: number;
  const clock = new OffsetClock();

  before(async () => {
    httpsPort = await freePort();
    server = await startTestServer({
      embedded: false,
      clock,
      env: { SIGIL_HTTPS_PORT: String(httpsPort), SIGIL_PUBLIC_URL: `https://127.0.0.1:${httpsPort}` },
    });
    rootPem = await rootPemOf(server);
  });
  after(() => server?.stop());

  it("serves ACME over TLS with a certificate that chains to the root, with links on the public https URL", async () => {
    assert.equal(server.httpsPort, httpsPort);
    const r = await httpsGet(`https://127.0.0.1:${httpsPort}/acme/default/directory`, { ca: rootPem });
    assert.equal(r.status, 200);
    const dir = JSON.parse(r.body) as Record<string, string>;
    assert.equal(dir.newNonce, `https://127.0.0.1:${httpsPort}/acme/default/new-nonce`);
    assert.match(r.protocol ?? "", /^TLSv1\.[23]$/);
    assert.match(r.peer.subjectaltname ?? "", /IP Address:127\.0\.0\.1/);
    assert.match(r.peer.subjectaltname ?? "", /DNS:localhost/);
    // under the hostname too (the names of a loopback public URL)
    const byName = await httpsGet(`https://localhost:${httpsPort}/acme/default/directory`, { ca: rootPem });
    assert.equal(byName.status, 200);
    assert.match(server.urls["HTTPS listener"]!, new RegExp(`^https://127\\.0\\.0\\.1:${httpsPort} \\(self-issued certificate, until `));
  });

  it("refuses TLS 1.1 and below (minVersion TLSv1.2)", async () => {
    assert.equal(MIN_TLS_VERSION, "TLSv1.2");
    await assert.rejects(peerCertificate(httpsPort, { maxVersion: "TLSv1.1", minVersion: "TLSv1" }));
    const ok = await peerCertificate(httpsPort, { maxVersion: "TLSv1.2" });
    assert.equal(ok.protocol, "TLSv1.2");
  });

  it("is a recorded certificate: source system, type server, from the default intermediate, key stored encrypted, audited", async () => {
    const source = server.listenerCertificate as SelfIssuedCertificate;
    assert.equal(source.kind, "self-issued");
    const rows = await query<{ id: string; source: string; type: string; issuer_id: string; has_key: boolean; dns_names: string[]; ip_addresses: string[]; days: number }>(
      server.config.databaseUrl!,
      `select id, source, type, issuer_id, encrypted_private_key is not null as has_key, dns_names, ip_addresses,
              extract(epoch from not_after - not_before) / 86400 as days
         from certificates where id = $1`,
      [source.certificateId()],
    );
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.deepEqual({ source: row.source, type: row.type, issuer: row.issuer_id, key: row.has_key }, { source: "system", type: "server", issuer: server.bootstrap.intermediateCaId, key: true });
    assert.deepEqual([...row.dns_names].sort(), ["localhost"]);
    assert.deepEqual([...row.ip_addresses].sort(), ["127.0.0.1", "::1"]);
    assert.ok(Math.abs(Number(row.days) - 30) < 0.01, `30 days (+ 1 minute back-dating), got ${row.days}`);
    const audit = await query<{ action: string; username: string }>(server.config.databaseUrl!, `select action, username from audit_log where resource_id = $1`, [row.id]);
    assert.deepEqual(audit, [{ action: "cert_create", username: LISTENER_ACTOR }]);
    // the key in the row decrypts to the key being served
    const served = await peerCertificate(httpsPort);
    assert.equal(served.serialNumber.toLowerCase().replace(/^0+/, ""), (await query<{ serial: string }>(server.config.databaseUrl!, `select serial from certificates where id = $1`, [row.id]))[0]!.serial.replace(/^0+/, ""));
  });

  it("is found again instead of reissued while more than a third is left, and reissued once it is due", async () => {
    const current = (server.listenerCertificate as SelfIssuedCertificate).certificateId();
    const again = await SelfIssuedCertificate.create({ ra: server.ra, caId: server.bootstrap.intermediateCaId, publicUrl: server.config.publicUrl, logger: silent });
    assert.equal(again.certificateId(), current, "a restart reuses the stored certificate");
    assert.equal(again.current().keyPem, server.listenerCertificate.current().keyPem, "with its decrypted key");
    await again.close();
    clock.offsetMs = 21 * DAY_MS; // 9 days left of 30: less than a third
    try {
      const due = await SelfIssuedCertificate.create({ ra: server.ra, caId: server.bootstrap.intermediateCaId, publicUrl: server.config.publicUrl, logger: silent });
      assert.notEqual(due.certificateId(), current, "a stored certificate that is due is not reused on start");
      await due.close();
    } finally {
      clock.offsetMs = 0;
    }
  });

  it("renews in place when due: new connections get the new certificate without a restart, or one another instance issued", async () => {
    const source = server.listenerCertificate as SelfIssuedCertificate;
    const before = await peerCertificate(httpsPort);
    const beforeId = source.certificateId();
    assert.ok(await source.checkRenewal("test: not due"));
    assert.equal(source.certificateId(), beforeId, "not due: nothing issued");
    clock.offsetMs = 25 * DAY_MS;
    try {
      assert.ok(await source.checkRenewal("test"));
      // the previous test's start issued one that is not due at +25 d? it was issued at +21 d, due at +41 d: adopted
      const afterId = source.certificateId();
      assert.notEqual(afterId, beforeId);
      const after = await peerCertificate(httpsPort);
      assert.notEqual(after.fingerprint256, before.fingerprint256, "the new certificate is served");
      assert.ok(source.renewAt().getTime() > clock.now().getTime(), "the next renewal is in the future");
      const n = await query<{ n: string }>(server.config.databaseUrl!, `select count(*) as n from certificates where source = 'system' and type = 'server'`);
      assert.equal(Number(n[0]!.n), 2, "the certificate issued at +21 d was adopted, not a third one issued");
    } finally {
      clock.offsetMs = 0;
    }
  });

  it("names: the host of the public URL; loopback hosts add localhost, 127.0.0.1 and ::1", () => {
    assert.deepEqual(listenerNames("https://ca.example.com:8443"), { commonName: "ca.example.com", dnsNames: ["ca.example.com"], ipAddresses: [] });
    assert.deepEqual(listenerNames("https://192.0.2.7"), { commonName: "192.0.2.7", dnsNames: [], ipAddresses: ["192.0.2.7"] });
    assert.deepEqual(listenerNames("http://localhost:8080"), { commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1", "::1"] });
    assert.deepEqual(listenerNames("https://[::1]:8443"), { commonName: "::1", dnsNames: ["localhost"], ipAddresses: ["::1", "127.0.0.1"] });
  });
});

describe("HTTPS listener: restart on the same database", function () {
  this.timeout(60_000);
  it("a second start reuses the listener certificate (same row, no new issuance)", async () => {
    const db = await createTestDatabase();
    const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-tls-restart-"));
    try {
      const config = loadConfig({
        DATABASE_URL: db.url,
        SIGIL_MASTER_KEY: randomBytes(32).toString("hex"),
        SIGIL_DATA_DIR: dataDir,
        SIGIL_HOST: "127.0.0.1",
        SIGIL_HTTP_PORT: "0",
        SIGIL_HTTPS_PORT: "0",
        SIGIL_GRPC_PORT: "0",
        SIGIL_BOOTSTRAP_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD,
        SIGIL_BCRYPT_COST: "4",
        SIGIL_LOG_LEVEL: "silent",
        SIGIL_PUBLIC_URL: "https://sigil.example.test:8443",
      });
      const first = await startSigil({ config, logger: silent });
      const id = (first.listenerCertificate as SelfIssuedCertificate).certificateId();
      const peer1 = await peerCertificate(first.httpsPort, { servername: "sigil.example.test" });
      assert.match(peer1.subjectaltname ?? "", /^DNS:sigil\.example\.test$/);
      await first.close();
      const second = await startSigil({ config, logger: silent });
      try {
        assert.equal((second.listenerCertificate as SelfIssuedCertificate).certificateId(), id);
        const peer2 = await peerCertificate(second.httpsPort, { servername: "sigil.example.test" });
        assert.equal(peer2.fingerprint256, peer1.fingerprint256);
      } finally {
        await second.close();
      }
      const n = await query<{ n: string }>(db.url, `select count(*) as n from certificates where source = 'system' and type = 'server'`);
      assert.equal(Number(n[0]!.n), 1);
    } finally {
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("HTTPS listener: certificate files", function () {
  this.timeout(60_000);
  let work: string;
  let a: { cert: string; key: string };
  let b: { cert: string; key: string };
  let live: { cert: string; key: string };

  before(() => {
    work = mkdtempSync(path.join(tmpdir(), "sigil-tls-files-"));
    a = selfSignedPair(work, "a");
    b = selfSignedPair(work, "b");
    live = { cert: path.join(work, "live.crt"), key: path.join(work, "live.key") };
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const install = (pair: { cert: string; key: string }) => {
    copyFileSync(pair.key, live.key);
    copyFileSync(pair.cert, live.cert);
  };

  it("serves SIGIL_HTTPS_CERT, picks up replaced files without a restart, and keeps the last good pair when a file breaks", async () => {
    install(a);
    const server = await startTestServer({ env: { SIGIL_HTTPS_CERT: live.cert, SIGIL_HTTPS_KEY: live.key } });
    try {
      assert.equal(server.listenerCertificate.kind, "file");
      assert.equal((await peerCertificate(server.httpsPort)).fingerprint256, fingerprintOf(a.cert));
      // the ACME routes over TLS, trusting the file's self-signed certificate
      const r = await httpsGet(`https://127.0.0.1:${server.httpsPort}/acme/default/directory`, { ca: readFileSync(a.cert, "utf8") });
      assert.equal(r.status, 200);
      install(b);
      await eventually(async () => (await peerCertificate(server.httpsPort)).fingerprint256 === fingerprintOf(b.cert), 10_000, "certificate B after the files changed");
      // a broken certificate file: the poll notices, the reload fails, B stays
      writeFileSync(live.cert, "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
      assert.equal(await server.listenerCertificate.reload("test"), false);
      await new Promise((r) => setTimeout(r, 2_500));
      assert.equal((await peerCertificate(server.httpsPort)).fingerprint256, fingerprintOf(b.cert));
      // a certificate with the wrong key: refused as well
      copyFileSync(a.cert, live.cert);
      copyFileSync(b.key, live.key);
      assert.equal(await server.listenerCertificate.reload("test"), false);
      assert.equal((await peerCertificate(server.httpsPort)).fingerprint256, fingerprintOf(b.cert));
    } finally {
      await server.stop();
    }
  });

  it("reloads on SIGHUP (poll off), and a SIGHUP with a broken file keeps the previous certificate", async () => {
    install(a);
    const source = new FileCertificateSource({ certFile: live.cert, keyFile: live.key, logger: silent, pollMs: 3_600_000 });
    const handler: http.RequestListener = (_req, res) => res.end("ok");
    const listener = await startHttpsListener({ handler, host: "127.0.0.1", port: 0, certificates: source, logger: silent });
    try {
      assert.equal((await peerCertificate(listener.port)).fingerprint256, fingerprintOf(a.cert));
      install(b);
      process.kill(process.pid, "SIGHUP");
      await eventually(async () => (await peerCertificate(listener.port)).fingerprint256 === fingerprintOf(b.cert), 5_000, "certificate B after SIGHUP");
      writeFileSync(live.key, "garbage");
      process.kill(process.pid, "SIGHUP");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await peerCertificate(listener.port)).fingerprint256, fingerprintOf(b.cert));
      assert.equal(source.info().fingerprint256, fingerprintOf(b.cert));
    } finally {
      await listener.close();
    }
  });

  it("a start with a certificate and key that do not match stops naming SIGIL_HTTPS_CERT", async () => {
    copyFileSync(a.cert, live.cert);
    copyFileSync(b.key, live.key);
    await assert.rejects(
      startTestServer({ env: { SIGIL_HTTPS_CERT: live.cert, SIGIL_HTTPS_KEY: live.key } }),
      (e: Error & { kind?: string; field?: string }) => e.kind === "config" && e.field === "SIGIL_HTTPS_CERT" && /does not match/.test(e.message),
    );
  });
});

describe("SIGIL_ACME_ON_HTTP=false", function () {
  this.timeout(60_000);
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { SIGIL_ACME_ON_HTTP: "false" } });
  });
  after(() => server?.stop());

  it("ACME answers 404 on the plain listener while the CRL and CA certificates are still served there; HTTPS has both", async () => {
    assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/acme/default/directory`)).status, 404);
    const crl = await fetch(`http://127.0.0.1:${server.httpPort}/crl/${server.bootstrap.intermediateCaId}.crl`);
    assert.equal(crl.status, 200);
    assert.ok((await crl.arrayBuffer()).byteLength > 0);
    assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/ca/${server.bootstrap.rootCaId}.cer`)).status, 200);
    const rootPem = await rootPemOf(server);
    const r = await httpsGet(`https://127.0.0.1:${server.httpsPort}/acme/default/directory`, { ca: rootPem });
    assert.equal(r.status, 200);
  });
});

describe("SIGIL_TRUST_PROXY", function () {
  this.timeout(60_000);

  /** the app with one route that shows what Koa made of the request */
  async function echo(trustProxy: boolean, headers: Record<string, string>): Promise<{ ip: string; protocol: string; host: string }> {
    const router = new Router();
    router.get("/echo", (ctx) => {
      ctx.body = { ip: ctx.ip, protocol: ctx.protocol, host: ctx.host };
    });
    const app = buildHttpApp({ routers: [router], logger: silent, trustProxy });
    const s = http.createServer(app.callback());
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    try {
      const port = (s.address() as import("node:net").AddressInfo).port;
      return (await (await fetch(`http://127.0.0.1:${port}/echo`, { headers })).json()) as { ip: string; protocol: string; host: string };
    } finally {
      await new Promise((r) => s.close(r));
    }
  }

  const forwarded = { "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example" };

  it("X-Forwarded-For/Proto/Host count only when trusted", async () => {
    const off = await echo(false, forwarded);
    assert.match(off.ip, /127\.0\.0\.1$/);
    assert.equal(off.protocol, "http");
    assert.notEqual(off.host, "evil.example");
    const on = await echo(true, forwarded);
    assert.deepEqual(on, { ip: "203.0.113.9", protocol: "https", host: "evil.example" });
  });

  it("ACME links come from SIGIL_PUBLIC_URL even when X-Forwarded-Host is trusted", async () => {
    const server = await startTestServer({ env: { SIGIL_TRUST_PROXY: "true" } });
    try {
      assert.equal(server.config.trustProxy, true);
      const res = await fetch(`${server.baseUrl}/acme/default/directory`, { headers: forwarded });
      const dir = (await res.json()) as Record<string, string>;
      for (const [k, v] of Object.entries(dir)) if (typeof v === "string") assert.ok(v.startsWith(`${server.baseUrl}/acme/default/`), `${k}: ${v}`);
      assert.equal(dir.newOrder, `${server.baseUrl}/acme/default/new-order`);
    } finally {
      await server.stop();
    }
  });
});

describe("config: HTTPS listener variables", () => {
  it("ok/defaults: port 8443, self-issued, ACME on HTTP, proxy headers not trusted", () => {
    const c = loadConfig({});
    assert.deepEqual(
      { port: c.httpsPort, cert: c.httpsCert, key: c.httpsKey, acmeOnHttp: c.acmeOnHttp, trustProxy: c.trustProxy },
      { port: 8443, cert: undefined, key: undefined, acmeOnHttp: true, trustProxy: false },
    );
  });
  it("fail/certificate without key, key without certificate, bad port, bad booleans: each names its variable", () => {
    const fails: Array<[Record<string, string>, string]> = [
      [{ SIGIL_HTTPS_CERT: "/x.crt" }, "SIGIL_HTTPS_CERT"],
      [{ SIGIL_HTTPS_KEY: "/x.key" }, "SIGIL_HTTPS_CERT"],
      [{ SIGIL_HTTPS_PORT: "84430" }, "SIGIL_HTTPS_PORT"],
      [{ SIGIL_ACME_ON_HTTP: "maybe" }, "SIGIL_ACME_ON_HTTP"],
      // a hop count is 1..16 and a list holds addresses or CIDR blocks (src/core/client-address.ts)
      [{ SIGIL_TRUST_PROXY: "17" }, "SIGIL_TRUST_PROXY"],
      [{ SIGIL_TRUST_PROXY: "maybe" }, "SIGIL_TRUST_PROXY"],
      [{ SIGIL_TRUST_PROXY: "10.0.0.0/33" }, "SIGIL_TRUST_PROXY"],
    ];
    for (const [env, variable] of fails) {
      assert.throws(() => loadConfig(env), (e: Error & { field?: string }) => e.field === variable && e.message.includes(variable), JSON.stringify(env));
    }
  });
});
