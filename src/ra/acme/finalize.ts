/**
 * RFC 8555 §7.4 finalize: exactly one certificate per order, never for a
 * CSR that reuses a CA key or the account key, never from a CA that was
 * revoked meanwhile.
 */
import { createPublicKey, X509Certificate } from "node:crypto";
import { parseCsr } from "../../ca/csr.js";
import { checkLeafKeyPolicySpki } from "../../ca/keys.js";
import { caChainPems } from "../../db/store/certificate-authorities.js";
import { commitFinalizedOrder, lockOrderForFinalize } from "../../db/store/acme-orders.js";
import { checkCsrAgainstOrder } from "../../policy/csr.js";
import { checkLeafKeyNotReused } from "../../policy/key-reuse.js";
import { inSqlTransaction, type RaContext } from "../context.js";
import { signLeafInSqlTx } from "../issuance.js";
import { accountActor, type AccountInfo } from "./accounts.js";
import type { RecentCertificates } from "./certificate-download.js";
import type { DirectoryInfo } from "./directories.js";
import { acmeErr } from "./errors.js";
import { orderInfo, type OrderInfo } from "./orders.js";
import { finalizeBlocker } from "./transitions.js";

const DAY = 86_400_000;

/**
 * The public keys (DER SubjectPublicKeyInfo) of a CA and every CA above it,
 * by CA id. A CA's key and its parent never change, so an entry is good for
 * the life of the process; per RaContext, so tests do not share it.
 */
const chainKeysByCtx = new WeakMap<RaContext, Map<string, Buffer[]>>();
const CHAIN_KEYS_MAX = 1024;

async function caChainKeys(ctx: RaContext, caId: string): Promise<Buffer[]> {
  let byCa = chainKeysByCtx.get(ctx);
  if (!byCa) chainKeysByCtx.set(ctx, (byCa = new Map()));
  const hit = byCa.get(caId);
  if (hit) return hit;
  // outside any transaction (finalize opens its own after this)
  const keys = (await caChainPems(ctx.store, caId)).map((pem) => new X509Certificate(pem).publicKey.export({ type: "spki", format: "der" }));
  if (byCa.size >= CHAIN_KEYS_MAX) byCa.clear();
  byCa.set(caId, keys);
  return keys;
}

/**
 * The account key as DER SubjectPublicKeyInfo, by key thumbprint: a
 * thumbprint names one key for ever, and importing a JWK costs more than the
 * rest of the check, so each key is converted once (bounded).
 */
const accountSpkis = new Map<string, Buffer>();
const ACCOUNT_SPKIS_MAX = 4096;

function accountSpki(account: AccountInfo): Buffer {
  const hit = accountSpkis.get(account.keyThumbprint);
  if (hit) return hit;
  const spki = createPublicKey({ key: account.jwk, format: "jwk" }).export({ type: "spki", format: "der" });
  if (accountSpkis.size >= ACCOUNT_SPKIS_MAX) accountSpkis.delete(accountSpkis.keys().next().value!);
  accountSpkis.set(account.keyThumbprint, spki);
  return spki;
}

/**
 * RFC 8555 §7.4 finalize. The CSR is parsed and its key checked first
 * (badCSR / badPublicKey): the key policy, and that it is neither a key of
 * the issuing CA's chain nor the account key (§11.1). Then, with the order
 * locked and the CA share-locked, the order must be ready (orderNotReady)
 * with all its authorizations still valid, the CSR must name exactly its
 * identifiers, and it moves ready -> valid with its certificate written in
 * the same transaction: two concurrent finalizes give exactly one
 * certificate (the second waits for the lock and finds the order valid),
 * and a CA revoked before the lock refuses, one revoked after waits.
 */
export async function finalizeOrder(
  ctx: RaContext,
  dir: DirectoryInfo,
  account: AccountInfo,
  orderId: string,
  csrDer: Buffer,
  recent?: RecentCertificates,
): Promise<OrderInfo> {
  const csr = parseCsr(csrDer);
  checkLeafKeyPolicySpki(csr.publicKeySpki);
  checkLeafKeyNotReused(csr.publicKeySpki, { caSpkis: await caChainKeys(ctx, dir.caId), accountSpki: accountSpki(account) });
  // two round trips: BEGIN with the order locked and the CA row read and share-locked;
  // one statement writing the certificate, the order and both audit entries, with COMMIT
  return inSqlTransaction(ctx, async (tx) => {
    const now = ctx.clock.now();
    const locked = await lockOrderForFinalize(tx, { orderId, accountId: account.id, caId: dir.caId, now });
    if (!locked) throw acmeErr.notFound();
    const info = orderInfo(locked.order, now);
    const blocker = finalizeBlocker(locked.order, locked.authzNotValid, now);
    // RFC 8555 §7.1.6: an order is ready only while all its authorizations are
    // valid; one deactivated (§7.5.2) or expired since then blocks issuance
    if (blocker === "authzNotValid") throw acmeErr.authzNoLongerValid();
    if (blocker) throw acmeErr.orderNotReady(blocker.status);
    checkCsrAgainstOrder(csr, info.identifiers);
    const maxNotAfter = new Date(now.getTime() + dir.maxValidityDays * DAY);
    const notAfter = info.notAfter && info.notAfter < maxNotAfter ? info.notAfter : maxNotAfter;
    const actor = accountActor(account);
    // the CA's status, leaf permission and validity are checked here, on the share-locked row
    const { leaf, row } = await signLeafInSqlTx(ctx, tx, actor, locked.ca, {
      publicKey: csr.publicKey,
      type: dir.certificateKind,
      commonName: csr.commonName?.toLowerCase(),
      dnsNames: info.identifiers.filter((i) => i.type === "dns").map((i) => i.value),
      ipAddresses: info.identifiers.filter((i) => i.type === "ip").map((i) => i.value),
      emails: [],
      notBefore: info.notBefore ?? undefined,
      notAfter,
      source: "acme",
      acmeAccountId: account.id,
      acmeOrderId: info.id,
    });
    tx.audit(actor, {
      action: "acme_order_finalize",
      organizationId: account.organizationId,
      resourceType: "acme_order",
      resourceId: info.id,
      detail: { certificateId: leaf.id, serial: leaf.serial },
    });
    await commitFinalizedOrder(tx, { certificate: row, orderId: info.id, now });
    tx.afterCommit(() => recent?.put(leaf.id, { accountId: account.id, issuerId: locked.ca.id, pem: leaf.pem }));
    return { ...info, status: "valid", certificateId: leaf.id };
  });
}
