/**
 * CA private keys encrypted at rest with AES-256-GCM (NIST SP 800-38D) under a
 * master key from configuration. A key ring holds the current master key (used
 * for every encryption) and previous ones (decryption only), so the master key
 * can be rotated: blobs name the key that sealed them.
 *
 * Blob format (ASCII, self-describing):
 *   sgk1.<keyId: 16 hex>.<iv: 12 bytes base64url>.<ciphertext || 16-byte tag, base64url>
 * The additional authenticated data is "sgk1.<keyId>." followed by the
 * caller's `aad` (e.g. the CA id), which binds a blob to its row: a blob copied
 * to another row does not decrypt.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { SigilError } from "../core/errors.js";

export const MASTER_KEY_BYTES = 32;
const VERSION = "sgk1";
const IV_BYTES = 12; // SP 800-38D §8.2: 96-bit IVs
const TAG_BYTES = 16;
/** the env var named in config errors unless the caller names another */
export const DEFAULT_MASTER_KEY_VARIABLE = "SIGIL_MASTER_KEY";

/** 16 hex chars of SHA-256 over a domain-separated label and the key */
export function masterKeyId(key: Buffer): string {
  return createHash("sha256").update("sigil/master-key-id/v1\0").update(key).digest("hex").slice(0, 16);
}

export class MasterKeyRing {
  readonly currentKeyId: string;
  private readonly keys: Map<string, Buffer>;
  private readonly variable: string;

  private constructor(current: Buffer, previous: Buffer[], variable: string) {
    this.variable = variable;
    this.keys = new Map();
    for (const k of [current, ...previous]) {
      if (k.length !== MASTER_KEY_BYTES) {
        throw SigilError.config(`master key must be ${MASTER_KEY_BYTES} bytes, got ${k.length}`, variable);
      }
      const id = masterKeyId(k);
      if (!this.keys.has(id)) this.keys.set(id, Buffer.from(k));
    }
    this.currentKeyId = masterKeyId(current);
  }

  /**
   * @param current the key every new blob is sealed with
   * @param previous older keys, only for decrypting blobs they sealed
   * @param variable the config variable named in errors (default SIGIL_MASTER_KEY)
   */
  static fromKeys(current: Buffer, previous: Buffer[] = [], variable: string = DEFAULT_MASTER_KEY_VARIABLE): MasterKeyRing {
    return new MasterKeyRing(current, previous, variable);
  }

  /** ids of every key in the ring, current first */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  /** true when the blob was sealed with a key other than the current one (it should be re-encrypted) */
  needsRewrap(blob: string): boolean {
    return blob.split(".")[1] !== this.currentKeyId;
  }

  /** whether a key with this id is configured (current or previous) */
  hasKey(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /**
   * A ring that seals with `next` and still opens everything this ring
   * opens: what master-key rotation re-encrypts with.
   */
  withCurrent(next: Buffer): MasterKeyRing {
    return new MasterKeyRing(next, [...this.keys.values()], this.variable);
  }

  encrypt(plaintext: Buffer, aad: string): string {
    const key = this.keys.get(this.currentKeyId)!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aadBytes(this.currentKeyId, aad));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${this.currentKeyId}.${iv.toString("base64url")}.${ct.toString("base64url")}`;
  }

  /** throws SigilError.config when the blob is malformed, sealed by an unknown key, or fails authentication */
  decrypt(blob: string, aad: string): Buffer {
    const parts = blob.split(".");
    if (parts.length !== 4 || parts[0] !== VERSION || !/^[0-9a-f]{16}$/.test(parts[1]!)) {
      throw SigilError.config(`encrypted key is not a ${VERSION} blob (corrupt or not encrypted by Sigil)`, this.variable);
    }
    const [, keyId, ivText, ctText] = parts as [string, string, string, string];
    const key = this.keys.get(keyId);
    if (!key) {
      throw SigilError.config(
        `master key does not match: the key was encrypted with master key ${keyId}, ` +
          `but the configured master keys are ${this.keyIds.join(", ")}; configure the old key as a previous master key`,
        this.variable,
      );
    }
    const iv = Buffer.from(ivText, "base64url");
    const ct = Buffer.from(ctText, "base64url");
    if (iv.length !== IV_BYTES || ct.length < TAG_BYTES) {
      throw SigilError.config("encrypted key blob is truncated", this.variable);
    }
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aadBytes(keyId, aad));
      decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
      return Buffer.concat([decipher.update(ct.subarray(0, ct.length - TAG_BYTES)), decipher.final()]);
    } catch (e) {
      throw new SigilError(
        "config",
        `master key does not match the encrypted key (authentication failed for master key ${keyId}): ` +
          "the blob was altered, belongs to another record, or the master key with this id is wrong",
        { field: this.variable, cause: e },
      );
    }
  }
}

function aadBytes(keyId: string, aad: string): Buffer {
  return Buffer.from(`${VERSION}.${keyId}.${aad}`, "utf8");
}

// ---- envelope encryption: data keys (issue 14 item 5) --------------------------------------

/**
 * Secrets are sealed with a data key (one active key per organization, and
 * one for the system scope); the data key itself is stored wrapped by the
 * master key as an sgk1 blob (AAD: dataKeyWrapAad). Rotating the master key
 * then re-wraps a handful of data keys instead of every secret, and
 * destroying an organization's data keys crypto-shreds its secrets.
 *
 * Blob format:
 *   sgk2.<dataKeyId: uuid>.<iv: 12 bytes base64url>.<ciphertext || 16-byte tag, base64url>
 * AES-256-GCM (NIST SP 800-38D); AAD = "sgk2.<dataKeyId>." + the caller's aad
 * (the row binding, as for sgk1).
 */
export const DATA_KEY_BYTES = 32;
const ENVELOPE_VERSION = "sgk2";
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Which key a stored blob needs: a master key (sgk1) or a data key (sgk2); undefined when it is neither. */
export type BlobKeyRef = { format: "sgk1"; masterKeyId: string } | { format: "sgk2"; dataKeyId: string };

export function blobKeyRef(blob: string): BlobKeyRef | undefined {
  const parts = blob.split(".");
  if (parts.length !== 4) return undefined;
  if (parts[0] === VERSION && /^[0-9a-f]{16}$/.test(parts[1]!)) return { format: "sgk1", masterKeyId: parts[1]! };
  if (parts[0] === ENVELOPE_VERSION && UUID_RE.test(parts[1]!)) return { format: "sgk2", dataKeyId: parts[1]! };
  return undefined;
}

/** The AAD a wrapped data key is bound with: its id and its scope (an organization id or "system"). */
export function dataKeyWrapAad(dataKeyId: string, organizationId: string | null): string {
  return `data-key:${dataKeyId}:${organizationId ?? "system"}`;
}

export function generateDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

function envelopeAad(dataKeyId: string, aad: string): Buffer {
  return Buffer.from(`${ENVELOPE_VERSION}.${dataKeyId}.${aad}`, "utf8");
}

/** Seals `plaintext` with a data key into an sgk2 blob. */
export function sealWithDataKey(dataKeyId: string, key: Buffer, plaintext: Buffer, aad: string): string {
  if (key.length !== DATA_KEY_BYTES) throw new Error(`data key must be ${DATA_KEY_BYTES} bytes`);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(envelopeAad(dataKeyId, aad));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return `${ENVELOPE_VERSION}.${dataKeyId}.${iv.toString("base64url")}.${ct.toString("base64url")}`;
}

/** Opens an sgk2 blob with its data key; throws SigilError (internal) when it is malformed or fails authentication. */
export function openWithDataKey(blob: string, key: Buffer, aad: string): Buffer {
  const parts = blob.split(".");
  const ref = blobKeyRef(blob);
  if (!ref || ref.format !== "sgk2") throw SigilError.internal(`encrypted secret is not an ${ENVELOPE_VERSION} blob`);
  const iv = Buffer.from(parts[2]!, "base64url");
  const ct = Buffer.from(parts[3]!, "base64url");
  if (iv.length !== IV_BYTES || ct.length < TAG_BYTES) throw SigilError.internal("encrypted secret is truncated");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(envelopeAad(ref.dataKeyId, aad));
    decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
    return Buffer.concat([decipher.update(ct.subarray(0, ct.length - TAG_BYTES)), decipher.final()]);
  } catch (e) {
    throw new SigilError(
      "internal",
      `encrypted secret does not authenticate under data key ${ref.dataKeyId}: it was altered or belongs to another record`,
      { cause: e },
    );
  }
}

/**
 * Parses a master key from configuration text: 64 hex characters, or
 * base64 / base64url of exactly 32 bytes. Throws SigilError.config naming
 * `variable` otherwise (and for an all-zero key).
 */
export function parseMasterKey(text: string, variable: string): Buffer {
  const t = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, "hex");
  else if (/^[A-Za-z0-9+/]+={0,2}$/.test(t) || /^[A-Za-z0-9_-]+={0,2}$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, "+").replace(/_/g, "/"), "base64");
    if (b.length === MASTER_KEY_BYTES) key = b;
  }
  if (!key) {
    throw SigilError.config(
      `${variable} must be a ${MASTER_KEY_BYTES}-byte key written as 64 hex characters or as base64/base64url ` +
        "(generate one with `openssl rand -hex 32`)",
      variable,
    );
  }
  if (timingSafeEqual(key, Buffer.alloc(MASTER_KEY_BYTES))) {
    throw SigilError.config(`${variable} must not be all zeros`, variable);
  }
  return key;
}
