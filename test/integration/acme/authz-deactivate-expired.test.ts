/**
 * RFC 8555 §7.5.2 deactivation follows the authorization's effective status
 * (§7.1.6: past `expires` it is expired): a pending authorization past
 * expires is refused the same way before and after the clean-up job writes
 * `expired` (review 2: it used to be deactivatable only before the job),
 * and the account's deactivation (§7.3.6) leaves it alone. Real server on
 * PostgreSQL; the expiry is set in the database (a week of waiting).
 */
import assert from "node:assert/strict";
import pg from "pg";
import { runCleanup } from "../../../src/ra/acme/cleanup.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { assertNonce, RawAcme, type RawResponse } from "./raw-client.js";

describe("authorization deactivation follows the effective status (RFC 8555 §7.5.2, §7.1.6)", function () {
  this.timeout(60_000);
  let server: AcmeTestServer;
  let db: pg.Client;

  before(async () => {
    server = await startAcmeTestServer({ validator: new FakeValidator() });
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await server?.stop();
  });

  const stored = async (url: string) => (await db.query<{ status: string }>(`select status from acme_authorizations where id = $1`, [url.split("/").pop()])).rows[0]!.status;

  it("an expired pending authorization: malformed 'expired' before and after the clean-up job, nothing changed; a live one deactivates", async () => {
    const c = await RawAcme.create(server.directoryUrl());
    assert.equal((await c.register()).status, 201);
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "old.deact.example" }, { type: "dns", value: "live.deact.example" }] });
    assert.equal(order.status, 201, order.text);
    const [oldUrl, liveUrl] = await Promise.all((order.body.authorizations as string[]).map(async (u) => [u, (await c.post(u, undefined)).body.identifier.value] as const)).then((xs) =>
      ["old.deact.example", "live.deact.example"].map((n) => xs.find(([, v]) => v === n)![0]),
    );
    await db.query(`update acme_authorizations set expires = now() - interval '1 minute' where id = $1`, [oldUrl!.split("/").pop()]);

    const before = await c.post(oldUrl!, { status: "deactivated" });
    assert.equal(before.status, 400, before.text);
    assert.equal(before.body.type, "urn:ietf:params:acme:error:malformed");
    assert.match(before.body.detail, /the authorization is expired/);
    assertNonce(before);
    assert.equal(await stored(oldUrl!), "pending", "nothing written");
    const orderRow = await db.query<{ status: string }>(`select status from acme_orders where id = $1`, [order.headers.get("location")!.split("/").pop()]);
    assert.equal(orderRow.rows[0]!.status, "pending", "the order was not invalidated by a refused deactivation");

    const r = await runCleanup(server.ra);
    assert.ok(r.authorizationsExpired >= 1, JSON.stringify(r));
    assert.equal(await stored(oldUrl!), "expired");
    const after = await c.post(oldUrl!, { status: "deactivated" });
    assert.equal(after.status, before.status);
    assert.equal(after.body.type, before.body.type);
    assert.equal(after.body.detail, before.body.detail, "the same answer after the clean-up job");
    assertNonce(after);

    const live = await c.post(liveUrl!, { status: "deactivated" });
    assert.equal(live.status, 200, live.text);
    assert.equal(live.body.status, "deactivated");
    assertNonce(live);
  });

  it("the account's deactivation leaves an authorization past expires as it is (expired, not deactivated)", async () => {
    const c = await RawAcme.create(server.directoryUrl());
    assert.equal((await c.register()).status, 201);
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "acct.deact.example" }] });
    const url = order.body.authorizations[0] as string;
    await db.query(`update acme_authorizations set expires = now() - interval '1 minute' where id = $1`, [url.split("/").pop()]);
    const d = await c.post(c.kid!, { status: "deactivated" });
    assert.equal(d.status, 200, d.text);
    assertNonce(d);
    assert.equal(await stored(url), "pending", "left for the clean-up job, which marks it expired");
  });
});
