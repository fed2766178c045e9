import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger, requestContext, requestIdFrom } from "../../../src/logger.js";
import { acmeOperationOf, countOcspResponse, problemTypeOf } from "../../../src/metrics/observe.js";
import { SigilMetrics } from "../../../src/metrics/registry.js";
import { parsePrometheusText, sampleValue } from "./prom-text.js";

describe("metrics registry", () => {
  it("renders an exposition the strict parser accepts, with process and event-loop metrics", async () => {
    const m = new SigilMetrics({
      caExpiries: async () => [{ id: "ca-1", notAfter: new Date("2030-01-01T00:00:10Z"), crlNextUpdate: new Date("2030-01-01T00:00:05Z") }],
      pool: () => ({ used: 2, free: 3, pending: 1, max: 10 }),
      now: () => new Date("2030-01-01T00:00:00Z"),
    });
    m.httpRequest("/acme/:directory/new-order", "POST", 201, 0.012);
    m.acmeOperation("newOrder", "error", "rejectedIdentifier");
    m.validation("http-01", "valid", 0.3);
    m.grpcRequest("/grpc.health.v1.Health/Check", "OK", 0.001);
    m.ocspResponse("successful", "hit");
    // a label value that needs escaping
    m.httpRequest('/we"ird\\path', "GET", 404, 0.001);
    const families = parsePrometheusText(await m.render());
    assert.equal(families.get("sigil_http_requests_total")?.type, "counter");
    assert.equal(families.get("sigil_http_request_duration_seconds")?.type, "histogram");
    assert.equal(sampleValue(families, "sigil_http_requests_total", { route: "/acme/:directory/new-order", method: "POST", status: "201" }), 1);
    assert.equal(sampleValue(families, "sigil_http_requests_total", { route: '/we"ird\\path' }), 1);
    assert.equal(sampleValue(families, "sigil_acme_operations_total", { operation: "newOrder", outcome: "error", problem: "rejectedIdentifier" }), 1);
    assert.equal(sampleValue(families, "sigil_validation_duration_seconds_count", { type: "http-01" }), 1);
    assert.equal(sampleValue(families, "sigil_ca_expiry_seconds", { ca: "ca-1" }), 10);
    assert.equal(sampleValue(families, "sigil_crl_expiry_seconds", { ca: "ca-1" }), 5);
    assert.equal(sampleValue(families, "sigil_db_pool_connections_in_use"), 2);
    assert.equal(sampleValue(families, "sigil_db_pool_waiting"), 1);
    assert.ok(families.has("nodejs_eventloop_lag_seconds"), "event-loop lag");
    assert.ok(families.has("process_cpu_seconds_total"), "process metrics");
    for (const name of families.keys()) assert.match(name, /^(sigil|process|nodejs)_/);
  });

  it("labels OCSP answers hit (from the responder cache), miss (built now) or not_modified (HTTP 304)", async () => {
    const metrics = new SigilMetrics({}, { defaultMetrics: false });
    countOcspResponse({ metrics }, "successful", 200, true);
    countOcspResponse({ metrics }, "successful", 200, false);
    countOcspResponse({ metrics }, "successful", 304, true);
    const families = parsePrometheusText(await metrics.render());
    for (const cache of ["hit", "miss", "not_modified"]) {
      assert.equal(sampleValue(families, "sigil_ocsp_responses_total", { status: "successful", cache }), 1, cache);
    }
  });

  it("keeps two instances apart (no global registry)", async () => {
    const a = new SigilMetrics({}, { defaultMetrics: false });
    const b = new SigilMetrics({}, { defaultMetrics: false });
    a.grpcRequest("/x.Y/Z", "OK", 0.01);
    assert.equal(sampleValue(parsePrometheusText(await a.render()), "sigil_grpc_requests_total"), 1);
    assert.equal(sampleValue(parsePrometheusText(await b.render()), "sigil_grpc_requests_total"), 0);
  });

  it("leaves the expiry gauges out when the store read fails, without failing the scrape", async () => {
    const m = new SigilMetrics({ caExpiries: () => Promise.reject(new Error("database down")) }, { defaultMetrics: false });
    const families = parsePrometheusText(await m.render());
    assert.equal(families.get("sigil_ca_expiry_seconds")?.samples.length, 0);
  });

  it("the strict parser refuses malformed expositions", () => {
    assert.throws(() => parsePrometheusText("# TYPE a counter\na 1"), /newline/);
    assert.throws(() => parsePrometheusText("# TYPE a counter\na{x=\"1} 1\n"), /unterminated|expected/);
    assert.throws(() => parsePrometheusText("# TYPE a counter\nb 1\n"), /outside/);
    assert.throws(() => parsePrometheusText("# TYPE a counter\na one\n"), /bad value/);
    assert.throws(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n'), /cumulative/);
  });
});

describe("ACME operation names", () => {
  const cases: Array<[string, string, boolean, string | undefined]> = [
    ["POST", "/acme/:directory/new-account", false, "newAccount"],
    ["POST", "/acme/:directory/new-order", false, "newOrder"],
    ["POST", "/acme/:directory/chall/:id", false, "challenge"],
    ["POST", "/acme/:directory/chall/:id", true, undefined],
    ["POST", "/acme/:directory/order/:id/finalize", false, "finalize"],
    ["POST", "/acme/:directory/revoke-cert", false, "revoke"],
    ["GET", "/acme/:directory/directory", false, undefined],
    ["POST", "/ocsp/:id", false, undefined],
  ];
  for (const [method, route, postAsGet, op] of cases) {
    it(`${method} ${route}${postAsGet ? " (POST-as-GET)" : ""} -> ${op ?? "none"}`, () => assert.equal(acmeOperationOf(method, route, postAsGet), op));
  }
  it("takes the problem type from an RFC 8555 §6.7 document", () => {
    assert.equal(problemTypeOf({ type: "urn:ietf:params:acme:error:badNonce", detail: "x" }), "badNonce");
    assert.equal(problemTypeOf("not json"), "");
  });
});

describe("request ids", () => {
  it("keeps a sane X-Request-Id and replaces anything else", () => {
    assert.equal(requestIdFrom("abc-123_x.y"), "abc-123_x.y");
    assert.match(requestIdFrom("a b"), /^[0-9a-f-]{36}$/);
    assert.match(requestIdFrom("x".repeat(129)), /^[0-9a-f-]{36}$/);
    assert.match(requestIdFrom("line\nbreak"), /^[0-9a-f-]{36}$/);
    assert.match(requestIdFrom(undefined), /^[0-9a-f-]{36}$/);
  });
});

describe("request log context", () => {
  it("adds the request id (and principal) to every line logged inside the request, and ISO times", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const log = createLogger("info", sink);
    await requestContext.run({ reqId: "r-1", principal: "user:alice", organization: "org-1" }, async () => {
      await new Promise((r) => setImmediate(r));
      log.info({ caId: "x" }, "deep in ra/");
    });
    log.info("outside");
    assert.equal(lines[0]!.reqId, "r-1");
    assert.equal(lines[0]!.principal, "user:alice");
    assert.equal(lines[0]!.organization, "org-1");
    assert.match(String(lines[0]!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(lines[1]!.reqId, undefined);
  });
});
