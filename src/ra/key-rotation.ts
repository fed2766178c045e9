/**
 * Key rotation and crypto-shredding (issue 14 items 4 and 5,
 * docs/key-custody.md):
 *
 * - master-key rotation re-wraps every data key and moves every legacy sgk1
 *   blob to its organization's data key, under a new master key, in
 *   batches of one transaction each. Its progress is the blobs themselves
 *   (each names the key that sealed it), so a run killed at any point is
 *   resumed by running it again;
 * - the start-up proof counts which master keys the database still needs
 *   and refuses to start when one is not configured;
 * - an organization's data-key rotation retires its active data key, moves
 *   its secrets to a new one in batches and destroys the old key once
 *   nothing needs it;
 * - deleting an organization destroys its data keys: whatever blob of it
 *   survives (a backup, a copied row) can never be opened again.
 *
 * Audit entries record key ids and counts, never key material.
 */
import { MasterKeyRing, blobKeyRef } from "../ca/key-encryption.js";
import { SigilError } from "../core/errors.js";
import {
  dataKeysNotWrappedBy,
  deleteOrganizationDataKeys,
  deleteRetiredDataKey,
  listDataKeys,
  listDataKeysOfScope,
  lockActiveDataKey,
  retireDataKey,
  rewrapDataKey,
} from "../db/store/data-keys.js";
import {
  ENCRYPTED_COLUMNS,
  countDataKeyBlobs,
  countMasterKeyBlobs,
  masterKeyBlobBatch,
  organizationBlobBatch,
  replaceBlob,
  type EncryptedColumn,
} from "../db/store/encrypted-columns.js";
import { findOrganization } from "../db/store/organizations.js";
import type { Session } from "../db/store/session.js";
import { authorize } from "../policy/permissions.js";
import { systemActor, type Actor } from "./actor.js";
import { inTransaction, type RaContext, type Tx } from "./context.js";
import { SecretVault } from "./secrets.js";
import { requireId } from "./input.js";

/** default rows per batch (each batch is one transaction) */
export const DEFAULT_ROTATION_BATCH = 200;

/** Progress of one committed batch (for the CLI's progress lines and tests). */
export interface RotationBatch {
  /** "data_keys" or an encrypted column's name */
  what: string;
  /** rows re-encrypted in this batch */
  count: number;
}

export interface MasterKeyRotationResult {
  fromKeyIds: string[];
  toKeyId: string;
  dataKeysRewrapped: number;
  /** legacy sgk1 blobs moved to data keys (or, for the master-key check value, re-sealed under the new key), by column */
  blobsReencrypted: Record<string, number>;
}

/**
 * Re-encrypts everything under `newKey`. `ctx.keyRing` must open what the
 * database holds (the configured current and previous keys); `newKey` may
 * be one of them (finishing a rotation after the swap). Resumable: rows
 * already under the new key are not selected again.
 */
export async function rotateMasterKey(
  ctx: RaContext,
  newKey: Buffer,
  opts: { batchSize?: number; onBatch?: (b: RotationBatch) => void; actor?: Actor; pauseMs?: number } = {},
): Promise<MasterKeyRotationResult> {
  const batchSize = opts.batchSize ?? DEFAULT_ROTATION_BATCH;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw SigilError.invalidArgument("batch size must be 1..10000", "batch-size");
  const actor = opts.actor ?? systemActor("rotate-master-key");
  const ring = ctx.keyRing.withCurrent(newKey);
  // a vault whose new data keys are wrapped by the new key, so nothing it creates needs the old one
  const vault = new SecretVault(ring, { now: () => ctx.clock.now() });
  const toKeyId = ring.currentKeyId;
  const fromKeyIds = ctx.keyRing.keyIds.filter((id) => id !== toKeyId);
  await inTransaction(ctx, async (tx) => {
    tx.audit(actor, { action: "master_key_rotation_start", organizationId: null, resourceType: "master_key", resourceId: toKeyId, detail: { fromKeyIds, toKeyId, batchSize } });
  });

  // 1. data keys: re-wrap (the key material stays; every sgk2 blob keeps opening)
  let dataKeysRewrapped = 0;
  for (;;) {
    const n = await inTransaction(ctx, async (tx) => {
      let done = 0;
      for (const k of await dataKeysNotWrappedBy(tx, toKeyId, batchSize)) {
        const key = vault.unwrapRow(k);
        if (await rewrapDataKey(tx, k.id, k.wrappedKey, vault.wrap(k.id, k.organizationId, key))) done++;
      }
      return done;
    });
    if (n === 0) break;
    dataKeysRewrapped += n;
    opts.onBatch?.({ what: "data_keys", count: n });
    await pause(opts.pauseMs);
  }

  // 2. legacy blobs sealed directly by a master key: to the owner's data key (the check value: to the new master key)
  const blobsReencrypted: Record<string, number> = {};
  for (const c of ENCRYPTED_COLUMNS) {
    blobsReencrypted[c.name] = 0;
    for (;;) {
      const n = await inTransaction(ctx, async (tx) => {
        let done = 0;
        for (const r of await masterKeyBlobBatch(tx, c, c.masterKeyOnly ? toKeyId : null, batchSize)) {
          const plain = ring.decrypt(r.blob, c.aad(r.id));
          const sealed = c.masterKeyOnly ? ring.encrypt(plain, c.aad(r.id)) : await vault.seal(tx, r.organizationId, plain, c.aad(r.id));
          if (await replaceBlob(tx, c, r.id, r.blob, sealed)) done++;
        }
        return done;
      });
      if (n === 0) break;
      blobsReencrypted[c.name]! += n;
      opts.onBatch?.({ what: c.name, count: n });
      await pause(opts.pauseMs);
    }
  }
  const result = { fromKeyIds, toKeyId, dataKeysRewrapped, blobsReencrypted };
  await inTransaction(ctx, async (tx) => {
    tx.audit(actor, { action: "master_key_rotation_finish", organizationId: null, resourceType: "master_key", resourceId: toKeyId, detail: { ...result } });
  });
  return result;
}

/** throttling between batches (a busy database gets room between the rotation's transactions) */
function pause(ms: number | undefined): Promise<void> {
  return ms ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve();
}

/** What still needs which master key (the start-up proof). */
export interface MasterKeyNeeds {
  /** master key id -> what it seals ("3 data keys", "2 certificates.encrypted_private_key", ...) */
  needed: Map<string, string[]>;
  /** configured previous keys nothing needs any more (safe to remove from configuration) */
  unneededPrevious: string[];
}

export async function masterKeyNeeds(s: Session, ring: MasterKeyRing): Promise<MasterKeyNeeds> {
  const needed = new Map<string, string[]>();
  const add = (id: string, what: string) => needed.set(id, [...(needed.get(id) ?? []), what]);
  const byKey = new Map<string, number>();
  for (const k of await listDataKeys(s)) {
    const ref = blobKeyRef(k.wrappedKey);
    const id = ref?.format === "sgk1" ? ref.masterKeyId : "(unreadable)";
    byKey.set(id, (byKey.get(id) ?? 0) + 1);
  }
  for (const [id, n] of byKey) add(id, `${n} data key${n === 1 ? "" : "s"}`);
  for (const c of ENCRYPTED_COLUMNS) {
    for (const { masterKeyId, count } of await countMasterKeyBlobs(s, c)) add(masterKeyId, `${count} ${c.name}`);
  }
  const unneededPrevious = ring.keyIds.filter((id) => id !== ring.currentKeyId && !needed.has(id));
  return { needed, unneededPrevious };
}

/**
 * Proves at start-up that every data key and every remaining legacy blob is
 * sealed by a configured master key; throws SigilError.config naming what
 * needs which missing key. Returns the configured previous keys nothing
 * needs (the caller warns: they can be removed).
 */
export async function proveMasterKeys(ctx: RaContext): Promise<{ unneededPrevious: string[] }> {
  const { needed, unneededPrevious } = await masterKeyNeeds(ctx.store, ctx.keyRing);
  const missing = [...needed].filter(([id]) => !ctx.keyRing.hasKey(id));
  if (missing.length) {
    const what = missing.map(([id, items]) => `master key ${id} (${items.join(", ")})`).join("; ");
    throw SigilError.config(
      `the database still needs ${what}, which is not configured (configured: ${ctx.keyRing.keyIds.join(", ")}); ` +
        "configure it in SIGIL_PREVIOUS_MASTER_KEYS and finish the rotation with `sigil rotate-master-key` (docs/key-custody.md)",
      "SIGIL_PREVIOUS_MASTER_KEYS",
    );
  }
  return { unneededPrevious };
}

export interface DataKeyRotationResult {
  organizationId: string;
  /** the keys retired by this rotation (the one that was active) */
  retiredDataKeyIds: string[];
  newDataKeyId: string;
  /** blobs moved to the new key, by column */
  reencrypted: Record<string, number>;
  /** retired keys destroyed because nothing needs them any more */
  destroyedDataKeyIds: string[];
}

/**
 * RotateOrganizationDataKey: a new active data key for the organization; its
 * secrets move to it in batches (one transaction each); retired keys that
 * nothing needs any more are destroyed. Organization admins and superusers.
 * Running it again after a crash continues (it also moves anything left
 * under an older retired key).
 */
export async function rotateOrganizationDataKey(
  ctx: RaContext,
  actor: Actor,
  id: string,
  opts: { batchSize?: number; onBatch?: (b: RotationBatch) => void } = {},
): Promise<DataKeyRotationResult> {
  const organizationId = requireId(id, "organization_id");
  const batchSize = opts.batchSize ?? DEFAULT_ROTATION_BATCH;
  const { newDataKeyId, retired } = await inTransaction(ctx, async (tx) => {
    const org = await findOrganization(tx, organizationId, { lock: true });
    if (!org) throw SigilError.notFound("organization not found");
    authorize(actor, org.id, "admin");
    const old = await lockActiveDataKey(tx, org.id);
    const retiredIds: string[] = [];
    if (old) {
      await retireDataKey(tx, old.id, ctx.clock.now());
      retiredIds.push(old.id);
    }
    const created = await ctx.secrets.createDataKey(tx, org.id);
    tx.audit(actor, {
      action: "data_key_rotate",
      organizationId: org.id,
      resourceType: "data_key",
      resourceId: created,
      detail: { retiredDataKeyIds: retiredIds, newDataKeyId: created },
    });
    return { newDataKeyId: created, retired: retiredIds };
  });

  const reencrypted: Record<string, number> = {};
  for (const c of ENCRYPTED_COLUMNS) {
    if (c.masterKeyOnly || c.organizationSql === "null") continue;
    reencrypted[c.name] = 0;
    for (;;) {
      const n = await inTransaction(ctx, async (tx) => {
        let done = 0;
        for (const r of await organizationBlobBatch(tx, c, organizationId, newDataKeyId, batchSize)) {
          const plain = await ctx.secrets.open(tx, r.blob, c.aad(r.id));
          const sealed = await ctx.secrets.seal(tx, organizationId, plain, c.aad(r.id));
          if (!sealed.startsWith(`sgk2.${newDataKeyId}.`)) throw SigilError.failedPrecondition("the organization's data key was rotated again meanwhile; run the rotation again");
          if (await replaceBlob(tx, c, r.id, r.blob, sealed)) done++;
        }
        return done;
      });
      if (n === 0) break;
      reencrypted[c.name]! += n;
      opts.onBatch?.({ what: c.name, count: n });
    }
  }

  // retired keys of this organization that seal nothing any more: destroyed (each under its row lock)
  const destroyed = await inTransaction(ctx, async (tx) => {
    const ids: string[] = [];
    for (const k of await listDataKeysOfScope(tx, organizationId)) {
      if (k.status !== "retired") continue;
      if (await dataKeyInUse(tx, k.id)) continue;
      if (await deleteRetiredDataKey(tx, k.id)) ids.push(k.id);
    }
    if (ids.length) {
      tx.audit(actor, { action: "data_key_destroy", organizationId, resourceType: "data_key", resourceId: ids[0]!, detail: { dataKeyIds: ids, reason: "rotated" } });
      tx.afterCommit(() => ctx.secrets.forget(ids));
    }
    return ids;
  });
  return { organizationId, retiredDataKeyIds: retired, newDataKeyId, reencrypted, destroyedDataKeyIds: destroyed };
}

async function dataKeyInUse(s: Session, dataKeyId: string): Promise<boolean> {
  for (const c of ENCRYPTED_COLUMNS as readonly EncryptedColumn[]) {
    if (c.masterKeyOnly) continue;
    if ((await countDataKeyBlobs(s, c, dataKeyId)) > 0) return true;
  }
  return false;
}

/**
 * Crypto-shredding (deleteOrganization): destroys every data key of the
 * organization in `tx`; after the commit, no copy of its secrets can be
 * opened. Returns the destroyed ids (for the audit entry).
 */
export async function shredOrganizationDataKeys(ctx: RaContext, tx: Tx, organizationId: string): Promise<string[]> {
  const ids = await deleteOrganizationDataKeys(tx, organizationId);
  tx.afterCommit(() => ctx.secrets.forget(ids));
  return ids;
}
