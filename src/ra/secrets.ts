/**
 * The secret vault: every secret Sigil stores (CA keys, held leaf keys, OCSP
 * signer keys, EAB HMAC keys, the JWT signing key, ...) is sealed here with
 * the owning organization's active data key (envelope encryption), and
 * opened here. Data keys are wrapped by the master key
 * (src/ca/key-encryption.ts) and kept in the data_keys table
 * (src/db/store/data-keys.ts); unwrapped ones are cached in memory for a
 * bounded time. Legacy sgk1 blobs (sealed directly by the master key) keep
 * opening until master-key rotation moves them to data keys.
 *
 * Every call takes the store session it runs in: inside a transaction, the
 * data-key reads go through it (a second connection would wait for ever on
 * the embedded database), and a data key created on first use commits or
 * rolls back with the secret it sealed.
 */
import { blobKeyRef, dataKeyWrapAad, generateDataKey, openWithDataKey, sealWithDataKey, type MasterKeyRing } from "../ca/key-encryption.js";
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import { findActiveDataKey, findDataKey, insertDataKey, insertDataKeyIfNoActive, type DataKeyRow } from "../db/store/data-keys.js";
import type { Session } from "../db/store/session.js";

/** how long an unwrapped data key stays in memory (bounds how long another instance still opens a shredded organization's secrets) */
export const DEFAULT_DATA_KEY_CACHE_MS = 5 * 60_000;

/** Fixed messages (no key material, no blob text). */
export const SECRET_MESSAGES = {
  destroyed: (id: string) =>
    `the data key ${id} that sealed this secret no longer exists (it was destroyed, e.g. when its organization was deleted): the secret cannot be decrypted`,
  notBlob: "the stored secret is not a Sigil encrypted blob (corrupt or not encrypted by Sigil)",
} as const;

export interface SecretVaultOptions {
  /** DEFAULT_DATA_KEY_CACHE_MS unless given */
  cacheMs?: number;
  /** the clock for cache expiry and created_at (default Date.now) */
  now?: () => Date;
}

export class SecretVault {
  readonly #ring: MasterKeyRing;
  readonly #cacheMs: number;
  readonly #now: () => Date;
  readonly #keys = new Map<string, { key: Buffer; organizationId: string | null; loadedAt: number }>();
  /** active data-key rows a transaction already read FOR SHARE (useActiveDataKey), per transaction session */
  readonly #readInTx = new WeakMap<Session, Map<string | null, DataKeyRow>>();

  constructor(ring: MasterKeyRing, opts: SecretVaultOptions = {}) {
    this.#ring = ring;
    this.#cacheMs = opts.cacheMs ?? DEFAULT_DATA_KEY_CACHE_MS;
    this.#now = opts.now ?? (() => new Date());
  }

  /** the master-key ring that wraps the data keys */
  get ring(): MasterKeyRing {
    return this.#ring;
  }

  /**
   * Seals `plaintext` with the active data key of `organizationId` (null:
   * the system scope), creating that key on first use; `aad` binds the blob
   * to its row (the same string must be given to open).
   */
  async seal(s: Session, organizationId: string | null, plaintext: Buffer, aad: string): Promise<string> {
    const { id, key } = await this.activeDataKey(s, organizationId);
    return sealWithDataKey(id, key, plaintext, aad);
  }

  /**
   * Opens a blob sealed by seal (sgk2) or, for legacy rows, directly by the
   * master key (sgk1). Throws SigilError: failedPrecondition when the data
   * key was destroyed (crypto-shredded), config when a master key is
   * missing, internal when the blob is corrupt or bound to another row.
   */
  async open(s: Session, blob: string, aad: string): Promise<Buffer> {
    const ref = blobKeyRef(blob);
    if (!ref) throw SigilError.internal(SECRET_MESSAGES.notBlob);
    if (ref.format === "sgk1") return this.#ring.decrypt(blob, aad);
    const key = await this.#dataKey(s, ref.dataKeyId);
    return openWithDataKey(blob, key, aad);
  }

  /**
   * Tells the vault that transaction `tx` already read `row`, its scope's
   * active data key, FOR SHARE (with another row of the same statement, as
   * admin issuance reads it with the locked CA): seal in that transaction
   * uses it instead of reading it again. Held only as long as `tx` is.
   */
  useActiveDataKey(tx: Session, row: DataKeyRow): void {
    if (row.status !== "active") throw new Error("useActiveDataKey: not an active data key");
    let known = this.#readInTx.get(tx);
    if (!known) this.#readInTx.set(tx, (known = new Map()));
    known.set(row.organizationId, row);
  }

  /** The scope's active data key (unwrapped), created when the scope has none. */
  async activeDataKey(s: Session, organizationId: string | null): Promise<{ id: string; key: Buffer }> {
    let row = this.#readInTx.get(s)?.get(organizationId) ?? (await findActiveDataKey(s, organizationId));
    if (!row) {
      // first secret of this scope: a new data key; a concurrent creator wins through the unique index, and we read it back
      const id = uuidv7();
      const key = generateDataKey();
      await insertDataKeyIfNoActive(s, { id, organizationId, wrappedKey: this.wrap(id, organizationId, key), createdAt: this.#now() });
      row = await findActiveDataKey(s, organizationId);
      if (!row) throw SigilError.internal("a new data key vanished after its insert");
    }
    return { id: row.id, key: this.unwrapRow(row) };
  }

  /**
   * Creates the scope's new active data key (rotation: the caller retired the
   * previous one in the same transaction); returns its id.
   */
  async createDataKey(s: Session, organizationId: string | null): Promise<string> {
    const id = uuidv7();
    await insertDataKey(s, { id, organizationId, wrappedKey: this.wrap(id, organizationId, generateDataKey()), createdAt: this.#now() });
    return id;
  }

  /** Wraps a data key under the current master key (an sgk1 blob bound to the key's id and scope). */
  wrap(id: string, organizationId: string | null, key: Buffer): string {
    return this.#ring.encrypt(key, dataKeyWrapAad(id, organizationId));
  }

  /** The unwrapped key of a data-key row (cached). */
  unwrapRow(row: DataKeyRow): Buffer {
    const hit = this.#cached(row.id);
    if (hit) return hit;
    const key = this.#ring.decrypt(row.wrappedKey, dataKeyWrapAad(row.id, row.organizationId));
    this.#keys.set(row.id, { key, organizationId: row.organizationId, loadedAt: this.#now().getTime() });
    return key;
  }

  /** Drops data keys from the cache (after they were destroyed). */
  forget(ids: Iterable<string>): void {
    for (const id of ids) this.#keys.delete(id);
  }

  #cached(id: string): Buffer | undefined {
    const hit = this.#keys.get(id);
    if (!hit) return undefined;
    if (this.#now().getTime() - hit.loadedAt > this.#cacheMs) {
      this.#keys.delete(id);
      return undefined;
    }
    return hit.key;
  }

  async #dataKey(s: Session, id: string): Promise<Buffer> {
    const hit = this.#cached(id);
    if (hit) return hit;
    // cold cache: another instance created the key, or this one restarted
    const row = await findDataKey(s, id);
    if (!row) throw SigilError.failedPrecondition(SECRET_MESSAGES.destroyed(id), { type: "DATA_KEY_DESTROYED", subject: `data-keys/${id}` });
    return this.unwrapRow(row);
  }
}
