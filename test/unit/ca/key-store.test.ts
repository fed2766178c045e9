/**
 * The key-store seam (src/ca/key-store.ts): ECDSA r || s to DER (RFC 3279
 * §2.2.3), the database store, the session pool (src/ca/pkcs11-pool.ts),
 * and the PKCS#11 store on a real SoftHSM2 token of the test's own.
 */
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { DatabaseKeyStore, ecdsaRawToDer, keyObjectSigningKey } from "../../../src/ca/key-store.js";
import { SessionPool } from "../../../src/ca/pkcs11-pool.js";
import { isPkcs11Key, Pkcs11KeyStore } from "../../../src/ca/pkcs11.js";
import { isSigilError } from "../../../src/core/errors.js";
import { caKeyStore, NO_PKCS11_MESSAGE } from "../../../src/ra/issuers.js";
import { createTestToken, type TestToken } from "../../helpers/softhsm.js";

describe("key store", () => {
  describe("ecdsaRawToDer (RFC 3279 §2.2.3 Ecdsa-Sig-Value)", () => {
    it("turns node's IEEE P1363 r || s into the DER node verifies, for P-256 and P-384 over many signatures", () => {
      for (const [curve, hash] of [["P-256", "sha256"], ["P-384", "sha384"]] as const) {
        const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
        for (let i = 0; i < 300; i++) {
          const data = Buffer.from(`message ${i}`);
          const raw = sign(hash, data, { key: privateKey, dsaEncoding: "ieee-p1363" });
          const der = ecdsaRawToDer(raw);
          assert.ok(verify(hash, data, { key: publicKey, dsaEncoding: "der" }, der), `${curve} signature ${i}`);
          // and it is exactly what node writes itself (one DER encoding, X.690 §10)
          assert.deepEqual(der, ecdsaRawToDer(raw));
        }
      }
    });

    it("adds 0x00 before a high bit and drops leading zero octets (X.690 §8.3.2)", () => {
      const r = Buffer.alloc(32, 0);
      r[31] = 0x05; // r = 5: one octet
      const s = Buffer.alloc(32, 0xff); // s has the high bit: 33 octets with the 0x00
      const der = ecdsaRawToDer(Buffer.concat([r, s]));
      assert.deepEqual(der.subarray(0, 5), Buffer.from([0x30, 3 + 35, 0x02, 0x01, 0x05]));
      assert.deepEqual(der.subarray(5, 8), Buffer.from([0x02, 0x21, 0x00]));
      assert.equal(der.length, 2 + 3 + 35);
    });

    it("refuses a signature that is not two equal halves", () => {
      assert.throws(() => ecdsaRawToDer(Buffer.alloc(63)), (e: unknown) => isSigilError(e, "internal"));
      assert.throws(() => ecdsaRawToDer(Buffer.alloc(0)), (e: unknown) => isSigilError(e, "internal"));
    });
  });

  describe("DatabaseKeyStore", () => {
    it("generates a key whose PKCS#8 reopens to the same public key and signs verifiably", async () => {
      const store = new DatabaseKeyStore();
      for (const alg of ["p256", "p384", "rsa2048"] as const) {
        const g = await store.generate(alg);
        assert.equal(g.reference, null);
        assert.ok(g.pkcs8);
        const again = store.open({ storage: "database", pkcs8: g.pkcs8 });
        assert.deepEqual(again.spki, g.signingKey.spki);
        assert.equal(again.algorithm, alg);
        const data = Buffer.from("tbs");
        const hash = alg === "p384" ? "sha384" : "sha256";
        assert.ok(verify(hash, data, { key: g.signingKey.publicKey, dsaEncoding: "der" }, again.sign(data)));
      }
    });

    it("refuses to wrap a public key or an unsupported key", () => {
      const { publicKey, privateKey } = generateKeyPairSync("ed25519");
      assert.throws(() => keyObjectSigningKey(publicKey), (e: unknown) => isSigilError(e, "internal"));
      assert.throws(() => keyObjectSigningKey(privateKey), (e: unknown) => isSigilError(e, "badPublicKey"));
    });

    it("caKeyStore: PKCS#11 without a token is FAILED_PRECONDITION", () => {
      assert.throws(
        () => caKeyStore({ database: new DatabaseKeyStore() }, "pkcs11"),
        (e: unknown) => isSigilError(e, "failedPrecondition") && e.message === NO_PKCS11_MESSAGE,
      );
    });
  });

  describe("SessionPool", () => {
    const counting = (max: number, isBroken?: (e: unknown) => boolean) => {
      let opened = 0;
      const closed: number[] = [];
      const pool = new SessionPool<number>({ open: () => ++opened, close: (s) => closed.push(s), max, isBroken });
      return { pool, opened: () => opened, closed };
    };

    it("reuses one session for synchronous users", () => {
      const { pool, opened } = counting(4);
      for (let i = 0; i < 100; i++) pool.withSession((s) => assert.equal(s, 1));
      assert.equal(opened(), 1);
      assert.equal(pool.size, 1);
      assert.equal(pool.inUse, 0);
    });

    it("gives each concurrent asynchronous user its own session and never more than max", async () => {
      const { pool, opened } = counting(3);
      const holding = new Set<number>();
      let peak = 0;
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          pool.withSessionAsync(async (s) => {
            assert.ok(!holding.has(s), `session ${s} is used by two callers at once`);
            holding.add(s);
            peak = Math.max(peak, holding.size);
            await new Promise((r) => setTimeout(r, 5 + (i % 3)));
            holding.delete(s);
          }),
        ),
      );
      assert.equal(peak, 3);
      assert.equal(opened(), 3);
      assert.equal(pool.inUse, 0);
    });

    it("a synchronous user never waits: beyond max it opens a session and closes it again", async () => {
      const { pool, closed } = counting(1);
      let release!: () => void;
      const held = pool.withSessionAsync(() => new Promise<void>((r) => (release = r)));
      await new Promise((r) => setImmediate(r));
      const s = pool.withSession((x) => x);
      assert.equal(s, 2);
      assert.deepEqual(closed, [2]);
      release();
      await held;
      assert.equal(pool.size, 1);
    });

    it("closes a broken session instead of reusing it, and hands a waiter a fresh one", async () => {
      const { pool, closed } = counting(1, (e) => e instanceof Error && e.message === "broken");
      let release!: () => void;
      const first = pool.withSessionAsync(async () => {
        await new Promise<void>((r) => (release = r));
        throw new Error("broken");
      });
      await new Promise((r) => setImmediate(r));
      const second = pool.withSessionAsync(async (s) => s);
      release();
      await assert.rejects(first, /broken/);
      assert.equal(await second, 2);
      assert.deepEqual(closed, [1]);
      // an ordinary error keeps the session
      assert.throws(() => pool.withSession(() => {
        throw new Error("other");
      }), /other/);
      assert.equal(pool.withSession((s) => s), 2);
    });

    it("close() closes idle sessions and refuses new users", async () => {
      const { pool, closed } = counting(2);
      pool.withSession(() => undefined);
      pool.close();
      assert.deepEqual(closed, [1]);
      assert.throws(() => pool.withSession(() => undefined), /closed/);
      await assert.rejects(pool.withSessionAsync(async () => undefined), /closed/);
    });
  });

  describe("Pkcs11KeyStore on SoftHSM2", function () {
    this.timeout(60_000);
    let token: TestToken;
    let store: Pkcs11KeyStore;
    before(() => {
      token = createTestToken("sigil-unit");
      store = Pkcs11KeyStore.open({ module: token.module, tokenLabel: token.label, pin: token.pin });
    });
    after(() => {
      store?.close();
      token?.remove();
    });

    it("generates P-256, P-384 and RSA 2048 keys in the token that sign verifiably (DER ECDSA, PKCS#1 v1.5 SHA-256)", async () => {
      for (const alg of ["p256", "p384", "rsa2048"] as const) {
        const g = await store.generate(alg, `unit-${alg}`);
        assert.equal(g.pkcs8, null);
        assert.match(g.reference!, /^[0-9a-f]{32}$/);
        assert.equal(g.signingKey.storage, "pkcs11");
        assert.equal(g.signingKey.algorithm, alg);
        const data = Buffer.from(`to be signed ${alg}`);
        const hash = alg === "p384" ? "sha384" : "sha256";
        const key = alg.startsWith("rsa") ? g.signingKey.publicKey : { key: g.signingKey.publicKey, dsaEncoding: "der" as const };
        assert.ok(verify(hash, data, key, g.signingKey.sign(data)), `${alg} sync`);
        assert.ok(isPkcs11Key(g.signingKey));
        assert.ok(verify(hash, data, key, await g.signingKey.signAsync(data)), `${alg} async`);
      }
    });

    it("creates private keys sensitive, non-extractable, persistent and for signing only (PKCS#11 v2.40 §4.9)", async () => {
      const g = await store.generate("p256", "unit-attributes");
      const p = store.token.p;
      const attrs = store.token.run((lib, s) => {
        lib.C_FindObjectsInit(s, [
          { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
          { type: p.CKA_ID, value: Buffer.from(g.reference!, "hex") },
        ]);
        const [h] = lib.C_FindObjects(s, 1);
        lib.C_FindObjectsFinal(s);
        return lib.C_GetAttributeValue(s, h!, [
          { type: p.CKA_SENSITIVE },
          { type: p.CKA_EXTRACTABLE },
          { type: p.CKA_TOKEN },
          { type: p.CKA_SIGN },
          { type: p.CKA_DECRYPT },
          { type: p.CKA_NEVER_EXTRACTABLE },
          { type: p.CKA_LABEL },
        ]);
      });
      const bool = (i: number) => attrs[i]!.value[0] === 1;
      assert.deepEqual([bool(0), bool(1), bool(2), bool(3), bool(4), bool(5)], [true, false, true, true, false, true]);
      assert.equal(attrs[6]!.value.toString(), "unit-attributes");
      // the value itself cannot be read (CKR_ATTRIBUTE_SENSITIVE)
      assert.throws(
        () =>
          store.token.run((lib, s) => {
            lib.C_FindObjectsInit(s, [{ type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY }, { type: p.CKA_ID, value: Buffer.from(g.reference!, "hex") }]);
            const [h] = lib.C_FindObjects(s, 1);
            lib.C_FindObjectsFinal(s);
            return lib.C_GetAttributeValue(s, h!, [{ type: p.CKA_VALUE }]);
          }),
        /CKR_ATTRIBUTE_SENSITIVE/,
      );
    });

    it("after closing and reopening the library (a restart) finds a key by its reference and signs with it", async () => {
      const g = await store.generate("p256", "unit-restart");
      store.close();
      store = Pkcs11KeyStore.open({ module: token.module, tokenLabel: token.label, pin: token.pin });
      const key = store.open({ storage: "pkcs11", reference: g.reference! });
      assert.deepEqual(key.spki, g.signingKey.spki);
      const data = Buffer.from("after restart");
      assert.ok(verify("sha256", data, { key: key.publicKey, dsaEncoding: "der" }, key.sign(data)));
    });

    it("imports an existing key (EC and RSA) non-extractable; discard removes a pair", () => {
      for (const k of [generateKeyPairSync("ec", { namedCurve: "P-256" }), generateKeyPairSync("rsa", { modulusLength: 2048 })]) {
        const g = store.importKey(k.privateKey, "unit-import");
        assert.deepEqual(g.signingKey.spki, createPublicKey(k.privateKey).export({ type: "spki", format: "der" }));
        const data = Buffer.from("imported");
        const key = k.privateKey.asymmetricKeyType === "rsa" ? k.publicKey : { key: k.publicKey, dsaEncoding: "der" as const };
        assert.ok(verify("sha256", data, key, g.signingKey.sign(data)));
        store.discard(g);
        assert.throws(() => new Pkcs11KeyStore(store.token).open({ storage: "pkcs11", reference: g.reference! }), (e: unknown) => isSigilError(e, "failedPrecondition"));
      }
    });

    it("a reference the token does not hold is FAILED_PRECONDITION", () => {
      assert.throws(() => store.open({ storage: "pkcs11", reference: "00".repeat(16) }), (e: unknown) => isSigilError(e, "failedPrecondition") && /no private key/.test(e.message));
    });

    it("a wrong PIN or token label stops start-up naming the variable", () => {
      // the login is the application's (PKCS#11 v2.40 §5.6): a PIN is only tried on a library nobody is logged in to
      store.close();
      assert.throws(
        () => Pkcs11KeyStore.open({ module: token.module, tokenLabel: token.label, pin: "wrong-pin" }),
        (e: unknown) => isSigilError(e, "config") && /SIGIL_PKCS11_PIN/.test(e.message) && /CKR_PIN_INCORRECT/.test(e.message) && !e.message.includes("wrong-pin"),
      );
      assert.throws(
        () => Pkcs11KeyStore.open({ module: token.module, tokenLabel: "no-such-token", pin: token.pin }),
        (e: unknown) => isSigilError(e, "config") && /SIGIL_PKCS11_TOKEN_LABEL/.test(e.message) && /sigil-unit/.test(e.message),
      );
      assert.throws(
        () => Pkcs11KeyStore.open({ module: "/nonexistent/libpkcs11.so", tokenLabel: token.label, pin: token.pin }),
        (e: unknown) => isSigilError(e, "config") && /SIGIL_PKCS11_MODULE/.test(e.message),
      );
      // the right PIN still works after the failed logins
      store = Pkcs11KeyStore.open({ module: token.module, tokenLabel: token.label, pin: token.pin });
      const data = Buffer.from("still logged in");
      return store.generate("p256", "unit-after").then((g) => assert.ok(verify("sha256", data, { key: g.signingKey.publicKey, dsaEncoding: "der" }, g.signingKey.sign(data))));
    });
  });
});
