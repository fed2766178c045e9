/**
 * CRL and OCSP benchmark: `npm run bench -- crl [--max N] [--seconds S] [--valid V]`.
 *
 * On a fresh PostgreSQL database (BENCH_DATABASE_URL / TEST_DATABASE_URL):
 * (`--publishes K`: K publishes at each size, default 1)
 * bootstraps Sigil's default CAs, inserts V valid (unrevoked) certificates of
 * the P-256 intermediate (default 0; a real CA has many more valid than
 * revoked certificates, which the CRL query must not scan), then for 10k,
 * 100k and 1M revoked certificates of that CA reports
 *   - sign:     signCrl() alone on entries already in memory,
 *   - publish:  CrlPublisher.generate() end to end (CRL number increment under
 *               the row lock, query of the revoked rows, sign, store the DER), with
 *               the CPU it took in this process and in the PostgreSQL backends
 *               (/proc/<pid>/stat): on a shared machine the wall time measures the
 *               other load, the CPU figures and their sum much less so,
 *   - serve:    CrlPublisher.current() after a publish from another "instance"
 *               (metadata query + DER read), and when already cached (metadata only);
 * then OCSP responses per second from the responder's cache, in process
 * (OcspResponder.respond) and over HTTP (POST /ocsp/{ca}, keep-alive,
 * 32 concurrent requests from a worker thread), plus uncached (nonce) responses per second.
 */
import http from "node:http";
import { Worker } from "node:worker_threads";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { MasterKeyRing } from "../src/ca/key-encryption.js";
import { derOctetString, derOid, derUnsignedInteger, seq, ctxCons } from "../src/ca/der.js";
import { issuerHashes } from "../src/ca/ocsp.js";
import { signCrl, type CrlEntry } from "../src/ca/signer.js";
import { systemClock } from "../src/core/clock.js";
import { CertificateAuthority } from "../src/db/entities/index.js";
import { migrate, openDatabase } from "../src/db/orm.js";
import { buildHttpApp } from "../src/http-app.js";
import { createLogger } from "../src/logger.js";
import { createRelyingParty } from "../src/public/index.js";
import { withOcspFastPath } from "../src/public/ocsp-fast-path.js";
import { bootstrap } from "../src/ra/bootstrap.js";
import { createRaContext } from "../src/ra/context.js";
import { CrlPublisher } from "../src/ra/crl.js";
import { createBenchDatabase } from "./lib/pg.js";
import { cpuMs } from "./lib/proc.js";

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

/** inserts revoked (or, with `valid`, unrevoked) certificate rows for `caId` numbered [from, to) with SQL generate_series */
async function insertRevoked(
  exec: (sql: string, params: unknown[]) => Promise<unknown>,
  caId: string,
  orgId: string,
  from: number,
  to: number,
  valid = false,
): Promise<void> {
  const chunk = 100_000;
  const revoked = valid
    ? `'5' || substr(md5('valid' || i::text), 1, 31), ?, ?, 'server', 'valid', '[]', '[]', '[]',
         now() - interval '1 day', now() + interval '90 days', null, null,`
    : `'4' || substr(md5('bench' || i::text), 1, 31), ?, ?, 'server', 'revoked', '[]', '[]', '[]',
         now() - interval '1 day', now() + interval '90 days', now() - (i % 1000) * interval '1 minute', (i % 6)::smallint,`;
  for (let a = from; a < to; a += chunk) {
    const b = Math.min(to, a + chunk);
    await exec(
      `insert into certificates (id, serial, issuer_id, organization_id, type, status, dns_names, ip_addresses, emails,
         not_before, not_after, revoked_at, revocation_reason, source, certificate_pem, created_at)
       select gen_random_uuid(), ${revoked}
         'admin', 'x', now()
       from generate_series(?::int, ?::int) as i`,
      [caId, orgId, a, b - 1],
    );
  }
}

/** an OCSPRequest for one serial with SHA-1 CertID (RFC 6960 §4.1.1), optionally with a nonce */
function ocspRequest(nameHash: Buffer, keyHash: Buffer, serial: Buffer, nonce?: Buffer): Buffer {
  const certId = seq(seq(derOid("1.3.14.3.2.26"), Buffer.from([0x05, 0x00])), derOctetString(nameHash), derOctetString(keyHash), derUnsignedInteger(serial));
  const parts = [seq(seq(certId))];
  if (nonce) parts.push(ctxCons(2, seq(seq(derOid("1.3.6.1.5.5.7.48.1.2"), derOctetString(derOctetString(nonce))))));
  return seq(seq(...parts));
}

/**
 * POSTs `body` to `path` from a worker thread (so the load generator does
 * not share the server's event loop), keep-alive, `concurrency` requests in
 * flight, for `seconds`; returns responses per second.
 */
async function httpRate(port: number, path: string, body: Buffer | undefined, seconds: number, concurrency: number): Promise<number> {
  const code = `
    const http = require("node:http");
    const { workerData, parentPort } = require("node:worker_threads");
    const { port, path, body, seconds, concurrency } = workerData;
    const payload = body && Buffer.from(body);
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const deadline = Date.now() + seconds * 1000;
    let n = 0;
    const one = () => new Promise((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, path, method: payload ? "POST" : "GET", agent,
        headers: payload ? { "content-type": "application/ocsp-request", "content-length": payload.length } : {} }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error("HTTP " + res.statusCode))));
      });
      req.on("error", reject);
      req.end(payload);
    });
    const start = Date.now();
    Promise.all(Array.from({ length: concurrency }, async () => { while (Date.now() < deadline) { await one(); n++; } }))
      .then(() => { agent.destroy(); parentPort.postMessage(n / ((Date.now() - start) / 1000)); })
      .catch((e) => parentPort.postMessage({ error: String(e) }));
  `;
  const worker = new Worker(code, { eval: true, workerData: { port, path, body: body && new Uint8Array(body), seconds, concurrency } });
  const result = await new Promise<unknown>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  await worker.terminate();
  if (typeof result !== "number") throw new Error(`HTTP load failed: ${JSON.stringify(result)}`);
  return result;
}

export async function run(args: string[]): Promise<void> {
  const arg = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
  };
  const max = arg("--max", 1_000_000);
  const seconds = arg("--seconds", 3);
  const valid = arg("--valid", 0);
  const publishes = Math.max(1, arg("--publishes", 1));
  const sizes = args.includes("--ocsp-only") ? [] : [10_000, 100_000, 1_000_000].filter((n) => n <= max);

  const bdb = await createBenchDatabase("sigil_bench_crl");
  const db = await openDatabase({ databaseUrl: bdb.url, dataDir: "/nonexistent", poolMax: 4 });
  const logger = createLogger("silent");
  try {
    await migrate(db.orm);
    const ra = createRaContext({ orm: db.orm, keyRing: MasterKeyRing.fromKeys(randomBytes(32)), clock: systemClock, publicUrl: "http://127.0.0.1" });
    const boot = await bootstrap(ra, { adminPassword: "bench-password-1" });
    const em = db.orm.em.fork();
    const ca = await em.findOneOrFail(CertificateAuthority, { id: boot.intermediateCaId });
    const issuer = await ra.issuers.get(ra.store, ca);
    const exec = (sql: string, params: unknown[]) => db.orm.em.fork().execute(sql, params);
    const publisher = new CrlPublisher(ra, { lifetimeHours: 168, logger });
    const otherInstance = new CrlPublisher(ra, { lifetimeHours: 168, logger });

    if (valid > 0) {
      const tv = process.hrtime.bigint();
      await insertRevoked(exec, ca.id, ca.organization.id, 0, valid, true);
      console.log(`${valid} valid certificates of the CA inserted in ${fmt(ms(tv))} ms`);
    }
    console.log(`CA: ${ca.keyAlgorithm} intermediate; node ${process.version}`);
    console.log("entries     sign ms   publish ms (node CPU, PG CPU)   CRL bytes    serve(after publish elsewhere) ms   serve(cached) ms");
    let have = 0;
    for (const n of sizes) {
      const t0 = process.hrtime.bigint();
      await insertRevoked(exec, ca.id, ca.organization.id, have, n);
      have = n;
      const insertMs = ms(t0);
      await exec(`analyze certificates`, []);

      // sign only: entries already in memory
      const entries: CrlEntry[] = [];
      const now = Date.now();
      for (let i = 0; i < n; i++) {
        entries.push({ serial: randomBytes(16).fill(0x40, 0, 1), revokedAt: new Date(now - (i % 1000) * 60_000), reason: (i % 6) as CrlEntry["reason"] });
      }
      const ts = process.hrtime.bigint();
      signCrl(issuer, { crlNumber: 1n, thisUpdate: new Date(now), nextUpdate: new Date(now + 7 * 86_400_000), entries });
      const signMs = ms(ts);

      let published!: Awaited<ReturnType<CrlPublisher["generate"]>>;
      const runs: string[] = [];
      for (let k = 0; k < publishes; k++) {
        const pids = await bdb.backendPids();
        const pg0 = pids.map((p) => cpuMs(p) ?? 0);
        const c0 = process.cpuUsage();
        const tp = process.hrtime.bigint();
        published = await otherInstance.generate(ca.id);
        const publishMs = ms(tp);
        const c = process.cpuUsage(c0);
        const pgMs = pids.reduce((sum, p, j) => sum + ((cpuMs(p) ?? pg0[j]!) - pg0[j]!), 0);
        runs.push(`${fmt(publishMs)} (${fmt((c.user + c.system) / 1000)}, ${fmt(pgMs)})`);
      }
      const tr = process.hrtime.bigint();
      const served = await publisher.current(ca.id);
      const serveMs = ms(tr);
      const tc = process.hrtime.bigint();
      await publisher.current(ca.id);
      const cachedMs = ms(tc);
      if (!served || served.crlNumber !== published.crlNumber || served.entryCount !== n) throw new Error("served CRL does not match");
      console.log(
        `${String(n).padStart(9)}  ${fmt(signMs).padStart(8)}  ${runs.join(" ").padStart(30)}  ${String(published.der.length).padStart(10)}  ${fmt(serveMs).padStart(34)}  ${fmt(cachedMs).padStart(17)}   (rows inserted in ${fmt(insertMs)} ms; load ${loadavg().map((x) => x.toFixed(2)).join(" ")})`,
      );
    }

    if (sizes.length === 0) await insertRevoked(exec, ca.id, ca.organization.id, 0, 1000);
    // OCSP from cache
    const rp = createRelyingParty(ra, { crlLifetimeHours: 168, logger });
    const hashes = issuerHashes(issuer);
    const serialRow = (await exec(`select serial from certificates where issuer_id = ? limit 1`, [ca.id])) as { serial: string }[];
    const serial = Buffer.from(serialRow[0]!.serial, "hex");
    const req = ocspRequest(hashes.sha1.name, hashes.sha1.key, serial);
    const first = await rp.ocsp.respond(ca.id, req);
    if (first?.status !== "successful") throw new Error(`OCSP: ${first?.status}`);
    let count = 0;
    const t0 = process.hrtime.bigint();
    const deadline = t0 + BigInt(seconds * 1e9);
    while (process.hrtime.bigint() < deadline) {
      for (let i = 0; i < 100; i++) await rp.ocsp.respond(ca.id, req);
      count += 100;
    }
    const inProcess = count / (ms(t0) / 1000);

    let nonceCount = 0;
    const t1 = process.hrtime.bigint();
    const deadline1 = t1 + BigInt(seconds * 1e9);
    while (process.hrtime.bigint() < deadline1) {
      await rp.ocsp.respond(ca.id, ocspRequest(hashes.sha1.name, hashes.sha1.key, serial, randomBytes(16)));
      nonceCount++;
    }
    const withNonce = nonceCount / (ms(t1) / 1000);

    const app = buildHttpApp({ routers: [rp.router], logger });
    const getPath = `/ocsp/${ca.id}/${encodeURIComponent(req.toString("base64"))}`;
    const serve = async (listener: http.RequestListener, path: string, body?: Buffer): Promise<number> => {
      const server = http.createServer(listener);
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      try {
        return await httpRate((server.address() as AddressInfo).port, path, body, seconds, 32);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    };
    // what sigil serve runs on its plain HTTP listener: the GET fast path in front of the app
    const fast = withOcspFastPath({ ocsp: rp.ocsp, clock: systemClock, logger }, app.callback());
    // the ceiling on this machine right now: a bare node listener answering the same bytes
    const floorBody = first.der;
    const floor = await serve((_q, r) => {
      r.writeHead(200, { "Content-Type": "application/ocsp-response", "Content-Length": String(floorBody.length) });
      r.end(floorBody);
    }, getPath);
    const overHttp = await serve(app.callback(), `/ocsp/${ca.id}`, req);
    const getKoa = await serve(app.callback(), getPath);
    const getFast = await serve(fast, getPath);
    await rp.close();

    console.log(`OCSP from cache, in process (OcspResponder.respond): ${fmt(inProcess)} responses/s`);
    console.log(`OCSP from cache over HTTP (keep-alive, 32 concurrent, client in a worker thread, server on one event loop):`);
    console.log(`  bare node:http listener, same bytes (the ceiling): ${fmt(floor)} responses/s`);
    console.log(`  GET, fast path (as sigil serve):  ${fmt(getFast)} responses/s`);
    console.log(`  GET, through Koa:                 ${fmt(getKoa)} responses/s`);
    console.log(`  POST, through Koa:                ${fmt(overHttp)} responses/s`);
    console.log(`OCSP with a nonce (status cached, signed per request, ${ca.keyAlgorithm === "p256" ? "P-256" : ca.keyAlgorithm} responder key): ${fmt(withNonce)} responses/s`);
    await publisher.close();
    await otherInstance.close();
  } finally {
    await db.close();
    await bdb.drop();
  }
}
