/**
 * The expiry job: marks certificates and CAs `expired` once their notAfter
 * has passed (RFC 5280 §4.1.2.5), each with a `cert_expire` audit entry in
 * the same transaction. Revoked certificates and CAs stay revoked: revocation
 * is the stronger fact, and the CRL and OCSP keep reporting it (see crl.ts for
 * when an expired certificate leaves the CRL). `expired` is a status for
 * listings; OCSP answers an expired, unrevoked certificate "good", consistent
 * with the CRL not listing it.
 *
 * Safe with several instances: rows are claimed with
 * `FOR UPDATE SKIP LOCKED` in batches, and the update re-checks the status.
 */
import { expireCas } from "../db/store/certificate-authorities.js";
import { expireCertificates } from "../db/store/certificates.js";
import { systemActor } from "./actor.js";
import { inTransaction, type RaContext } from "./context.js";

/** rows per transaction */
export const EXPIRY_BATCH = 500;

export interface ExpiryResult {
  certificates: number;
  cas: number;
}

export async function markExpired(ctx: RaContext): Promise<ExpiryResult> {
  const actor = systemActor("expiry");
  const result: ExpiryResult = { certificates: 0, cas: 0 };
  for (;;) {
    const now = ctx.clock.now();
    const n = await inTransaction(ctx, async (tx) => {
      const rows = await expireCertificates(tx, now, EXPIRY_BATCH);
      for (const r of rows) {
        tx.audit(actor, {
          action: "cert_expire",
          organizationId: r.organizationId,
          resourceType: "certificate",
          resourceId: r.id,
          detail: { serial: r.serial, issuerId: r.issuerId, type: r.type },
        });
      }
      return rows.length;
    });
    result.certificates += n;
    if (n < EXPIRY_BATCH) break;
  }
  const now = ctx.clock.now();
  result.cas = await inTransaction(ctx, async (tx) => {
    // updated_at moves, so the IssuerCache reloads the row (and its status) next time
    const rows = await expireCas(tx, now);
    for (const r of rows) {
      tx.audit(actor, {
        action: "cert_expire",
        organizationId: r.organizationId,
        resourceType: "certificate_authority",
        resourceId: r.id,
        detail: { serial: r.serial },
      });
    }
    return rows.length;
  });
  return result;
}
