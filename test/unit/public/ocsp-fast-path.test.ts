/**
 * The OCSP GET fast path (src/public/ocsp-fast-path.ts) against a responder
 * stand-in, a clock the test moves and a logger the test reads: what it keeps
 * per cached answer (the rendered headers, per second) and per path (the
 * parse) must never leak from one request into another, and the log line and
 * metrics stay what the app writes.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { FixedClock } from "../../../src/core/clock.js";
import { createLogger } from "../../../src/logger.js";
import { SigilMetrics } from "../../../src/metrics/registry.js";
import { OCSP_GET_ROUTE, withOcspFastPath } from "../../../src/public/ocsp-fast-path.js";
import type { OcspAnswer } from "../../../src/ra/ocsp.js";

const CA = "01a2342d-dd62-794a-adcf-6a1178e55152";
const T0 = new Date("2026-12-02T00:00:00.000Z");

describe("OCSP GET fast path: per-answer and per-path caches (src/public/ocsp-fast-path.ts)", () => {
  let server: http.Server;
  let base: string;
  let clock: FixedClock;
  let lines: Array<Record<string, unknown>>;
  let draining: boolean;
  let metrics: SigilMetrics;
  const calls = { respond: 0, cachedAnswer: 0, next: 0, ders: [] as Buffer[] };
  // a cached answer valid for 90 s from T0 (max-age cap 60), and a fresh one (a miss) for other requests
  const der = Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x00]);
  const cachedReq = Buffer.from("cached request");
  let hit: OcspAnswer;

  before(async () => {
    clock = new FixedClock(T0);
    lines = [];
    draining = false;
    metrics = new SigilMetrics({}, { defaultMetrics: false });
    hit = { status: "successful", der, thisUpdate: T0, nextUpdate: new Date(T0.getTime() + 90_000), cached: true };
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const ocsp = {
      cachedAnswer(caId: string, requestDer: Buffer): OcspAnswer | undefined {
        calls.cachedAnswer++;
        calls.ders.push(requestDer);
        return caId === CA && requestDer.equals(cachedReq) ? hit : undefined;
      },
      async respond(caId: string, requestDer: Buffer): Promise<OcspAnswer | undefined> {
        calls.respond++;
        if (caId !== CA) return undefined;
        return requestDer.equals(cachedReq) ? hit : { status: "successful", der: Buffer.from([0x30, 0x00]), thisUpdate: clock.now(), nextUpdate: new Date(clock.now().getTime() + 30_000) };
      },
    };
    const listener = withOcspFastPath(
      { ocsp, clock, logger: createLogger("info", sink), metrics, maxAgeSeconds: 60, draining: () => draining },
      (_req, res) => {
        calls.next++;
        res.writeHead(404, { "Content-Type": "text/plain" });
        res.end("app\n");
      },
    );
    server = http.createServer(listener);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const path = (req: Buffer, ca = CA) => `/ocsp/${ca}/${encodeURIComponent(req.toString("base64"))}`;

  it("ok/max-age: the headers of a cached answer follow the clock (re-rendered when the second changes)", async () => {
    const first = await fetch(base + path(cachedReq));
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("cache-control"), "public, max-age=60, no-transform, must-revalidate");
    assert.equal(first.headers.get("last-modified"), T0.toUTCString());
    assert.match(first.headers.get("etag") ?? "", /^"[0-9a-f]{32}"$/);
    assert.equal(first.headers.get("content-type"), "application/ocsp-response");
    assert.equal(first.headers.get("content-length"), String(der.length));
    assert.deepEqual(Buffer.from(await first.arrayBuffer()), der);
    const etag = first.headers.get("etag");

    clock.advance(45_500); // 44.5 s before nextUpdate
    const later = await fetch(base + path(cachedReq));
    assert.equal(later.headers.get("cache-control"), "public, max-age=44, no-transform, must-revalidate");
    assert.equal(later.headers.get("etag"), etag, "the same answer, the same validator");
    await later.arrayBuffer();

    clock.advance(60_000); // past nextUpdate: never a negative max-age
    const stale = await fetch(base + path(cachedReq));
    assert.equal(stale.headers.get("cache-control"), "public, max-age=0, no-transform, must-revalidate");
    await stale.arrayBuffer();
    clock.set(T0);
  });

  it("ok/per-request: each request gets its own X-Request-Id and, once draining, Connection: close", async () => {
    const a = await fetch(base + path(cachedReq));
    const b = await fetch(base + path(cachedReq));
    await Promise.all([a.arrayBuffer(), b.arrayBuffer()]);
    assert.ok(a.headers.get("x-request-id"));
    assert.notEqual(a.headers.get("x-request-id"), b.headers.get("x-request-id"));
    const mine = await fetch(base + path(cachedReq), { headers: { "X-Request-Id": "mine-1" } });
    await mine.arrayBuffer();
    assert.equal(mine.headers.get("x-request-id"), "mine-1");
    assert.notEqual(mine.headers.get("connection"), "close");

    draining = true;
    try {
      const closing = await fetch(base + path(cachedReq));
      await closing.arrayBuffer();
      assert.equal(closing.headers.get("connection"), "close");
    } finally {
      draining = false;
    }
    const after = await fetch(base + path(cachedReq));
    await after.arrayBuffer();
    assert.notEqual(after.headers.get("connection"), "close", "the cached headers do not keep Connection: close");
  });

  it("ok/miss: an answer the responder built now is rendered from its own validity and counted as a miss", async () => {
    const before = calls.respond;
    const r = await fetch(base + path(Buffer.from("another request")));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("cache-control"), "public, max-age=30, no-transform, must-revalidate");
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), Buffer.from([0x30, 0x00]));
    assert.equal(calls.respond, before + 1, "not in the responder's cache: respond() built it");
    const text = await metrics.render();
    assert.match(text, /sigil_ocsp_responses_total\{status="successful",cache="miss"\} 1\b/);
    assert.match(text, /sigil_ocsp_responses_total\{status="successful",cache="hit"\} [1-9]/);
    assert.match(text, new RegExp(`sigil_http_requests_total\\{route="${OCSP_GET_ROUTE.replace(/[*/]/g, "\\$&")}",method="GET",status="200"\\} [1-9]`));
  });

  it("ok/cached hit: answered without respond(), the path parsed once and decoded exactly", async () => {
    const req = Buffer.from([0x30, 0xfb, 0xff, 0x3e, 0x3f, 0x00]); // base64 with "+", "/" (%-encoded in the path)
    const p = path(req);
    assert.match(p, /%2B|%2F/);
    const respond0 = calls.respond;
    for (let i = 0; i < 3; i++) await (await fetch(base + p)).arrayBuffer();
    assert.equal(calls.respond, respond0 + 3, "not cached by the stand-in: respond() each time");
    const seen = calls.ders.slice(-3);
    for (const d of seen) assert.deepEqual(d, req);

    const r0 = calls.respond;
    const hits = await fetch(base + path(cachedReq));
    await hits.arrayBuffer();
    assert.equal(calls.respond, r0, "a cached answer does not go through respond()");
  });

  it("fail/not-for-the-fast-path: paths that do not parse reach the app every time, also when repeated", async () => {
    const n0 = calls.next;
    for (let i = 0; i < 2; i++) {
      for (const p of [`/ocsp/${CA}/not*base64`, `/ocsp/${CA}/${encodeURIComponent(cachedReq.toString("base64"))}?x=1`, `/ocsp/not-a-uuid/AAAA`, `/ocsp/${CA}/%E0%A4%A`]) {
        const r = await fetch(base + p);
        assert.equal(r.status, 404, p);
        await r.arrayBuffer();
      }
    }
    assert.equal(calls.next, n0 + 8);
    // an unknown CA parses but the responder has no such CA: the app answers (twice: the parse is kept, the answer is not)
    for (let i = 0; i < 2; i++) {
      const r = await fetch(base + path(cachedReq, "01a2342d-dd62-794a-adcf-000000000000"));
      assert.equal(r.status, 404);
      await r.arrayBuffer();
    }
    assert.equal(calls.next, n0 + 10);
  });

  it("ok/log: one line per answer with the app's fields; a long or non-ASCII User-Agent logged as the app logs it", async () => {
    lines.length = 0;
    const ua = `client\u00e9/${"x".repeat(300)}`;
    const r = await fetch(base + path(cachedReq), { headers: { "User-Agent": ua, "X-Request-Id": "log-1" } });
    await r.arrayBuffer();
    const line = lines.find((l) => l.reqId === "log-1");
    assert.ok(line, "the request is logged");
    assert.deepEqual(Object.keys(line).sort(), ["client", "level", "method", "ms", "msg", "path", "reqId", "route", "service", "status", "time", "userAgent"]);
    assert.equal(line.msg, "http");
    assert.equal(line.service, "sigil");
    assert.equal(line.method, "GET");
    assert.equal(line.path, path(cachedReq));
    assert.equal(line.route, OCSP_GET_ROUTE);
    assert.equal(line.status, 200);
    assert.equal(line.client, "127.0.0.1");
    assert.equal(typeof line.ms, "number");
    // what src/http-app.ts logs: printable ASCII, 256 characters and "..."
    const clean = ua.replace(/[^\x20-\x7e]/g, "?");
    assert.equal(line.userAgent, `${clean.slice(0, 256)}...`);

    lines.length = 0;
    await (await fetch(base + path(cachedReq), { headers: { "User-Agent": "short/1", "X-Request-Id": "log-2" } })).arrayBuffer();
    assert.equal(lines.find((l) => l.reqId === "log-2")?.userAgent, "short/1", "not the previous client's agent");
    lines.length = 0;
    await (await fetch(base + path(cachedReq), { headers: { "User-Agent": "", "X-Request-Id": "log-3" } })).arrayBuffer();
    assert.equal(lines.find((l) => l.reqId === "log-3")?.userAgent, undefined);
  });
});
