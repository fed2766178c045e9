/**
 * The ACME transport edge against RFC 8555 §6 and §7: the MUSTs about status
 * codes, headers, media types and ignored fields, the 503 answer when no nonce
 * can be issued (§6.5, §7.2), and the refusal of U+0000 in every text the
 * client sends (PostgreSQL text and jsonb cannot hold it; it answered 500).
 */
import assert from "node:assert/strict";
import acme from "acme-client";
import pg from "pg";
import { SigilError } from "../../../src/core/errors.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme, type RawResponse } from "./raw-client.js";
import { TEST_PG_URL } from "../../helpers/postgres.js";

const P = "urn:ietf:params:acme:error:";

async function fetchRaw(url: string, init?: RequestInit): Promise<RawResponse> {
  const r = await fetch(url, init);
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, headers: r.headers, body, text };
}

/** §6.5: a fresh nonce on the answer; §7.1: Link rel="index" */
function assertNonceAndIndex(r: RawResponse): void {
  const n = r.headers.get("replay-nonce");
  assert.ok(n && /^[A-Za-z0-9_-]{16,}$/.test(n), `Replay-Nonce on a ${r.status} answer`);
  assert.match(r.headers.get("link") ?? "", /rel="index"/, `Link rel="index" on a ${r.status} answer`);
}

function assertProblem(r: RawResponse, type: string, status: number): void {
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers.get("content-type")?.split(";")[0], "application/problem+json", r.text);
  assert.equal(r.body.type, P + type, r.text);
  assert.equal(r.body.status, status, r.text);
}

/** a database outage answer: 503 problem with Retry-After, never a success without Replay-Nonce */
function assertUnavailable(r: RawResponse): void {
  assert.equal(r.status, 503, `status ${r.status}: ${r.text}`);
  assert.ok(Number(r.headers.get("retry-after")) > 0, "Retry-After on a 503");
  if (r.text) {
    assert.equal(r.headers.get("content-type")?.split(";")[0], "application/problem+json");
    assert.equal(r.body.type, P + "serverInternal");
  }
}

describe("ACME edge: RFC 8555 §6/§7 MUSTs, nonce outage, U+0000", () => {
  let server: AcmeTestServer;
  const validator = new FakeValidator();
  let c: RawAcme;

  before(async () => {
    server = await startAcmeTestServer({ validator });
    c = await RawAcme.create(server.directoryUrl());
    assert.equal((await c.register({ contact: ["mailto:edge@example.com"] })).status, 201);
  });
  after(async () => server?.stop());

  describe("§7.2 newNonce, §6.5 Replay-Nonce", () => {
    it("§7.2: HEAD newNonce is 200 and GET is 204, both with Replay-Nonce and Cache-Control: no-store", async () => {
      for (const [method, status] of [
        ["HEAD", 200],
        ["GET", 204],
      ] as const) {
        const r = await fetchRaw(c.dir.newNonce!, { method });
        assert.equal(r.status, status, method);
        assertNonceAndIndex(r);
        assert.match(r.headers.get("cache-control") ?? "", /no-store/, method);
      }
    });

    it("§6.3: newNonce and the directory also answer POST-as-GET", async () => {
      const n = await c.post(c.dir.newNonce!, undefined);
      assert.equal(n.status, 200, n.text);
      assertNonceAndIndex(n);
      assert.match(n.headers.get("cache-control") ?? "", /no-store/);
      const d = await c.post(server.directoryUrl(), undefined);
      assert.equal(d.status, 200, d.text);
      assert.equal(d.body.newNonce, c.dir.newNonce);
    });

    it("§6.5: every answer carries a fresh Replay-Nonce and §7.1 Link rel=index (success and problem)", async () => {
      const answers = [
        await fetchRaw(server.directoryUrl()),
        await c.post(c.kid!, undefined),
        await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "nonce.example.com" }] }),
        await c.post(c.dir.newOrder!, { identifiers: [] }),
        await c.postRaw(c.dir.newOrder!, "{", "application/jose+json"),
      ];
      const seen = new Set<string>();
      for (const r of answers) {
        assertNonceAndIndex(r);
        seen.add(r.headers.get("replay-nonce")!);
      }
      assert.equal(seen.size, answers.length, "each answer has its own nonce");
    });
  });

  describe("§6.2 / §6.3 request form", () => {
    it("§6.2: a POST that is not application/jose+json is refused with 415 and a malformed problem", async () => {
      const jws = await c.sign(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "a.example.com" }] });
      const r = await c.postRaw(c.dir.newOrder!, jws, "application/json");
      assertProblem(r, "malformed", 415);
      assertNonceAndIndex(r);
    });

    it("§6.3: GET on a resource other than the directory and newNonce is 405 with Allow: POST", async () => {
      for (const url of [c.kid!, c.dir.newAccount!, c.dir.newOrder!]) {
        const r = await fetchRaw(url);
        assertProblem(r, "malformed", 405);
        assert.equal(r.headers.get("allow"), "POST");
        assertNonceAndIndex(r);
      }
    });

    it("another method is 405 with Allow, and a path that names nothing is a 404 problem (both with Replay-Nonce)", async () => {
      const put = await fetchRaw(c.dir.newAccount!, { method: "PUT" });
      assertProblem(put, "malformed", 405);
      assert.equal(put.headers.get("allow"), "POST");
      assertNonceAndIndex(put);
      const del = await fetchRaw(c.dir.newNonce!, { method: "DELETE" });
      assertProblem(del, "malformed", 405);
      assert.equal(del.headers.get("allow"), "GET, HEAD, POST");
      const none = await fetchRaw(`${server.baseUrl}/acme/default/no-such-thing`, { method: "POST" });
      assertProblem(none, "malformed", 404);
      assertNonceAndIndex(none);
    });

    it("§6.3: a POST-as-GET to newOrder (empty payload) is malformed", async () => {
      assertProblem(await c.post(c.dir.newOrder!, undefined), "malformed", 400);
    });
  });

  describe("§7.3 accounts", () => {
    it("§7.3: newAccount is 201 with Location; §7.3.1 the same key again is 200 with the same Location", async () => {
      const a = await RawAcme.create(server.directoryUrl());
      const r1 = await a.register();
      assert.equal(r1.status, 201, r1.text);
      assertNonceAndIndex(r1);
      const loc = r1.headers.get("location");
      assert.ok(loc?.startsWith(server.baseUrl + "/acme/default/acct/"));
      const r2 = await a.register();
      assert.equal(r2.status, 200, r2.text);
      assert.equal(r2.headers.get("location"), loc);
    });

    it("§7.3: the server ignores orders and status in a newAccount request, and unknown fields (§7.1)", async () => {
      const a = await RawAcme.create(server.directoryUrl());
      const r = await a.register({ orders: "https://evil.example/orders", status: "deactivated", vestigial: { x: [1, 2] } });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.body.status, "valid");
      assert.equal(r.body.orders, `${a.kid}/orders`);
    });

    it("§7.3.1: onlyReturnExisting for an unknown key is accountDoesNotExist and creates nothing", async () => {
      const a = await RawAcme.create(server.directoryUrl());
      const r = await a.post(a.dir.newAccount!, { onlyReturnExisting: true }, { useJwk: true });
      assertProblem(r, "accountDoesNotExist", 400);
      assert.equal((await a.register()).status, 201, "the key had no account");
    });

    it("§7.3.2: an account update ignores orders and unknown fields", async () => {
      const r = await c.post(c.kid!, { contact: ["mailto:edge2@example.com"], orders: "x", unknownField: true });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body.contact, ["mailto:edge2@example.com"]);
      assert.equal(r.body.orders, `${c.kid}/orders`);
    });

    it("§7.3.6: after deactivation the server refuses requests signed with the account's key (unauthorized)", async () => {
      const a = await RawAcme.create(server.directoryUrl());
      assert.equal((await a.register()).status, 201);
      const d = await a.post(a.kid!, { status: "deactivated" });
      assert.equal(d.status, 200, d.text);
      assert.equal(d.body.status, "deactivated");
      const r = await a.post(a.dir.newOrder!, { identifiers: [{ type: "dns", value: "a.example.com" }] });
      assertProblem(r, "unauthorized", 403);
    });
  });

  describe("§7.4 orders, §7.5 authorizations and challenges", () => {
    it("§7.4: newOrder is 201 with Location; upper-case and repeated names make one lower-case identifier (as Boulder); unknown fields are ignored", async () => {
      const r = await c.post(c.dir.newOrder!, {
        identifiers: [
          { type: "dns", value: "Case.Example.COM" },
          { type: "dns", value: "case.example.com" },
          { type: "dns", value: "other.example.com", extra: 1 },
        ],
        vestigial: "ignored",
      });
      assert.equal(r.status, 201, r.text);
      assert.ok(r.headers.get("location")?.startsWith(server.baseUrl + "/acme/default/order/"));
      assert.deepEqual(r.body.identifiers, [
        { type: "dns", value: "case.example.com" },
        { type: "dns", value: "other.example.com" },
      ]);
      assert.equal(r.body.authorizations.length, 2);
    });

    it("§7.5.1: a challenge response may carry unknown fields; the answer links its authorization (rel=up)", async () => {
      const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "chall.example.com" }] });
      const authz = await c.post(o.body.authorizations[0], undefined);
      assert.equal(authz.status, 200, authz.text);
      const ch = authz.body.challenges.find((x: { type: string }) => x.type === "http-01");
      const r = await c.post(ch.url, { vestigial: true });
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get("link") ?? "", new RegExp(`<${o.body.authorizations[0]}>;rel="up"`));
      assertNonceAndIndex(r);
    });

    it("§7.4: finalize of an order that is not ready is 403 orderNotReady", async () => {
      const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "notready.example.com" }] });
      const [, csr] = await acme.crypto.createCsr({ commonName: "notready.example.com" }, await acme.crypto.createPrivateEcdsaKey());
      const r = await c.post(o.body.finalize, { csr: acme.crypto.getPemBodyAsB64u(csr) });
      assertProblem(r, "orderNotReady", 403);
    });
  });

  describe("U+0000 in any text field is malformed, not a 500", () => {
    it("in the directory name of the URL: 404 malformed", async () => {
      for (const url of [`${server.baseUrl}/acme/%00/directory`, `${server.baseUrl}/acme/a%00b/new-nonce`]) {
        const r = await fetchRaw(url);
        assertProblem(r, "malformed", 404);
        // no directory, so no nonce is stored for it (an unknown name cannot fill the nonce table)
        assert.equal(r.headers.get("replay-nonce"), null);
      }
      assert.equal((await fetchRaw(`${server.baseUrl}/acme/a%00b/new-nonce`, { method: "HEAD" })).status, 404);
    });

    it("in a newAccount contact, and in an unknown newAccount field", async () => {
      const a = await RawAcme.create(server.directoryUrl());
      assertProblem(await a.register({ contact: ["mailto:a\u0000@example.com"] }), "malformed", 400);
      assertProblem(await a.register({ contact: ["mailto:a@example.com"], note: "x\u0000y" }), "malformed", 400);
      assertProblem(await a.register({ ["x\u0000"]: 1 }), "malformed", 400);
      // an unpaired surrogate is valid JSON ("\ud800") but no text PostgreSQL stores (it answered 500)
      assertProblem(await a.register({ contact: ["mailto:\ud800@example.com"] }), "malformed", 400);
      assertProblem(await a.register({ contact: ["mailto:a@example.com"], note: "\udc00" }), "malformed", 400);
      assert.equal((await a.register()).status, 201, "nothing was created by the refused requests");
    });

    it("in an account update contact", async () => {
      assertProblem(await c.post(c.kid!, { contact: ["mailto:b\u0000@example.com"] }), "malformed", 400);
    });

    it("in newOrder identifiers, notBefore, and an ignored field", async () => {
      assertProblem(await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "a\u0000.example.com" }] }), "malformed", 400);
      assertProblem(await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns\u0000", value: "a.example.com" }] }), "malformed", 400);
      assertProblem(await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "a.example.com" }], notBefore: "2030\u0000" }), "malformed", 400);
      assertProblem(await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "a.example.com" }], x: ["\u0000"] }), "malformed", 400);
    });

    it("in the protected header (kid, nonce, an extra member)", async () => {
      assertProblem(await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "a.example.com" }] }, { header: { kid: c.kid + "\u0000" } }), "malformed", 400);
      assertProblem(await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "a.example.com" }] }, { header: { extra: "\u0000" } }), "malformed", 400);
    });

    it("in finalize, challenge, authorization, revokeCert and keyChange payloads", async () => {
      const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "nul.example.com" }] });
      assert.equal(o.status, 201, o.text);
      const authzUrl = o.body.authorizations[0] as string;
      const authz = await c.post(authzUrl, undefined);
      const chUrl = authz.body.challenges[0].url as string;
      assertProblem(await c.post(o.body.finalize, { csr: "MIIB", note: "\u0000" }), "malformed", 400);
      assertProblem(await c.post(chUrl, { note: "\u0000" }), "malformed", 400);
      assertProblem(await c.post(authzUrl, { status: "deactivated\u0000" }), "malformed", 400);
      assertProblem(await c.post(c.dir.revokeCert!, { certificate: "MIIB", note: "\u0000" }), "malformed", 400);
      // the challenge was not started by the refused request
      assert.equal((await c.post(chUrl, undefined)).body.status, "pending");
      // keyChange with an account of its own (a wrongly accepted rollover must not change c's key)
      const k = await RawAcme.create(server.directoryUrl());
      assert.equal((await k.register()).status, 201);
      const next = await RawAcme.create(server.directoryUrl());
      const inner = await k.keyChangeInner({ key: next.key, jwk: next.jwk, alg: next.alg }, { payload: { note: "\u0000" } });
      assertProblem(await k.post(k.dir.keyChange!, inner), "malformed", 400);
      assert.equal((await k.post(k.kid!, undefined)).status, 200, "the account key did not change");
    });
  });

  describe("§6.5 / §7.2: no nonce, no success (a NonceStore that cannot issue)", () => {
    let restore: (() => void) | undefined;
    afterEach(() => restore?.());

    function breakNonces(): void {
      const nonces = server.acme.nonces;
      const issue = nonces.issue.bind(nonces);
      nonces.issue = async () => {
        throw SigilError.unavailable("the database is unavailable");
      };
      restore = () => {
        nonces.issue = issue;
      };
    }

    it("HEAD and GET newNonce answer 503 with Retry-After and a problem, never 200/204 without Replay-Nonce", async () => {
      breakNonces();
      const head = await fetchRaw(c.dir.newNonce!, { method: "HEAD" });
      assertUnavailable(head);
      const get = await fetchRaw(c.dir.newNonce!);
      assertUnavailable(get);
      assert.equal(get.headers.get("replay-nonce"), null);
      assert.equal(get.body.status, 503);
    });

    it("a POST is answered 503 before it changes anything, and error answers are 503 too", async () => {
      const jws = await c.sign(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "outage.example.com" }] });
      const before = await c.post(c.kid! + "/orders", undefined);
      breakNonces();
      assertUnavailable(await c.postRaw(c.dir.newOrder!, jws));
      assertUnavailable(await fetchRaw(c.kid!));
      assertUnavailable(await fetchRaw(server.directoryUrl()));
      restore!();
      restore = undefined;
      const after = await c.post(c.kid! + "/orders", undefined);
      assert.deepEqual(after.body.orders, before.body.orders, "no order was created");
      // the nonce of the refused request was not consumed either: it still works once
      const retried = await c.postRaw(c.dir.newOrder!, jws);
      assert.equal(retried.status, 201, retried.text);
    });
  });
});

describe("ACME edge: newNonce during a real database outage (§7.2)", () => {
  let server: AcmeTestServer;
  let dbName: string;
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };

  before(async () => {
    // one nonce per batch: every answer needs the database
    server = await startAcmeTestServer({ acme: { nonces: { batchSize: 1 } } });
    dbName = new URL(server.config.databaseUrl!).pathname.slice(1);
  });
  after(async () => {
    await admin((a) => a.query(`alter database "${dbName}" with allow_connections true`));
    await server?.stop();
  });

  it("HEAD/GET newNonce answer 503 + Retry-After + problem while the database refuses connections, and recover", async () => {
    const url = `${server.baseUrl}/acme/default/new-nonce`;
    assert.equal((await fetchRaw(url, { method: "HEAD" })).status, 200);
    await admin(async (a) => {
      await a.query(`alter database "${dbName}" with allow_connections false`);
      await a.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`, [dbName]);
    });
    const head = await fetchRaw(url, { method: "HEAD" });
    assertUnavailable(head);
    assert.equal(head.headers.get("replay-nonce"), null);
    const get = await fetchRaw(url);
    assertUnavailable(get);
    assert.equal(get.body.type, P + "serverInternal");
    await admin((a) => a.query(`alter database "${dbName}" with allow_connections true`));
    let ok: RawResponse | undefined;
    for (let i = 0; i < 20 && ok?.status !== 200; i++) {
      ok = await fetchRaw(url, { method: "HEAD" });
      if (ok.status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(ok?.status, 200);
    assert.ok(ok?.headers.get("replay-nonce"));
  });
});
