/**
 * `npm run bench -- http [--seconds N] [--concurrency C] [--paths "HEAD /a,GET /b"] [--bare]`: requests per
 * second and server CPU per request of the cheap GET endpoints a load
 * balancer and Prometheus hit all the time: GET /metrics (the scrape: every
 * counter and histogram rendered, plus the CA/CRL expiry store read), GET
 * /readyz (a `select 1` and the cached migrations check) and the ACME
 * directory (a nonce insert and the cached directory), against `sigil serve`
 * as its own process on a fresh PostgreSQL database. CPU is the server
 * process's plus its PostgreSQL backends' (from /proc), divided by requests.
 *
 * `--paths` measures other requests ("METHOD /path", comma-separated; a POST
 * sends a flattened-JWS-shaped JSON body of ~700 bytes as
 * application/jose+json). `--bare` then measures the same requests against a
 * bare node:http handler answering the same shapes (bench/lib/bare-http-server.mjs):
 * the floor of node's own HTTP stack, for the Koa + router cost above it.
 *
 * `--stack [--variants app,fast] [--requests nonce,directory,post]`: no database and no `sigil serve`; the
 * HTTP app with the real ACME router on an in-memory port
 * (bench/lib/http-stack-server.ts, one child process per variant) against
 * the bare handler, for HEAD newNonce, GET directory and a signed
 * POST-as-GET of the account (one JWS replayed: the in-memory port accepts
 * every nonce). CPU per request of the HTTP stack alone, steady enough to
 * compare two trees back to back (run it in each worktree).
 */
import http from "node:http";
import { fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes, randomUUID } from "node:crypto";
import { exportJWK, FlattenedSign, generateKeyPair } from "jose";
import { parseArgs } from "node:util";
import { createBenchDatabase } from "./lib/pg.js";
import { CpuMeter } from "./lib/proc.js";
import { REPO_ROOT, startSigilProcess } from "./lib/sigil-process.js";
import { freePort } from "../test/helpers/server.js";

/** a JWS-shaped POST body (RFC 8555 §6.2 flattened JSON: protected, payload, signature) */
const JWS_BODY = JSON.stringify({
  protected: Buffer.from(JSON.stringify({ alg: "ES256", kid: "http://127.0.0.1/acme/default/acct/00000000-0000-7000-8000-000000000000", nonce: "x".repeat(22), url: "http://127.0.0.1/acme/default/acct/00000000-0000-7000-8000-000000000000" })).toString("base64url"),
  payload: "",
  signature: "s".repeat(86),
});

interface Result {
  path: string;
  requests: number;
  errors: number;
  rps: number;
  cpuMsPerRequest: number;
  p50Ms: number;
  p99Ms: number;
  bytes: number;
}

async function load(base: string, what: string, seconds: number, concurrency: number, meter: CpuMeter, pids: () => Promise<number[]>, signedPost?: string): Promise<Result> {
  const [method, p] = what.includes(" ") ? (what.split(" ", 2) as [string, string]) : ["GET", what];
  const body = method === "POST" ? (signedPost ?? JWS_BODY) : undefined;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  const get = () =>
    new Promise<void>((resolve) => {
      const t0 = process.hrtime.bigint();
      http
        .request(`${base}${p}`, { agent, method, headers: body ? { "Content-Type": "application/jose+json", "Content-Length": Buffer.byteLength(body) } : {} }, (res) => {
          res.on("data", (c: Buffer) => (bytes += c.length));
          res.on("end", () => {
            // a GET of newNonce answers 204 (RFC 8555 §7.2); a made-up JWS a 4xx problem (counted as answered)
            // (a signed POST of --stack must succeed)
            if (res.statusCode === undefined || res.statusCode >= 500 || ((method !== "POST" || signedPost) && res.statusCode >= 300)) errors++;
            latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
            resolve();
          });
        })
        .on("error", () => {
          errors++;
          resolve();
        })
        .end(body);
    });
  // warm-up (JIT, prepared statements, pool connections): 1.5 s at full concurrency, as a
  // variant whose earlier requests skipped Koa reaches its POSTs with Koa's code cold
  const warmEnd = Date.now() + 1500;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < warmEnd) await get();
    }),
  );
  latencies.length = 0;
  errors = 0;
  bytes = 0;
  for (const pid of await pids()) meter.track(pid);
  const cpu0 = meter.total();
  const end = Date.now() + seconds * 1000;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) await get();
    }),
  );
  const elapsed = (Date.now() - t0) / 1000;
  for (const pid of await pids()) meter.track(pid, 0);
  const cpu = meter.total() - cpu0;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (f: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * f))] ?? 0;
  return {
    path: what,
    requests: latencies.length,
    errors,
    rps: latencies.length / elapsed,
    cpuMsPerRequest: cpu / Math.max(1, latencies.length),
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    bytes: bytes / Math.max(1, latencies.length),
  };
}

function printRows(rows: Result[]): void {
  const width = Math.max(24, ...rows.map((r) => r.path.length));
  console.log(`${"endpoint".padEnd(width)}   req/s  CPU ms/req  p50 ms  p99 ms  bytes/resp  errors`);
  for (const r of rows) {
    console.log(
      `${r.path.padEnd(width)} ${r.rps.toFixed(0).padStart(7)}  ${r.cpuMsPerRequest.toFixed(3).padStart(10)}  ${r.p50Ms.toFixed(2).padStart(6)}  ${r.p99Ms.toFixed(2).padStart(6)}  ${r.bytes.toFixed(0).padStart(10)}  ${r.errors}`,
    );
  }
}

/** a child process serving on `port` until killed (ready: its first IPC message) */
async function startChild(script: string, env: Record<string, string>, execArgv: string[] = []): Promise<ReturnType<typeof fork>> {
  const child = fork(path.join(REPO_ROOT, script), [], { env: { ...process.env, ...env }, stdio: "inherit", execArgv });
  await new Promise<void>((resolve, reject) => {
    child.once("message", () => resolve());
    child.once("exit", (code) => reject(new Error(`${script} exited (${code})`)));
  });
  return child;
}

/** `--stack`: the HTTP app + ACME router on an in-memory port, per variant, and the bare handler */
async function runStack(seconds: number, concurrency: number, variants: string[], requests: string[]): Promise<void> {
  const key = await generateKeyPair("ES256");
  const jwk = await exportJWK(key.publicKey);
  const accountId = randomUUID();
  const rows: Result[] = [];
  console.log(`HTTP stack without a database, ${seconds} s per request, ${concurrency} concurrent keep-alive connections`);
  for (const variant of [...variants, "bare"]) {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const child =
      variant === "bare"
        ? await startChild("bench/lib/bare-http-server.mjs", { BARE_PORT: String(port), BARE_BASE: base })
        : await startChild("bench/lib/http-stack-server.ts", { STACK_PORT: String(port), STACK_VARIANT: variant, STACK_JWK: JSON.stringify(jwk), STACK_ACCOUNT_ID: accountId }, ["--import", "tsx"]);
    try {
      const acct = `${base}/acme/default/acct/${accountId}`;
      const jws = await new FlattenedSign(new Uint8Array(0)).setProtectedHeader({ alg: "ES256", nonce: "bench-nonce", url: acct, kid: acct }).sign(key.privateKey);
      const all = { nonce: "HEAD /acme/default/new-nonce", directory: "GET /acme/default/directory", post: `POST /acme/default/acct/${accountId}` };
      for (const what of requests.map((r) => all[r as keyof typeof all]).filter((w) => w !== undefined)) {
        const meter = new CpuMeter();
        meter.track(child.pid!);
        const r = await load(base, what, seconds, concurrency, meter, async () => [child.pid!], JSON.stringify(jws));
        rows.push({ ...r, path: `${variant}: ${what.replace(accountId, ":id")}` });
      }
    } finally {
      child.kill();
    }
  }
  printRows(rows);
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: "5" },
      concurrency: { type: "string", default: "16" },
      paths: { type: "string" },
      bare: { type: "boolean", default: false },
      stack: { type: "boolean", default: false },
      variants: { type: "string", default: "app" },
      requests: { type: "string", default: "nonce,directory,post" },
    },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  if (values.stack) return runStack(seconds, concurrency, values.variants.split(","), values.requests.split(","));
  const paths = values.paths ? values.paths.split(",").map((x) => x.trim()) : ["/metrics", "/readyz", "/acme/default/directory", "/healthz"];
  const db = await createBenchDatabase("sigil_bench_http");
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-bench-http-"));
  const httpPort = await freePort();
  const base = `http://127.0.0.1:${httpPort}`;
  const sigil = await startSigilProcess({
    DATABASE_URL: db.url,
    SIGIL_MASTER_KEY: randomBytes(32).toString("hex"),
    SIGIL_DATA_DIR: dataDir,
    SIGIL_HOST: "127.0.0.1",
    SIGIL_HTTP_PORT: String(httpPort),
    SIGIL_GRPC_PORT: "0",
    SIGIL_HTTPS_PORT: "0",
    SIGIL_PUBLIC_URL: base,
    SIGIL_BOOTSTRAP_ADMIN_PASSWORD: "bench-admin-password",
    SIGIL_LOG_LEVEL: process.env.SIGIL_LOG_LEVEL ?? "warn",
    // load runs without ACME rate limits unless asked (SIGIL_RATE_LIMITS=... measures their cost)
    SIGIL_RATE_LIMITS: process.env.SIGIL_RATE_LIMITS ?? "off",
  });
  try {
    console.log(`sigil serve pid ${sigil.pid} on ${base}; ${seconds} s per endpoint, ${concurrency} concurrent keep-alive connections`);
    const rows: Result[] = [];
    for (const p of paths) {
      const meter = new CpuMeter();
      meter.track(sigil.pid);
      rows.push(await load(base, p, seconds, concurrency, meter, async () => [sigil.pid, ...(await db.backendPids())]));
    }
    if (values.bare) {
      const barePort = await freePort();
      const bare = await startChild("bench/lib/bare-http-server.mjs", { BARE_PORT: String(barePort), BARE_BASE: base });
      try {
        for (const p of paths) {
          const meter = new CpuMeter();
          meter.track(bare.pid!);
          const r = await load(`http://127.0.0.1:${barePort}`, p, seconds, concurrency, meter, async () => [bare.pid!]);
          rows.push({ ...r, path: `bare node: ${r.path}` });
        }
      } finally {
        bare.kill();
      }
    }
    printRows(rows);
  } finally {
    await sigil.stop();
    await db.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
