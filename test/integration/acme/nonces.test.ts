/**
 * RFC 8555 §6.5 nonces in the database: single use across concurrent
 * requests, including the batched nonce + account lookup of kid requests
 * (one statement for the requests of one event-loop turn), and the
 * contract with the transport when the database is unavailable: every
 * operation rejects with SigilError kind "unavailable" (the edge answers
 * 503), never with a nonce that was not stored.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { MikroORM } from "@mikro-orm/postgresql";
import { NonceStore } from "../../../src/acme/nonces.js";
import { systemClock } from "../../../src/core/clock.js";
import { isSigilError } from "../../../src/core/errors.js";
import { migrate, ormOptions } from "../../../src/db/orm.js";
import { Store } from "../../../src/db/store/session.js";
import { createTestDatabase } from "../../helpers/postgres.js";

describe("ACME nonces (database, batched with the account lookup)", () => {
  let db: { url: string; drop(): Promise<void> };
  let orm: MikroORM;
  let nonces: NonceStore;
  const dir = randomUUID();

  before(async () => {
    db = await createTestDatabase("sigil_nonces");
    orm = await MikroORM.init(ormOptions(db.url, 4));
    await migrate(orm);
    nonces = new NonceStore(new Store(orm), systemClock, { batchSize: 8 });
  });
  after(async () => {
    nonces?.stop();
    await orm?.close(true);
    await db?.drop();
  });

  it("a nonce used twice in one batch is accepted once; other nonces of the batch are accepted; an unknown account is null", async () => {
    const [a, b] = [await nonces.issue(), await nonces.issue()];
    const results = await Promise.all([
      nonces.consumeWithAccount(a, dir, randomUUID()),
      nonces.consumeWithAccount(a, dir, randomUUID()),
      nonces.consumeWithAccount(b, dir, randomUUID()),
      nonces.consumeWithAccount("x".repeat(22), dir, randomUUID()),
    ]);
    assert.deepEqual(
      results.map((r) => r.nonceOk),
      [true, false, true, false],
    );
    assert.ok(results.every((r) => r.account === null));
  });

  it("a consumed nonce is refused afterwards, alone or in a batch, and by consume()", async () => {
    const a = await nonces.issue();
    assert.equal((await nonces.consumeWithAccount(a, dir, randomUUID())).nonceOk, true);
    assert.equal((await nonces.consumeWithAccount(a, dir, randomUUID())).nonceOk, false);
    const b = await nonces.issue();
    assert.equal(await nonces.consume(b), true);
    const [r1, r2] = await Promise.all([nonces.consumeWithAccount(b, dir, randomUUID()), nonces.consumeWithAccount(a, dir, randomUUID())]);
    assert.deepEqual([r1.nonceOk, r2.nonceOk], [false, false]);
  });

  it("cleanup deletes only expired nonces", async () => {
    let now = Date.now();
    const clock = { now: () => new Date(now) };
    const short = new NonceStore(new Store(orm), clock, { batchSize: 2, lifetimeMs: 1000 });
    const n = await short.issue();
    now += 2000;
    assert.ok((await short.cleanup()) >= 2);
    now -= 2000;
    assert.equal(await short.consume(n), false, "the expired nonce was deleted");
    const fresh = await nonces.issue();
    assert.equal(await nonces.consume(fresh), true, "an unexpired nonce survived the sweep");
  });

  describe("when the database is unavailable", () => {
    let downDb: { url: string; drop(): Promise<void> };
    let downOrm: MikroORM;
    let down: NonceStore;

    before(async () => {
      downDb = await createTestDatabase("sigil_nonces_down");
      downOrm = await MikroORM.init(ormOptions(downDb.url, 2));
      await migrate(downOrm);
      down = new NonceStore(new Store(downOrm), systemClock, { batchSize: 2 });
      // one stored batch, handed out below
      await down.issue();
      await downOrm.close(true);
    });
    after(async () => {
      await downDb?.drop();
    });

    const isUnavailable = (e: unknown) => {
      assert.ok(isSigilError(e, "unavailable"), `SigilError unavailable, got ${String(e)}`);
      assert.doesNotMatch((e as Error).message, /select|insert|delete/i, "no SQL in the message");
      return true;
    };

    it("issue() hands out the nonces already stored, then rejects with SigilError unavailable (never an unstored nonce)", async () => {
      const stored = await down.issue();
      assert.match(stored, /^[A-Za-z0-9_-]{22}$/);
      await assert.rejects(down.issue(), isUnavailable);
      // and again: a failed refill is retried, not cached as success
      await assert.rejects(down.issue(), isUnavailable);
    });

    it("consume() and consumeWithAccount() reject with SigilError unavailable", async () => {
      await assert.rejects(down.consume("A".repeat(22)), isUnavailable);
      await assert.rejects(down.consumeWithAccount("A".repeat(22), dir, randomUUID()), isUnavailable);
    });
  });
});
