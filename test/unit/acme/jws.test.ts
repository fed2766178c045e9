/**
 * The RFC 8555 §6.2-6.5 request pipeline, one middleware at a time, with
 * fakes for the nonce store and the account lookup: parseJws, checkUrlAndNonce,
 * lookupKey, verifySignature, postAsGetOnly.
 */
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { calculateJwkThumbprint, exportJWK, FlattenedSign, generateKeyPair, type JWK } from "jose";
import type { Context } from "koa";
import {
  acmeState,
  checkUrlAndNonce,
  lookupKey,
  parseJws,
  postAsGetOnly,
  verifySignature,
  type AcmeRequestState,
  type JwsDeps,
  type KeyMode,
} from "../../../src/acme/jws.js";
import { Linker } from "../../../src/acme/linker.js";
import type { AccountInfo } from "../../../src/ra/acme/accounts.js";
import type { DirectoryInfo } from "../../../src/ra/acme/directories.js";
import { AcmeError } from "../../../src/ra/acme/errors.js";

const BASE = "https://acme.test";
const linker = new Linker(BASE);
const dir = { id: "00000000-0000-7000-8000-00000000d001", name: "d" } as DirectoryInfo;
const ACCOUNT_ID = "00000000-0000-7000-8000-00000000a001";
const KID = linker.account("d", ACCOUNT_ID);
const URL_PATH = "/acme/d/new-order";
const URL = BASE + URL_PATH;
const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

type Key = Awaited<ReturnType<typeof generateKeyPair>>;
let es256: Key;
let es256Jwk: JWK;
let other: Key;

/** the account the fake lookup knows (status per test) */
let account: AccountInfo;
/** nonces the fake store accepts, each once */
let nonces: Set<string>;

const fakeNonces = {
  async consume(n: string) {
    return nonces.delete(n);
  },
} as unknown as JwsDeps["nonces"];

/** answers the account lookup from `account` */
const fakeAccounts = {
  async findById(directoryId: string, id: string): Promise<AccountInfo | null> {
    return id === account.id && directoryId === account.directoryId ? account : null;
  },
};

const deps = (): JwsDeps => ({ accounts: fakeAccounts, linker, nonces: fakeNonces, bodyLimit: 1024 });

function ctxOf(body: string | Buffer, opts: { contentType?: string; path?: string; state?: Partial<AcmeRequestState> } = {}): Context {
  const raw = typeof body === "string" ? Buffer.from(body) : body;
  const req = Object.assign(Readable.from([raw]), { headers: { "content-length": String(raw.length) } });
  const headers: Record<string, string> = { "content-type": opts.contentType ?? "application/jose+json" };
  return {
    req,
    originalUrl: opts.path ?? URL_PATH,
    get: (h: string) => headers[h.toLowerCase()] ?? "",
    state: { acme: { dir, ...opts.state } },
  } as unknown as Context;
}

async function signed(
  payload: unknown,
  opts: { header?: Record<string, unknown>; key?: Key; useKid?: boolean; alg?: string } = {},
): Promise<{ protected: string; payload: string; signature: string }> {
  const key = opts.key ?? es256;
  const header: Record<string, unknown> = { alg: opts.alg ?? "ES256", nonce: "n1", url: URL };
  if (opts.useKid) header.kid = KID;
  else header.jwk = await exportJWK(key.publicKey);
  Object.assign(header, opts.header);
  for (const [k, v] of Object.entries(header)) if (v === undefined) delete header[k];
  const bytes = payload === undefined ? new Uint8Array() : new TextEncoder().encode(typeof payload === "string" ? payload : JSON.stringify(payload));
  const jws = await new FlattenedSign(bytes).setProtectedHeader(header as { alg: string }).sign(key.privateKey);
  return { protected: jws.protected!, payload: jws.payload, signature: jws.signature };
}

/** runs one middleware; "ok" when it called next, else "<status> <problem type>" */
async function run(mw: (ctx: Context, next: () => Promise<void>) => Promise<void>, ctx: Context): Promise<string> {
  let called = false;
  try {
    await mw(ctx, async () => {
      called = true;
    });
  } catch (e) {
    if (!(e instanceof AcmeError)) throw e;
    return `${e.status ?? "-"} ${e.acmeType}`;
  }
  assert.ok(called, "next() was called");
  return "ok";
}

/** a context as parseJws leaves it, for the later stages */
async function parsed(jws: { protected: string; payload: string; signature: string }, path?: string): Promise<Context> {
  const ctx = ctxOf(JSON.stringify(jws), { path });
  assert.equal(await run(parseJws(deps()), ctx), "ok");
  return ctx;
}

describe("acme/jws pipeline", () => {
  before(async () => {
    es256 = await generateKeyPair("ES256", { extractable: true });
    es256Jwk = await exportJWK(es256.publicKey);
    other = await generateKeyPair("ES256", { extractable: true });
  });
  beforeEach(async () => {
    nonces = new Set(["n1"]);
    account = {
      id: ACCOUNT_ID,
      directoryId: dir.id,
      organizationId: "00000000-0000-7000-8000-00000000c001",
      keyThumbprint: await calculateJwkThumbprint(es256Jwk, "sha256"),
      jwk: es256Jwk,
      status: "valid",
      contact: [],
      termsOfServiceAgreed: true,
      eabKeyId: null,
    };
  });

  describe("parseJws (§6.2: flattened JSON, jose+json, bounded, alg and key checks)", () => {
    const cases: Array<[string, () => Promise<Context>, string]> = [
      ["ok/flattened jws with jwk", async () => ctxOf(JSON.stringify(await signed({}))), "ok"],
      ["ok/flattened jws with kid", async () => ctxOf(JSON.stringify(await signed({}, { useKid: true }))), "ok"],
      ["ok/content-type with parameters", async () => ctxOf(JSON.stringify(await signed({})), { contentType: "application/jose+json; charset=utf-8" }), "ok"],
      ["fail/content-type application/json", async () => ctxOf(JSON.stringify(await signed({})), { contentType: "application/json" }), "415 malformed"],
      ["fail/body over the limit", async () => ctxOf("x".repeat(2048)), "413 malformed"],
      ["fail/body not JSON", async () => ctxOf("{nope"), "- malformed"],
      ["fail/body a JSON array", async () => ctxOf("[]"), "- malformed"],
      ["fail/general serialization (signatures)", async () => ctxOf(JSON.stringify({ payload: "", signatures: [] })), "- malformed"],
      ["fail/unprotected header", async () => ctxOf(JSON.stringify({ ...(await signed({})), header: { kid: KID } })), "- malformed"],
      ["fail/signature missing", async () => ctxOf(JSON.stringify({ ...(await signed({})), signature: undefined })), "- malformed"],
      ["fail/protected header not base64url", async () => ctxOf(JSON.stringify({ ...(await signed({})), protected: "e30=" })), "- malformed"],
      ["fail/protected header not JSON", async () => ctxOf(JSON.stringify({ ...(await signed({})), protected: b64("nope") })), "- malformed"],
      ["fail/alg none", async () => ctxOf(JSON.stringify({ protected: b64({ alg: "none", nonce: "n1", url: URL, kid: KID }), payload: b64("{}"), signature: "" })), "- badSignatureAlgorithm"],
      ["fail/alg HS256", async () => ctxOf(JSON.stringify({ protected: b64({ alg: "HS256", nonce: "n1", url: URL, kid: KID }), payload: b64("{}"), signature: b64("x") })), "- badSignatureAlgorithm"],
      ["fail/alg missing", async () => ctxOf(JSON.stringify({ protected: b64({ nonce: "n1", url: URL, kid: KID }), payload: b64("{}"), signature: b64("x") })), "- badSignatureAlgorithm"],
      ["fail/both jwk and kid", async () => ctxOf(JSON.stringify(await signed({}, { header: { kid: KID } }))), "- malformed"],
      ["fail/neither jwk nor kid", async () => ctxOf(JSON.stringify(await signed({}, { header: { jwk: undefined } }))), "- malformed"],
      ["fail/no url", async () => ctxOf(JSON.stringify(await signed({}, { header: { url: undefined } }))), "- malformed"],
    ];
    for (const [name, make, want] of cases) it(name, async () => assert.equal(await run(parseJws(deps()), await make()), want));

    it("ok/leaves the decoded header and the JWS in the request state", async () => {
      const jws = await signed({ a: 1 });
      const ctx = await parsed(jws);
      assert.deepEqual(acmeState(ctx).jws, jws);
      assert.equal(acmeState(ctx).header!.url, URL);
      assert.equal(acmeState(ctx).payload, undefined, "the payload is decoded only after verification");
    });
  });

  describe("checkUrlAndNonce (§6.4 url, §6.5 nonce)", () => {
    const cases: Array<[string, () => Promise<Context>, string]> = [
      ["ok/url and fresh nonce", async () => parsed(await signed({})), "ok"],
      ["fail/url of another resource", async () => parsed(await signed({}, { header: { url: BASE + "/acme/d/new-account" } })), "- unauthorized"],
      ["fail/url of another host", async () => parsed(await signed({}, { header: { url: "https://evil.test" + URL_PATH } })), "- unauthorized"],
      ["fail/nonce missing", async () => parsed(await signed({}, { header: { nonce: undefined } })), "- badNonce"],
      ["fail/nonce not a string", async () => parsed(await signed({}, { header: { nonce: 7 } })), "- badNonce"],
      ["fail/nonce unknown", async () => parsed(await signed({}, { header: { nonce: "n2" } })), "- badNonce"],
    ];
    for (const [name, make, want] of cases) it(name, async () => assert.equal(await run(checkUrlAndNonce(deps()), await make()), want));

    it("fail/a nonce is accepted once (the second use is badNonce)", async () => {
      const jws = await signed({});
      assert.equal(await run(checkUrlAndNonce(deps()), await parsed(jws)), "ok");
      assert.equal(await run(checkUrlAndNonce(deps()), await parsed(jws)), "- badNonce");
    });
  });

  describe("lookupKey (§6.2: jwk or kid, as the resource requires)", () => {
    const cases: Array<[string, KeyMode, () => Promise<Context>, string]> = [
      ["ok/jwk where jwk is required", "jwk", async () => parsed(await signed({})), "ok"],
      ["ok/kid where kid is required", "kid", async () => parsed(await signed({}, { useKid: true })), "ok"],
      ["ok/jwk where either is accepted", "either", async () => parsed(await signed({})), "ok"],
      ["ok/kid where either is accepted", "either", async () => parsed(await signed({}, { useKid: true })), "ok"],
      ["fail/jwk where kid is required", "kid", async () => parsed(await signed({})), "- malformed"],
      ["fail/kid where jwk is required", "jwk", async () => parsed(await signed({}, { useKid: true })), "- malformed"],
      ["fail/jwk with a private part", "jwk", async () => parsed(await signed({}, { header: { jwk: await exportJWK(es256.privateKey) } })), "- malformed"],
      ["fail/jwk of a symmetric key", "jwk", async () => parsed(await signed({}, { header: { jwk: { kty: "oct", k: "AAAA" } } })), "- malformed"],
      ["fail/jwk kty unknown", "jwk", async () => parsed(await signed({}, { header: { jwk: { kty: "XYZ" } } })), "- badPublicKey"],
      ["fail/jwk incomplete", "jwk", async () => parsed(await signed({}, { header: { jwk: { kty: "EC", crv: "P-256" } } })), "- malformed"],
      ["fail/jwk not an object", "jwk", async () => parsed(await signed({}, { header: { jwk: "key" } })), "- malformed"],
      ["fail/jwk of another alg (RSA jwk, ES256)", "jwk", async () => parsed(await signed({}, { header: { jwk: { kty: "RSA", n: b64("n"), e: "AQAB" } } })), "- badPublicKey"],
      ["fail/kid unknown account", "kid", async () => parsed(await signed({}, { useKid: true, header: { kid: linker.account("d", "00000000-0000-7000-8000-00000000ffff") } })), "400 accountDoesNotExist"],
      ["fail/kid of another directory", "kid", async () => parsed(await signed({}, { useKid: true, header: { kid: linker.account("other", ACCOUNT_ID) } })), "400 accountDoesNotExist"],
      ["fail/kid not a URL of ours", "kid", async () => parsed(await signed({}, { useKid: true, header: { kid: ACCOUNT_ID } })), "400 accountDoesNotExist"],
      ["fail/kid not a string", "kid", async () => parsed(await signed({}, { useKid: true, header: { kid: 42 } })), "- malformed"],
    ];
    for (const [name, mode, make, want] of cases) it(name, async () => assert.equal(await run(lookupKey(deps(), mode), await make()), want));

    it("ok/jwk requests carry the public JWK (public members only) and its thumbprint", async () => {
      const ctx = await parsed(await signed({}, { header: { jwk: { ...es256Jwk, kid: "x", use: "sig" } } }));
      assert.equal(await run(lookupKey(deps(), "jwk"), ctx), "ok");
      assert.deepEqual(acmeState(ctx).jwk, { kty: "EC", crv: "P-256", x: es256Jwk.x, y: es256Jwk.y });
      assert.equal(acmeState(ctx).thumbprint, account.keyThumbprint);
    });

    it("ok/kid requests carry the account", async () => {
      const ctx = await parsed(await signed({}, { useKid: true }));
      assert.equal(await run(lookupKey(deps(), "kid"), ctx), "ok");
      assert.equal(acmeState(ctx).account!.id, ACCOUNT_ID);
    });
  });

  describe("verifySignature (§6.2 signature, §7.3.6 account status, §6.3 POST-as-GET)", () => {
    async function through(jws: { protected: string; payload: string; signature: string }, mode: KeyMode): Promise<Context> {
      const ctx = await parsed(jws);
      assert.equal(await run(lookupKey(deps(), mode), ctx), "ok");
      return ctx;
    }
    const cases: Array<[string, () => Promise<Context>, string]> = [
      ["ok/jwk signature", async () => through(await signed({ a: 1 }), "jwk"), "ok"],
      ["ok/kid signature", async () => through(await signed({ a: 1 }, { useKid: true }), "kid"), "ok"],
      ["ok/POST-as-GET (empty payload)", async () => through(await signed(undefined, { useKid: true }), "kid"), "ok"],
      ["fail/signed by another key than the jwk", async () => through(await signed({}, { header: { jwk: es256Jwk }, key: other }), "jwk"), "- malformed"],
      ["fail/kid request signed by another key", async () => through(await signed({}, { useKid: true, key: other }), "kid"), "- malformed"],
      ["fail/payload changed after signing", async () => through({ ...(await signed({ a: 1 }, { useKid: true })), payload: b64({ a: 2 }) }, "kid"), "- malformed"],
      ["fail/signature truncated", async () => {
        const jws = await signed({}, { useKid: true });
        return through({ ...jws, signature: jws.signature.slice(0, 20) }, "kid");
      }, "- malformed"],
      ["fail/payload not JSON", async () => through(await signed("not json", { useKid: true }), "kid"), "- malformed"],
      ["fail/deactivated account", async () => {
        account.status = "deactivated";
        return through(await signed({}, { useKid: true }), "kid");
      }, "- unauthorized"],
    ];
    for (const [name, make, want] of cases) it(name, async () => assert.equal(await run(verifySignature(), await make()), want));

    it("ok/decodes the payload; an empty one marks POST-as-GET", async () => {
      const a = await through(await signed({ a: 1 }, { useKid: true }), "kid");
      await run(verifySignature(), a);
      assert.deepEqual([acmeState(a).payload, acmeState(a).postAsGet], [{ a: 1 }, false]);
      const g = await through(await signed(undefined, { useKid: true }), "kid");
      await run(verifySignature(), g);
      assert.deepEqual([acmeState(g).payload, acmeState(g).postAsGet], [undefined, true]);
    });
  });

  describe("postAsGetOnly (§6.3)", () => {
    const cases: Array<[string, Partial<AcmeRequestState>, string]> = [
      ["ok/empty payload", { postAsGet: true }, "ok"],
      ["fail/a payload", { postAsGet: false, payload: {} }, "- malformed"],
    ];
    for (const [name, state, want] of cases) it(name, async () => assert.equal(await run(postAsGetOnly(), ctxOf("", { state })), want));
  });
});
