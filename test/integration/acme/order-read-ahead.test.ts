/**
 * The order poll (RFC 8555 §7.1.3) and the authorization read (§7.5) in one round trip: the kid request's
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
import { findAuthorization } from "../../../src/db/store/acme-authorizations.js";
import { Store } from "../../../src/db/store/session.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme } from "./raw-client.js";

describe("ACME order poll and authorization read with the nonce and account (one round trip)", () => {
  let server: AcmeTestServer;
  let orm: MikroORM;
  let nonces: NonceStore;
  let dirId: string;
  let a: RawAcme;
  let b: RawAcme;
  let orderUrl: string;
  let orderId: string;
  let authzUrl: string;
  let authzId: string;
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
    authzUrl = o.body.authorizations[0];
    authzId = idOf(authzUrl);
  });
  after(async () => {
    nonces?.stop();
    await orm?.close(true);
    await server?.stop();
  });

  it("one request: the account's own order; another account's order and an unknown account's read as none", async () => {
    const own = await nonces.consumeWithAccount(await nonces.issue(), dirId, idOf(a.kid!), { orderId });
    assert.equal(own.nonceOk, true);
    assert.equal(own.account?.id, idOf(a.kid!));
    assert.equal(own.order?.id, orderId);
    assert.equal(own.order?.accountId, idOf(a.kid!));
    assert.equal(own.order?.status, "pending");
    assert.deepEqual(own.order?.identifiers, [{ type: "dns", value: "poll.example.com" }]);

    const other = await nonces.consumeWithAccount(await nonces.issue(), dirId, idOf(b.kid!), { orderId });
    assert.equal(other.account?.id, idOf(b.kid!));
    assert.equal(other.order, null, "another account's order is not read");

    const unknown = await nonces.consumeWithAccount(await nonces.issue(), dirId, randomUUID(), { orderId });
    assert.equal(unknown.account, null);
    assert.equal(unknown.order, null);

    const without = await nonces.consumeWithAccount(await nonces.issue(), dirId, idOf(a.kid!));
    assert.equal(without.account?.id, idOf(a.kid!));
    assert.equal(without.order, undefined, "no order asked, none read");
  });

  it("batched with the other requests of one event-loop turn: each row its own order; a nonce twice is accepted once", async () => {
    const [n1, n2, n3, n4] = [await nonces.issue(), await nonces.issue(), await nonces.issue(), await nonces.issue()];
    const rs = await Promise.all([
      nonces.consumeWithAccount(n1, dirId, idOf(a.kid!), { orderId }),
      nonces.consumeWithAccount(n2, dirId, idOf(b.kid!), { orderId }),
      nonces.consumeWithAccount(n3, dirId, idOf(a.kid!)),
      nonces.consumeWithAccount(n4, dirId, idOf(a.kid!), { orderId: randomUUID() }),
      nonces.consumeWithAccount(n1, dirId, idOf(a.kid!), { orderId }),
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
  it("the authorization with its challenges, as the authorization read has it; another account's reads as none; batched too", async () => {
    const expected = await findAuthorization(new Store(orm), authzId, idOf(a.kid!));
    assert.ok(expected && expected.challenges.length >= 1);
    const own = await nonces.consumeWithAccount(await nonces.issue(), dirId, idOf(a.kid!), { authorizationId: authzId });
    assert.equal(own.nonceOk, true);
    assert.deepEqual(own.authorization, expected);
    assert.equal(own.order, undefined);
    const other = await nonces.consumeWithAccount(await nonces.issue(), dirId, idOf(b.kid!), { authorizationId: authzId });
    assert.equal(other.authorization, null);
    const [n1, n2, n3] = [await nonces.issue(), await nonces.issue(), await nonces.issue()];
    const rs = await Promise.all([
      nonces.consumeWithAccount(n1, dirId, idOf(a.kid!), { authorizationId: authzId }),
      nonces.consumeWithAccount(n2, dirId, idOf(b.kid!), { authorizationId: authzId }),
      nonces.consumeWithAccount(n3, dirId, idOf(a.kid!), { orderId }),
    ]);
    assert.deepEqual(rs[0]!.authorization, expected);
    assert.equal(rs[1]!.authorization, null);
    assert.equal(rs[2]!.authorization, undefined);
    assert.equal(rs[2]!.order?.id, orderId);
  });

  /** every promise settles within `ms` (a lookup left pending would hang its request for ever): their outcomes in order */
  async function allSettleWithin<T>(ps: Array<Promise<T>>, ms: number): Promise<Array<PromiseSettledResult<T>>> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`a lookup of the batch did not settle within ${ms} ms`)), ms);
    });
    try {
      return await Promise.race([Promise.allSettled(ps), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  it("a batch in which no request reads ahead (newOrder, finalize, challenge POSTs): every caller settles with its account", async () => {
    const values = await Promise.all(Array.from({ length: 12 }, () => nonces.issue()));
    const out = await allSettleWithin(
      values.map((n, i) => nonces.consumeWithAccount(n, dirId, idOf((i % 2 ? b : a).kid!))),
      10_000,
    );
    for (const [i, r] of out.entries()) {
      assert.equal(r.status, "fulfilled", `lookup ${i}`);
      const v = (r as PromiseFulfilledResult<Awaited<ReturnType<NonceStore["consumeWithAccount"]>>>).value;
      assert.equal(v.nonceOk, true);
      assert.equal(v.account?.id, idOf((i % 2 ? b : a).kid!));
      assert.equal(v.order, undefined);
      assert.equal(v.authorization, undefined);
    }
  });

  it("a mixed batch (no read, order, authorization, another account's, a replay): every caller settles with its own row", async () => {
    const expected = await findAuthorization(new Store(orm), authzId, idOf(a.kid!));
    const [n1, n2, n3, n4, n5] = await Promise.all([nonces.issue(), nonces.issue(), nonces.issue(), nonces.issue(), nonces.issue()]);
    const out = await allSettleWithin(
      [
        nonces.consumeWithAccount(n1, dirId, idOf(a.kid!)),
        nonces.consumeWithAccount(n2, dirId, idOf(a.kid!), { authorizationId: authzId }),
        nonces.consumeWithAccount(n3, dirId, idOf(a.kid!), { orderId }),
        nonces.consumeWithAccount(n4, dirId, idOf(b.kid!), { authorizationId: authzId }),
        nonces.consumeWithAccount(n5, dirId, randomUUID(), { authorizationId: authzId }),
        nonces.consumeWithAccount(n2, dirId, idOf(a.kid!), { authorizationId: authzId }),
      ],
      10_000,
    );
    assert.ok(out.every((r) => r.status === "fulfilled"));
    const rs = out.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<NonceStore["consumeWithAccount"]>>>).value);
    assert.deepEqual(
      rs.map((r) => r.nonceOk),
      [true, true, true, true, true, false],
    );
    assert.equal(rs[0]!.authorization, undefined);
    assert.deepEqual(rs[1]!.authorization, expected);
    assert.equal(rs[2]!.order?.id, orderId);
    assert.equal(rs[2]!.authorization, undefined);
    assert.equal(rs[3]!.authorization, null, "another account's authorization reads as none");
    assert.equal(rs[4]!.account, null);
    assert.equal(rs[4]!.authorization, null, "an unknown account reads no authorization");
    assert.equal(rs[5]!.authorization, null, "the replay reads nothing");
    assert.equal(rs[5]!.account, null);
  });

  it("an error inside a batch: every caller of it rejects (unavailable), none hangs, and no nonce of it is consumed", async () => {
    const [n1, n2, n3] = await Promise.all([nonces.issue(), nonces.issue(), nonces.issue()]);
    // a directory id that is no uuid fails the whole statement (the cast of $4), as a database error would
    const out = await allSettleWithin(
      [
        nonces.consumeWithAccount(n1, dirId, idOf(a.kid!), { authorizationId: authzId }),
        nonces.consumeWithAccount(n2, "not-a-directory-id", idOf(a.kid!)),
        nonces.consumeWithAccount(n3, dirId, idOf(b.kid!), { orderId }),
      ],
      10_000,
    );
    for (const r of out) {
      assert.equal(r.status, "rejected");
      assert.equal(((r as PromiseRejectedResult).reason as { kind?: string }).kind, "unavailable");
    }
    // the statement failed as a whole: the nonces are still there for a retry
    const again = await allSettleWithin([nonces.consumeWithAccount(n1, dirId, idOf(a.kid!), { authorizationId: authzId }), nonces.consumeWithAccount(n3, dirId, idOf(b.kid!))], 10_000);
    assert.deepEqual(
      again.map((r) => r.status === "fulfilled" && r.value.nonceOk),
      [true, true],
    );
  });

  it("over HTTP: the authorization answers its account with its challenges, 404 to another account", async () => {
    const r = await a.post(authzUrl, undefined);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, "pending");
    assert.deepEqual(r.body.identifier, { type: "dns", value: "poll.example.com" });
    assert.ok(r.body.challenges.length >= 1 && r.body.challenges.every((c: { url: string; token: string }) => c.url && c.token));
    const other = await b.post(authzUrl, undefined);
    assert.equal(other.status, 404, other.text);
  });

  it("over HTTP: the authorization read ahead is not answered to a JWS whose signature fails nor to a deactivated account", async () => {
    // signed by b's key under a's kid: the statement read a's authorization, the signature check refuses it (§6.2)
    const forged = await a.post(authzUrl, undefined, { key: b.key });
    assert.equal(forged.status, 400, forged.text);
    assert.equal(forged.body.type, "urn:ietf:params:acme:error:malformed");
    assert.ok(!("challenges" in forged.body));

    const c = await RawAcme.create(server.directoryUrl());
    await c.register();
    const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "gone.example.com" }] });
    assert.equal(o.status, 201, o.text);
    const cAuthz = o.body.authorizations[0] as string;
    const off = await c.post(c.kid!, { status: "deactivated" });
    assert.equal(off.status, 200, off.text);
    // §7.3.6: a deactivated account's requests are refused before any handler runs
    const r = await c.post(cAuthz, undefined);
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.type, "urn:ietf:params:acme:error:unauthorized");
    assert.ok(!("challenges" in r.body));
  });
});
