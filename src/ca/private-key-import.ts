/**
 * Importing a private key given as PEM (PKCS#8, PKCS#1, SEC1; encrypted
 * PKCS#8 with a password), without letting the password-based key
 * derivation stall the process.
 *
 * An EncryptedPrivateKeyInfo (RFC 5958 §3) names its own iteration count
 * (RFC 8018 §6.2 PBES2 with PBKDF2, §6.1 PBES1, RFC 7292 Appendix C PKCS#12
 * PBE): whoever writes the file chooses how long decrypting it takes, and
 * node:crypto decrypts synchronously. 40 million PBKDF2 iterations held the
 * event loop (every tenant's requests) for 13 s. So:
 * - the iteration count is read from the DER and refused above
 *   MAX_KEY_IMPORT_ITERATIONS before anything is decrypted;
 * - a key derivation scheme whose cost cannot be read (scrypt, anything
 *   unknown) is refused;
 * - the decryption itself runs on a worker thread, so even an allowed, slow
 *   count leaves the event loop free.
 *
 * The cap: 10,000,000 iterations. OpenSSL 3 writes 2048 by default, OWASP
 * (2023) recommends 600,000 for PBKDF2-HMAC-SHA256; 10 M leaves room for
 * any deliberate choice and bounds one import at a few seconds of a worker.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { Worker } from "node:worker_threads";
import { children, DerError, expectNode, fromPem, readOid, readUnsignedInteger, TAG } from "./der.js";

/** The highest PBKDF2 / PBES1 / PKCS#12 iteration count an imported key may name. */
export const MAX_KEY_IMPORT_ITERATIONS = 10_000_000;

/** Why a private key could not be imported (the caller names its own fields). */
export type KeyImportFailure = "format" | "password" | "iterations" | "scheme";

export class KeyImportError extends Error {
  constructor(
    readonly reason: KeyImportFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "KeyImportError";
  }
}

const OID = {
  pbes2: "1.2.840.113549.1.5.13", // RFC 8018 Appendix A.4
  pbkdf2: "1.2.840.113549.1.5.12", // RFC 8018 Appendix A.2
} as const;
/** RFC 8018 Appendix A.3 PBES1 (pbeWithMD2AndDES-CBC .. pbeWithSHA1AndRC2-CBC) */
const PBES1 = new Set(["1.2.840.113549.1.5.1", "1.2.840.113549.1.5.4", "1.2.840.113549.1.5.3", "1.2.840.113549.1.5.6", "1.2.840.113549.1.5.10", "1.2.840.113549.1.5.11"]);
/** RFC 7292 Appendix C pkcs-12PbeIds (pbeWithSHAAnd128BitRC4 .. pbewithSHAAnd40BitRC2-CBC) */
const PKCS12_PBE = new Set(["1.2.840.113549.1.12.1.1", "1.2.840.113549.1.12.1.2", "1.2.840.113549.1.12.1.3", "1.2.840.113549.1.12.1.4", "1.2.840.113549.1.12.1.5", "1.2.840.113549.1.12.1.6"]);

/**
 * The iteration count an EncryptedPrivateKeyInfo's encryption algorithm
 * asks for. Throws KeyImportError("scheme") for a scheme whose cost this
 * cannot read, ("format") for DER that does not parse.
 */
export function encryptedKeyIterations(der: Buffer): number {
  try {
    const top = expectNode(der, 0, TAG.SEQUENCE, der.length, "EncryptedPrivateKeyInfo");
    const [algId] = children(der, top);
    if (!algId || algId.tag !== TAG.SEQUENCE) throw new DerError("encryptionAlgorithm");
    const [oidNode, params] = children(der, algId);
    if (!oidNode) throw new DerError("encryptionAlgorithm");
    const oid = readOid(der, oidNode);
    if (oid === OID.pbes2) {
      // PBES2-params ::= SEQUENCE { keyDerivationFunc, encryptionScheme }
      if (!params || params.tag !== TAG.SEQUENCE) throw new DerError("PBES2-params");
      const [kdf] = children(der, params);
      if (!kdf || kdf.tag !== TAG.SEQUENCE) throw new DerError("keyDerivationFunc");
      const [kdfOid, kdfParams] = children(der, kdf);
      if (!kdfOid || readOid(der, kdfOid) !== OID.pbkdf2) {
        throw new KeyImportError("scheme", "the key is encrypted with a key derivation other than PBKDF2; re-encrypt it with PBES2/PBKDF2");
      }
      // PBKDF2-params ::= SEQUENCE { salt, iterationCount INTEGER, keyLength INTEGER OPTIONAL, prf DEFAULT }
      if (!kdfParams || kdfParams.tag !== TAG.SEQUENCE) throw new DerError("PBKDF2-params");
      return iterationCount(der, children(der, kdfParams)[1]);
    }
    if (PBES1.has(oid) || PKCS12_PBE.has(oid)) {
      // PBEParameter / pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER }
      if (!params || params.tag !== TAG.SEQUENCE) throw new DerError("PBEParameter");
      return iterationCount(der, children(der, params)[1]);
    }
    throw new KeyImportError("scheme", "the key's encryption scheme is not supported; re-encrypt it with PBES2/PBKDF2 (openssl pkcs8 -topk8 -v2 aes-256-cbc)");
  } catch (e) {
    if (e instanceof KeyImportError) throw e;
    throw new KeyImportError("format", "not a valid encrypted PKCS#8 private key", { cause: e });
  }
}

function iterationCount(der: Buffer, node: ReturnType<typeof children>[number] | undefined): number {
  if (!node) throw new DerError("iterationCount");
  const magnitude = readUnsignedInteger(der, node);
  // beyond 6 octets it is far past the cap anyway (and past Number's exact range later)
  if (magnitude.length > 6) return Number.MAX_SAFE_INTEGER;
  return magnitude.readUIntBE(0, magnitude.length);
}

/**
 * The private key of a PEM block. Encrypted PKCS#8 is decrypted with
 * `password` on a worker thread after its iteration count passed the cap;
 * other PEM (including the fixed-cost legacy "Proc-Type: 4,ENCRYPTED"
 * encryption, one MD5 round) is parsed here.
 */
export async function importPrivateKeyPem(pem: string, password: string | undefined): Promise<KeyObject> {
  const encrypted = fromPem(pem, "ENCRYPTED PRIVATE KEY");
  if (!encrypted) {
    try {
      return createPrivateKey({ key: pem, format: "pem", passphrase: password || undefined });
    } catch (e) {
      const reason: KeyImportFailure = /ENCRYPTED/.test(pem) ? "password" : "format";
      throw new KeyImportError(reason, reason === "password" ? "cannot decrypt the private key" : "not a PKCS#8, PKCS#1 or SEC1 private key", { cause: e });
    }
  }
  const iterations = encryptedKeyIterations(encrypted);
  if (iterations > MAX_KEY_IMPORT_ITERATIONS) {
    throw new KeyImportError("iterations", `the key's encryption asks for more than ${MAX_KEY_IMPORT_ITERATIONS} iterations; re-encrypt it with fewer`);
  }
  if (!password) throw new KeyImportError("password", "the private key is encrypted: a password is required");
  const pkcs8 = await decryptOffThread(encrypted, password);
  return createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
}

/**
 * The worker: plain JavaScript (no loader), given the DER and the password,
 * answers the decrypted PKCS#8 DER or a failure flag. Neither the password
 * nor the key is ever logged or put in an error message.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createPrivateKey } = require("node:crypto");
try {
  const key = createPrivateKey({ key: Buffer.from(workerData.der), format: "der", type: "pkcs8", passphrase: workerData.password });
  parentPort.postMessage({ ok: true, der: key.export({ type: "pkcs8", format: "der" }) });
} catch {
  parentPort.postMessage({ ok: false });
}
`;

function decryptOffThread(der: Buffer, password: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { der: new Uint8Array(der), password } });
    let settled = false;
    worker.once("message", (m: { ok: boolean; der?: Uint8Array }) => {
      settled = true;
      if (m.ok && m.der) resolve(Buffer.from(m.der));
      else reject(new KeyImportError("password", "cannot decrypt the private key"));
      void worker.terminate();
    });
    worker.once("error", (e) => {
      if (!settled) reject(new KeyImportError("password", "cannot decrypt the private key", { cause: e }));
      settled = true;
    });
    worker.once("exit", () => {
      if (!settled) reject(new KeyImportError("password", "cannot decrypt the private key"));
      settled = true;
    });
  });
}
