/**
 * Key pairs for CAs and leaves, PKCS#8 import/export, and the leaf key policy.
 * Keys are node:crypto KeyObjects throughout.
 */
import { createPrivateKey, createPublicKey, generateKeyPair as generateKeyPairCb, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { SigilError } from "../core/errors.js";
import type { KeyAlgorithm } from "../core/types.js";
import { children, DerError, expectNode, readOid, TAG, toPem, valueOf } from "./der.js";
import { importEcPointRaw } from "./ec-point-import.js";

const generateKeyPairAsync = promisify(generateKeyPairCb);

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  algorithm: KeyAlgorithm;
}

export const OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"; // RFC 8017 Appendix C
export const OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"; // RFC 5480 §2.1.1
export const OID_P256 = "1.2.840.10045.3.1.7"; // RFC 5480 §2.1.1.1 secp256r1
export const OID_P384 = "1.3.132.0.34"; // RFC 5480 §2.1.1.1 secp384r1

/** Generates a key pair. RSA keys use the public exponent 65537. */
export async function generateKeyPair(alg: KeyAlgorithm): Promise<KeyPair> {
  switch (alg) {
    case "p256":
    case "p384": {
      const { privateKey, publicKey } = await generateKeyPairAsync("ec", {
        namedCurve: alg === "p256" ? "P-256" : "P-384",
      });
      return { privateKey, publicKey, algorithm: alg };
    }
    case "rsa2048":
    case "rsa3072":
    case "rsa4096": {
      const modulusLength = Number(alg.slice(3));
      const { privateKey, publicKey } = await generateKeyPairAsync("rsa", { modulusLength, publicExponent: 0x10001 });
      return { privateKey, publicKey, algorithm: alg };
    }
    default: {
      const never: never = alg;
      throw SigilError.invalidArgument(`unknown key algorithm ${String(never)}`, "keyAlgorithm");
    }
  }
}

/** PKCS#8 (RFC 5208) DER of a private key */
export function exportPrivateKeyPkcs8(key: KeyObject): Buffer {
  if (key.type !== "private") throw SigilError.invalidArgument("not a private key", "privateKey");
  return key.export({ type: "pkcs8", format: "der" });
}

export function importPrivateKeyPkcs8(der: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } catch (e) {
    throw new SigilError("invalidArgument", "not a valid PKCS#8 private key", { field: "privateKey", cause: e });
  }
}

/** "-----BEGIN PRIVATE KEY-----" PEM (RFC 7468 §10) */
export function privateKeyToPem(key: KeyObject): string {
  return toPem(exportPrivateKeyPkcs8(key), "PRIVATE KEY");
}

/** SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7) of a public key, or of a private key's public half */
export function spkiOf(key: KeyObject): Buffer {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return pub.export({ type: "spki", format: "der" });
}

/** What a SubjectPublicKeyInfo holds, read straight from its DER. */
export interface SpkiInfo {
  kind: "rsa" | "ec" | "other";
  /** RSA modulus bits */
  rsaBits?: number;
  /** RSA public exponent, as a bigint */
  rsaExponent?: bigint;
  /** EC named curve OID */
  curveOid?: string;
  /** dotted OID of the SPKI's algorithm */
  algorithmOid: string;
  /** the subjectPublicKey BIT STRING's bits (after the unused-bits octet) */
  publicKeyBits: Buffer;
  /** our name for the algorithm, when it is one of ours */
  algorithm?: KeyAlgorithm;
}

/**
 * Parses a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7):
 *   SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
 * Throws DerError when the bytes are not a well-formed SPKI.
 */
export function inspectSpki(spki: Buffer): SpkiInfo {
  const outer = expectNode(spki, 0, TAG.SEQUENCE, spki.length, "SubjectPublicKeyInfo");
  if (outer.end !== spki.length) throw new DerError("trailing data after SubjectPublicKeyInfo");
  const algId = expectNode(spki, outer.valueStart, TAG.SEQUENCE, outer.end, "AlgorithmIdentifier");
  const bits = expectNode(spki, algId.end, TAG.BIT_STRING, outer.end, "subjectPublicKey");
  if (bits.end !== outer.end) throw new DerError("trailing data in SubjectPublicKeyInfo");
  if (bits.end - bits.valueStart < 2 || spki[bits.valueStart] !== 0) throw new DerError("malformed subjectPublicKey");
  const publicKeyBits = spki.subarray(bits.valueStart + 1, bits.end);
  const algNodes = children(spki, algId);
  if (algNodes.length === 0) throw new DerError("empty AlgorithmIdentifier");
  const algorithmOid = readOid(spki, algNodes[0]!);
  const params = algNodes[1];

  if (algorithmOid === OID_EC_PUBLIC_KEY) {
    // RFC 5480 §2.1.1: parameters is a namedCurve OID for us (implicit/specified curves refused)
    if (!params || params.tag !== TAG.OID) return { kind: "ec", algorithmOid, publicKeyBits };
    const curveOid = readOid(spki, params);
    const algorithm = curveOid === OID_P256 ? "p256" : curveOid === OID_P384 ? "p384" : undefined;
    return { kind: "ec", curveOid, algorithmOid, publicKeyBits, algorithm };
  }
  if (algorithmOid === OID_RSA_ENCRYPTION) {
    // RFC 8017 Appendix A.1.1: RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
    const rsa = expectNode(publicKeyBits, 0, TAG.SEQUENCE, publicKeyBits.length, "RSAPublicKey");
    const n = expectNode(publicKeyBits, rsa.valueStart, TAG.INTEGER, rsa.end, "modulus");
    const e = expectNode(publicKeyBits, n.end, TAG.INTEGER, rsa.end, "publicExponent");
    const nv = valueOf(publicKeyBits, n);
    let i = 0;
    while (i < nv.length && nv[i] === 0) i++;
    const rsaBits = i >= nv.length ? 0 : (nv.length - i - 1) * 8 + (32 - Math.clz32(nv[i]!));
    const ev = valueOf(publicKeyBits, e);
    const rsaExponent = ev.length === 0 ? 0n : BigInt("0x" + ev.toString("hex"));
    const algorithm: KeyAlgorithm | undefined =
      rsaBits === 2048 ? "rsa2048" : rsaBits === 3072 ? "rsa3072" : rsaBits === 4096 ? "rsa4096" : undefined;
    return { kind: "rsa", rsaBits, rsaExponent, algorithmOid, publicKeyBits, algorithm };
  }
  return { kind: "other", algorithmOid, publicKeyBits };
}

/** our KeyAlgorithm for a key (public or private), or undefined when it is not one of ours */
export function keyAlgorithmOf(publicKey: KeyObject): KeyAlgorithm | undefined {
  const d = publicKey.asymmetricKeyDetails;
  switch (publicKey.asymmetricKeyType) {
    case "ec":
      return d?.namedCurve === "prime256v1" ? "p256" : d?.namedCurve === "secp384r1" ? "p384" : undefined;
    case "rsa": {
      const bits = d?.modulusLength;
      return bits === 2048 ? "rsa2048" : bits === 3072 ? "rsa3072" : bits === 4096 ? "rsa4096" : undefined;
    }
    default:
      return undefined;
  }
}

export const LEAF_RSA_MIN_BITS = 2048;
export const LEAF_RSA_MAX_BITS = 8192;
export const KEY_POLICY_MESSAGES = {
  rsaTooSmall: (bits: number) => `RSA key is ${bits} bits; at least ${LEAF_RSA_MIN_BITS} bits are required`,
  rsaTooLarge: (bits: number) => `RSA key is ${bits} bits; at most ${LEAF_RSA_MAX_BITS} bits are accepted`,
  rsaExponent: "RSA public exponent must be 65537",
  ecCurve: (curve: string) => `EC curve ${curve} is not accepted; use P-256 or P-384`,
  ecPoint: "EC public key point is malformed",
  keyType: (t: string) => `key type ${t} is not accepted; use RSA (2048-8192 bits), P-256 or P-384`,
  malformed: "public key is malformed",
} as const;

const CURVE_NAMES: Record<string, string> = {
  "1.3.132.0.35": "P-521",
  "1.3.132.0.10": "secp256k1",
  "1.2.840.10045.3.1.1": "P-192",
  "1.3.132.0.33": "P-224",
};
const KEY_TYPE_NAMES: Record<string, string> = {
  "1.3.101.112": "Ed25519",
  "1.3.101.113": "Ed448",
  "1.2.840.113549.1.1.10": "RSASSA-PSS",
  "1.2.840.10040.4.1": "DSA",
};

/**
 * Leaf key policy on SPKI DER (fast: no KeyObject needed). Accepts RSA
 * 2048..8192 bits with e = 65537 and EC P-256 / P-384 (RFC 5480 named curves,
 * point of the right size). Throws SigilError.badPublicKey otherwise; returns
 * the parsed SPKI on success.
 */
export function checkLeafKeyPolicySpki(spki: Buffer): SpkiInfo {
  let info: SpkiInfo;
  try {
    info = inspectSpki(spki);
  } catch {
    throw SigilError.badPublicKey(KEY_POLICY_MESSAGES.malformed);
  }
  switch (info.kind) {
    case "rsa": {
      const bits = info.rsaBits ?? 0;
      if (bits < LEAF_RSA_MIN_BITS) throw SigilError.badPublicKey(KEY_POLICY_MESSAGES.rsaTooSmall(bits));
      if (bits > LEAF_RSA_MAX_BITS) throw SigilError.badPublicKey(KEY_POLICY_MESSAGES.rsaTooLarge(bits));
      if (info.rsaExponent !== 65537n) throw SigilError.badPublicKey(KEY_POLICY_MESSAGES.rsaExponent);
      return info;
    }
    case "ec": {
      if (info.algorithm === undefined) {
        const c = info.curveOid ? (CURVE_NAMES[info.curveOid] ?? info.curveOid) : "with explicit parameters";
        throw SigilError.badPublicKey(KEY_POLICY_MESSAGES.ecCurve(c));
      }
      // SEC 1 §2.3.3: uncompressed 04||X||Y or compressed 02/03||X
      const size = info.algorithm === "p256" ? 32 : 48;
      const p = info.publicKeyBits;
      const ok = (p[0] === 4 && p.length === 1 + 2 * size) || ((p[0] === 2 || p[0] === 3) && p.length === 1 + size);
      if (!ok) throw SigilError.badPublicKey(KEY_POLICY_MESSAGES.ecPoint);
      return info;
    }
    case "other":
      throw SigilError.badPublicKey(KEY_POLICY_MESSAGES.keyType(KEY_TYPE_NAMES[info.algorithmOid] ?? info.algorithmOid));
  }
}

/** Leaf key policy on a KeyObject; see checkLeafKeyPolicySpki. */
export function checkLeafKeyPolicy(publicKey: KeyObject): void {
  const t = publicKey.asymmetricKeyType;
  if (t !== "rsa" && t !== "ec") throw SigilError.badPublicKey(KEY_POLICY_MESSAGES.keyType(t ?? publicKey.type));
  checkLeafKeyPolicySpki(spkiOf(publicKey));
}

const EC_CURVES: Record<string, { crv: string; openssl: string; size: number }> = {
  [OID_P256]: { crv: "P-256", openssl: "prime256v1", size: 32 },
  [OID_P384]: { crv: "P-384", openssl: "secp384r1", size: 48 },
  "1.3.132.0.35": { crv: "P-521", openssl: "secp521r1", size: 66 },
};

/**
 * A public KeyObject from SPKI DER. This is on the finalize hot path, once per
 * CSR with a key never seen before, so the import route matters:
 *
 * - EC points of a named P-curve in the SEC 1 §2.3.3 uncompressed (04||X||Y)
 *   or compressed (02/03||X) form of the curve's size go through OpenSSL's
 *   raw point decoder (see ec-point-import.ts), ~3x cheaper than JWK;
 *   where that is unavailable, uncompressed points go through JWK.
 * - RSA keys go through JWK (RFC 7518 §6.3), ~25x faster than OpenSSL 3's
 *   DER decoder.
 * - Other encodings of those curves' points are refused (isSec1Point).
 * - Everything else (other curves, key types) goes through the DER decoder,
 *   which refuses what OpenSSL refuses.
 *
 * Throws (plain Error) when OpenSSL refuses the key.
 */
export function importSpki(spki: Buffer, info?: SpkiInfo): KeyObject {
  let i: SpkiInfo | undefined = info;
  if (!i) {
    try {
      i = inspectSpki(spki);
    } catch {
      i = undefined;
    }
  }
  if (i?.kind === "ec" && i.curveOid) {
    const c = EC_CURVES[i.curveOid];
    const p = i.publicKeyBits;
    if (c) {
      if (!isSec1Point(p, c.size)) throw new Error(`${c.crv} public key is not a SEC 1 point of ${1 + c.size} or ${1 + 2 * c.size} octets`);
      const viaRaw = importEcPointRaw(c.openssl, p);
      if (viaRaw === "refused") throw new Error(`${c.crv} public key is not a valid point of the curve`);
      if (viaRaw) return viaRaw;
      if (p[0] === 4) return importEcPointJwk(c.crv, c.size, p);
    }
  } else if (i?.kind === "rsa") {
    const rsa = expectNode(i.publicKeyBits, 0, TAG.SEQUENCE);
    const n = expectNode(i.publicKeyBits, rsa.valueStart, TAG.INTEGER, rsa.end);
    const e = expectNode(i.publicKeyBits, n.end, TAG.INTEGER, rsa.end);
    const strip = (b: Buffer): Buffer => {
      let k = 0;
      while (k < b.length - 1 && b[k] === 0) k++;
      return b.subarray(k);
    };
    return createPublicKey({
      key: {
        kty: "RSA",
        n: strip(valueOf(i.publicKeyBits, n)).toString("base64url"),
        e: strip(valueOf(i.publicKeyBits, e)).toString("base64url"),
      },
      format: "jwk",
    });
  }
  return createPublicKey({ key: spki, format: "der", type: "spki" });
}

/**
 * SEC 1 §2.3.3: 04||X||Y or 02/03||X with coordinates of `size` octets. The
 * point at infinity (a single 00 octet) is refused here: OpenSSL's DER route
 * accepts it and Node then aborts the process on the key's
 * asymmetricKeyDetails. The hybrid forms (06/07, X9.62 only) are refused too,
 * as the leaf key policy does (RFC 5480 §2.2 allows only these two forms).
 */
function isSec1Point(p: Buffer, size: number): boolean {
  return (p[0] === 4 && p.length === 1 + 2 * size) || ((p[0] === 2 || p[0] === 3) && p.length === 1 + size);
}

/**
 * RFC 7518 §6.2 JWK import of an uncompressed point: OpenSSL 3 checks it with
 * EC_KEY_check_key (on the curve, and a multiplication by the group order).
 */
export function importEcPointJwk(crv: string, size: number, p: Buffer): KeyObject {
  return createPublicKey({
    key: { kty: "EC", crv, x: p.subarray(1, 1 + size).toString("base64url"), y: p.subarray(1 + size).toString("base64url") },
    format: "jwk",
  });
}

/** a public KeyObject from SPKI DER; badPublicKey when OpenSSL refuses it */
export function publicKeyFromSpki(spki: Buffer): KeyObject {
  try {
    return importSpki(spki);
  } catch (e) {
    throw new SigilError("badPublicKey", KEY_POLICY_MESSAGES.malformed, { cause: e });
  }
}
