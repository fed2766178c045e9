import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { isSigilError } from "../../../src/core/errors.js";
import {
  MasterKeyRing,
  blobKeyRef,
  dataKeyWrapAad,
  generateDataKey,
  masterKeyId,
  openWithDataKey,
  parseMasterKey,
  sealWithDataKey,
} from "../../../src/ca/key-encryption.js";

const isConfig = (e: unknown): boolean => isSigilError(e, "config");

describe("ca/key-encryption", () => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  const secret = Buffer.from("-----BEGIN PRIVATE KEY----- pretend");

  it("round-trips a key under the current master key", () => {
    const ring = MasterKeyRing.fromKeys(k1);
    const blob = ring.encrypt(secret, "ca-1");
    assert.match(blob, /^sgk1\.[0-9a-f]{16}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    assert.equal(blob.split(".")[1], ring.currentKeyId);
    assert.equal(ring.currentKeyId, masterKeyId(k1));
    assert.deepEqual(ring.decrypt(blob, "ca-1"), secret);
  });

  it("uses a fresh IV for every encryption", () => {
    const ring = MasterKeyRing.fromKeys(k1);
    assert.notEqual(ring.encrypt(secret, "a"), ring.encrypt(secret, "a"));
  });

  it("refuses a blob under an unknown master key with a config error", () => {
    const blob = MasterKeyRing.fromKeys(k1).encrypt(secret, "ca-1");
    assert.throws(() => MasterKeyRing.fromKeys(k2).decrypt(blob, "ca-1"), (e: unknown) => isConfig(e) && /master key does not match/.test((e as Error).message));
  });

  it("refuses a blob whose key id matches but whose key is wrong (forged id)", () => {
    const blob = MasterKeyRing.fromKeys(k1).encrypt(secret, "ca-1");
    const ring2 = MasterKeyRing.fromKeys(k2);
    const forged = blob.replace(/^sgk1\.[0-9a-f]{16}/, `sgk1.${ring2.currentKeyId}`);
    assert.throws(() => ring2.decrypt(forged, "ca-1"), (e: unknown) => isConfig(e) && /master key does not match/.test((e as Error).message));
  });

  it("refuses a tampered ciphertext, IV or tag", () => {
    const ring = MasterKeyRing.fromKeys(k1);
    const blob = ring.encrypt(secret, "ca-1");
    const [v, id, iv, ct] = blob.split(".") as [string, string, string, string];
    const flip = (s: string, i: number): string => {
      const b = Buffer.from(s, "base64url");
      b[i % b.length]! ^= 1;
      return b.toString("base64url");
    };
    for (const bad of [
      [v, id, iv, flip(ct, 0)].join("."),
      [v, id, iv, flip(ct, -1 + Buffer.from(ct, "base64url").length)].join("."),
      [v, id, flip(iv, 3), ct].join("."),
      [v, id, iv, ct.slice(0, 10)].join("."),
      "garbage",
      "sgk2." + blob.slice(5),
    ]) {
      assert.throws(() => ring.decrypt(bad, "ca-1"), isConfig, bad);
    }
  });

  it("binds the blob to its row through the aad", () => {
    const ring = MasterKeyRing.fromKeys(k1);
    const blob = ring.encrypt(secret, "ca-1");
    assert.throws(() => ring.decrypt(blob, "ca-2"), isConfig);
  });

  it("decrypts old blobs after rotation and encrypts new ones with the new key", () => {
    const old = MasterKeyRing.fromKeys(k1).encrypt(secret, "ca-1");
    const rotated = MasterKeyRing.fromKeys(k2, [k1]);
    assert.deepEqual(rotated.decrypt(old, "ca-1"), secret);
    assert.equal(rotated.needsRewrap(old), true);
    const fresh = rotated.encrypt(secret, "ca-1");
    assert.equal(fresh.split(".")[1], masterKeyId(k2));
    assert.equal(rotated.needsRewrap(fresh), false);
    assert.throws(() => MasterKeyRing.fromKeys(k1).decrypt(fresh, "ca-1"), isConfig);
  });

  it("refuses master keys that are not 32 bytes", () => {
    assert.throws(() => MasterKeyRing.fromKeys(randomBytes(16)), isConfig);
  });

  describe("parseMasterKey", () => {
    it("accepts 64 hex characters, base64 and base64url", () => {
      const key = Buffer.from("fb".repeat(16) + "ff".repeat(16), "hex");
      assert.deepEqual(parseMasterKey(key.toString("hex"), "V"), key);
      assert.deepEqual(parseMasterKey(key.toString("hex").toUpperCase(), "V"), key);
      assert.deepEqual(parseMasterKey(key.toString("base64"), "V"), key);
      assert.deepEqual(parseMasterKey(key.toString("base64url"), "V"), key);
      assert.deepEqual(parseMasterKey(` ${key.toString("base64")}\n`, "V"), key);
    });

    it("refuses wrong lengths, junk and an all-zero key, naming the variable", () => {
      for (const bad of ["", "abc", "00".repeat(31), randomBytes(31).toString("base64"), "zz".repeat(32), "00".repeat(32)]) {
        assert.throws(
          () => parseMasterKey(bad, "SIGIL_MASTER_KEY"),
          (e: unknown) => isConfig(e) && (e as { field?: string }).field === "SIGIL_MASTER_KEY",
          bad,
        );
      }
    });
  });
});

describe("ca/key-encryption: data keys (sgk2 envelope blobs)", () => {
  const id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
  const key = generateDataKey();
  const secret = Buffer.from("an organization's secret");
  const isInternal = (e: unknown): boolean => isSigilError(e, "internal");

  it("seals into a self-describing sgk2 blob naming the data key, and opens it", () => {
    const blob = sealWithDataKey(id, key, secret, "ca:1");
    assert.match(blob, /^sgk2\.[0-9a-f-]{36}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(blobKeyRef(blob), { format: "sgk2", dataKeyId: id });
    assert.deepEqual(openWithDataKey(blob, key, "ca:1"), secret);
    assert.notEqual(sealWithDataKey(id, key, secret, "ca:1"), blob, "a fresh IV every time");
  });

  it("refuses another row's AAD, another data key, a relabelled key id and a flipped byte", () => {
    const blob = sealWithDataKey(id, key, secret, "ca:1");
    assert.throws(() => openWithDataKey(blob, key, "ca:2"), isInternal);
    assert.throws(() => openWithDataKey(blob, generateDataKey(), "ca:1"), isInternal);
    const relabelled = blob.replace(id, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c");
    assert.throws(() => openWithDataKey(relabelled, key, "ca:1"), isInternal);
    const parts = blob.split(".");
    const ct = Buffer.from(parts[3]!, "base64url");
    ct[0]! ^= 1;
    assert.throws(() => openWithDataKey([...parts.slice(0, 3), ct.toString("base64url")].join("."), key, "ca:1"), isInternal);
    assert.throws(() => openWithDataKey("sgk2.x.y.z", key, "ca:1"), isInternal);
  });

  it("tells which key a blob needs (sgk1: a master key, sgk2: a data key), nothing for anything else", () => {
    const ring = MasterKeyRing.fromKeys(randomBytes(32));
    assert.deepEqual(blobKeyRef(ring.encrypt(secret, "x")), { format: "sgk1", masterKeyId: ring.currentKeyId });
    for (const bad of ["", "sgk3.a.b.c", "sgk1.XYZ.a.b", "plain text", "sgk2.not-a-uuid.a.b"]) assert.equal(blobKeyRef(bad), undefined, bad);
  });

  it("wraps a data key under the master key bound to its id and scope", () => {
    const ring = MasterKeyRing.fromKeys(randomBytes(32));
    const wrapped = ring.encrypt(key, dataKeyWrapAad(id, "org-1"));
    assert.deepEqual(ring.decrypt(wrapped, dataKeyWrapAad(id, "org-1")), key);
    assert.throws(() => ring.decrypt(wrapped, dataKeyWrapAad(id, "org-2")), (e: unknown) => isSigilError(e, "config"));
    assert.throws(() => ring.decrypt(wrapped, dataKeyWrapAad(id, null)), (e: unknown) => isSigilError(e, "config"));
  });

  it("a ring with a new current key still opens what the old ring sealed, and seals with the new key", () => {
    const oldKey = randomBytes(32);
    const next = randomBytes(32);
    const ring = MasterKeyRing.fromKeys(oldKey);
    const rotated = ring.withCurrent(next);
    assert.equal(rotated.currentKeyId, masterKeyId(next));
    assert.ok(rotated.hasKey(masterKeyId(oldKey)) && rotated.hasKey(masterKeyId(next)));
    assert.deepEqual(rotated.decrypt(ring.encrypt(secret, "a"), "a"), secret);
    assert.deepEqual(blobKeyRef(rotated.encrypt(secret, "a")), { format: "sgk1", masterKeyId: masterKeyId(next) });
  });
});
