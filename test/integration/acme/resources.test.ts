import assert from "node:assert/strict";
import acme from "acme-client";
import pg from "pg";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme, type RawResponse } from "./raw-client.js";

const P = "urn:ietf:params:acme:error:";

function nextLink(r: RawResponse): string | undefined {
  const m = /<([^>]+)>;\s*rel="next"/.exec(r.headers.get("link") ?? "");
  return m?.[1];
}

describe("ACME resources: orders list pages, authorization deactivation, unknown directory", () => {
  let server: AcmeTestServer;
  const validator = new FakeValidator();

  before(async () => {
    server = await startAcmeTestServer({ validator, acme: { ordersPageSize: 2 } });
  });
  after(async () => server?.stop());

  describe("orders list (RFC 8555 §7.1.2.1)", () => {
    it("pages newest first with Link rel=next until the last page, which has none", async () => {
      const c = await RawAcme.create(server.directoryUrl());
      await c.register();
      const created: string[] = [];
      for (let i = 0; i < 5; i++) {
        const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: `page${i}.example.com` }] });
        created.push(o.headers.get("location")!);
      }
      const acct = await c.post(c.kid!, undefined);
      const pages: string[][] = [];
      let url: string | undefined = acct.body.orders;
      while (url) {
        const page = await c.post(url, undefined);
        assert.equal(page.status, 200, page.text);
        assert.match(page.headers.get("link") ?? "", /rel="index"/);
        pages.push(page.body.orders);
        url = nextLink(page);
        assert.ok(pages.length <= 3, "no endless paging");
      }
      assert.deepEqual(pages.map((p) => p.length), [2, 2, 1]);
      assert.deepEqual(pages.flat(), [...created].reverse(), "every order once, newest first");
    });

    it("an account with no orders gets an empty list; another account's list is refused", async () => {
      const c = await RawAcme.create(server.directoryUrl());
      await c.register();
      const acct = await c.post(c.kid!, undefined);
      const empty = await c.post(acct.body.orders, undefined);
      assert.deepEqual(empty.body.orders, []);
      assert.equal(nextLink(empty), undefined);
      const other = await RawAcme.create(server.directoryUrl());
      await other.register();
      const r = await other.post(acct.body.orders, undefined);
      assert.equal(r.body.type, P + "unauthorized", r.text);
    });
  });

  describe("authorization deactivation (RFC 8555 §7.5.2)", () => {
    let c: RawAcme;
    before(async () => {
      c = await RawAcme.create(server.directoryUrl());
      await c.register();
    });

    it("deactivates a pending authorization; its order becomes invalid and its challenges no longer start", async () => {
      const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "deact.example.com" }] });
      const authzUrl = o.body.authorizations[0] as string;
      const r = await c.post(authzUrl, { status: "deactivated" });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.status, "deactivated");
      assert.equal(r.headers.get("retry-after"), null);
      assert.equal((await c.post(authzUrl, undefined)).body.status, "deactivated");
      const order = await c.post(o.headers.get("location")!, undefined);
      assert.equal(order.body.status, "invalid");
      assert.equal(order.body.error.type, P + "unauthorized");
      const before = validator.requests.length;
      const ch = r.body.challenges.find((x: { type: string }) => x.type === "http-01");
      const answered = await c.post(ch.url, {});
      assert.notEqual(answered.body.status, "valid");
      await server.acme.validations.idle();
      assert.equal(validator.requests.length, before, "no validation of a deactivated authorization");
    });

    it("deactivates a valid authorization, which new orders then do not reuse", async () => {
      const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "valid-deact.example.com" }] });
      const authzUrl = o.body.authorizations[0] as string;
      const authz = await c.post(authzUrl, undefined);
      await c.post(authz.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
      await server.acme.validations.idle();
      assert.equal((await c.post(authzUrl, undefined)).body.status, "valid");
      const reused = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "valid-deact.example.com" }] });
      assert.deepEqual([reused.body.status, reused.body.authorizations[0]], ["ready", authzUrl], "a valid authorization is reused");
      assert.equal((await c.post(authzUrl, { status: "deactivated" })).body.status, "deactivated");
      assert.equal((await c.post(reused.headers.get("location")!, undefined)).body.status, "invalid", "ready orders using it become invalid");
      const fresh = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "valid-deact.example.com" }] });
      assert.equal(fresh.body.status, "pending");
      assert.notEqual(fresh.body.authorizations[0], authzUrl);
    });

    it("refuses to finalize a ready order whose authorization stopped being valid (e.g. deactivated during newOrder)", async () => {
      const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "race-deact.example.com" }] });
      const authzUrl = o.body.authorizations[0] as string;
      const authz = await c.post(authzUrl, undefined);
      await c.post(authz.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
      await server.acme.validations.idle();
      const orderUrl = o.headers.get("location")!;
      assert.equal((await c.post(orderUrl, undefined)).body.status, "ready");
      // the state a deactivation racing newOrder's reuse could leave behind: order ready, authorization not valid
      const db = new pg.Client({ connectionString: server.config.databaseUrl });
      await db.connect();
      await db.query(`update acme_authorizations set status = 'deactivated' where id = $1`, [authzUrl.split("/").pop()]).finally(() => db.end());
      const [, csr] = await acme.crypto.createCsr({ commonName: "race-deact.example.com", altNames: ["race-deact.example.com"] });
      const fin = await c.post(o.body.finalize, { csr: acme.crypto.getPemBodyAsB64u(csr) });
      assert.deepEqual([fin.status, fin.body.type], [403, P + "orderNotReady"]);
      assert.ok(fin.headers.get("replay-nonce"));
    });

    it("refuses to deactivate twice, to set any other status, and another account's authorization", async () => {
      const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "twice.example.com" }] });
      const authzUrl = o.body.authorizations[0] as string;
      const bad = await c.post(authzUrl, { status: "valid" });
      assert.deepEqual([bad.status, bad.body.type], [400, P + "malformed"]);
      const other = await RawAcme.create(server.directoryUrl());
      await other.register();
      const stranger = await other.post(authzUrl, { status: "deactivated" });
      assert.deepEqual([stranger.status, stranger.body.type], [404, P + "malformed"]);
      assert.equal((await c.post(authzUrl, { status: "deactivated" })).status, 200);
      const again = await c.post(authzUrl, { status: "deactivated" });
      assert.deepEqual([again.status, again.body.type], [400, P + "malformed"]);
      assert.ok(again.headers.get("replay-nonce"));
    });
  });

  describe("unknown directory", () => {
    it("answers 404 with a problem document, and no nonce stored for it, on every ACME path", async () => {
      const base = `${server.baseUrl}/acme/no-such-directory`;
      for (const [method, path] of [["GET", "/directory"], ["HEAD", "/new-nonce"], ["GET", "/new-nonce"], ["POST", "/new-account"], ["POST", "/new-order"]] as const) {
        const r = await fetch(base + path, { method, headers: { "content-type": "application/jose+json" }, body: method === "POST" ? "{}" : undefined });
        assert.equal(r.status, 404, `${method} ${path}`);
        assert.equal(r.headers.get("content-type")?.split(";")[0], "application/problem+json", `${method} ${path}`);
        // RFC 8555 §6.5 SHOULD for errors: not under a name that is no ACME server, so made-up names store no nonce
        assert.equal(r.headers.get("replay-nonce"), null, `${method} ${path}: no Replay-Nonce`);
        assert.equal(r.headers.get("link"), null, "no index link: there is no directory to point at");
        if (method !== "HEAD") {
          const body = (await r.json()) as { type: string; status: number };
          assert.deepEqual([body.type, body.status], [P + "malformed", 404]);
        }
      }
    });
  });
});
