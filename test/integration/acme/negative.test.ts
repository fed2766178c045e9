import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import acme from "acme-client";
import { exportJWK, FlattenedSign, generateKeyPair } from "jose";
import { createDirectory, createEabKey } from "../../../src/ra/acme/directories.js";
import { systemActor } from "../../../src/ra/actor.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme, type RawResponse } from "./raw-client.js";

const P = "urn:ietf:params:acme:error:";

function b64url(s: string | Buffer): string {
  return Buffer.from(s).toString("base64url");
}

/** the exact problem type, and a fresh Replay-Nonce on the error response */
function assertProblem(r: RawResponse, type: string, status?: number, usedNonce?: string): void {
  assert.equal(r.headers.get("content-type")?.split(";")[0], "application/problem+json", r.text);
  assert.equal(r.body.type, P + type, r.text);
  if (status) assert.equal(r.status, status, r.text);
  const n = r.headers.get("replay-nonce");
  assert.ok(n && n.length >= 16, "a fresh Replay-Nonce came back");
  if (usedNonce) assert.notEqual(n, usedNonce);
  assert.match(r.headers.get("link") ?? "", /rel="index"/);
}

async function csrFor(names: string[], key?: string): Promise<string> {
  const k = key ?? (await acme.crypto.createPrivateEcdsaKey()).toString();
  const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names }, k);
  return acme.crypto.getPemBodyAsB64u(csr);
}

describe("ACME negative cases (real HTTP, exact problem types)", () => {
  let server: AcmeTestServer;
  const validator = new FakeValidator();
  let c: RawAcme;

  before(async () => {
    server = await startAcmeTestServer({ validator });
    await createDirectory(server.ra, systemActor("test"), { name: "eab", ca: "default-intermediate", eabRequired: true });
    await createDirectory(server.ra, systemActor("test"), { name: "narrow", ca: "default-intermediate", allowedDnsSuffixes: ["corp.example"] });
    c = await RawAcme.create(server.directoryUrl());
    assert.equal((await c.register()).status, 201);
  });
  after(async () => server?.stop());

  it("rejects a reused nonce with badNonce", async () => {
    const jws = await c.sign(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "a.example.com" }] });
    assert.equal((await c.postRaw(c.dir.newOrder!, jws)).status, 201);
    const nonce = JSON.parse(Buffer.from(jws.protected!, "base64url").toString()).nonce as string;
    const r = await c.postRaw(c.dir.newOrder!, jws);
    assertProblem(r, "badNonce", 400, nonce);
  });

  it("rejects a JWS whose url is not the request URL with unauthorized", async () => {
    const jws = await c.sign(c.dir.newOrder! + "x", { identifiers: [{ type: "dns", value: "a.example.com" }] });
    assertProblem(await c.postRaw(c.dir.newOrder!, jws), "unauthorized", 403);
  });

  for (const alg of ["none", "HS256"]) {
    it(`rejects alg ${alg} with badSignatureAlgorithm and lists the algorithms`, async () => {
      const header = { alg, nonce: await c.nonce(), url: c.dir.newOrder, kid: c.kid };
      const r = await c.postRaw(c.dir.newOrder!, { protected: b64url(JSON.stringify(header)), payload: b64url("{}"), signature: alg === "none" ? "" : b64url("x") });
      assertProblem(r, "badSignatureAlgorithm", 400);
      assert.deepEqual(r.body.algorithms, ["RS256", "ES256", "ES384", "ES512", "EdDSA"]);
    });
  }

  it("rejects a header with both jwk and kid as malformed", async () => {
    const r = await c.post(c.dir.newOrder!, { identifiers: [] }, { header: { jwk: c.jwk, kid: c.kid } });
    assertProblem(r, "malformed", 400);
  });

  it("rejects an unknown kid with accountDoesNotExist", async () => {
    const kid = c.kid!.replace(/acct\/.*/, "acct/00000000-0000-7000-8000-000000000000");
    const r = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "a.example.com" }] }, { header: { kid } });
    assertProblem(r, "accountDoesNotExist", 400);
  });

  it("answers another account's order, authorization and finalize with 404 malformed (as for unknown ones)", async () => {
    const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "mine.example.com" }] });
    const other = await RawAcme.create(server.directoryUrl());
    await other.register();
    assertProblem(await other.post(o.headers.get("location")!, undefined), "malformed", 404);
    assertProblem(await other.post(o.body.authorizations[0], undefined), "malformed", 404);
    assertProblem(await other.post(o.body.finalize, { csr: await csrFor(["mine.example.com"]) }), "malformed", 404);
    assertProblem(await other.post(o.headers.get("location")!.replace(/order\/.*/, "order/00000000-0000-7000-8000-000000000000"), undefined), "malformed", 404);
  });

  async function readyOrder(names: string[]): Promise<RawResponse> {
    const o = await c.post(c.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })) });
    for (const az of o.body.authorizations as string[]) {
      const a = await c.post(az, undefined);
      const ch = a.body.challenges.find((x: { type: string }) => x.type === "http-01");
      await c.post(ch.url, {});
    }
    await server.acme.validations.idle();
    const again = await c.post(o.headers.get("location")!, undefined);
    assert.equal(again.body.status, "ready");
    return o;
  }

  it("rejects finalize before the order is ready with orderNotReady", async () => {
    const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "early.example.com" }] });
    assertProblem(await c.post(o.body.finalize, { csr: await csrFor(["early.example.com"]) }), "orderNotReady", 403);
  });

  it("rejects a CSR with a name the order lacks with badCSR", async () => {
    const o = await readyOrder(["one.example.com"]);
    assertProblem(await c.post(o.body.finalize, { csr: await csrFor(["one.example.com", "extra.example.com"]) }), "badCSR", 400);
  });

  it("rejects a CSR with a weak (RSA 1024) key with badPublicKey", async () => {
    const o = await readyOrder(["weak.example.com"]);
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    assertProblem(await c.post(o.body.finalize, { csr: await csrFor(["weak.example.com"], pem) }), "badPublicKey", 400);
  });

  it("lets an account that holds valid authorizations for all the certificate's names revoke it (RFC 8555 §7.6), and no other", async () => {
    const names = ["held.example.com", "*.held.example.com"];
    const o = await c.post(c.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })) });
    for (const az of o.body.authorizations as string[]) {
      const a = await c.post(az, undefined);
      await c.post(a.body.challenges.find((x: { type: string }) => x.type === "dns-01").url, {});
    }
    await server.acme.validations.idle();
    const fin = await c.post(o.body.finalize, { csr: await csrFor(names) });
    assert.equal(fin.status, 200, fin.text);
    const pem = (await c.post((await c.post(o.headers.get("location")!, undefined)).body.certificate, undefined)).text;
    const der = Buffer.from(pem.split("-----")[2]!.replace(/\s+/g, ""), "base64").toString("base64url");

    const holder = await RawAcme.create(server.directoryUrl());
    await holder.register();
    // authorized for the base name only: not enough for the wildcard
    const partial = await holder.post(holder.dir.newOrder!, { identifiers: [{ type: "dns", value: names[0] }] });
    const pa = await holder.post(partial.body.authorizations[0], undefined);
    await holder.post(pa.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
    await server.acme.validations.idle();
    assertProblem(await holder.post(holder.dir.revokeCert!, { certificate: der }), "unauthorized", 403);
    const both = await holder.post(holder.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })) });
    for (const az of both.body.authorizations as string[]) {
      const a = await holder.post(az, undefined);
      if (a.body.status === "pending") await holder.post(a.body.challenges.find((x: { type: string }) => x.type === "dns-01").url, {});
    }
    await server.acme.validations.idle();
    const r = await holder.post(holder.dir.revokeCert!, { certificate: der, reason: 4 });
    assert.equal(r.status, 200, r.text);
  });

  it("refuses newAccount without EAB on a directory that requires it with externalAccountRequired", async () => {
    const e = await RawAcme.create(server.directoryUrl("eab"));
    const r = await e.register();
    assertProblem(r, "externalAccountRequired", 400);
    const d = (await (await fetch(server.directoryUrl("eab"))).json()) as { meta: { externalAccountRequired: boolean } };
    assert.equal(d.meta.externalAccountRequired, true);
  });

  it("refuses a deactivated account with unauthorized", async () => {
    const d = await RawAcme.create(server.directoryUrl());
    await d.register();
    const r = await d.post(d.kid!, { status: "deactivated" });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "deactivated");
    assertProblem(await d.post(d.dir.newOrder!, { identifiers: [{ type: "dns", value: "x.example.com" }] }), "unauthorized", 403);
    assertProblem(await d.post(d.dir.newAccount!, { onlyReturnExisting: true }, { useJwk: true }), "unauthorized", 403);
  });

  it("refuses an identifier outside the directory policy with rejectedIdentifier and a subproblem", async () => {
    const n = await RawAcme.create(server.directoryUrl("narrow"));
    await n.register();
    assert.equal((await n.post(n.dir.newOrder!, { identifiers: [{ type: "dns", value: "ok.corp.example" }] })).status, 201);
    const r = await n.post(n.dir.newOrder!, { identifiers: [{ type: "dns", value: "ok.corp.example" }, { type: "dns", value: "evil.example.net" }] });
    assertProblem(r, "rejectedIdentifier", 400);
    assert.deepEqual(r.body.subproblems[0].identifier, { type: "dns", value: "evil.example.net" });
    assertProblem(await n.post(n.dir.newOrder!, { identifiers: [{ type: "ip", value: "10.0.0.1" }] }), "rejectedIdentifier", 400);
  });

  describe("External Account Binding (RFC 8555 §7.3.4)", () => {
    async function fresh(): Promise<{ e: RawAcme; kid: string; hmacKey: string }> {
      const { kid, hmacKey } = await createEabKey(server.ra, systemActor("test"), { directory: "eab" });
      return { e: await RawAcme.create(server.directoryUrl("eab")), kid, hmacKey };
    }

    it("refuses a tampered MAC with unauthorized and leaves the key usable", async () => {
      const { e, kid, hmacKey } = await fresh();
      assertProblem(await e.register({ externalAccountBinding: await e.eab(kid, hmacKey, { tamper: true }) }), "unauthorized", 403);
      const ok = await e.register({ externalAccountBinding: await e.eab(kid, hmacKey) });
      assert.equal(ok.status, 201, "the failed attempt did not use up the key: " + ok.text);
    });

    it("refuses a MAC made with another EAB key, an unknown kid, another account key or another url with unauthorized", async () => {
      const { e, kid, hmacKey } = await fresh();
      const other = await fresh();
      assertProblem(await e.register({ externalAccountBinding: await e.eab(kid, other.hmacKey) }), "unauthorized", 403);
      assertProblem(await e.register({ externalAccountBinding: await e.eab("00000000-0000-7000-8000-000000000000", other.hmacKey) }), "unauthorized", 403);
      const stranger = await RawAcme.create(server.directoryUrl("eab"));
      assertProblem(await e.register({ externalAccountBinding: await stranger.eab(kid, hmacKey) }), "unauthorized", 403);
      assertProblem(await e.register({ externalAccountBinding: await e.eab(kid, hmacKey, { url: e.dir.newOrder }) }), "unauthorized", 403);
      assert.equal((await e.register({ externalAccountBinding: await e.eab(kid, hmacKey) })).status, 201, "the key is still unused");
    });

    it("refuses a binding that is not a well-formed HMAC JWS with malformed", async () => {
      const { e, kid, hmacKey } = await fresh();
      const good = await e.eab(kid, hmacKey);
      const header = JSON.parse(Buffer.from(good.protected!, "base64url").toString()) as Record<string, unknown>;
      const withHeader = (h: Record<string, unknown>) => ({ ...good, protected: b64url(JSON.stringify({ ...header, ...h })) });
      const cases: Array<[string, unknown]> = [
        ["a string", "jws"],
        ["no signature", { protected: good.protected, payload: good.payload }],
        ["protected not JSON", { ...good, protected: b64url("nope") }],
        ["protected JSON null", { ...good, protected: b64url("null") }],
        ["alg ES256", withHeader({ alg: "ES256" })],
        ["alg none", withHeader({ alg: "none" })],
        ["a nonce", withHeader({ nonce: "abc" })],
      ];
      for (const [what, eab] of cases) {
        const r = await e.register({ externalAccountBinding: eab });
        assert.equal(r.body.type, P + "malformed", `${what}: ${r.text}`);
        assertProblem(r, "malformed", 400);
      }
    });
  });

  describe("keyChange (RFC 8555 §7.3.5)", () => {
    let k: RawAcme;
    let next: { key: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"]; jwk: Awaited<ReturnType<typeof exportJWK>>; alg: string };
    before(async () => {
      k = await RawAcme.create(server.directoryUrl());
      await k.register();
      const kp = await generateKeyPair("ES256", { extractable: true });
      next = { key: kp.privateKey, jwk: await exportJWK(kp.publicKey), alg: "ES256" };
    });
    it("refuses an inner JWS that is malformed with malformed", async () => {
      const inner = await k.keyChangeInner(next);
      const otherKey = (await generateKeyPair("ES256")).privateKey;
      const cases: Array<[string, unknown]> = [
        ["not a JWS", { account: k.kid, oldKey: k.jwk }],
        ["general serialization", { payload: inner.payload, signatures: [{ protected: inner.protected, signature: inner.signature }] }],
        ["protected not JSON", { ...inner, protected: b64url("nope") }],
        ["protected JSON null", { ...inner, protected: b64url("null") }],
        [
          "payload JSON null",
          await new FlattenedSign(new TextEncoder().encode("null")).setProtectedHeader({ alg: next.alg, jwk: next.jwk, url: k.dir.keyChange }).sign(next.key),
        ],
        ["signed by another key than its jwk", await k.keyChangeInner({ ...next, key: otherKey })],
        ["signature of another payload", { ...inner, payload: b64url(JSON.stringify({ account: k.kid, oldKey: k.jwk, x: 1 })) }],
        ["a kid instead of a jwk", await k.keyChangeInner(next, { header: { jwk: undefined, kid: k.kid } })],
        ["a nonce", await k.keyChangeInner(next, { header: { nonce: "abc" } })],
        ["alg HS256", { ...inner, protected: b64url(JSON.stringify({ alg: "HS256", jwk: next.jwk, url: k.dir.keyChange })) }],
      ];
      for (const [what, payload] of cases) {
        const r = await k.post(k.dir.keyChange!, payload);
        assert.equal(r.body.type, P + "malformed", `${what}: ${r.text}`);
        assertProblem(r, "malformed", 400);
      }
    });

    it("refuses an inner url that is not the outer url with malformed", async () => {
      assertProblem(await k.post(k.dir.keyChange!, await k.keyChangeInner(next, { header: { url: k.dir.newAccount } })), "malformed", 400);
    });

    it("refuses an inner account that is not the signing account with malformed", async () => {
      const other = await RawAcme.create(server.directoryUrl());
      await other.register();
      assertProblem(await k.post(k.dir.keyChange!, await k.keyChangeInner(next, { payload: { account: other.kid } })), "malformed", 400);
      assertProblem(await k.post(k.dir.keyChange!, await k.keyChangeInner(next, { payload: { account: undefined } })), "malformed", 400);
    });

    it("refuses an oldKey that is not the account's key with unauthorized", async () => {
      assertProblem(await k.post(k.dir.keyChange!, await k.keyChangeInner(next, { payload: { oldKey: next.jwk } })), "unauthorized", 403);
    });

    it("left the account key unchanged after the refused requests", async () => {
      const r = await k.post(k.kid!, undefined);
      assert.equal(r.status, 200, r.text);
      const byNew = await RawAcme.create(server.directoryUrl());
      byNew.key = next.key;
      byNew.jwk = next.jwk;
      assertProblem(await byNew.post(byNew.dir.newAccount!, { onlyReturnExisting: true }, { useJwk: true }), "accountDoesNotExist", 400);
    });
  });

  /** the same base64url value with different (ignored) trailing bits: another text, the same bytes */
  function otherEncoding(v: string): string {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const alt = v.slice(0, -1) + alphabet[alphabet.indexOf(v[v.length - 1]!) ^ 1];
    assert.ok(Buffer.from(alt, "base64url").equals(Buffer.from(v, "base64url")));
    return alt;
  }

  it("finds the account of a key sent in a non-canonical JWK encoding (RFC 7638 thumbprint of the key, not of its text)", async () => {
    const a = await RawAcme.create(server.directoryUrl());
    const first = await a.register();
    assert.equal(first.status, 201);
    const again = await a.post(a.dir.newAccount!, { termsOfServiceAgreed: true }, { useJwk: true, header: { jwk: { ...a.jwk, x: otherEncoding(a.jwk.x!) } } });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.headers.get("location"), first.headers.get("location"));
  });

  it("refuses a keyChange to a key another account holds, sent in a non-canonical encoding, with 409", async () => {
    const a = await RawAcme.create(server.directoryUrl());
    await a.register();
    const holder = await RawAcme.create(server.directoryUrl());
    await holder.register();
    const jwk = { ...holder.jwk, x: otherEncoding(holder.jwk.x!) };
    const r = await a.post(a.dir.keyChange!, await a.keyChangeInner({ key: holder.key, jwk, alg: holder.alg }));
    assertProblem(r, "malformed", 409);
    assert.equal(r.headers.get("location"), holder.kid);
  });

  it("rejects a body over the size limit with 413 malformed", async () => {
    const r = await c.postRaw(c.dir.newOrder!, "x".repeat(70 * 1024));
    assertProblem(r, "malformed", 413);
  });

  it("serves newNonce with Cache-Control no-store (HEAD 200, GET 204)", async () => {
    const h = await fetch(c.dir.newNonce!, { method: "HEAD" });
    assert.equal(h.status, 200);
    assert.equal(h.headers.get("cache-control"), "no-store");
    assert.ok(h.headers.get("replay-nonce"));
    const g = await fetch(c.dir.newNonce!);
    assert.equal(g.status, 204);
    assert.equal(g.headers.get("cache-control"), "no-store");
  });
});
