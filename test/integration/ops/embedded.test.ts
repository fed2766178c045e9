import assert from "node:assert/strict";
import net from "node:net";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { parsePrometheusText } from "../../unit/metrics/prom-text.js";

/**
 * The operations endpoints on the embedded default (PGlite in the data
 * directory, one connection): probes, the metrics scrape and the drain work
 * as on PostgreSQL (test/integration/ops/health-metrics.test.ts, drain.test.ts).
 */
describe("operations on the embedded database (issue 9)", function () {
  this.timeout(120_000);
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ embedded: true });
  });
  after(async () => server?.stop());

  it("answers /healthz, and /readyz 200 with every check passing", async () => {
    const live = await fetch(`${server.baseUrl}/healthz`);
    assert.equal(live.status, 200);
    assert.deepEqual(await live.json(), { status: "ok" });
    const ready = await fetch(`${server.baseUrl}/readyz`);
    const body = (await ready.json()) as { status: string; failing?: string[] };
    assert.equal(ready.status, 200, JSON.stringify(body));
    assert.deepEqual(body.failing ?? [], []);
  });

  it("serves a /metrics scrape the strict parser accepts, with the CA expiry gauges read from the embedded store", async () => {
    const r = await fetch(`${server.baseUrl}/metrics`);
    assert.equal(r.status, 200);
    const families = parsePrometheusText(await r.text());
    const expiry = families.get("sigil_ca_expiry_seconds");
    assert.ok(expiry && expiry.samples.length >= 2, "root and intermediate expiry gauges");
  });

  it("drains and then refuses new connections", async () => {
    const port = server.httpPort;
    // the in-flight side of the drain is covered on PostgreSQL (drain.test.ts); here: it ends with the listener closed
    await server.drain();
    await assert.rejects(
      new Promise<void>((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1", () => {
          s.destroy();
          resolve();
        });
        s.once("error", reject);
      }),
      /ECONNREFUSED/,
    );
  });
});
