/**
 * The clean-up job on the embedded database (PGlite, one connection): the
 * batches, the advisory lock of the deletion and the yields between batches
 * work there as on PostgreSQL.
 */
import assert from "node:assert/strict";
import type { Clock } from "../../../src/core/clock.js";
import { runCleanup } from "../../../src/ra/acme/cleanup.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { RawAcme } from "./raw-client.js";

const DAY = 86_400_000;

describe("ACME clean-up job on the embedded database", function () {
  this.timeout(180_000);
  let offset = 0;
  const clock: Clock = { now: () => new Date(Date.now() + offset) };
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ embedded: true, clock, env: { SIGIL_CLEANUP_INTERVAL_SECONDS: "86400" } });
  });
  after(async () => {
    await server?.stop();
  });

  it("expires an order, then deletes it past retention, with the API agreeing", async () => {
    const c = await RawAcme.create(`${server.baseUrl}/acme/default/directory`);
    await c.register();
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "embedded.cleanup.example.com" }] });
    assert.equal(order.status, 201, order.text);
    const orderUrl = order.headers.get("location")!;
    const ctx = { store: server.ra.store, clock };

    offset = 8 * DAY;
    await c.nonce(); // the last nonce expired with the jump
    const before = await c.post(orderUrl, undefined);
    const r = await runCleanup(ctx);
    assert.deepEqual([r.complete, r.ordersExpired, r.authorizationsExpired, r.ordersDeleted], [true, 1, 1, 0]);
    const after = await c.post(orderUrl, undefined);
    assert.deepEqual([after.status, after.body], [before.status, before.body]);
    assert.equal(after.body.status, "invalid");

    offset = 40 * DAY;
    await c.nonce();
    const later = await runCleanup(ctx);
    assert.deepEqual([later.deletionSkipped, later.ordersDeleted, later.authorizationsDeleted], [false, 1, 1]);
    const gone = await c.post(orderUrl, undefined);
    assert.equal(gone.status, 404);
    assert.ok(gone.headers.get("replay-nonce"));
  });
});
