/**
 * verifySignature with node:crypto for every accepted alg (RFC 7518 §3.1,
 * RFC 8037): good signatures verify, a changed payload does not, and an
 * unknown `crit` extension is refused.
 */
import assert from "node:assert/strict";
import { exportJWK, FlattenedSign, generateKeyPair } from "jose";
import type { Context } from "koa";
import { lookupKey, verifySignature, type JwsDeps } from "../../../src/acme/jws.js";
import { AcmeError } from "../../../src/ra/acme/errors.js";

async function run(mw: (ctx: Context, next: () => Promise<void>) => Promise<void>, ctx: Context): Promise<string> {
  let called = false;
  try {
    await mw(ctx, async () => {
      called = true;
    });
  } catch (e) {
    if (!(e instanceof AcmeError)) throw e;
    return e.acmeType;
  }
  return called ? "ok" : "next() not called";
}

const ctxOf = (jws: object, header: object) => ({ state: { acme: { dir: { id: "d", name: "d" }, jws, header } } }) as unknown as Context;
const deps = {} as JwsDeps;

describe("acme/jws verifySignature (node:crypto) by alg", () => {
  const algs: Array<[string, Record<string, unknown>]> = [
    ["ES256", {}],
    ["ES384", {}],
    ["ES512", {}],
    ["EdDSA", { crv: "Ed25519" }],
    ["RS256", { modulusLength: 2048 }],
  ];
  for (const [alg, opts] of algs) {
    it(`ok/${alg} verifies; fail/${alg} with a changed payload or an unknown crit`, async () => {
      const k = await generateKeyPair(alg, { ...opts, extractable: true });
      const header = { alg, nonce: "n", url: "https://acme.test/x", jwk: await exportJWK(k.publicKey) };
      const jws = await new FlattenedSign(new TextEncoder().encode('{"a":1}')).setProtectedHeader(header).sign(k.privateKey);
      const good = ctxOf(jws, header);
      assert.equal(await run(lookupKey(deps, "jwk"), good), "ok");
      assert.equal(await run(verifySignature(), good), "ok");
      const changed = ctxOf({ ...jws, payload: Buffer.from('{"a":2}').toString("base64url") }, header);
      assert.equal(await run(lookupKey(deps, "jwk"), changed), "ok");
      assert.equal(await run(verifySignature(), changed), "malformed");
      const crit = ctxOf(jws, { ...header, crit: ["exp"] });
      assert.equal(await run(lookupKey(deps, "jwk"), crit), "ok");
      assert.equal(await run(verifySignature(), crit), "malformed");
    });
  }

  it("fail/an ES256 jwk used with ES384 is badPublicKey", async () => {
    const k = await generateKeyPair("ES256", { extractable: true });
    const header = { alg: "ES384", nonce: "n", url: "https://acme.test/x", jwk: await exportJWK(k.publicKey) };
    assert.equal(await run(lookupKey(deps, "jwk"), ctxOf({ protected: "", payload: "", signature: "" }, header)), "badPublicKey");
  });
});
