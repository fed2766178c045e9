import { SigilError } from "../core/errors.js";
import { isRevocationReason, type RevocationReason } from "../core/types.js";
import type { Certificate } from "../db/entities/index.js";
import { findChildCaBySerial, markCaRevoked } from "../db/store/certificate-authorities.js";
import { lockCertificate, markCertificateRevoked } from "../db/store/certificate-entities.js";
import { actorDisplayName, type Actor } from "./actor.js";
import type { RaContext, Tx } from "./context.js";

/**
 * RFC 5280 §5.3.1 reasons a caller may give. 7 is unused by the RFC;
 * removeFromCRL (8) only makes sense for delta CRLs, which we do not issue.
 */
export function checkRevocationReason(reason: number): RevocationReason {
  if (!isRevocationReason(reason) || reason === 8) {
    throw SigilError.invalidArgument("reason: not an RFC 5280 revocation reason we accept (0-6, 9, 10)", "reason");
  }
  return reason;
}

/**
 * Marks a certificate revoked inside the caller's transaction, with its audit
 * entry. The row is locked first (SELECT ... FOR UPDATE) so two concurrent
 * revocations give one success and one alreadyRevoked. When the certificate is
 * an intermediate's, the CA row is marked revoked too (it then issues
 * nothing). The issuer's CRL is regenerated after commit.
 */
export async function revokeCertificateInTx(
  ctx: RaContext,
  tx: Tx,
  actor: Actor,
  certificateId: string,
  reason: RevocationReason,
  /** extra audit detail (e.g. why: { cause: "user_deactivated", userId }) */
  auditDetail: Record<string, unknown> = {},
): Promise<Certificate> {
  const cert = await lockCertificate(tx, certificateId);
  if (!cert) throw SigilError.notFound("certificate not found");
  if (cert.status === "revoked") throw SigilError.alreadyRevoked();
  const now = ctx.clock.now();
  markCertificateRevoked(tx, cert, {
    at: now,
    reason,
    userId: actor.kind === "user" ? actor.id : null,
    byName: actorDisplayName(actor),
  });
  if (cert.type === "ca") {
    const child = await findChildCaBySerial(tx, cert.issuer.id, cert.serial);
    if (child) {
      markCaRevoked(tx, child, now, reason);
      ctx.issuers.invalidate(child.id);
    }
  }
  tx.audit(actor, {
    action: cert.type === "ca" ? "ca_revoke" : actor.kind === "acmeAccount" ? "acme_cert_revoke" : "cert_revoke",
    organizationId: cert.organization.id,
    resourceType: "certificate",
    resourceId: cert.id,
    detail: { serial: cert.serial, issuerId: cert.issuer.id, reason, ...auditDetail },
  });
  const caId = cert.issuer.id;
  tx.afterCommit(() => {
    for (const l of ctx.events.certificateRevoked) l(caId);
  });
  return cert;
}

