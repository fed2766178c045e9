/**
 * The order poll (RFC 8555 §7.1.3) in one round trip: the kid request's
 * nonce + account statement also reads the order of the path's id
 * (src/db/store/nonces.ts), alone and batched with the other kid requests
 * of one event-loop turn. The order is read for the account the statement
 * found: another account's order, or one of an unknown account, reads as
 * none; a replayed nonce reads nothing. Over HTTP the poll answers as before
 * (200 with the order; 404 for another account's).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";
import { NonceStore } from "../../../src/acme/nonces.js";
import { systemClock } from "../../../src/core/clock.js";
import { ormOptions } from "../../../src/db/orm.js";
import { Store } from "../../../src/db/store/session.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme } from "./raw-client.js";

describe("ACME order poll read with the nonce and account (one round trip)", () => {
  let server: AcmeTestServer;
  let orm: MikroORM;
  let nonces: NonceStore;
  let dirId: string;
  let a: RawAcme;
  let b: RawAcme;
  let orderUrl: string;
  let orderId: string;
  const idOf = (url: string) => url.split("/").pop()!;

  before(async () => {
    server = await startAcmeTestServer({ validator: new FakeValidator() });
    orm = await MikroORM.init(ormOptions(server.config.databaseUrl!, 2));
    nonces = new NonceStore(new Store(orm), systemClock, { batchSize: 8, cleanupIntervalMs: 0 });
    const db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
    dirId = (await db.query<{ id: string }>(`select id from acme_directories where name = 'default'`)).rows[0]!.id;
    await db.end();
    a = await RawAcme.create(server.directoryUrl());
    await a.register();
    b = await RawAcme.create(server.directoryUrl());
    await b.register();
    const o = await a.post(a.dir.newOrder!, { identifiers: [{ type: "dns", value: "poll.example.com" }] });
    assert.equal(o.status, 201, o.text);
    orderUrl = o.headers.get("location")!;
    orderId = idOf(orderUrl);
  });
  after(async () => {
    nonces?.stop();
    await orm?.close(true);
    await server?.stop();
  });

  it("one request: the account's own order; another account's order and an unknown account's read as none", async () => {
    const own = await nonces.consumeWithAccount(await nonces.issue(), dirId, idOf(a.kid!), orderId);
    assert.equal(own.nonceOk, true);
    assert.equal(own.account?.id, idOf(a.kid!));
    assert.equal(own.order?.id, orderId);
    assert.equal(own.order?.accountId, idOf(a.kid!));
    assert.equal(own.order?.status, "pending");
    assert.deepEqual(own.order?.identifiers, [{ type: "dns", value: "poll.example.com" }]);

    const other = await nonces.consumeWithAccount(await nonces.issue(), dirId, idOf(b.kid!), orderId);
    assert.equal(other.account?.id, idOf(b.kid!));
    assert.equal(other.order, null, "another account's order is not read");

    const unknown = await nonces.consumeWithAccount(await nonces.issue(), dirId, randomUUID(), orderId);
    assert.equal(unknown.account, null);
    assert.equal(unknown.order, null);

    const without = await nonces.consumeWithAccount(await nonces.issue(), dirId, idOf(a.kid!));
    assert.equal(without.account?.id, idOf(a.kid!));
    assert.equal(without.order, undefined, "no order asked, none read");
  });

  it("batched with the other requests of one event-loop turn: each row its own order; a nonce twice is accepted once", async () => {
    const [n1, n2, n3, n4] = [await nonces.issue(), await nonces.issue(), await nonces.issue(), await nonces.issue()];
    const rs = await Promise.all([
      nonces.consumeWithAccount(n1, dirId, idOf(a.kid!), orderId),
      nonces.consumeWithAccount(n2, dirId, idOf(b.kid!), orderId),
      nonces.consumeWithAccount(n3, dirId, idOf(a.kid!)),
      nonces.consumeWithAccount(n4, dirId, idOf(a.kid!), randomUUID()),
      nonces.consumeWithAccount(n1, dirId, idOf(a.kid!), orderId),
    ]);
    assert.deepEqual(
      rs.map((r) => r.nonceOk),
      [true, true, true, true, false],
    );
    assert.equal(rs[0]!.order?.id, orderId);
    assert.equal(rs[1]!.order, null);
    assert.equal(rs[2]!.order, undefined);
    assert.equal(rs[3]!.order, null, "an unknown order id");
    assert.equal(rs[4]!.order, null, "the replay reads nothing");
    assert.equal(rs[0]!.account?.id, idOf(a.kid!));
    assert.equal(rs[1]!.account?.id, idOf(b.kid!));
  });

  it("over HTTP: the poll answers the order to its account, 404 to another account and for an unknown id", async () => {
    const polls = [await a.post(orderUrl, undefined), await a.post(orderUrl, undefined), await b.post(orderUrl, undefined)];
    for (const p of polls.slice(0, 2)) {
      assert.equal(p.status, 200, p.text);
      assert.equal(p.body.status, "pending");
      assert.deepEqual(p.body.identifiers, [{ type: "dns", value: "poll.example.com" }]);
      assert.equal(p.body.finalize, `${orderUrl}/finalize`);
    }
    assert.equal(polls[2]!.status, 404, polls[2]!.text);
    const unknown = await a.post(orderUrl.replace(orderId, randomUUID()), undefined);
    assert.equal(unknown.status, 404, unknown.text);
  });
});
