/**
 * RFC 8555 §6.5 nonces in the database: single use across concurrent
 * requests, including the batched nonce + account lookup of kid requests
 * (one statement for the requests of one event-loop turn).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { MikroORM } from "@mikro-orm/postgresql";
import { NonceStore } from "../../../src/acme/nonces.js";
import { systemClock } from "../../../src/core/clock.js";
import { migrate, ormOptions } from "../../../src/db/orm.js";
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
    nonces = new NonceStore(orm, systemClock, { batchSize: 8 });
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
});
