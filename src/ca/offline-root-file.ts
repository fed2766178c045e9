/**
 * The offline root's key file: the root's private key as an encrypted
 * PKCS#8 EncryptedPrivateKeyInfo (RFC 5958 §3) under a passphrase, followed
 * by its self-signed certificate, both PEM (RFC 7468 §11, §5).
 *
 * Encryption: PBES2 (RFC 8018 §6.2) with PBKDF2-HMAC-SHA256 (600,000
 * iterations, OWASP 2023; RFC 8018 Appendix A.2, B.1.2) and AES-256-CBC
 * (Appendix B.2.5), a fresh 16-octet salt and IV. `openssl pkey -in FILE`
 * opens the key with the passphrase, `openssl x509 -in FILE` reads the
 * certificate. Reading goes through ./private-key-import.ts, which caps the
 * iteration count and decrypts on a worker thread.
 */
import { createCipheriv, pbkdf2Sync, randomBytes, type KeyObject } from "node:crypto";
import { SigilError } from "../core/errors.js";
import { derInteger, derNull, derOctetString, derOid, fromPem, seq, toPem } from "./der.js";
import { exportPrivateKeyPkcs8, spkiOf } from "./keys.js";
import { importPrivateKeyPem, KeyImportError } from "./private-key-import.js";

/** PBKDF2 iterations of the key file (OWASP 2023 for PBKDF2-HMAC-SHA256). */
export const OFFLINE_ROOT_PBKDF2_ITERATIONS = 600_000;
/** the shortest passphrase the ceremony accepts */
export const MIN_PASSPHRASE_LENGTH = 12;

const OID = {
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSha256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
} as const;

/** Refuses a passphrase too short to stand for an offline root key. */
export function checkPassphrase(passphrase: string): void {
  if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
    throw SigilError.invalidArgument(`the passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`, "passphrase");
  }
}

/** EncryptedPrivateKeyInfo PEM of `privateKey` under `passphrase` (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC). */
export function encryptPrivateKeyPem(privateKey: KeyObject, passphrase: string, iterations = OFFLINE_ROOT_PBKDF2_ITERATIONS): string {
  checkPassphrase(passphrase);
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(passphrase, "utf8"), salt, iterations, 32, "sha256");
  const cipher = createCipheriv("aes-256-cbc", key, iv); // PKCS#7 padding (RFC 8018 §6.1.1)
  const ciphertext = Buffer.concat([cipher.update(exportPrivateKeyPkcs8(privateKey)), cipher.final()]);
  // PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount, keyLength, prf }
  const kdf = seq(derOid(OID.pbkdf2), seq(derOctetString(salt), derInteger(iterations), derInteger(32), seq(derOid(OID.hmacWithSha256), derNull())));
  const algId = seq(derOid(OID.pbes2), seq(kdf, seq(derOid(OID.aes256Cbc), derOctetString(iv))));
  return toPem(seq(algId, derOctetString(ciphertext)), "ENCRYPTED PRIVATE KEY");
}

/** The key file's text: the encrypted key, then the certificate. */
export function formatOfflineRootFile(encryptedKeyPem: string, certificatePem: string): string {
  return `${encryptedKeyPem.trimEnd()}\n${certificatePem.trimEnd()}\n`;
}

/** An opened key file. */
export interface OfflineRoot {
  privateKey: KeyObject;
  certificateDer: Buffer;
  certificatePem: string;
}

/**
 * Opens a key file with its passphrase. The key must match the
 * certificate. Failures are invalidArgument naming "root_key" (never the
 * passphrase or key material).
 */
export async function openOfflineRootFile(text: string, passphrase: string): Promise<OfflineRoot> {
  if (!fromPem(text, "ENCRYPTED PRIVATE KEY")) throw SigilError.invalidArgument("the key file has no ENCRYPTED PRIVATE KEY block", "root_key");
  const certificateDer = fromPem(text, "CERTIFICATE");
  if (!certificateDer) throw SigilError.invalidArgument("the key file has no CERTIFICATE block", "root_key");
  let privateKey: KeyObject;
  try {
    const block = /-----BEGIN ENCRYPTED PRIVATE KEY-----[\s\S]*?-----END ENCRYPTED PRIVATE KEY-----/.exec(text)![0];
    privateKey = await importPrivateKeyPem(block, passphrase);
  } catch (e) {
    if (e instanceof KeyImportError) throw new SigilError("invalidArgument", e.reason === "password" ? "wrong passphrase for the key file" : e.message, { field: "root_key", cause: e });
    throw e;
  }
  return { privateKey, certificateDer, certificatePem: toPem(certificateDer, "CERTIFICATE") };
}

/** Whether `privateKey` is the key of the certificate with SubjectPublicKeyInfo `spki`. */
export function keyMatches(privateKey: KeyObject, spki: Buffer): boolean {
  return spkiOf(privateKey).equals(spki);
}
