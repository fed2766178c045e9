/**
 * Private key import: the iteration count of an encrypted PKCS#8 is capped
 * before anything is decrypted, and the decryption of an allowed one runs
 * off the event loop.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { derInteger, derOctetString, derOid, seq, toPem } from "../../../src/ca/der.js";
import { encryptedKeyIterations, importPrivateKeyPem, KeyImportError, MAX_KEY_IMPORT_ITERATIONS } from "../../../src/ca/private-key-import.js";

/** an EncryptedPrivateKeyInfo (RFC 5958 §3) with PBES2/PBKDF2/AES-256-CBC naming `iterations`; the ciphertext is random */
function pbes2Info(iterations: number): Buffer {
  const kdf = seq(derOid("1.2.840.113549.1.5.12"), seq(derOctetString(randomBytes(16)), derInteger(iterations), seq(derOid("1.2.840.113549.2.9"))));
  const enc = seq(derOid("2.16.840.1.101.3.4.1.42"), derOctetString(randomBytes(16)));
  return seq(seq(derOid("1.2.840.113549.1.5.13"), seq(kdf, enc)), derOctetString(randomBytes(144)));
}

function opensslPkcs8(keyPem: string, iterations: number, password: string): string {
  return execFileSync("openssl", ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-iter", String(iterations), "-passout", `pass:${password}`], {
    input: keyPem,
  }).toString();
}

async function rejectsWithReason(p: Promise<unknown>, reason: KeyImportError["reason"]): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof KeyImportError && e.reason === reason);
}

describe("ca/private-key-import", function () {
  this.timeout(60_000);
  const keyPem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();

  it("reads the PBKDF2 iteration count of an encrypted PKCS#8", () => {
    assert.equal(encryptedKeyIterations(pbes2Info(2048)), 2048);
    assert.equal(encryptedKeyIterations(pbes2Info(40_000_000)), 40_000_000);
  });

  it("refuses an encrypted PKCS#8 over the iteration cap at once, without decrypting it", async () => {
    const pem = toPem(pbes2Info(40_000_000), "ENCRYPTED PRIVATE KEY");
    const started = Date.now();
    await rejectsWithReason(importPrivateKeyPem(pem, "pw"), "iterations");
    assert.ok(Date.now() - started < 500, "refused before any key derivation");
    await rejectsWithReason(importPrivateKeyPem(toPem(pbes2Info(MAX_KEY_IMPORT_ITERATIONS + 1), "ENCRYPTED PRIVATE KEY"), "pw"), "iterations");
  });

  it("decrypts an allowed encrypted PKCS#8, and names the password when it is wrong or missing", async () => {
    const pem = opensslPkcs8(keyPem, 2048, "import-pass");
    const key = await importPrivateKeyPem(pem, "import-pass");
    assert.equal(key.type, "private");
    assert.equal(key.export({ type: "pkcs8", format: "pem" }).toString(), keyPem);
    await rejectsWithReason(importPrivateKeyPem(pem, "wrong"), "password");
    await rejectsWithReason(importPrivateKeyPem(pem, undefined), "password");
  });

  it("keeps the event loop responsive while a 2,000,000-iteration key is decrypted", async () => {
    const pem = opensslPkcs8(keyPem, 2_000_000, "slow-pass");
    let last = Date.now();
    let maxLag = 0;
    const timer = setInterval(() => {
      const now = Date.now();
      maxLag = Math.max(maxLag, now - last);
      last = now;
    }, 20);
    try {
      await new Promise((r) => setTimeout(r, 50));
      const key = await importPrivateKeyPem(pem, "slow-pass");
      // the gap since the timer last ran, too (a synchronous decryption would leave it no chance to run at all)
      maxLag = Math.max(maxLag, Date.now() - last);
      assert.equal(key.export({ type: "pkcs8", format: "pem" }).toString(), keyPem);
    } finally {
      clearInterval(timer);
    }
    assert.ok(maxLag < 200, `the event loop stalled for ${maxLag} ms`);
  });

  it("imports unencrypted PKCS#8 and refuses what is not a key", async () => {
    assert.equal((await importPrivateKeyPem(keyPem, undefined)).type, "private");
    await rejectsWithReason(importPrivateKeyPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", undefined), "format");
    await rejectsWithReason(importPrivateKeyPem(toPem(Buffer.from("3003020101", "hex"), "ENCRYPTED PRIVATE KEY"), "pw"), "format");
  });
});
