/**
 * The CSR key import (src/ca/keys.ts importSpki, src/ca/ec-point-import.ts):
 * EC points through OpenSSL's raw point decoder, and every check that route
 * must keep (SEC 1 §2.3.4; SP 800-56A Rev. 3 §5.6.2.3.4).
 */
import assert from "node:assert/strict";
import { createPublicKey, ECDH, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { isSigilError } from "../../../src/core/errors.js";
import { createCsr, CSR_MESSAGES, parseCsr } from "../../../src/ca/csr.js";
import { ctxCons, derBitString, derOid, seq } from "../../../src/ca/der.js";
import { rawEcPointImportAvailable } from "../../../src/ca/ec-point-import.js";
import { importEcPointJwk, importSpki, inspectSpki, keyAlgorithmOf, spkiOf } from "../../../src/ca/keys.js";

const OID_EC = "1.2.840.10045.2.1";
const CURVES = {
  "P-256": { oid: "1.2.840.10045.3.1.7", size: 32, sigOid: "1.2.840.10045.4.3.2", hash: "sha256" },
  "P-384": { oid: "1.3.132.0.34", size: 48, sigOid: "1.2.840.10045.4.3.3", hash: "sha384" },
  "P-521": { oid: "1.3.132.0.35", size: 66, sigOid: "1.2.840.10045.4.3.4", hash: "sha512" },
} as const;
type Curve = keyof typeof CURVES;

// SEC 2 §2.4.2 / §2.5.1: y² = x³ − 3x + b over GF(p)
const FIELD = {
  "P-256": {
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  "P-384": {
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
} as const;

function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let r = 1n;
  let b = ((base % m) + m) % m;
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
  }
  return r;
}
const rhs = (c: keyof typeof FIELD, x: bigint): bigint => {
  const { p, b } = FIELD[c];
  return (((x * x * x - 3n * x + b) % p) + p) % p;
};
const onCurve = (c: keyof typeof FIELD, x: bigint, y: bigint): boolean => (y * y) % FIELD[c].p === rhs(c, x);
const toBig = (b: Buffer): bigint => BigInt("0x" + b.toString("hex"));
const toBytes = (v: bigint, size: number): Buffer => Buffer.from(v.toString(16).padStart(2 * size, "0"), "hex");

const ecSpki = (curve: Curve, point: Buffer): Buffer => seq(seq(derOid(OID_EC), derOid(CURVES[curve].oid)), derBitString(point));
const pointOf = (key: KeyObject): Buffer => inspectSpki(spkiOf(key)).publicKeyBits;

/** a PKCS#10 request carrying `spki`, signed by `signer` (RFC 2986 §4) */
function csrWith(spki: Buffer, signer: KeyObject, curve: Curve): Buffer {
  const cri = seq(Buffer.from([0x02, 0x01, 0x00]), seq(), spki, ctxCons(0));
  const signature = sign(CURVES[curve].hash, cri, { key: signer, dsaEncoding: "der" });
  return seq(cri, seq(derOid(CURVES[curve].sigOid)), derBitString(signature));
}

const refusedKey = (e: unknown): boolean => isSigilError(e, "badCsr") && (e as Error).message === CSR_MESSAGES.badPublicKey;
const refusedSignature = (e: unknown): boolean => isSigilError(e, "badCsr") && (e as Error).message === CSR_MESSAGES.badSignature;

describe("ca/keys importSpki: EC points", () => {
  it("takes the raw point route on this Node (else the JWK fallback is in use and the signer is slower)", () => {
    assert.equal(rawEcPointImportAvailable(), true);
  });

  for (const curve of Object.keys(CURVES) as Curve[]) {
    it(`imports an uncompressed ${curve} point as the same key OpenSSL's DER decoder reads`, () => {
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
      const spki = spkiOf(publicKey);
      const imported = importSpki(spki);
      assert.equal(imported.type, "public");
      assert.ok(imported.equals(createPublicKey({ key: spki, format: "der", type: "spki" })));
      assert.deepEqual(imported.export({ type: "spki", format: "der" }), spki);
    });
  }

  for (const curve of ["P-256", "P-384"] as const) {
    it(`decodes a compressed ${curve} point (02/03) to the same key, and a CSR carrying it verifies`, () => {
      const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: curve });
      const compressed = ECDH.convertKey(pointOf(publicKey), curve === "P-256" ? "prime256v1" : "secp384r1", undefined, undefined, "compressed") as Buffer;
      assert.equal(compressed.length, 1 + CURVES[curve].size);
      assert.ok(compressed[0] === 2 || compressed[0] === 3);
      const spki = ecSpki(curve, compressed);
      assert.ok(importSpki(spki).equals(publicKey));

      const csr = parseCsr(csrWith(spki, privateKey, curve));
      assert.ok(csr.publicKey.equals(publicKey));
      // the key-reuse check compares JWK members (src/policy/key-reuse.ts): one key, one identity
      assert.deepEqual(csr.publicKey.export({ format: "jwk" }), publicKey.export({ format: "jwk" }));
      assert.deepEqual(csr.publicKeySpki, spki, "the SPKI is kept exactly as in the CSR");
      assert.equal(keyAlgorithmOf(csr.publicKey), curve === "P-256" ? "p256" : "p384");
    });
  }

  it("refuses a compressed X that has no square root (no point on the curve)", () => {
    const { p } = FIELD["P-256"];
    let x = 1n;
    while (modPow(rhs("P-256", x), (p - 1n) / 2n, p) !== p - 1n) x++; // Euler's criterion: a non-residue
    const spki = ecSpki("P-256", Buffer.concat([Buffer.from([2]), toBytes(x, 32)]));
    assert.throws(() => importSpki(spki), /not a valid point of the curve/);
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    assert.throws(() => parseCsr(csrWith(spki, privateKey, "P-256")), refusedKey);
  });

  for (const curve of ["P-256", "P-384"] as const) {
    it(`refuses an uncompressed ${curve} point off the curve, with badCsr before any signature check`, () => {
      const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: curve });
      const size = CURVES[curve].size;
      const point = Buffer.from(pointOf(publicKey));
      const x = toBig(point.subarray(1, 1 + size));
      assert.ok(onCurve(curve, x, toBig(point.subarray(1 + size))), "the test's curve constants hold for a real key");
      const y = (toBig(point.subarray(1 + size)) + 1n) % FIELD[curve].p;
      toBytes(y, size).copy(point, 1 + size);
      assert.equal(onCurve(curve, x, y), false);
      const spki = ecSpki(curve, point);
      assert.throws(() => importSpki(spki), /not a valid point of the curve/);
      assert.throws(() => parseCsr(csrWith(spki, privateKey, curve)), refusedKey);
    });
  }

  it("refuses a coordinate that is not below the field prime (x + p for an on-curve x)", () => {
    const { p } = FIELD["P-256"];
    let x = 1n;
    while (modPow(rhs("P-256", x), (p - 1n) / 2n, p) !== 1n) x++; // a residue: (x, y) is on the curve
    const y = modPow(rhs("P-256", x), (p + 1n) / 4n, p); // p ≡ 3 (mod 4)
    assert.ok(onCurve("P-256", x, y));
    const canonical = Buffer.concat([Buffer.from([4]), toBytes(x, 32), toBytes(y, 32)]);
    assert.equal(importSpki(ecSpki("P-256", canonical)).asymmetricKeyType, "ec", "the canonical encoding is accepted");
    const aliased = Buffer.concat([Buffer.from([4]), toBytes(x + p, 32), toBytes(y, 32)]);
    assert.throws(() => importSpki(ecSpki("P-256", aliased)), /not a valid point of the curve/);
  });

  it("refuses the point at infinity, the hybrid form and points of the wrong length, with badCsr", () => {
    const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const point = pointOf(publicKey);
    const hybrid = Buffer.from(point);
    hybrid[0] = 6 + (point[64]! & 1); // X9.62 hybrid: RFC 5480 §2.2 says MUST NOT be used
    const cases: Record<string, Buffer> = {
      infinity: Buffer.from([0]),
      hybrid,
      "uncompressed, one octet short": point.subarray(0, 64),
      "uncompressed, one octet long": Buffer.concat([point, Buffer.from([1])]),
      "compressed prefix on an uncompressed point": Buffer.concat([Buffer.from([2]), point.subarray(1)]),
      "uncompressed prefix on a compressed point": Buffer.concat([Buffer.from([4]), point.subarray(1, 33)]),
      "P-384 length on P-256": Buffer.concat([point, Buffer.alloc(32, 1)]),
    };
    for (const [name, p] of Object.entries(cases)) {
      const spki = ecSpki("P-256", p);
      assert.throws(() => importSpki(spki), /not a SEC 1 point/, name);
      assert.throws(() => parseCsr(csrWith(spki, privateKey, "P-256")), refusedKey, name);
    }
  });

  it("refuses a CSR signed by another key than the one it carries (badSignature), P-256 and P-384", () => {
    for (const curve of ["P-256", "P-384"] as const) {
      const carried = generateKeyPairSync("ec", { namedCurve: curve });
      const other = generateKeyPairSync("ec", { namedCurve: curve });
      const spki = spkiOf(carried.publicKey);
      assert.throws(() => parseCsr(csrWith(spki, other.privateKey, curve)), refusedSignature, curve);
      assert.ok(parseCsr(csrWith(spki, carried.privateKey, curve)).publicKey.equals(carried.publicKey), curve);
    }
  });

  it("still reads P-384 and RSA CSRs made by createCsr", () => {
    const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const a = parseCsr(createCsr({ privateKey: p384.privateKey, commonName: "a.example", dnsNames: ["a.example"] }).der);
    assert.equal(keyAlgorithmOf(a.publicKey), "p384");
    assert.equal(a.signatureAlgorithm, "1.2.840.10045.4.3.3");
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 0x10001 });
    const b = parseCsr(createCsr({ privateKey: rsa.privateKey, dnsNames: ["b.example"] }).der);
    assert.equal(keyAlgorithmOf(b.publicKey), "rsa2048");
    assert.ok(b.publicKey.equals(rsa.publicKey));
  });

  it("leaves OpenSSL's error queue clean after a refusal: the next import, verify and DER decode succeed", () => {
    const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const bad = Buffer.from(pointOf(publicKey));
    bad[64]! ^= 1;
    assert.throws(() => importSpki(ecSpki("P-256", bad)), /not a valid point of the curve/);
    const key = importSpki(spkiOf(publicKey));
    const data = Buffer.from("after a refusal");
    assert.equal(verify("sha256", data, key, sign("sha256", data, privateKey)), true);
    assert.ok(createPublicKey({ key: spkiOf(publicKey), format: "der", type: "spki" }).equals(publicKey));
  });

  it("the JWK fallback (for a Node without the raw route) reads the same keys and refuses off-curve points", () => {
    for (const curve of ["P-256", "P-384"] as const) {
      const { publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
      const point = pointOf(publicKey);
      assert.ok(importEcPointJwk(curve, CURVES[curve].size, point).equals(publicKey), curve);
      const bad = Buffer.from(point);
      bad[bad.length - 1]! ^= 1;
      assert.throws(() => importEcPointJwk(curve, CURVES[curve].size, bad), curve);
    }
  });
});
