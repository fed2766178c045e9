/**
 * PKCS#12 (RFC 7292) export of a private key with its certificate chain,
 * built in-process from DER (./der.ts) and node:crypto.
 *
 * Profile (what OpenSSL 3 writes by default, and opens with
 * `openssl pkcs12 -passin`):
 * - the key in a pkcs8ShroudedKeyBag (RFC 7292 §4.2.2), the certificates in
 *   certBags (§4.2.3) inside an EncryptedData (RFC 5652 §8) content;
 * - both encrypted with PBES2 (RFC 8018 §6.2): PBKDF2 with HMAC-SHA256,
 *   AES-256-CBC (RFC 8018 Appendix B.2.5, C.2);
 * - integrity: HMAC-SHA256 MacData (RFC 7292 §4), the MAC key derived with
 *   the PKCS#12 KDF (RFC 7292 Appendix B.2) from the BMPString password.
 *
 * The password is UTF-8 for PBKDF2 (RFC 8018 §2 leaves the encoding open;
 * OpenSSL passes the bytes as given) and a NUL-terminated BMPString for the
 * MAC KDF (RFC 7292 Appendix B.1).
 */
import { createCipheriv, createHash, createHmac, pbkdf2Sync, randomBytes, type KeyObject } from "node:crypto";
import { SigilError } from "../core/errors.js";
import { ctxCons, derInteger, derNull, derOctetString, derOid, seq, set, tlv, TAG } from "./der.js";
import { exportPrivateKeyPkcs8 } from "./keys.js";

const OID = {
  data: "1.2.840.113549.1.7.1", // RFC 5652 §4
  encryptedData: "1.2.840.113549.1.7.6", // RFC 5652 §8
  pkcs8ShroudedKeyBag: "1.2.840.113549.1.12.10.1.2", // RFC 7292 §4.2.2
  certBag: "1.2.840.113549.1.12.10.1.3", // RFC 7292 §4.2.3
  x509Certificate: "1.2.840.113549.1.9.22.1", // RFC 7292 §4.2.3 certTypes
  friendlyName: "1.2.840.113549.1.9.20", // RFC 2985 §5.5.1
  localKeyId: "1.2.840.113549.1.9.21", // RFC 2985 §5.5.2
  pbes2: "1.2.840.113549.1.5.13", // RFC 8018 Appendix A.4
  pbkdf2: "1.2.840.113549.1.5.12", // RFC 8018 Appendix A.2
  hmacWithSha256: "1.2.840.113549.2.9", // RFC 8018 Appendix B.1.2
  aes256Cbc: "2.16.840.1.101.3.4.1.42", // RFC 8018 Appendix B.2.5
  sha256: "2.16.840.1.101.3.4.2.1", // RFC 5754 §2.2
} as const;

/** PBKDF2 iterations for the key and certificate encryption. */
export const PKCS12_PBKDF2_ITERATIONS = 100_000;
/** PKCS#12 KDF iterations for the MAC key (OpenSSL's default is 2048). */
export const PKCS12_MAC_ITERATIONS = 2048;

export interface Pkcs12Params {
  privateKey: KeyObject;
  /** DER certificates: the key's certificate first, then its issuers up to the root */
  certificates: Buffer[];
  /** 1..1024 characters */
  password: string;
  /** friendlyName of the key and its certificate; default none */
  friendlyName?: string;
  /** deterministic randomness for tests; default crypto.randomBytes */
  random?: (n: number) => Buffer;
}

/** Checks a PKCS#12 export password (INVALID_ARGUMENT naming `field`). */
export function checkPkcs12Password(password: string, field = "password"): string {
  if (!password) throw SigilError.invalidArgument("required for PKCS#12", field);
  if (password.length < 4) throw SigilError.invalidArgument("at least 4 characters", field);
  if (password.length > 1024) throw SigilError.invalidArgument("at most 1024 characters", field);
  // eslint-disable-next-line no-control-regex
  if (/\u0000/.test(password)) throw SigilError.invalidArgument("must not contain NUL", field);
  return password;
}

/** The DER of a PFX (RFC 7292 §4) holding the key and `certificates`. */
export function buildPkcs12(p: Pkcs12Params): Buffer {
  checkPkcs12Password(p.password);
  if (p.certificates.length === 0) throw SigilError.internal("PKCS#12 needs at least the key's certificate");
  const random = p.random ?? randomBytes;
  const pwd = Buffer.from(p.password, "utf8");
  // localKeyId pairs the key with its certificate (RFC 2985 §5.5.2): SHA-1 of the leaf, as OpenSSL does
  const localKeyId = createHash("sha1").update(p.certificates[0]!).digest();

  const leafAttrs = bagAttributes(localKeyId, p.friendlyName);

  // RFC 7292 §4.2.3: CertBag ::= SEQUENCE { certId, certValue [0] EXPLICIT OCTET STRING }
  const certBags = p.certificates.map((der, i) =>
    safeBag(OID.certBag, seq(derOid(OID.x509Certificate), ctxCons(0, derOctetString(der))), i === 0 ? leafAttrs : undefined),
  );
  const certContents = seq(...certBags); // SafeContents ::= SEQUENCE OF SafeBag

  // RFC 7292 §4.2.2: EncryptedPrivateKeyInfo (RFC 5958 §3)
  const keyEnc = pbes2Encrypt(exportPrivateKeyPkcs8(p.privateKey), pwd, random);
  const keyBag = safeBag(OID.pkcs8ShroudedKeyBag, seq(keyEnc.algId, derOctetString(keyEnc.ciphertext)), leafAttrs);
  const keyContents = seq(keyBag);

  // certificates: EncryptedData (RFC 5652 §8) { version 0, EncryptedContentInfo }
  const certEnc = pbes2Encrypt(certContents, pwd, random);
  const encryptedContentInfo = seq(derOid(OID.data), certEnc.algId, tlv(0x80, certEnc.ciphertext)); // [0] IMPLICIT OCTET STRING
  const certsContentInfo = seq(derOid(OID.encryptedData), ctxCons(0, seq(derInteger(0), encryptedContentInfo)));
  const keyContentInfo = seq(derOid(OID.data), ctxCons(0, derOctetString(keyContents)));

  // RFC 7292 §4.1: AuthenticatedSafe ::= SEQUENCE OF ContentInfo
  const authSafe = seq(certsContentInfo, keyContentInfo);

  // RFC 7292 §4: MacData over the content octets of authSafe's OCTET STRING
  const macSalt = random(16);
  const macKey = pkcs12Kdf("sha256", bmpPassword(p.password), macSalt, 3, PKCS12_MAC_ITERATIONS, 32);
  const mac = createHmac("sha256", macKey).update(authSafe).digest();
  const macData = seq(seq(seq(derOid(OID.sha256), derNull()), derOctetString(mac)), derOctetString(macSalt), derInteger(PKCS12_MAC_ITERATIONS));

  // PFX ::= SEQUENCE { version INTEGER {v3(3)}, authSafe ContentInfo, macData MacData OPTIONAL }
  return seq(derInteger(3), seq(derOid(OID.data), ctxCons(0, derOctetString(authSafe))), macData);
}

/** SafeBag ::= SEQUENCE { bagId, bagValue [0] EXPLICIT, bagAttributes SET OF PKCS12Attribute OPTIONAL } (RFC 7292 §4.2) */
function safeBag(bagId: string, value: Buffer, attributes?: Buffer): Buffer {
  return attributes ? seq(derOid(bagId), ctxCons(0, value), attributes) : seq(derOid(bagId), ctxCons(0, value));
}

function bagAttributes(localKeyId: Buffer, friendlyName?: string): Buffer {
  const attrs = [seq(derOid(OID.localKeyId), set(derOctetString(localKeyId)))];
  if (friendlyName) {
    attrs.unshift(seq(derOid(OID.friendlyName), set(tlv(TAG.BMP_STRING, Buffer.from(utf16be(friendlyName))))));
  }
  return set(...attrs);
}

/** PBES2 (RFC 8018 §6.2.1) with PBKDF2-HMAC-SHA256 and AES-256-CBC; returns the AlgorithmIdentifier and the ciphertext. */
function pbes2Encrypt(plain: Buffer, password: Buffer, random: (n: number) => Buffer): { algId: Buffer; ciphertext: Buffer } {
  const salt = random(16);
  const iv = random(16);
  const key = pbkdf2Sync(password, salt, PKCS12_PBKDF2_ITERATIONS, 32, "sha256");
  const cipher = createCipheriv("aes-256-cbc", key, iv); // PKCS#7 padding (RFC 8018 §6.1.1 step 4)
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  // PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER, keyLength INTEGER OPTIONAL, prf AlgorithmIdentifier }
  const kdf = seq(
    derOid(OID.pbkdf2),
    seq(derOctetString(salt), derInteger(PKCS12_PBKDF2_ITERATIONS), derInteger(32), seq(derOid(OID.hmacWithSha256), derNull())),
  );
  const scheme = seq(derOid(OID.aes256Cbc), derOctetString(iv));
  return { algId: seq(derOid(OID.pbes2), seq(kdf, scheme)), ciphertext };
}

function utf16be(s: string): Uint8Array {
  const out = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) out.writeUInt16BE(s.charCodeAt(i), i * 2);
  return out;
}

/** RFC 7292 Appendix B.1: the password as a BMPString with a two-octet NUL terminator */
export function bmpPassword(password: string): Buffer {
  return Buffer.concat([Buffer.from(utf16be(password)), Buffer.alloc(2)]);
}

/**
 * The PKCS#12 key derivation function (RFC 7292 Appendix B.2).
 * `id` 1 = encryption key, 2 = IV, 3 = MAC key.
 */
export function pkcs12Kdf(hash: "sha1" | "sha256", password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, n: number): Buffer {
  const u = hash === "sha1" ? 20 : 32; // output bits / 8
  const v = 64; // block bits / 8 for SHA-1 and SHA-256
  const D = Buffer.alloc(v, id); // step 1
  const fill = (src: Buffer): Buffer => {
    // steps 2-3: concatenate copies to a multiple of v octets
    if (src.length === 0) return Buffer.alloc(0);
    const len = v * Math.ceil(src.length / v);
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) out[i] = src[i % src.length]!;
    return out;
  };
  const I = Buffer.concat([fill(salt), fill(password)]); // step 4
  const c = Math.ceil(n / u); // step 5
  const out: Buffer[] = [];
  for (let i = 0; i < c; i++) {
    // step 6A: A_i = H^r(D || I)
    let A = createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash(hash).update(A).digest();
    out.push(A);
    // step 6B: B = A_i repeated to v octets
    const B = Buffer.alloc(v);
    for (let k = 0; k < v; k++) B[k] = A[k % u]!;
    // step 6C: I_j = (I_j + B + 1) mod 2^(8v), for every v-octet block of I
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, n); // step 7
}
