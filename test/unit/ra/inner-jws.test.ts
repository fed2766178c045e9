/**
 * The inner-JWS verifier (src/ra/acme/inner-jws.ts): keyChange (RFC 8555
 * §7.3.5) and External Account Binding (§7.3.4), table-driven. Keys are
 * identified by the RFC 7638 thumbprint of their canonical JWK, so a
 * re-encoded JWK (other base64url trailing bits) is the same key.
 */
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, randomBytes, sign as cryptoSign, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, FlattenedSign, generateKeyPair, type JWK } from "jose";
import { ACCEPTED_ALGS } from "../../../src/core/jws-algorithms.js";
import { AcmeError } from "../../../src/ra/acme/errors.js";
import {
  canonicalJwk,
  parseExternalAccountBinding,
  verifyExternalAccountBinding,
  verifyKeyChange,
  type FlattenedJws,
} from "../../../src/ra/acme/inner-jws.js";

type SignKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

const KEY_CHANGE_URL = "https://ca.example/acme/default/key-change";
const NEW_ACCOUNT_URL = "https://ca.example/acme/default/new-account";
const ACCOUNT_URL = "https://ca.example/acme/default/acct/0190c0de-0000-7000-8000-000000000001";
const EAB_KID = "0190c0de-0000-7000-8000-0000000000aa";

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

/** the same base64url value with other (ignored) trailing bits: another text, the same bytes */
function otherEncoding(v: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  return v.slice(0, -1) + alphabet[alphabet.indexOf(v[v.length - 1]!) ^ 1];
}

async function keyPair(alg: string): Promise<{ key: SignKey; jwk: JWK; alg: string }> {
  const kp = await generateKeyPair(alg, { extractable: true, ...(alg === "RS256" ? { modulusLength: 2048 } : {}) });
  return { key: kp.privateKey, jwk: await exportJWK(kp.publicKey), alg };
}

async function sign(payload: unknown, header: Record<string, unknown>, key: SignKey | Uint8Array): Promise<FlattenedJws> {
  const h = { ...header };
  for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k];
  const bytes = new TextEncoder().encode(typeof payload === "string" ? payload : JSON.stringify(payload));
  // jose refuses to sign a crit it does not know unless told it is understood
  const crit = Array.isArray(h.crit) ? { crit: Object.fromEntries((h.crit as string[]).map((c) => [c, true])) } : undefined;
  return (await new FlattenedSign(bytes).setProtectedHeader(h as { alg: string }).sign(key, crit)) as FlattenedJws;
}

const thumb = (jwk: JWK) => calculateJwkThumbprint(canonicalJwk(createPublicKey({ key: jwk as import("node:crypto").JsonWebKey, format: "jwk" })), "sha256");

function rejectsWith(type: "malformed" | "unauthorized", detail?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof AcmeError, `an AcmeError, got ${String(e)}`);
    assert.equal(e.acmeType, type, e.message);
    if (detail) assert.match(e.message, detail);
    return true;
  };
}

describe("inner JWS: keyChange (RFC 8555 §7.3.5)", () => {
  let account: { key: SignKey; jwk: JWK; alg: string };
  let next: { key: SignKey; jwk: JWK; alg: string };
  let other: { key: SignKey; jwk: JWK; alg: string };

  before(async () => {
    account = await keyPair("ES256");
    next = await keyPair("ES256");
    other = await keyPair("ES256");
  });

  /** a well-formed inner JWS with overrides of its header and payload */
  const inner = (o: { header?: Record<string, unknown>; payload?: Record<string, unknown>; key?: SignKey; with?: typeof next } = {}) => {
    const k = o.with ?? next;
    return sign({ account: ACCOUNT_URL, oldKey: account.jwk, ...o.payload }, { alg: k.alg, jwk: k.jwk, url: KEY_CHANGE_URL, ...o.header }, o.key ?? k.key);
  };
  const verify = (value: unknown) => verifyKeyChange({ inner: value, outerUrl: KEY_CHANGE_URL, accountUrl: ACCOUNT_URL, accountJwk: account.jwk });

  for (const alg of ACCEPTED_ALGS) {
    it(`ok/${alg}: the new key, canonical, and its thumbprint`, async () => {
      const k = await keyPair(alg);
      const v = await verify(await inner({ with: k }));
      assert.equal(v.alg, alg);
      assert.equal(v.newThumbprint, await thumb(k.jwk));
      assert.equal(v.newThumbprint, await calculateJwkThumbprint(v.newJwk, "sha256"));
    });
  }

  it("ok/non-canonical-encodings: a re-encoded new key and oldKey are the same keys", async () => {
    const reNew = { ...next.jwk, x: otherEncoding(next.jwk.x!) };
    const reOld = { ...account.jwk, y: otherEncoding(account.jwk.y!) };
    const v = await verify(await inner({ header: { jwk: reNew }, payload: { oldKey: reOld } }));
    assert.equal(v.newThumbprint, await thumb(next.jwk));
    assert.equal(v.newJwk.x, next.jwk.x, "the stored JWK is the canonical encoding");
  });

  const cases: Array<{ name: string; value: () => Promise<unknown>; type: "malformed" | "unauthorized"; detail?: RegExp }> = [
    { name: "fail/not-an-object", value: async () => "jws", type: "malformed" },
    { name: "fail/null", value: async () => null, type: "malformed" },
    { name: "fail/payload-not-a-jws", value: async () => ({ account: ACCOUNT_URL, oldKey: {} }), type: "malformed" },
    {
      name: "fail/general-serialization",
      value: async () => {
        const j = await inner();
        return { payload: j.payload, signatures: [{ protected: j.protected, signature: j.signature }] };
      },
      type: "malformed",
    },
    { name: "fail/unprotected-header", value: async () => ({ ...(await inner()), header: { kid: "x" } }), type: "malformed" },
    { name: "fail/protected-not-json", value: async () => ({ ...(await inner()), protected: b64("nope") }), type: "malformed" },
    { name: "fail/protected-json-null", value: async () => ({ ...(await inner()), protected: b64("null") }), type: "malformed" },
    { name: "fail/protected-not-base64url", value: async () => ({ ...(await inner()), protected: "a+b/" }), type: "malformed" },
    { name: "fail/payload-json-null", value: () => sign("null", { alg: next.alg, jwk: next.jwk, url: KEY_CHANGE_URL }, next.key), type: "malformed" },
    { name: "fail/alg-HS256", value: async () => ({ ...(await inner()), protected: b64({ alg: "HS256", jwk: next.jwk, url: KEY_CHANGE_URL }) }), type: "malformed", detail: /alg/ },
    { name: "fail/alg-none", value: async () => ({ ...(await inner()), protected: b64({ alg: "none", jwk: next.jwk, url: KEY_CHANGE_URL }), signature: "" }), type: "malformed", detail: /alg/ },
    { name: "fail/kid-instead-of-jwk", value: () => inner({ header: { jwk: undefined, kid: ACCOUNT_URL } }), type: "malformed", detail: /jwk/ },
    { name: "fail/jwk-and-kid", value: () => inner({ header: { kid: ACCOUNT_URL } }), type: "malformed", detail: /jwk/ },
    { name: "fail/private-jwk", value: async () => inner({ header: { jwk: { ...next.jwk, d: "AAAA" } } }), type: "malformed", detail: /public/ },
    { name: "fail/nonce", value: () => inner({ header: { nonce: "abc" } }), type: "malformed", detail: /nonce/ },
    { name: "fail/url-not-outer-url", value: () => inner({ header: { url: NEW_ACCOUNT_URL } }), type: "malformed", detail: /url/ },
    { name: "fail/signed-by-another-key", value: () => inner({ key: other.key }), type: "malformed", detail: /signature/ },
    {
      name: "fail/signature-of-another-payload",
      value: async () => ({ ...(await inner()), payload: b64({ account: ACCOUNT_URL, oldKey: account.jwk, x: 1 }) }),
      type: "malformed",
      detail: /signature/,
    },
    {
      name: "fail/alg-does-not-fit-key (a P-384 key signing as ES256)",
      value: async () => {
        const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
        const protectedHeader = b64({ alg: "ES256", jwk: publicKey.export({ format: "jwk" }), url: KEY_CHANGE_URL });
        const payload = b64({ account: ACCOUNT_URL, oldKey: account.jwk });
        const signature = cryptoSign("sha256", Buffer.from(`${protectedHeader}.${payload}`), { key: privateKey, dsaEncoding: "ieee-p1363" }).toString("base64url");
        return { protected: protectedHeader, payload, signature };
      },
      type: "malformed",
      detail: /signature/,
    },
    { name: "fail/crit-unknown", value: () => inner({ header: { crit: ["exp"], exp: 1 } }), type: "malformed", detail: /signature/ },
    { name: "fail/account-of-another", value: () => inner({ payload: { account: ACCOUNT_URL.replace(/1$/, "2") } }), type: "malformed", detail: /account/ },
    { name: "fail/account-missing", value: () => inner({ payload: { account: undefined } }), type: "malformed", detail: /account/ },
    { name: "fail/oldKey-not-a-jwk", value: () => inner({ payload: { oldKey: "key" } }), type: "malformed", detail: /oldKey/ },
    { name: "fail/oldKey-not-the-account-key", value: () => inner({ payload: { oldKey: other.jwk } }), type: "unauthorized", detail: /oldKey/ },
  ];
  for (const c of cases) {
    it(`${c.name} is ${c.type}`, async () => {
      await assert.rejects(verify(await c.value()), rejectsWith(c.type, c.detail));
    });
  }
});

describe("inner JWS: External Account Binding (RFC 8555 §7.3.4)", () => {
  let account: { key: SignKey; jwk: JWK; alg: string };
  let other: { key: SignKey; jwk: JWK; alg: string };
  let thumbprint: string;
  const hmac = randomBytes(32);

  before(async () => {
    account = await keyPair("ES256");
    other = await keyPair("ES256");
    thumbprint = await thumb(account.jwk);
  });

  const binding = (o: { header?: Record<string, unknown>; payload?: unknown; key?: Uint8Array } = {}) =>
    sign(o.payload ?? account.jwk, { alg: "HS256", kid: EAB_KID, url: NEW_ACCOUNT_URL, ...o.header }, o.key ?? hmac);
  const parse = (value: unknown) => parseExternalAccountBinding(value, { newAccountUrl: NEW_ACCOUNT_URL, accountThumbprint: thumbprint });

  for (const alg of ["HS256", "HS384", "HS512"]) {
    it(`ok/${alg}: parsed, then the MAC verifies with its key and not with another`, async () => {
      const b = await parse(await binding({ header: { alg } }));
      assert.equal(b.kid, EAB_KID);
      assert.equal(b.alg, alg);
      assert.equal(verifyExternalAccountBinding(b, hmac), true);
      assert.equal(verifyExternalAccountBinding(b, randomBytes(32)), false);
    });
  }

  it("ok/upper-case-kid and non-canonical payload encoding: the same key id, the same account key", async () => {
    const b = await parse(await binding({ header: { kid: EAB_KID.toUpperCase() }, payload: { ...account.jwk, x: otherEncoding(account.jwk.x!) } }));
    assert.equal(b.kid, EAB_KID);
    assert.equal(verifyExternalAccountBinding(b, hmac), true);
  });

  it("fail/tampered-mac: parsed, but the MAC does not verify", async () => {
    const j = await binding();
    const mac = Buffer.from(j.signature, "base64url");
    mac[0]! ^= 1;
    const b = await parse({ ...j, signature: mac.toString("base64url") });
    assert.equal(verifyExternalAccountBinding(b, hmac), false);
  });

  it("fail/truncated-mac: does not verify (no length-dependent comparison)", async () => {
    const j = await binding();
    const b = await parse({ ...j, signature: Buffer.from(j.signature, "base64url").subarray(0, 16).toString("base64url") });
    assert.equal(verifyExternalAccountBinding(b, hmac), false);
  });

  const cases: Array<{ name: string; value: () => Promise<unknown>; type: "malformed" | "unauthorized" }> = [
    { name: "fail/a-string", value: async () => "jws", type: "malformed" },
    { name: "fail/no-signature", value: async () => ({ protected: (await binding()).protected, payload: (await binding()).payload }), type: "malformed" },
    { name: "fail/protected-not-json", value: async () => ({ ...(await binding()), protected: b64("nope") }), type: "malformed" },
    { name: "fail/protected-json-null", value: async () => ({ ...(await binding()), protected: b64("null") }), type: "malformed" },
    { name: "fail/alg-ES256", value: async () => ({ ...(await binding()), protected: b64({ alg: "ES256", kid: EAB_KID, url: NEW_ACCOUNT_URL }) }), type: "malformed" },
    { name: "fail/alg-none", value: async () => ({ ...(await binding()), protected: b64({ alg: "none", kid: EAB_KID, url: NEW_ACCOUNT_URL }) }), type: "malformed" },
    { name: "fail/nonce", value: () => binding({ header: { nonce: "abc" } }), type: "malformed" },
    { name: "fail/url-not-newAccount", value: () => binding({ header: { url: KEY_CHANGE_URL } }), type: "unauthorized" },
    { name: "fail/kid-not-a-key-id", value: () => binding({ header: { kid: "not-a-uuid" } }), type: "unauthorized" },
    { name: "fail/payload-another-key", value: () => binding({ payload: other.jwk }), type: "unauthorized" },
    { name: "fail/payload-not-a-key", value: () => binding({ payload: { kty: "EC" } }), type: "unauthorized" },
  ];
  for (const c of cases) {
    it(`${c.name} is ${c.type}`, async () => {
      await assert.rejects(parse(await c.value()), rejectsWith(c.type));
    });
  }

  it("a key object with a MAC key is never accepted for an asymmetric alg, nor an asymmetric key for HS*", async () => {
    const b = await parse(await binding());
    const pub: KeyObject = createPublicKey({ key: account.jwk as import("node:crypto").JsonWebKey, format: "jwk" });
    const { verifyFlattenedJws } = await import("../../../src/ra/acme/inner-jws.js");
    assert.equal(verifyFlattenedJws(b.jws, b.header, pub), false);
  });
});
