/**
 * RFC 8555 §7.4 finalize: exactly one certificate per order, never for a
 * CSR that reuses a CA key or the account key, never from a CA that was
 * revoked meanwhile.
 */
import { X509Certificate } from "node:crypto";
import { parseCsr } from "../../ca/csr.js";
import { checkLeafKeyPolicySpki } from "../../ca/keys.js";
import { caChainPems } from "../../db/store/certificate-authorities.js";
import { commitFinalizedOrder, lockOrderForFinalize } from "../../db/store/acme-orders.js";
import { checkCsrAgainstOrder } from "../../policy/csr.js";
import { checkLeafKeyNotReused, jwkIdentity, keyIdentity, type KeyIdentity } from "../../policy/key-reuse.js";
import { inSqlTransaction, type RaContext } from "../context.js";
import { signLeafInSqlTx } from "../issuance.js";
import { accountActor, type AccountInfo } from "./accounts.js";
import { recheckCaaBeforeFinalize, requireFreshCaa } from "./caa.js";
import type { CaaChecker } from "../../validation/caa.js";
import type { RecentCertificates } from "./certificate-download.js";
import type { DirectoryInfo } from "./directories.js";
import { acmeErr } from "./errors.js";
import { orderInfo, type OrderInfo } from "./orders.js";
import { finalizeProfile, finalizeTerms } from "./profiles.js";
import { finalizeBlocker } from "./transitions.js";
import { spendCertificateForOrder, withSpent } from "./rate-limits.js";

/**
 * The public keys (DER SubjectPublicKeyInfo) of a CA and every CA above it,
 * by CA id. A CA's key and its parent never change, so an entry is good for
 * the life of the process; per RaContext, so tests do not share it.
 */
const chainKeysByCtx = new WeakMap<RaContext, Map<string, KeyIdentity[]>>();
const CHAIN_KEYS_MAX = 1024;

async function caChainKeys(ctx: RaContext, caId: string): Promise<KeyIdentity[]> {
  let byCa = chainKeysByCtx.get(ctx);
  if (!byCa) chainKeysByCtx.set(ctx, (byCa = new Map()));
  const hit = byCa.get(caId);
  if (hit) return hit;
  // outside any transaction (finalize opens its own after this)
  const keys = (await caChainPems(ctx.store, caId)).map((pem) => keyIdentity(new X509Certificate(pem).publicKey));
  if (byCa.size >= CHAIN_KEYS_MAX) byCa.clear();
  byCa.set(caId, keys);
  return keys;
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
  /** RFC 8659 CAA lookups (the validator's), for the 8-hour recheck of directories with CAA on */
  caa?: CaaChecker,
): Promise<OrderInfo> {
  const csr = parseCsr(csrDer);
  checkLeafKeyPolicySpki(csr.publicKeySpki);
  // by key identity, not encoding: a compressed EC point is the same key (RFC 8555 §11.1)
  checkLeafKeyNotReused(keyIdentity(csr.publicKey), { caKeys: await caChainKeys(ctx, dir.caId), accountKey: jwkIdentity(account.jwk) });
  // RFC 8659 / CA/B BR §3.2.2.8: CAA checks older than 8 hours are made again, before any transaction opens (src/ra/acme/caa.ts)
  await recheckCaaBeforeFinalize(ctx, caa, dir, account, orderId);
  // docs/rate-limits.md: certificates per registered domain, before the signing transaction
  // (replacements exempt); given back when no certificate is issued
  const spent = await spendCertificateForOrder(ctx, dir, account, orderId);
  // two round trips: BEGIN with the order locked and the CA row read and share-locked;
  // one statement writing the certificate, the order and both audit entries, with COMMIT
  return withSpent(spent, () => inSqlTransaction(ctx, async (tx) => {
    const now = ctx.clock.now();
    const locked = await lockOrderForFinalize(tx, { orderId, accountId: account.id, caId: dir.caId, now });
    if (!locked) throw acmeErr.notFound();
    const info = orderInfo(locked.order, now);
    const blocker = finalizeBlocker(locked.order, locked.authzNotValid, now);
    // RFC 8555 §7.1.6: an order is ready only while all its authorizations are
    // valid; one deactivated (§7.5.2) or expired since then blocks issuance
    if (blocker === "authzNotValid") throw acmeErr.authzNoLongerValid();
    if (blocker) throw acmeErr.orderNotReady(blocker.status);
    // BR §3.2.2.8: every dns authorization's CAA check started within 8 hours of now, read after the order lock (src/ra/acme/caa.ts)
    await requireFreshCaa(tx, dir, orderId, now);
    checkCsrAgainstOrder(csr, info.identifiers);
    // draft-ietf-acme-profiles-00 §4: issued under the order's profile (invalidProfile if no longer offered)
    const profile = finalizeProfile(dir, locked.order.profile);
    // the profile's identifier rules, notBefore and notAfter re-checked as the profile is now; the CN (at most 64) (ra/acme/profiles.ts)
    const { notBefore, notAfter, commonName } = finalizeTerms(profile, info, csr.commonName, now);
    const actor = accountActor(account);
    // the CA's status, leaf permission and validity are checked here, on the share-locked row
    const { leaf, row } = await signLeafInSqlTx(ctx, tx, actor, locked.ca, {
      publicKey: csr.publicKey,
      type: profile.certificateKind,
      commonName,
      keyUsages: profile.keyUsages,
      dnsNames: info.identifiers.filter((i) => i.type === "dns").map((i) => i.value),
      ipAddresses: info.identifiers.filter((i) => i.type === "ip").map((i) => i.value),
      emails: [],
      notBefore,
      notAfter,
      source: "acme",
      acmeAccountId: account.id,
      acmeOrderId: info.id,
      // RFC 9773 §5: the certificate the order replaces
      ...(locked.order.replacesCertificateId ? { renewedFromId: locked.order.replacesCertificateId } : {}),
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
  }));
}
