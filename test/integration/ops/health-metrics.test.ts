import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import acme from "acme-client";
import { makeClient } from "../../../src/admin/grpc-adapter.js";
import { Health, HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as ServingStatus } from "../../../src/gen/grpc/health/v1/health_pb.js";
import { AuthService } from "../../../src/gen/sigil/admin/v1/auth_pb.js";
import { TEST_ADMIN_PASSWORD } from "../../helpers/server.js";
import { FakeValidator } from "../acme/harness.js";
import { parsePrometheusText, sampleValue } from "../../unit/metrics/prom-text.js";
import { cutDatabase, startOpsServer, type OpsTestServer } from "./harness.js";

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("operations: health, readiness, metrics, request ids", function () {
  this.timeout(90_000);
  let server: OpsTestServer;
  const validator = new FakeValidator();
  let health: ReturnType<typeof makeClient<typeof Health>>;
  before(async () => {
    server = await startOpsServer({ validator, readinessPollMs: 200 });
    health = makeClient(Health, `127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    health?.close();
    await server?.stop();
  });

  const scrape = async () => {
    const res = await fetch(`${server.baseUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    return parsePrometheusText(await res.text());
  };

  it("GET /healthz answers 200 {status: ok}", async () => {
    const res = await fetch(`${server.baseUrl}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
    assert.equal(res.headers.get("cache-control"), "no-store");
  });

  it("GET /readyz answers 200 with every check passing", async () => {
    const res = await fetch(`${server.baseUrl}/readyz`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; checks: Record<string, { ok: boolean }> };
    assert.equal(body.status, "ok");
    assert.deepEqual(Object.keys(body.checks).sort(), ["database", "draining", "masterKey", "migrations"]);
    for (const c of Object.values(body.checks)) assert.equal(c.ok, true);
  });

  it("/readyz and /healthz are on the HTTPS listener too; /metrics only on HTTP", async () => {
    const https = await import("node:https");
    const get = (p: string) =>
      new Promise<number>((resolve, reject) => {
        https.get({ host: "127.0.0.1", port: server.httpsPort, path: p, rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on("error", reject);
      });
    assert.equal(await get("/readyz"), 200);
    assert.equal(await get("/healthz"), 200);
    assert.equal(await get("/metrics"), 404);
  });

  it("an issuance with acme-client moves the ACME, validation, certificate and HTTP counters", async () => {
    const before = await scrape();
    const ca = server.bootstrap.intermediateCaId;
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const [, csr] = await acme.crypto.createCsr({ commonName: "metrics.example.com", altNames: ["metrics.example.com"] });
    const cert = await client.auto({
      csr,
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      skipChallengeVerification: true,
      challengeCreateFn: async () => {},
      challengeRemoveFn: async () => {},
    });
    assert.match(cert, /BEGIN CERTIFICATE/);
    await client.revokeCertificate(cert);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => sampleValue(after, name, labels) - sampleValue(before, name, labels);
    assert.equal(delta("sigil_acme_operations_total", { operation: "newAccount", outcome: "success" }), 1);
    assert.equal(delta("sigil_acme_operations_total", { operation: "newOrder", outcome: "success" }), 1);
    assert.equal(delta("sigil_acme_operations_total", { operation: "challenge", outcome: "success" }), 1);
    assert.equal(delta("sigil_acme_operations_total", { operation: "finalize", outcome: "success" }), 1);
    assert.equal(delta("sigil_acme_operations_total", { operation: "revoke", outcome: "success" }), 1);
    assert.equal(delta("sigil_validations_total", { type: "http-01", result: "valid" }), 1);
    assert.equal(delta("sigil_validation_duration_seconds_count", { type: "http-01" }), 1);
    assert.equal(delta("sigil_certificates_issued_total", { ca, source: "acme" }), 1);
    assert.equal(delta("sigil_certificates_revoked_total", { ca, source: "acme" }), 1);
    // route templates, never raw paths
    assert.ok(delta("sigil_http_requests_total", { route: "/acme/:directory/new-order", method: "POST", status: "201" }) >= 1);
    const routes = new Set(after.get("sigil_http_requests_total")!.samples.map((s) => s.labels.route));
    for (const r of routes) assert.doesNotMatch(r!, /[0-9a-f]{8}-[0-9a-f]{4}/, `raw id in route label ${r}`);
    // scrape-time gauges: the bootstrap CAs expire in the future
    assert.ok(sampleValue(after, "sigil_ca_expiry_seconds", { ca }) > 86_400);
    assert.ok(after.has("sigil_db_pool_connections_in_use"));
    assert.ok(after.has("nodejs_eventloop_lag_seconds"));
  });

  it("an ACME error is counted with its problem type", async () => {
    const before = await scrape();
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    await client.createAccount({ termsOfServiceAgreed: true });
    await assert.rejects(client.createOrder({ identifiers: [{ type: "dns", value: "bad..name" }] }));
    const after = await scrape();
    const problems = after.get("sigil_acme_operations_total")!.samples.filter((s) => s.labels.operation === "newOrder" && s.labels.outcome === "error");
    const grew = problems.filter((s) => s.value > sampleValue(before, "sigil_acme_operations_total", s.labels));
    assert.equal(grew.length, 1);
    assert.match(grew[0]!.labels.problem!, /^(rejectedIdentifier|malformed|unsupportedIdentifier)$/);
  });

  it("echoes a sane X-Request-Id, generates one otherwise, and logs it with client and user agent", async () => {
    const res = await fetch(`${server.baseUrl}/healthz`, { headers: { "x-request-id": "ops-test-1234", "user-agent": "ops-test/1.0" } });
    assert.equal(res.headers.get("x-request-id"), "ops-test-1234");
    const line = server.logs.find((l) => l.msg === "http" && l.reqId === "ops-test-1234");
    assert.ok(line, "an http log line with the request id");
    assert.equal(line.client, "127.0.0.1");
    assert.equal(line.userAgent, "ops-test/1.0");
    assert.equal(line.route, "/healthz");
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const odd = await fetch(`${server.baseUrl}/healthz`, { headers: { "x-request-id": "has spaces and <tags>" } });
    assert.match(odd.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  });

  it("carries the request id of an ACME request into the lines its layers log", async () => {
    // a nonce the database never issued: the edge answers badNonce; the ACME error line (if any) and the http line share the id
    const res = await fetch(server.directoryUrl(), { headers: { "x-request-id": "acme-dir-1" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-request-id"), "acme-dir-1");
    assert.ok(res.headers.get("replay-nonce"));
    assert.ok(server.logs.some((l) => l.reqId === "acme-dir-1" && l.route === "/acme/:directory/directory"));
  });

  it("gRPC: echoes x-request-id in the response metadata and logs it with the principal and organization", async () => {
    const raw = new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
    try {
      const md = new grpc.Metadata();
      md.set("x-request-id", "grpc-req-42");
      const got = await new Promise<{ header: string | undefined; status: ServingStatus }>((resolve, reject) => {
        let header: string | undefined;
        const call = raw.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          (m: ReturnType<typeof create<typeof HealthCheckRequestSchema>>) => Buffer.from(toBinary(HealthCheckRequestSchema, m)),
          (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
          create(HealthCheckRequestSchema, { service: "" }),
          md,
          {},
          (err, res) => (err || !res ? reject(err) : resolve({ header, status: res.status })),
        );
        call.on("metadata", (m) => (header = m.get("x-request-id")[0] as string | undefined));
      });
      assert.equal(got.header, "grpc-req-42");
      assert.equal(got.status, ServingStatus.SERVING);
      assert.ok(server.logs.some((l) => l.msg === "rpc" && l.reqId === "grpc-req-42" && l.rpc === "/grpc.health.v1.Health/Check"));
    } finally {
      raw.close();
    }
    const auth = makeClient(AuthService, `127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
    try {
      const login = await auth.login({ username: "admin", password: TEST_ADMIN_PASSWORD });
      await auth.whoAmI({}, { metadata: { authorization: `Bearer ${login.accessToken}`, "x-request-id": "grpc-whoami-1" } });
      const line = server.logs.find((l) => l.msg === "rpc" && l.reqId === "grpc-whoami-1");
      assert.ok(line, "the WhoAmI line");
      assert.equal(line.principal, "user:admin");
      assert.equal(line.code, "OK");
      assert.ok(!JSON.stringify(server.logs).includes(login.accessToken), "no token in any log line");
    } finally {
      auth.close();
    }
    const families = await scrape();
    assert.ok(sampleValue(families, "sigil_grpc_requests_total", { method: "/sigil.admin.v1.AuthService/WhoAmI", code: "OK" }) >= 1);
  });

  it("readiness and gRPC health follow the database: 503 naming it while it refuses connections, 200 again after, without a restart", async () => {
    assert.equal((await health.check({ service: "" })).status, ServingStatus.SERVING);
    const cut = await cutDatabase(server.databaseUrl);
    try {
      await until("/readyz 503", async () => (await fetch(`${server.baseUrl}/readyz`)).status === 503);
      const body = (await (await fetch(`${server.baseUrl}/readyz`)).json()) as { status: string; failing: string[]; checks: Record<string, { ok: boolean; error?: string }> };
      assert.equal(body.status, "unavailable");
      assert.deepEqual(body.failing, ["database"]);
      assert.match(body.checks.database!.error!, /database/);
      // liveness is not readiness: the process still answers
      assert.equal((await fetch(`${server.baseUrl}/healthz`)).status, 200);
      await until("gRPC NOT_SERVING", async () => (await health.check({ service: "" })).status === ServingStatus.NOT_SERVING);
      // the scrape still answers (the expiry gauges are left out)
      assert.ok((await scrape()).has("sigil_http_requests_total"));
    } finally {
      await cut.restore();
    }
    await until("/readyz 200 again", async () => (await fetch(`${server.baseUrl}/readyz`)).status === 200);
    await until("gRPC SERVING again", async () => (await health.check({ service: "" })).status === ServingStatus.SERVING);
  });
});

describe("operations: SIGIL_METRICS=false", function () {
  this.timeout(60_000);
  let server: OpsTestServer;
  before(async () => {
    server = await startOpsServer({ env: { SIGIL_METRICS: "false" } });
  });
  after(async () => server?.stop());

  it("has no /metrics route, and the probes still answer", async () => {
    assert.equal((await fetch(`${server.baseUrl}/metrics`)).status, 404);
    assert.equal((await fetch(`${server.baseUrl}/readyz`)).status, 200);
    assert.equal(server.metrics, undefined);
  });
});
