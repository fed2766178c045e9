import assert from "node:assert/strict";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { privateKeyPkcs8Der } from "../../../src/ca/ec-pkcs8.js";

describe("privateKeyPkcs8Der", () => {
  for (const namedCurve of ["P-256", "P-384"]) {
    it(`writes ${namedCurve} keys byte for byte as OpenSSL's PKCS#8 export, and they import back to the same key`, () => {
      // 300 keys: some have a d, x or y with leading zero octets (1 in 256 each), which must stay full length
      for (let i = 0; i < 300; i++) {
        const { privateKey } = generateKeyPairSync("ec", { namedCurve });
        const der = privateKeyPkcs8Der(privateKey);
        assert.deepEqual(der, privateKey.export({ type: "pkcs8", format: "der" }));
        const back = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
        assert.deepEqual(back.export({ format: "jwk" }), privateKey.export({ format: "jwk" }));
      }
    });
  }

  it("falls back to OpenSSL's export for other keys (RSA, Ed25519, P-521)", () => {
    for (const { privateKey } of [
      generateKeyPairSync("rsa", { modulusLength: 2048 }),
      generateKeyPairSync("ed25519"),
      generateKeyPairSync("ec", { namedCurve: "P-521" }),
    ]) {
      assert.deepEqual(privateKeyPkcs8Der(privateKey), privateKey.export({ type: "pkcs8", format: "der" }));
    }
  });

  it("refuses a public key as exportPrivateKeyPkcs8 does", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    assert.throws(() => privateKeyPkcs8Der(publicKey), /not a private key/);
  });
});
