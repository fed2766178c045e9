/**
 * ACME issuance benchmark: `npm run bench -- acme [options]`.
 *
 * Starts `sigil serve` as a child process on a fresh PostgreSQL database,
 * then N lightweight ACME clients (bench/lib/acme-client.ts: jose + keep-alive
 * node:http, one pre-registered ES256 account each) loop full issuances:
 * newOrder (one dns name) -> authz -> http-01 challenge POST (the server's
 * real validator resolves the name through a local DNS stub and fetches the
 * key authorization from one shared local responder) -> poll until ready ->
 * finalize with a pre-generated P-256 CSR -> poll until valid -> download.
 *
 * For each concurrency level it prints certificates/s, p50/p99 latency of a
 * full issuance, errors, and the server CPU per certificate: the Sigil
 * process plus its PostgreSQL backends, from /proc/<pid>/stat, over the
 * measurement window only (after a warm-up). Targets (2-core machine):
 * <= 1.6 ms server CPU per certificate; at 64 clients p99 < 300 ms, no errors.
 *
 * Options:
 *   --concurrency 1,16,64   levels (default 1,16,64)
 *   --duration 20           measured seconds per level (default 20)
 *   --warmup 3              unmeasured seconds before each level (default 3)
 *   --pool N                SIGIL_DB_POOL_MAX of the server (default: the server's default)
 *   --poll-ms 10            first wait before polling an order; doubles up to --poll-cap-ms (default 10)
 *   --poll-cap-ms 200       longest wait between polls (Retry-After is honoured when shorter; default 200)
 *   --profile               CPU-profile the server during each measured window; prints the top self-time
 *                           functions and modules and keeps the .cpuprofile files (see --out)
 *   --out DIR               where profiles and results.json go (default a temp directory)
 *   --queries N             list the N most frequent SQL statement shapes per level (default 0 = only the
 *                           count per certificate; folding texts costs the server a few µs per query)
 *   --json                  also print the results as JSON
 *   --pg-set name=value     what-if: ALTER DATABASE <bench db> SET name = value before the server starts
 *                           (e.g. synchronous_commit=off); repeatable
 *   --unlogged-nonces       what-if: ALTER TABLE acme_nonces SET UNLOGGED once migrations have run
 *   --no-calibrate          skip the HTTP floor measurement (GET directory, HEAD newNonce CPU per request)
 *   --seed N                before measuring, fill the database with N issued certificates and their valid
 *                           orders, authorizations and challenges (bench/seed.ts: INSERT ... SELECT FROM
 *                           generate_series, indexes rebuilt once), half of them spread over the benchmark's
 *                           own accounts and half over 1000 other accounts of the directory
 *   --rss-every S           sample the server's RSS every S seconds of each window (default a tenth of it);
 *                           printed per level (start, end, max) with the samples in results.json
 */
import { createPrivateKey, generateKeyPair, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { createCsr } from "../src/ca/csr.js";
import { AcmeProblem, BenchAccount, fetchDirectory, generateAccountKey, HttpClient, type IssuanceStats, type PollPolicy } from "./lib/acme-client.js";
import { summarizeProfile } from "./lib/cpu-profile.js";
import { startDnsStub } from "./lib/dns-stub.js";
import { createBenchDatabase } from "./lib/pg.js";
import { seedHistory } from "./seed.js";
import { CpuMeter, machineBusyMs } from "./lib/proc.js";
import { startHttp01Responder } from "./lib/responder.js";
import { startSigilProcess, type SigilProcess } from "./lib/sigil-process.js";
import { mean, percentile, table } from "./lib/stats.js";

const generateKeyPairAsync = promisify(generateKeyPair);

/** the request steps of one issuance, in order (bench/lib/acme-client.ts names them) */
const STEPS = ["newNonce", "newOrder", "authz", "challenge", "poll-ready", "finalize", "poll-valid", "certificate"] as const;

/** the targets of issue 3 (benchmark, not tests) */
export const TARGET_CPU_MS_PER_CERT = 1.6;
export const TARGET_P99_MS_AT_64 = 300;

interface Options {
  levels: number[];
  durationS: number;
  warmupS: number;
  pool?: number;
  poll: PollPolicy;
  profile: boolean;
  out?: string;
  topQueries: number;
  json: boolean;
  calibrate: boolean;
  /** what-if experiments on the database (not the product's configuration) */
  pgSettings: string[];
  unloggedNonces: boolean;
  /** issued certificates (with orders) seeded before measuring; 0 = none */
  seed: number;
  /** seconds between RSS samples of the server; 0 = a tenth of the window */
  rssEveryS: number;
}

function parseArgs(args: string[]): Options {
  const o: Options = { levels: [1, 16, 64], durationS: 20, warmupS: 3, poll: { firstMs: 10, capMs: 200 }, profile: false, topQueries: 0, json: false, calibrate: true, pgSettings: [], unloggedNonces: false, seed: 0, rssEveryS: 0 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const val = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const n = Number(val());
      if (!Number.isFinite(n) || n < 0) throw new Error(`${a}: not a number`);
      return n;
    };
    switch (a) {
      case "--concurrency":
        o.levels = val().split(",").map((s) => Number(s.trim()));
        if (o.levels.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--concurrency: comma-separated positive integers");
        break;
      case "--duration":
        o.durationS = num();
        break;
      case "--warmup":
        o.warmupS = num();
        break;
      case "--pool":
        o.pool = num();
        break;
      case "--poll-ms":
        o.poll.firstMs = num();
        break;
      case "--poll-cap-ms":
        o.poll.capMs = num();
        break;
      case "--profile":
        o.profile = true;
        break;
      case "--out":
        o.out = val();
        break;
      case "--queries":
        o.topQueries = num();
        break;
      case "--json":
        o.json = true;
        break;
      case "--no-calibrate":
        o.calibrate = false;
        break;
      case "--pg-set": {
        const v = val();
        if (!/^[a-z_.]+=[A-Za-z0-9_.-]+$/.test(v)) throw new Error("--pg-set: name=value (e.g. synchronous_commit=off)");
        o.pgSettings.push(v);
        break;
      }
      case "--unlogged-nonces":
        o.unloggedNonces = true;
        break;
      case "--seed":
        o.seed = Math.floor(num());
        break;
      case "--rss-every":
        o.rssEveryS = num();
        break;
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  return o;
}

/** CSRs for unique names, made ahead of the clients (P-256 key each); topped up when a level outruns them */
class CsrPool {
  private seq = 0;
  private readonly ready: Array<{ name: string; der: Buffer }> = [];
  readonly runId = randomBytes(3).toString("hex");
  generatedDuringRun = 0;

  /**
   * Pre-generates n CSRs with the keys made on libuv's pool: a tight loop of
   * generateKeyPairSync on the main thread once deadlocked Node 20 (a GC during
   * key generation waiting on a lock the same thread held; seen in gdb), which
   * looked like a server stall.
   */
  async fill(n: number): Promise<void> {
    for (let done = 0; done < n; ) {
      const batch = Math.min(64, n - done);
      const keys = await Promise.all(Array.from({ length: batch }, () => generateKeyPairAsync("ec", { namedCurve: "P-256" })));
      for (const { privateKey } of keys) this.ready.push(this.csrFor(privateKey));
      done += batch;
    }
  }

  take(measuring: boolean): { name: string; der: Buffer } {
    const c = this.ready.pop();
    if (c) return c;
    if (measuring) this.generatedDuringRun++;
    return this.make();
  }

  get size(): number {
    return this.ready.length;
  }

  /** when the pool runs dry mid-window: the key as DER, then a KeyObject of its own (no KeyGenJob behind it, so no deadlock) */
  private make(): { name: string; der: Buffer } {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256", privateKeyEncoding: { format: "der", type: "pkcs8" }, publicKeyEncoding: { format: "der", type: "spki" } });
    return this.csrFor(createPrivateKey({ key: privateKey, format: "der", type: "pkcs8" }));
  }

  private csrFor(privateKey: KeyObject): { name: string; der: Buffer } {
    const name = `i${++this.seq}-${this.runId}.bench.sigil.test`;
    return { name, der: createCsr({ privateKey, dnsNames: [name] }).der };
  }
}

interface Done {
  end: number;
  ms: number;
  ok: boolean;
  stats?: IssuanceStats;
  error?: string;
}

interface LevelResult {
  concurrency: number;
  seconds: number;
  certificates: number;
  certsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  errorTypes: Record<string, number>;
  sigilCpuMsPerCert: number;
  pgCpuMsPerCert: number;
  serverCpuMsPerCert: number;
  pgBackends: number;
  queriesPerCert: number;
  requestsPerCert: number;
  pollsPerCert: number;
  badNonceRetries: number;
  validationStartP50Ms: number;
  readyP50Ms: number;
  finalizeP50Ms: number;
  clientCpuMsPerCert: number;
  /** the server's event-loop delay during the window (ms): high = the process is saturated */
  eventLoopDelayP50Ms: number;
  eventLoopDelayP99Ms: number;
  /** p50 over issuances of the ms waited for each step's answers (polls summed), and of the client's sleeps */
  stepP50Ms: Record<string, number>;
  /** cores busy in all during the window (everything, from /proc/stat) */
  machineBusyCores: number;
  /** cores kept busy during the window by processes other than sigil, its PG backends and this benchmark */
  otherLoadCores: number;
  topQueries: Array<{ perCert: number; sql: string }>;
  /** the sigil process's resident set (VmRSS, MB) sampled every --rss-every seconds of the window: [seconds, MB] */
  rssMb: Array<[number, number]>;
  profile?: { file: string; busyMs: number; categories: Array<{ category: string; selfMs: number }>; modules: Array<{ module: string; selfMs: number }>; functions: Array<{ name: string; where: string; selfMs: number }> };
}

export async function run(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const outDir = o.out ?? mkdtempSync(path.join(tmpdir(), "sigil-bench-acme-"));
  mkdirSync(outDir, { recursive: true });
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-bench-data-"));
  const db = await createBenchDatabase();
  const dns = await startDnsStub();
  const responder = await startHttp01Responder();
  const httpPort = await freePort();
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  const client = new HttpClient(512);
  let sigil: SigilProcess | undefined;
  const results: LevelResult[] = [];
  const calibration: Calibration[] = [];
  try {
    for (const kv of o.pgSettings) {
      const [k, v] = kv.split("=") as [string, string];
      await db.admin.query(`alter database "${db.name}" set ${k} = '${v}'`);
      console.log(`what-if: database setting ${k} = ${v}`);
    }
    sigil = await startSigilProcess({
      DATABASE_URL: db.url,
      SIGIL_MASTER_KEY: randomBytes(32).toString("hex"),
      SIGIL_DATA_DIR: dataDir,
      SIGIL_HOST: "127.0.0.1",
      SIGIL_HTTP_PORT: String(httpPort),
      SIGIL_GRPC_PORT: "0",
      SIGIL_HTTPS_PORT: "0",
      SIGIL_PUBLIC_URL: baseUrl,
      SIGIL_BOOTSTRAP_ADMIN_PASSWORD: "bench-admin-password",
      SIGIL_LOG_LEVEL: "warn",
      SIGIL_VALIDATION_HTTP_PORT: String(responder.port),
      SIGIL_DNS_SERVERS: dns.address,
      // the responder and the stub DNS run on this machine: loopback must be allowed explicitly
      SIGIL_VALIDATION_ALLOWED_NETWORKS: "127.0.0.0/8",
      // every client of the bench validates at once
      SIGIL_VALIDATION_MAX_CONCURRENT: "256",
      SIGIL_VALIDATION_MAX_PER_ACCOUNT: "64",
      // load runs without ACME rate limits unless asked (SIGIL_RATE_LIMITS=... measures their cost)
      SIGIL_RATE_LIMITS: process.env.SIGIL_RATE_LIMITS ?? "off",
      ...(o.pool ? { SIGIL_DB_POOL_MAX: String(o.pool) } : {}),
      ...(o.topQueries > 0 ? { BENCH_PROBE_SQL_TEXT: "1" } : {}),
    });
    console.log(`sigil serve pid ${sigil.pid} on ${baseUrl}, database ${db.name}, responder :${responder.port}, dns ${dns.address}`);

    if (o.unloggedNonces) {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query("alter table acme_nonces set unlogged");
      await c.end();
      console.log("what-if: acme_nonces is UNLOGGED");
    }
    const directory = await fetchDirectory(client, `${baseUrl}/acme/default/directory`);
    const maxC = Math.max(...o.levels);
    const accounts: BenchAccount[] = [];
    for (let i = 0; i < maxC; i += 16) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(16, maxC - i) }, async () => {
          const a = new BenchAccount(client, directory, await generateAccountKey());
          await a.register();
          return a;
        }),
      );
      accounts.push(...batch);
    }
    console.log(`registered ${accounts.length} accounts`);
    if (o.seed > 0) {
      // history the hot path's indexes must carry: half on the measured accounts, half on other accounts
      const own = accounts.map((a) => a.kid!.slice(a.kid!.lastIndexOf("/") + 1));
      const half = Math.ceil(o.seed / 2);
      const r1 = await seedHistory(db.url, { certificates: half, accountIds: own });
      const r2 = await seedHistory(db.url, { certificates: o.seed - half, accounts: 1000 });
      const size = (await db.admin.query<{ s: string }>(`select pg_size_pretty(pg_database_size($1)) as s`, [db.name])).rows[0]!.s;
      console.log(
        `seeded ${o.seed} certificates with their orders, authorizations and challenges in ${((r1.ms + r2.ms) / 1000).toFixed(1)} s ` +
          `(${half} on the ${own.length} benchmark accounts, ${o.seed - half} on ${r2.accounts} others); database ${size}`,
      );
    }
    const csrs = new CsrPool();
    if (o.calibrate) {
      const plain = (method: string, url: string) => async () => {
        const r = await client.request(method, url);
        if (r.status >= 400) throw new Error(`calibration ${method} ${url}: HTTP ${r.status}`);
      };
      const pids = db.backendPids;
      calibration.push(await calibrate("GET directory", 16, plain("GET", `${baseUrl}/acme/default/directory`), sigil, pids));
      calibration.push(await calibrate("HEAD newNonce", 16, plain("HEAD", directory.newNonce), sigil, pids));
      const readers = accounts.slice(0, 16);
      calibration.push(
        await calibrate("POST-as-GET account (JWS)", readers.length, (w) => readers[w]!.readAccount(), sigil, pids, o.profile ? path.join(outDir, "sigil-post-as-get-account.cpuprofile") : undefined),
      );
      for (const c of calibration) console.log(`  floor: ${c.what}: ${c.perSecond.toFixed(0)}/s, sigil ${c.sigilUsPerRequest.toFixed(0)} µs + PG ${c.pgUsPerRequest.toFixed(0)} µs CPU per request`);
    }

    for (const c of o.levels) {
      // enough CSRs for a generous guess of this level's issuances (more are made on demand)
      const want = Math.min(40_000, Math.ceil((o.durationS + o.warmupS + 2) * Math.min(60 * c, 400)));
      if (csrs.size < want) await csrs.fill(want - csrs.size);
      results.push(await runLevel(c, accounts.slice(0, c), csrs, responder, sigil, db.backendPids, o, outDir));
      const r = results[results.length - 1]!;
      console.log(
        `  c=${c}: ${r.certificates} certs in ${r.seconds.toFixed(1)} s = ${r.certsPerSecond.toFixed(1)}/s, p50 ${r.p50Ms.toFixed(0)} ms, p99 ${r.p99Ms.toFixed(0)} ms, errors ${r.errors}, server CPU ${r.serverCpuMsPerCert.toFixed(2)} ms/cert`,
      );
      const rss = r.rssMb.map(([, mb]) => mb);
      console.log(
        `  c=${c}: sigil RSS ${rss[0]} MB at the window's start, ${rss[rss.length - 1]} MB at its end, max ${Math.max(...rss)} MB; ` +
          `samples ${r.rssMb.map(([t, mb]) => `${t}s:${mb}`).join(" ")}; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}`,
      );
    }
    console.log(`validator traffic: ${responder.hits} http-01 fetches answered, ${responder.misses} for unknown tokens; ${dns.queries} DNS queries`);
    if (csrs.generatedDuringRun) console.log(`(note: ${csrs.generatedDuringRun} CSRs were generated during measured windows; raise the pre-generated count)`);
    printReport(results, o, calibration);
    writeFileSync(path.join(outDir, "results.json"), JSON.stringify({ calibration, results }, null, 2));
    console.log(`\nresults: ${path.join(outDir, "results.json")}`);
    if (o.json) console.log(JSON.stringify(results, null, 2));
  } catch (e) {
    if (sigil) console.error(`--- sigil output (tail)\n${sigil.output().slice(-4000)}`);
    throw e;
  } finally {
    client.close();
    await sigil?.stop();
    await responder.close();
    await dns.close();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
    if (!o.out && !o.profile) rmSync(outDir, { recursive: true, force: true });
  }
}

async function runLevel(
  concurrency: number,
  accounts: BenchAccount[],
  csrs: CsrPool,
  responder: Awaited<ReturnType<typeof startHttp01Responder>>,
  sigil: SigilProcess,
  backendPids: () => Promise<number[]>,
  o: Options,
  outDir: string,
): Promise<LevelResult> {
  let stop = false;
  let measuring = false;
  const done: Done[] = [];
  const loops = accounts.map(async (acct) => {
    while (!stop) {
      const csr = csrs.take(measuring);
      const t = performance.now();
      try {
        const { stats } = await acct.issue(csr.name, csr.der, responder, o.poll);
        const end = performance.now();
        done.push({ end, ms: end - t, ok: true, stats });
      } catch (e) {
        const end = performance.now();
        done.push({ end, ms: end - t, ok: false, error: e instanceof AcmeProblem ? `${e.step}:${e.type}` : `client:${(e as Error).message.slice(0, 80)}` });
        await new Promise((r) => setTimeout(r, 50)); // do not spin on a persistent failure
      }
    }
  });

  await new Promise((r) => setTimeout(r, o.warmupS * 1000));

  // --- measurement window
  const sigilCpu = new CpuMeter();
  const pgCpu = new CpuMeter();
  sigilCpu.track(sigil.pid);
  for (const pid of await backendPids()) pgCpu.track(pid);
  const q0 = await sigil.queries();
  await sigil.eventLoopReset();
  if (o.profile) await sigil.profileStart();
  const client0 = process.cpuUsage();
  const machine0 = machineBusyMs();
  const t0 = performance.now();
  measuring = true;
  const rssMb: Array<[number, number]> = [[0, rssOf(sigil.pid)]];
  const rssEvery = o.rssEveryS > 0 ? o.rssEveryS : Math.max(1, o.durationS / 10);
  const rssSampler = setInterval(() => rssMb.push([Math.round((performance.now() - t0) / 1000), rssOf(sigil.pid)]), rssEvery * 1000);
  const sampler = setInterval(() => {
    // backends opened during the window count from zero (all their CPU is in the window)
    backendPids().then(
      (pids) => {
        for (const pid of pids) if (!pgCpu.pids.includes(pid)) pgCpu.track(pid, 0);
        pgCpu.sample();
      },
      () => {},
    );
  }, 1000);
  await new Promise((r) => setTimeout(r, o.durationS * 1000));
  const t1 = performance.now();
  measuring = false;
  clearInterval(sampler);
  clearInterval(rssSampler);
  rssMb.push([Math.round((t1 - t0) / 1000), rssOf(sigil.pid)]);
  for (const pid of await backendPids()) if (!pgCpu.pids.includes(pid)) pgCpu.track(pid, 0);
  const sigilMs = sigilCpu.total();
  const pgMs = pgCpu.total();
  const clientUsage = process.cpuUsage(client0);
  const machineMs = machineBusyMs() - machine0;
  const q1 = await sigil.queries();
  const eld = await sigil.eventLoopDelay();
  let profile: LevelResult["profile"];
  if (o.profile) {
    const file = path.join(outDir, `sigil-c${concurrency}.cpuprofile`);
    await sigil.profileStop(file);
    const s = summarizeProfile(file, 25);
    profile = { file, busyMs: s.busyMs, categories: s.categories, modules: s.modules, functions: s.functions };
  }
  // --- drain
  stop = true;
  await Promise.all(loops);

  const inWindow = done.filter((d) => d.end >= t0 && d.end <= t1);
  const ok = inWindow.filter((d) => d.ok);
  const failed = inWindow.filter((d) => !d.ok);
  const errorTypes: Record<string, number> = {};
  for (const d of done.filter((x) => !x.ok)) errorTypes[d.error!] = (errorTypes[d.error!] ?? 0) + 1;
  const n = Math.max(ok.length, 1);
  const seconds = (t1 - t0) / 1000;
  const stats = ok.map((d) => d.stats!);
  const queries = q1.total - q0.total;
  const topQueries = Object.entries(q1.byText)
    .map(([sql, count]) => ({ sql, delta: count - (q0.byText[sql] ?? 0) }))
    .filter((x) => x.delta > 0)
    .sort((a, b) => b.delta - a.delta)
    .slice(0, o.topQueries)
    .map((x) => ({ perCert: x.delta / n, sql: x.sql }));
  return {
    concurrency,
    seconds,
    certificates: ok.length,
    certsPerSecond: ok.length / seconds,
    p50Ms: percentile(ok.map((d) => d.ms), 50),
    p99Ms: percentile(ok.map((d) => d.ms), 99),
    maxMs: Math.max(...ok.map((d) => d.ms)),
    errors: failed.length,
    errorTypes,
    sigilCpuMsPerCert: sigilMs / n,
    pgCpuMsPerCert: pgMs / n,
    serverCpuMsPerCert: (sigilMs + pgMs) / n,
    pgBackends: pgCpu.pids.length,
    queriesPerCert: queries / n,
    requestsPerCert: mean(stats.map((s) => s.requests)),
    pollsPerCert: mean(stats.map((s) => s.polls)),
    badNonceRetries: stats.reduce((a, s) => a + s.badNonceRetries, 0),
    validationStartP50Ms: percentile(stats.flatMap((s) => (s.validationStartMs === undefined ? [] : [s.validationStartMs])), 50),
    readyP50Ms: percentile(stats.flatMap((s) => (s.readyMs === undefined ? [] : [s.readyMs])), 50),
    finalizeP50Ms: percentile(stats.flatMap((s) => (s.finalizeMs === undefined ? [] : [s.finalizeMs])), 50),
    clientCpuMsPerCert: (clientUsage.user + clientUsage.system) / 1000 / n,
    eventLoopDelayP50Ms: eld.p50,
    eventLoopDelayP99Ms: eld.p99,
    stepP50Ms: Object.fromEntries(
      [...STEPS, "sleep"].map((k) => [k, percentile(stats.map((s) => (k === "sleep" ? s.sleepMs : (s.steps[k] ?? 0))), 50)]),
    ),
    machineBusyCores: machineMs / (t1 - t0),
    otherLoadCores: Math.max(0, machineMs - sigilMs - pgMs - (clientUsage.user + clientUsage.system) / 1000) / (t1 - t0),
    topQueries,
    rssMb,
    profile,
  };
}

/** VmRSS of a process in MB (/proc/<pid>/status), NaN when unreadable */
function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
  } catch {
    return NaN;
  }
}

interface Calibration {
  what: string;
  perSecond: number;
  sigilUsPerRequest: number;
  pgUsPerRequest: number;
}

/**
 * The floor of the HTTP stack: up to 16 connections hammering one cheap
 * endpoint for 2 s, CPU per request. GET directory: a cached row; HEAD
 * newNonce: a nonce from the in-memory batch (one INSERT per 64); POST-as-GET
 * of the account: the cost every authenticated ACME request pays (JWS parse
 * and verify, nonce consumed, account loaded).
 */
async function calibrate(
  what: string,
  workers: number,
  once: (worker: number) => Promise<void>,
  sigil: SigilProcess,
  backendPids: () => Promise<number[]>,
  profileFile?: string,
): Promise<Calibration> {
  if (profileFile) await sigil.profileStart();
  const sigilCpu = new CpuMeter();
  const pgCpu = new CpuMeter();
  sigilCpu.track(sigil.pid);
  for (const pid of await backendPids()) pgCpu.track(pid);
  let n = 0;
  const t0 = performance.now();
  const until = t0 + 2000;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < until) {
        await once(w);
        n++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  for (const pid of await backendPids()) if (!pgCpu.pids.includes(pid)) pgCpu.track(pid, 0);
  const result: Calibration = { what, perSecond: n / seconds, sigilUsPerRequest: (sigilCpu.total() * 1000) / n, pgUsPerRequest: (pgCpu.total() * 1000) / n };
  if (profileFile) {
    await sigil.profileStop(profileFile);
    const s = summarizeProfile(profileFile, 15);
    const us = (ms: number) => ((ms * 1000) / n).toFixed(0).padStart(5);
    console.log(`  profile of "${what}" (${profileFile}), self time µs/request:`);
    for (const m of s.modules.slice(0, 12)) console.log(`    ${us(m.selfMs)}  ${m.module}`);
    for (const f of s.functions.slice(0, 12)) console.log(`    ${us(f.selfMs)}  ${f.name} ${f.where}`);
  }
  return result;
}

function printReport(results: LevelResult[], o: Options, calibration: Calibration[]): void {
  console.log(`\nACME issuance (http-01, 1 dns name, P-256 CSR), ${o.durationS} s measured per level after ${o.warmupS} s warm-up`);
  console.log(
    table(
      ["clients", "certs", "certs/s", "p50 ms", "p99 ms", "max ms", "errors", "sigil ms/cert", "pg ms/cert", "server ms/cert", "pg backends", "SQL/cert", "HTTP req/cert", "polls/cert", "client ms/cert"],
      results.map((r) => [
        r.concurrency,
        r.certificates,
        r.certsPerSecond,
        r.p50Ms,
        r.p99Ms,
        r.maxMs,
        r.errors,
        r.sigilCpuMsPerCert,
        r.pgCpuMsPerCert,
        r.serverCpuMsPerCert,
        r.pgBackends,
        r.queriesPerCert,
        r.requestsPerCert,
        r.pollsPerCert,
        r.clientCpuMsPerCert,
      ]),
    ),
  );
  if (results.some((r) => r.otherLoadCores > 0.2)) {
    console.log(`\nWARNING: other processes kept up to ${Math.max(...results.map((r) => r.otherLoadCores)).toFixed(2)} of ${availableParallelism()} cores busy during a window; throughput and latency are not representative (CPU per certificate is less affected)`);
  }
  console.log(
    "\nphases (p50): challenge POST sent -> validator's first fetch / -> order seen ready; finalize round trip\n" +
      table(
        ["clients", "validation start ms", "ready ms", "finalize ms", "badNonce retries", "event-loop delay p50/p99 ms", "machine busy (cores)", "other load (cores)"],
        results.map((r) => [
          r.concurrency,
          r.validationStartP50Ms,
          r.readyP50Ms,
          r.finalizeP50Ms,
          r.badNonceRetries,
          `${r.eventLoopDelayP50Ms.toFixed(1)} / ${r.eventLoopDelayP99Ms.toFixed(1)}`,
          r.machineBusyCores,
          r.otherLoadCores,
        ]),
      ),
  );
  console.log(
    "\nlatency by step (p50 ms waited for answers per issuance; polls summed; sleep = client's waits between polls)\n" +
      table(["clients", ...STEPS, "sleep"], results.map((r) => [r.concurrency, ...[...STEPS, "sleep"].map((k) => r.stepP50Ms[k] ?? NaN)])),
  );
  if (calibration.length) {
    console.log("\nHTTP floor (up to 16 keep-alive connections, 2 s each):\n" + table(["request", "per second", "sigil µs/req", "PG µs/req"], calibration.map((c) => [c.what, c.perSecond, c.sigilUsPerRequest, c.pgUsPerRequest])));
  }
  for (const r of results) {
    if (Object.keys(r.errorTypes).length) console.log(`errors at ${r.concurrency} clients (whole run incl. warm-up/drain): ${JSON.stringify(r.errorTypes)}`);
  }
  const worst = Math.max(...results.map((r) => r.serverCpuMsPerCert));
  const at64 = results.find((r) => r.concurrency === 64);
  console.log(`\ntargets: server CPU <= ${TARGET_CPU_MS_PER_CERT} ms/cert: ${worst <= TARGET_CPU_MS_PER_CERT ? "met" : `MISSED (worst ${worst.toFixed(2)})`}`);
  if (at64) {
    const ok = at64.p99Ms < TARGET_P99_MS_AT_64 && at64.errors === 0;
    console.log(`         64 clients p99 < ${TARGET_P99_MS_AT_64} ms and no errors: ${ok ? "met" : `MISSED (p99 ${at64.p99Ms.toFixed(0)} ms, ${at64.errors} errors)`}`);
  }
  if (o.topQueries > 0) {
    for (const r of results) {
      console.log(`\nSQL statements per certificate at ${r.concurrency} clients (${r.queriesPerCert.toFixed(1)} in all):`);
      for (const q of r.topQueries) console.log(`  ${q.perCert.toFixed(2).padStart(6)}  ${q.sql.slice(0, 150)}`);
    }
  }
  for (const r of results) {
    if (!r.profile) continue;
    const p = r.profile;
    const per = (ms: number) => (ms / Math.max(r.certificates, 1)).toFixed(3);
    console.log(`\nCPU profile of the sigil process at ${r.concurrency} clients (${p.file}); ${p.busyMs.toFixed(0)} ms sampled = ${per(p.busyMs)} ms/cert`);
    console.log("  by activity (whole stack considered; ms/cert):");
    for (const c of p.categories) console.log(`    ${per(c.selfMs).padStart(7)}  ${((100 * c.selfMs) / p.busyMs).toFixed(1).padStart(5)}%  ${c.category}`);
    console.log("  by module (self time, ms/cert):");
    for (const m of p.modules.slice(0, 15)) console.log(`    ${per(m.selfMs).padStart(7)}  ${((100 * m.selfMs) / p.busyMs).toFixed(1).padStart(5)}%  ${m.module}`);
    console.log("  top functions (self time, ms/cert):");
    for (const f of p.functions.slice(0, 25)) console.log(`    ${per(f.selfMs).padStart(7)}  ${((100 * f.selfMs) / p.busyMs).toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}
