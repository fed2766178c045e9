/**
 * The key-store seam: the only code that holds CA private key material.
 *
 * The signer (./signer.ts, ./ocsp.ts) never sees a private key; it asks for
 * a SigningKey and calls `sign(tbs)`. A SigningKey comes from a KeyStore:
 *
 * - DatabaseKeyStore: the key is generated here and handed back once as
 *   PKCS#8 for the RA to encrypt into the CA row (master key, AES-256-GCM);
 *   opening decrypts-then-imports it into a node:crypto KeyObject.
 * - Pkcs11KeyStore (./pkcs11.ts): the key is generated inside a PKCS#11 token
 *   (sensitive, non-extractable) and found again by its CKA_ID, the CA row's
 *   key reference; signing is C_Sign on a pooled, logged-in session.
 *
 * Every scheme is fixed by the key algorithm (the same choice the signer
 * writes into signatureAlgorithm): ECDSA P-256 with SHA-256 and P-384 with
 * SHA-384 (RFC 5758 §3.2), RSA PKCS#1 v1.5 with SHA-256 (RFC 4055 §5).
 * `sign` is synchronous so leaf issuance stays one call with no await.
 */
import { createPublicKey, sign as cryptoSign, type KeyObject } from "node:crypto";
import { SigilError } from "../core/errors.js";
import type { KeyAlgorithm } from "../core/types.js";
import { exportPrivateKeyPkcs8, generateKeyPair, importPrivateKeyPkcs8, keyAlgorithmOf, spkiOf } from "./keys.js";

/** Where a CA key lives (the certificate_authorities.key_storage column). */
export type KeyStorage = "database" | "pkcs11";
export const KEY_STORAGES: readonly KeyStorage[] = ["database", "pkcs11"];

/** What signs for a CA: a handle on a private key that never leaves its store. */
export interface SigningKey {
  readonly storage: KeyStorage;
  readonly algorithm: KeyAlgorithm;
  /** the public half */
  readonly publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER of the public half (RFC 5280 §4.1.2.7) */
  readonly spki: Buffer;
  /**
   * Signs `data` with the algorithm's scheme (signatureHashOf). ECDSA
   * signatures are returned as the DER Ecdsa-Sig-Value that X.509, CRLs and
   * OCSP carry (RFC 3279 §2.2.3, RFC 5480 §2.2 / RFC 5758 §3.2).
   */
  sign(data: Buffer): Buffer;
}

/** The digest each key algorithm signs with (RFC 5758 §3.2, RFC 4055 §5). */
export function signatureHashOf(alg: KeyAlgorithm): "sha256" | "sha384" {
  switch (alg) {
    case "p384":
      return "sha384";
    case "p256":
    case "rsa2048":
    case "rsa3072":
    case "rsa4096":
      return "sha256";
    default: {
      const never: never = alg;
      throw SigilError.internal(`no signature hash for ${String(never)}`);
    }
  }
}

function isEcdsa(alg: KeyAlgorithm): boolean {
  return alg === "p256" || alg === "p384";
}

/** A key held in this process as a node:crypto KeyObject (decrypted from the database, or a leaf/OCSP key). */
class KeyObjectSigningKey implements SigningKey {
  readonly storage: KeyStorage = "database";
  readonly algorithm: KeyAlgorithm;
  readonly publicKey: KeyObject;
  readonly spki: Buffer;
  private readonly hash: "sha256" | "sha384";
  private readonly ecdsa: boolean;

  constructor(private readonly key: KeyObject) {
    if (key.type !== "private") throw SigilError.internal("a signing key needs a private key");
    this.publicKey = createPublicKey(key);
    const alg = keyAlgorithmOf(this.publicKey);
    if (!alg) throw SigilError.badPublicKey("CA keys must be P-256, P-384, RSA 2048, RSA 3072 or RSA 4096");
    this.algorithm = alg;
    this.spki = spkiOf(this.publicKey);
    this.hash = signatureHashOf(alg);
    this.ecdsa = isEcdsa(alg);
  }

  sign(data: Buffer): Buffer {
    // X9.62 / RFC 5758 §3.2: ECDSA signatures as DER Ecdsa-Sig-Value
    return this.ecdsa ? cryptoSign(this.hash, data, { key: this.key, dsaEncoding: "der" }) : cryptoSign(this.hash, data, this.key);
  }
}

/** A SigningKey over a private KeyObject held in memory (a database key once decrypted). */
export function keyObjectSigningKey(privateKey: KeyObject): SigningKey {
  return new KeyObjectSigningKey(privateKey);
}

/** A key just created by a store: its handle, and what the CA row records of it. */
export interface GeneratedKey {
  signingKey: SigningKey;
  /** database: the PKCS#8 DER the RA encrypts into the row (the only time it is handed out); pkcs11: null */
  pkcs8: Buffer | null;
  /** pkcs11: the key reference (CKA_ID, hex) recorded in the row; database: null */
  reference: string | null;
}

/** What a CA row holds of its key, for opening it again. */
export type StoredKey = { storage: "database"; pkcs8: Buffer } | { storage: "pkcs11"; reference: string };

/** One place CA keys live. */
export interface KeyStore {
  readonly storage: KeyStorage;
  /** a new key pair of `alg`; `label` names it where the store shows names (CKA_LABEL) */
  generate(alg: KeyAlgorithm, label: string): Promise<GeneratedKey>;
  /** a signing handle on a stored key */
  open(stored: StoredKey): SigningKey;
  /** removes a key this store generated whose CA row was never written (a failed creation); best effort */
  discard(generated: GeneratedKey): void;
}

/** The encrypted-in-database store: keys are node:crypto keys; encryption at rest is the RA's (master key). */
export class DatabaseKeyStore implements KeyStore {
  readonly storage = "database" as const;

  async generate(alg: KeyAlgorithm): Promise<GeneratedKey> {
    const pair = await generateKeyPair(alg);
    return { signingKey: keyObjectSigningKey(pair.privateKey), pkcs8: exportPrivateKeyPkcs8(pair.privateKey), reference: null };
  }

  open(stored: StoredKey): SigningKey {
    if (stored.storage !== "database") throw SigilError.internal(`the database key store cannot open a ${stored.storage} key`);
    return keyObjectSigningKey(importPrivateKeyPkcs8(stored.pkcs8));
  }

  discard(): void {
    // nothing was stored: the PKCS#8 only ever lived in the failed transaction's row
  }
}

// ---------------------------------------------------------------- ECDSA signature encoding

/**
 * A raw PKCS#11 ECDSA signature (r || s, each the curve's byte length,
 * PKCS#11 v2.40 §2.3.1) as the DER Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER,
 * s INTEGER } that X.509 carries (RFC 3279 §2.2.3, RFC 5480 §2.2).
 */
export function ecdsaRawToDer(raw: Buffer): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0 || raw.length > 264) {
    throw SigilError.internal(`an ECDSA signature of ${raw.length} bytes is not r || s`);
  }
  const half = raw.length / 2;
  const r = derPositiveInteger(raw.subarray(0, half));
  const s = derPositiveInteger(raw.subarray(half));
  const body = r.length + s.length;
  // at most 2 * (3 + 133) bytes for P-521: a one- or two-byte length (X.690 §8.1.3)
  const head = body < 0x80 ? Buffer.from([0x30, body]) : Buffer.from([0x30, 0x81, body]);
  return Buffer.concat([head, r, s]);
}

/** INTEGER of an unsigned big-endian magnitude: leading zero octets dropped, one 0x00 added before a high bit (X.690 §8.3.2) */
function derPositiveInteger(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = magnitude.subarray(i);
  const pad = (m[0]! & 0x80) !== 0 ? 1 : 0;
  const out = Buffer.alloc(2 + pad + m.length);
  out[0] = 0x02;
  out[1] = pad + m.length;
  m.copy(out, 2 + pad);
  return out;
}
