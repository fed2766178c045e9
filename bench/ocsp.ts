/**
 * OCSP over HTTP from the responder's cache: `npm run bench -- ocsp
 * [--seconds 10] [--certs 32] [--connections 32] [--threads 1] [--log-level info]
 * [--verify 8] [--only fast,bare,post] [--profile DIR] [--env KEY=VALUE ...] [--generator wrk|node]`.
 *
 * Issue 11 asks for >= 15,000 GETs/s without a nonce. Starts `sigil serve`
 * as a child process on a fresh PostgreSQL database, issues `--certs`
 * certificates from the bootstrap's intermediate CA (admin IssueCertificate),
 * builds one RFC 6960 request per certificate with `openssl ocsp -no_nonce
 * -reqout` and GETs `/ocsp/{ca}/{url-encoded base64}` (Appendix A.1) once
 * each, so the responder's cache holds them; a sample of the answers is
 * checked with `openssl ocsp -respin` (good, signature verified up to the
 * root). Then, back to back, for `--seconds` each:
 *
 * - fast: GET through the fast path in front of Koa (src/public/ocsp-fast-path.ts)
 * - bare: a bare node:http listener in its own process answering the same
 *   headers and bytes (bench/lib/bare-http-listener.ts): the machine's floor
 * - post: POST /ocsp/{ca} through Koa (the same cached answers)
 *
 * driven by wrk (bench/lib/http-load.ts; a node generator when wrk is not
 * installed) over `--connections` keep-alive connections. Reported: requests/s,
 * p50/p99 latency, errors (socket errors and non-2xx), server CPU per request
 * (/proc/<pid>/stat of the serving process; PostgreSQL backends separately: a
 * cache hit reads nothing), the generator's CPU per request, the CPU other
 * processes used, and the load average. The server logs at `--log-level`
 * (default info, the production default: one line per request to stdout,
 * which this process drains).
 */
import { randomBytes, X509Certificate } from "node:crypto";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { makeClient } from "../src/admin/grpc-adapter.js";
import { AuthService } from "../src/gen/sigil/admin/v1/auth_pb.js";
import { CertificateService, CertificateType } from "../src/gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm } from "../src/gen/sigil/admin/v1/common_pb.js";
import { freePort } from "../test/helpers/server.js";
import { summarizeProfile } from "./lib/cpu-profile.js";
import { findWrk, runLoad, type LoadRequest, type LoadResult } from "./lib/http-load.js";
import { createBenchDatabase } from "./lib/pg.js";
import { clockTicks, CpuMeter, machineBusyMs } from "./lib/proc.js";
import { REPO_ROOT, startSigilProcess } from "./lib/sigil-process.js";

const ADMIN_PASSWORD = "bench-admin-password";

/** openssl's exit status and both streams ("Response verify OK" goes to stderr) */
function openssl(args: string[]): { status: number; out: string } {
  const r = spawnSync("openssl", args, { encoding: "utf8", timeout: 20_000 });
  return { status: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

function pem(der: Buffer, label: string): string {
  return `-----BEGIN ${label}-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END ${label}-----\n`;
}

/** the OCSP and CA Issuers URIs of a certificate's AIA extension */
function aia(certPem: string): { ocsp: string; caIssuers: string } {
  const info = new X509Certificate(certPem).infoAccess ?? "";
  const ocsp = /OCSP - URI:(\S+)/.exec(info)?.[1];
  const caIssuers = /CA Issuers - URI:(\S+)/.exec(info)?.[1];
  if (!ocsp || !caIssuers) throw new Error(`certificate without OCSP / CA Issuers URIs: ${info}`);
  return { ocsp, caIssuers };
}

async function fetchDer(url: string): Promise<Buffer> {
  const r = await fetch(url);
  if (r.status !== 200) throw new Error(`GET ${url} -> ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

/** user and system CPU of `pid` in ms (/proc/<pid>/stat fields 14 and 15): system time is the kernel's socket work */
function userSystemMs(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const tick = 1000 / clockTicks();
    return { user: Number(f[11]) * tick, system: Number(f[12]) * tick };
  } catch {
    return { user: NaN, system: NaN };
  }
}

interface Scenario {
  name: string;
  what: string;
  port: number;
  requests: LoadRequest[];
  /** processes serving it (their CPU is the server's) */
  serverPids: () => Promise<number[]>;
  pgPids?: () => Promise<number[]>;
}

interface Row {
  name: string;
  what: string;
  load: LoadResult;
  serverUsPerReq: number;
  /** of serverUsPerReq: the kernel's share (system time of the first server pid) */
  serverSysUsPerReq: number;
  pgUsPerReq: number;
  generatorUsPerReq: number;
  otherCores: number;
  loadavg: string;
}

async function measure(s: Scenario, seconds: number, connections: number, threads: number, generator: "wrk" | "node"): Promise<Row> {
  const server = new CpuMeter();
  const serverPids = await s.serverPids();
  for (const pid of serverPids) server.track(pid);
  const split0 = userSystemMs(serverPids[0]!);
  const pgm = new CpuMeter();
  for (const pid of (await s.pgPids?.()) ?? []) pgm.track(pid);
  const m0 = machineBusyMs();
  const me0 = process.cpuUsage();
  const load = await runLoad({ port: s.port, requests: s.requests, seconds, connections, threads, generator, onTick: () => server.sample() });
  for (const pid of (await s.pgPids?.()) ?? []) if (!pgm.pids.includes(pid)) pgm.track(pid, 0);
  const serverMs = server.total();
  const split1 = userSystemMs(serverPids[0]!);
  const pgMs = pgm.total();
  const meU = process.cpuUsage(me0);
  const machineMs = machineBusyMs() - m0;
  const meMs = (meU.user + meU.system) / 1000;
  const n = Math.max(1, load.requests);
  const generatorMs = load.generator === "wrk" ? load.generatorCpuMs : meMs;
  const other = Math.max(0, machineMs - serverMs - pgMs - generatorMs - (load.generator === "wrk" ? meMs : 0)) / (load.seconds * 1000);
  return {
    name: s.name,
    what: s.what,
    load,
    serverUsPerReq: (serverMs * 1000) / n,
    serverSysUsPerReq: ((split1.system - split0.system) * 1000) / n,
    pgUsPerReq: (pgMs * 1000) / n,
    generatorUsPerReq: (generatorMs * 1000) / n,
    otherCores: other,
    loadavg: loadavg()
      .map((x) => x.toFixed(2))
      .join(" "),
  };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: "10" },
      certs: { type: "string", default: "32" },
      connections: { type: "string", default: "32" },
      threads: { type: "string", default: "1" },
      "log-level": { type: "string", default: "info" },
      verify: { type: "string", default: "8" },
      only: { type: "string", default: "fast,bare,post" },
      /** wrk (default when installed) or node: what a node load generator beside the server costs */
      generator: { type: "string", default: "wrk" },
      profile: { type: "string" },
      /** KEY=VALUE for the server's environment, repeatable (e.g. SIGIL_METRICS=false to see what the metrics cost) */
      env: { type: "string", multiple: true, default: [] },
    },
  });
  const extraEnv = Object.fromEntries(
    values.env.map((kv) => {
      const eq = kv.indexOf("=");
      if (eq < 1) throw new Error(`--env ${kv}: expected KEY=VALUE`);
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    }),
  );
  const seconds = Number(values.seconds);
  const certCount = Math.max(1, Number(values.certs));
  const connections = Number(values.connections);
  const threads = Number(values.threads);
  const only = new Set(values.only.split(","));
  if (values.generator !== "wrk" && values.generator !== "node") throw new Error(`--generator ${values.generator}: wrk or node`);
  const generator = values.generator === "node" || !findWrk() ? "node" : "wrk";
  if (!findWrk()) {
    console.log("wrk is not installed (Debian/Ubuntu: `apt-get install -y wrk`); falling back to a node load generator,");
    console.log("which on 2 cores costs about as much CPU per request as the server it measures: the rates below understate the server.");
  }

  const db = await createBenchDatabase("sigil_bench_ocsp");
  const tmp = mkdtempSync(path.join(tmpdir(), "sigil-bench-ocsp-"));
  const dataDir = path.join(tmp, "data");
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const sigil = await startSigilProcess(
    {
      DATABASE_URL: db.url,
      SIGIL_MASTER_KEY: randomBytes(32).toString("hex"),
      SIGIL_DATA_DIR: dataDir,
      SIGIL_HOST: "127.0.0.1",
      SIGIL_HTTP_PORT: String(httpPort),
      SIGIL_GRPC_PORT: String(grpcPort),
      SIGIL_HTTPS_PORT: "0",
      SIGIL_PUBLIC_URL: `http://127.0.0.1:${httpPort}`,
      SIGIL_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
      SIGIL_LOG_LEVEL: values["log-level"],
      ...extraEnv,
    },
    { startTimeoutMs: 240_000 },
  );
  // the server's log (one line per request at info) is drained, not kept: keeping it would cost this process
  // CPU and memory beside the server. The last 8 KiB stay for error messages.
  sigil.child.stdout!.removeAllListeners("data");
  sigil.child.stderr!.removeAllListeners("data");
  let tail = "";
  const keep = (d: Buffer) => {
    tail = (tail + d.toString("latin1")).slice(-8192);
  };
  sigil.child.stdout!.on("data", keep);
  sigil.child.stderr!.on("data", keep);

  const address = `127.0.0.1:${grpcPort}`;
  const auth = makeClient(AuthService, address, grpc.credentials.createInsecure());
  const certsApi = makeClient(CertificateService, address, grpc.credentials.createInsecure());
  let bare: ReturnType<typeof spawn> | undefined;
  try {
    const login = await auth.login({ username: "admin", password: ADMIN_PASSWORD });
    const call = { metadata: { authorization: `Bearer ${login.accessToken}` } };
    const pgc = new pg.Client({ connectionString: db.url });
    await pgc.connect();
    const caId = (await pgc.query<{ id: string }>(`select ca_id as id from acme_directories where name = 'default'`)).rows[0]!.id;
    await pgc.end();

    // certificates, and one RFC 6960 request (one CertID, SHA-1, no nonce) per certificate, as openssl builds it
    const tag = randomBytes(3).toString("hex");
    const leaves: string[] = [];
    for (let i = 0; i < certCount; i += 8) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(8, certCount - i) }, (_, j) =>
          certsApi.issueCertificate(
            { caId, type: CertificateType.SERVER, commonName: `o${i + j}-${tag}.bench.example`, dnsNames: [`o${i + j}-${tag}.bench.example`], keyAlgorithm: KeyAlgorithm.P256 },
            call,
          ),
        ),
      );
      for (const r of batch) leaves.push(r.certificate!.certificatePem);
    }
    const urls = aia(leaves[0]!);
    const interPem = pem(await fetchDer(urls.caIssuers), "CERTIFICATE");
    const rootPem = pem(await fetchDer(aia(interPem).caIssuers), "CERTIFICATE");
    const interFile = path.join(tmp, "inter.pem");
    const chainFile = path.join(tmp, "chain.pem");
    writeFileSync(interFile, interPem);
    writeFileSync(chainFile, interPem + rootPem);
    const ocspPath = new URL(urls.ocsp).pathname; // /ocsp/{ca}
    const items = leaves.map((leafPem, i) => {
      const leafFile = path.join(tmp, `leaf-${i}.pem`);
      const reqFile = path.join(tmp, `req-${i}.der`);
      writeFileSync(leafFile, leafPem);
      const r = openssl(["ocsp", "-issuer", interFile, "-cert", leafFile, "-no_nonce", "-reqout", reqFile]);
      if (r.status !== 0) throw new Error(`openssl ocsp -reqout: ${r.out}`);
      const der = readFileSync(reqFile);
      return { leafFile, der, getPath: `${ocspPath}/${encodeURIComponent(der.toString("base64"))}` };
    });

    // fill the cache (first GET signs), then check a sample of what the fast path answers
    let sample: { headers: Record<string, string>; body: Buffer } | undefined;
    for (const [i, it] of items.entries()) {
      await fetchDer(`http://127.0.0.1:${httpPort}${it.getPath}`);
      const r = await fetch(`http://127.0.0.1:${httpPort}${it.getPath}`, { headers: { "User-Agent": "sigil-bench-ocsp" } });
      const body = Buffer.from(await r.arrayBuffer());
      if (r.status !== 200) throw new Error(`GET ${it.getPath} -> ${r.status}`);
      if (!sample) {
        const headers: Record<string, string> = {};
        for (const [k, v] of r.headers) if (!["date", "connection", "keep-alive", "content-length"].includes(k)) headers[k] = v;
        sample = { headers, body };
      }
      if (i < Number(values.verify)) {
        const respFile = path.join(tmp, `resp-${i}.der`);
        writeFileSync(respFile, body);
        const v = openssl(["ocsp", "-respin", respFile, "-issuer", interFile, "-cert", it.leafFile, "-CAfile", chainFile]);
        if (v.status !== 0 || !/Response verify OK/.test(v.out) || !/: good/.test(v.out)) throw new Error(`openssl ocsp did not verify answer ${i}:\n${v.out}`);
      }
    }
    console.log(
      `sigil serve pid ${sigil.pid} (log level ${values["log-level"]}${values.env.length ? `, ${values.env.join(" ")}` : ""}), CA ${caId}; ${items.length} certificates, ` +
        `${Math.min(items.length, Number(values.verify))} answers verified by openssl (good, signature OK); ` +
        `request ${items[0]!.der.length} B (path ${items[0]!.getPath.length} chars), response ${sample!.body.length} B; ` +
        `generator ${generator === "wrk" ? `wrk -t${threads} -c${connections}` : `node, ${connections} connections`}, ${seconds} s per row`,
    );

    const userAgent = { "User-Agent": "sigil-bench-ocsp" };
    const sigilPids = async () => [sigil.pid];
    const scenarios: Scenario[] = [];
    if (only.has("fast"))
      scenarios.push({
        name: "fast",
        what: "GET, fast path in front of Koa",
        port: httpPort,
        requests: items.map((it) => ({ method: "GET", path: it.getPath, headers: userAgent })),
        serverPids: sigilPids,
        pgPids: () => db.backendPids(),
      });
    if (only.has("bare")) {
      bare = spawn(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "bench/lib/bare-http-listener.ts")], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? "", BARE_HEADERS: JSON.stringify(sample!.headers), BARE_BODY: sample!.body.toString("base64") },
        stdio: ["ignore", "pipe", "inherit"],
      });
      const barePort = await new Promise<number>((resolve, reject) => {
        let o = "";
        bare!.stdout!.on("data", (d: Buffer) => {
          o += d.toString();
          const m = /listening (\d+)/.exec(o);
          if (m) resolve(Number(m[1]));
        });
        bare!.once("exit", (c) => reject(new Error(`bare listener exited (${c})`)));
      });
      const barePid = bare.pid!;
      scenarios.push({
        name: "bare",
        what: "GET, bare node:http, same bytes",
        port: barePort,
        requests: items.map((it) => ({ method: "GET", path: it.getPath, headers: userAgent })),
        serverPids: async () => [barePid],
      });
    }
    if (only.has("post"))
      scenarios.push({
        name: "post",
        what: "POST through Koa",
        port: httpPort,
        requests: items.map((it) => ({ method: "POST", path: ocspPath, headers: { ...userAgent, "Content-Type": "application/ocsp-request" }, body: it.der })),
        serverPids: sigilPids,
        pgPids: () => db.backendPids(),
      });

    // a short warm-up of each (JIT, connections), not measured
    for (const s of scenarios) await runLoad({ port: s.port, requests: s.requests, seconds: 2, connections, threads, generator });
    const rows: Row[] = [];
    for (const s of scenarios) {
      if (values.profile && s.name !== "bare") await sigil.profileStart();
      rows.push(await measure(s, seconds, connections, threads, generator));
      if (values.profile && s.name !== "bare") {
        const file = path.join(values.profile, `sigil-ocsp-${s.name}.cpuprofile`);
        await sigil.profileStop(file);
        const sum = summarizeProfile(file, 25);
        console.log(`  profile ${file} (${sum.busyMs.toFixed(0)} ms busy):`);
        for (const f of sum.functions) console.log(`    ${f.selfMs.toFixed(0).padStart(6)} ms  ${f.name} (${f.where})`);
      }
    }
    if (sigil.child.exitCode !== null) throw new Error(`sigil serve exited during the run:\n${tail}`);

    const bareRow = rows.find((r) => r.name === "bare");
    console.log("row   what                              req/s   p50 ms  p99 ms  errors  server µs/req (kernel)  PG µs/req  generator µs/req  other cores  vs bare (rate, server CPU)  load average");
    for (const r of rows) {
      const vs = bareRow && r !== bareRow ? `${((r.load.rate / bareRow.load.rate) * 100).toFixed(0)} %, ${(r.serverUsPerReq / bareRow.serverUsPerReq).toFixed(2)}x` : "";
      console.log(
        `${r.name.padEnd(5)} ${r.what.padEnd(32)} ${r.load.rate.toFixed(0).padStart(7)}  ${r.load.p50Ms.toFixed(2).padStart(6)}  ${r.load.p99Ms.toFixed(2).padStart(6)}  ${String(r.load.errors).padStart(6)}  ${`${r.serverUsPerReq.toFixed(1)} (${r.serverSysUsPerReq.toFixed(1)})`.padStart(22)}  ${r.pgUsPerReq.toFixed(2).padStart(9)}  ${r.generatorUsPerReq.toFixed(1).padStart(16)}  ${r.otherCores.toFixed(2).padStart(11)}  ${vs.padStart(26)}  ${r.loadavg}`,
      );
    }
    const fast = rows.find((r) => r.name === "fast");
    if (fast)
      console.log(
        `fast path: ${fast.load.rate.toFixed(0)}/s (issue 11 target 15,000/s); one core at ${fast.serverUsPerReq.toFixed(1)} µs/request serves at most ${(1e6 / fast.serverUsPerReq).toFixed(0)}/s` +
          (bareRow ? `, the bare listener's ${bareRow.serverUsPerReq.toFixed(1)} µs at most ${(1e6 / bareRow.serverUsPerReq).toFixed(0)}/s` : ""),
      );
  } finally {
    auth.close();
    certsApi.close();
    if (bare && bare.exitCode === null) {
      const b = bare;
      await new Promise<void>((resolve) => {
        b.once("exit", () => resolve());
        b.kill("SIGTERM");
      });
    }
    await sigil.stop();
    await db.drop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
