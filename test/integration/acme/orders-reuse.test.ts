/**
 * Orders that reuse an authorization (RFC 8555 §7.4 "the server MAY
 * reuse") are linked to it like the order that created it: deactivating it
 * (§7.5.2) invalidates every order using it that can still change
 * (§7.1.6), found through acme_order_authorizations.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme } from "./raw-client.js";

describe("ACME orders reusing an authorization", () => {
  let server: AcmeTestServer;
  let db: pg.Client;
  const validator = new FakeValidator();
  before(async () => {
    server = await startAcmeTestServer({ validator });
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await server?.stop();
  });

  it("is ready at once, is linked to the reused authorization, and becomes invalid with the first order when it is deactivated", async () => {
    const c = await RawAcme.create(server.directoryUrl());
    await c.register();
    const ident = { type: "dns", value: "reuse.example.com" };
    const first = await c.post(c.dir.newOrder!, { identifiers: [ident] });
    const authzUrl = first.body.authorizations[0] as string;
    const authz = await c.post(authzUrl, undefined);
    await c.post(authz.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
    await server.acme.validations.idle();
    const firstUrl = first.headers.get("location")!;
    assert.equal((await c.post(firstUrl, undefined)).body.status, "ready");

    // a second order for the same name and one new name reuses the valid authorization
    const second = await c.post(c.dir.newOrder!, { identifiers: [ident, { type: "dns", value: "new.reuse.example.com" }] });
    assert.equal(second.status, 201, second.text);
    assert.equal(second.body.authorizations[0], authzUrl, "the valid authorization is reused");
    assert.equal(second.body.status, "pending");
    // and an order for the reused name alone is ready at once
    const third = await c.post(c.dir.newOrder!, { identifiers: [ident] });
    assert.equal(third.body.status, "ready", third.text);
    const authzId = authzUrl.split("/").pop();
    const links = (await db.query<{ n: string }>(`select count(*) n from acme_order_authorizations where authorization_id = $1`, [authzId])).rows[0]!;
    assert.equal(Number(links.n), 3, "each order using it has its row");

    const deact = await c.post(authzUrl, { status: "deactivated" });
    assert.equal(deact.status, 200, deact.text);
    for (const o of [firstUrl, second.headers.get("location")!, third.headers.get("location")!]) {
      const r = await c.post(o, undefined);
      assert.equal(r.body.status, "invalid", `${o}: ${r.text}`);
      assert.equal(r.body.error?.type, "urn:ietf:params:acme:error:unauthorized");
    }
  });
});
