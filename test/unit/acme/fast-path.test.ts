/**
 * src/acme/fast-path.ts against the Koa app it stands in front of: the same
 * ACME router on a fake port, served once by the app alone and once with the
 * fast path in front. HEAD/GET newNonce and GET directory must get the same
 * status, headers (apart from the fresh nonce and request id) and body, the
 * same access log line and the same metrics, without the app being called;
 * everything the fast path does not answer (unknown directory, a nonce store
 * that is down, a query string, other methods) must reach the app and get
 * its answer.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { SigilError } from "../../../src/core/errors.js";
import { withAcmeFastPath } from "../../../src/acme/fast-path.js";
import { Linker } from "../../../src/acme/linker.js";
import type { AcmeRa, DirectoryInfo } from "../../../src/acme/ra-port.js";
import { buildAcmeRouter, type AcmeRouter } from "../../../src/acme/router.js";
import { buildHttpApp } from "../../../src/http-app.js";
import { createLogger } from "../../../src/logger.js";
import { fakeDirectory } from "./fake-directory.js";
import { SigilMetrics } from "../../../src/metrics/registry.js";

const DIR: DirectoryInfo = fakeDirectory({ caaIdentities: ["example.test"] });

let noncesDown = false;
let issued = 0;

function fakePort(): AcmeRa {
  const used: Pick<AcmeRa, "directories" | "nonces" | "start" | "close"> = {
    directories: { get: async (name) => (name === DIR.name ? DIR : null) },
    nonces: {
      async issue() {
        if (noncesDown) throw SigilError.unavailable("the database is unavailable");
        return `nonce-${String(++issued).padStart(16, "0")}`;
      },
      consume: async () => false,
      consumeWithAccount: async () => ({ nonceOk: false, account: null }),
    },
    start() {},
    async close() {},
  };
  return new Proxy(used as AcmeRa, {
    get(target, prop, receiver) {
      if (prop in target) return Reflect.get(target, prop, receiver);
      if (typeof prop === "symbol" || prop === "then") return undefined;
      return () => {
        throw new Error(`unexpected: AcmeRa.${prop}`);
      };
    },
  });
}

interface Side {
  url: string;
  lines: Array<Record<string, unknown>>;
  metrics: SigilMetrics;
  appCalls: number;
  draining: boolean;
  close(): Promise<void>;
}

async function serve(fast: boolean, acme: AcmeRouter, linker: Linker): Promise<Side> {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger("info", { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const metrics = new SigilMetrics({}, { defaultMetrics: false });
  const side = { lines, metrics, appCalls: 0, draining: false } as Side;
  const app = buildHttpApp({ routers: [acme.router], logger, metrics, draining: () => side.draining });
  const callback = app.callback();
  const toApp: http.RequestListener = (req, res) => {
    side.appCalls++;
    void callback(req, res);
  };
  const handler = fast ? withAcmeFastPath({ directories: acme.directories, nonces: acme.nonces, linker, logger, metrics, draining: () => side.draining }, toApp) : toApp;
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  side.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  side.close = () => new Promise((r) => server.close(() => r()));
  return side;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function request(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}${path}`, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: { ...res.headers }, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** an answer without what differs per request (the nonce, a generated request id, the date) */
function comparable(a: Answer): Answer {
  const headers = { ...a.headers };
  assert.match(String(headers["replay-nonce"] ?? "none"), /^(nonce-\d{16}|none)$/);
  if (headers["replay-nonce"] !== undefined) headers["replay-nonce"] = "<nonce>";
  assert.ok(headers["x-request-id"], "X-Request-Id on every answer");
  if (!/^client-/.test(String(headers["x-request-id"]))) headers["x-request-id"] = "<generated>";
  delete headers.date;
  return { ...a, headers };
}

/** the access line without its timing */
function accessLines(side: Side): Array<Record<string, unknown>> {
  return side.lines
    .filter((l) => l.msg === "http")
    .map((l) => {
      const { time: _t, ms, reqId, ...rest } = l;
      assert.equal(typeof ms, "number");
      return { ...rest, reqId: /^client-/.test(String(reqId)) ? reqId : "<generated>" };
    });
}

/** sigil_http_requests_total and the histogram's counts (not its sums or buckets: latencies differ) */
async function requestCounts(m: SigilMetrics): Promise<string[]> {
  const text = await m.render();
  return text.split("\n").filter((l) => l.startsWith("sigil_http_requests_total{") || l.startsWith("sigil_http_request_duration_seconds_count{"));
}

describe("ACME fast path (src/acme/fast-path.ts) against the Koa app", () => {
  let acme: AcmeRouter;
  let plain: Side;
  let fast: Side;
  before(async () => {
    const linker = new Linker("https://acme.example.test");
    acme = buildAcmeRouter({ port: fakePort(), linker, logger: createLogger("silent") });
    plain = await serve(false, acme, linker);
    fast = await serve(true, acme, linker);
  });
  after(async () => {
    await plain.close();
    await fast.close();
    await acme.close();
  });
  beforeEach(() => {
    noncesDown = false;
    for (const s of [plain, fast]) {
      s.lines.length = 0;
      s.appCalls = 0;
      s.draining = false;
    }
  });

  const answered: Array<[string, string, number]> = [
    ["HEAD", "/acme/fake/new-nonce", 200],
    ["GET", "/acme/fake/new-nonce", 204],
    ["GET", "/acme/fake/directory", 200],
  ];
  for (const [method, path, status] of answered) {
    it(`answers ${method} ${path} itself, as the app does (status, headers, body, log line, metrics)`, async () => {
      const variants: Array<Record<string, string>> = [{}, { "X-Request-Id": "client-abc", "User-Agent": "test\u00e9agent" }];
      for (const headers of variants) {
        const a = await request(plain.url, method, path, headers);
        const b = await request(fast.url, method, path, headers);
        assert.equal(b.status, status);
        assert.deepEqual(comparable(b), comparable(a));
      }
      assert.equal(fast.appCalls, 0, "the app was not called");
      assert.equal(plain.appCalls, 2);
      assert.deepEqual(accessLines(fast), accessLines(plain));
      assert.equal(accessLines(fast).length, 2);
      assert.deepEqual(await requestCounts(fast.metrics), await requestCounts(plain.metrics));
    });
  }

  it("keeps the connection open after HEAD newNonce (Content-Length: 0), as the app does", async () => {
    for (const side of [plain, fast]) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let sockets = 0;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve, reject) => {
          const req = http.request(`${side.url}/acme/fake/new-nonce`, { method: "HEAD", agent }, (res) => {
            statuses.push(res.statusCode ?? 0);
            assert.equal(res.headers["content-length"], "0");
            assert.notEqual(res.headers.connection, "close");
            res.resume();
            res.on("end", resolve);
          });
          req.on("socket", (s) => {
            if (!(s as { counted?: boolean }).counted) {
              (s as { counted?: boolean }).counted = true;
              sockets++;
            }
          });
          req.on("error", reject);
          req.end();
        });
      }
      agent.destroy();
      assert.deepEqual(statuses, [200, 200, 200]);
      assert.equal(sockets, 1, "three HEAD requests on one connection");
    }
  });

  it("adds Connection: close while draining, as the app does", async () => {
    plain.draining = fast.draining = true;
    const a = await request(plain.url, "HEAD", "/acme/fake/new-nonce");
    const b = await request(fast.url, "HEAD", "/acme/fake/new-nonce");
    assert.equal(b.headers.connection, "close");
    assert.deepEqual(comparable(b), comparable(a));
    assert.equal(fast.appCalls, 0);
  });

  it("leaves an unknown directory to the app (its 404 problem without a nonce)", async () => {
    const b = await request(fast.url, "GET", "/acme/nosuch/directory");
    assert.equal(b.status, 404);
    assert.equal(b.headers["content-type"], "application/problem+json");
    assert.equal(b.headers["replay-nonce"], undefined);
    assert.equal(fast.appCalls, 1);
    assert.deepEqual(comparable(b), comparable(await request(plain.url, "GET", "/acme/nosuch/directory")));
  });

  it("leaves a nonce store that is down to the app (503 problem with Retry-After)", async () => {
    noncesDown = true;
    const b = await request(fast.url, "HEAD", "/acme/fake/new-nonce");
    assert.equal(b.status, 503);
    assert.equal(b.headers["retry-after"], "5");
    assert.equal(fast.appCalls, 1);
    assert.deepEqual(comparable(b), comparable(await request(plain.url, "HEAD", "/acme/fake/new-nonce")));
  });

  it("leaves every other request to the app", async () => {
    const others: Array<[string, string]> = [
      ["HEAD", "/acme/fake/directory"],
      ["GET", "/acme/fake/directory?x=1"],
      ["GET", "/acme/fake/directory/"],
      ["GET", "/acme/FAKE/directory"],
      ["GET", "/acme/fa%6be/directory"],
      ["POST", "/acme/fake/new-nonce"],
      ["PUT", "/acme/fake/new-nonce"],
      ["GET", "/acme/fake/new-order"],
      ["GET", "/acme/fake"],
    ];
    for (const [method, path] of others) {
      const b = await request(fast.url, method, path);
      const a = await request(plain.url, method, path);
      assert.deepEqual(comparable(b), comparable(a), `${method} ${path}`);
    }
    assert.equal(fast.appCalls, others.length);
  });
});
