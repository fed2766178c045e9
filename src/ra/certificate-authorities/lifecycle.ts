/**
 * A CA's life after creation: settings, revocation of an intermediate, and
 * deletion (retirement).
 */
import { SigilError, type PreconditionViolation } from "../../core/errors.js";
import type { CaStatus } from "../../core/types.js";
import type { CertificateAuthority } from "../../db/entities/index.js";
import { caDeletionBlockers, retireCa, updateCaSettings } from "../../db/store/certificate-authorities.js";
import { findCaCertificate, markCertificateRevoked } from "../../db/store/certificate-entities.js";
import { authorize } from "../../policy/permissions.js";
import { actorDisplayName, type Actor } from "../actor.js";
import { inTransaction, type RaContext } from "../context.js";
import { optionalCrlBaseUrl, optionalText, requireId } from "../input.js";
import { checkRevocationReason, revokeCertificateInTx } from "../revocation.js";
import { loadCa } from "./common.js";

export interface UpdateCaInput {
  description?: string;
  /** "" resets to the server default (SIGIL_PUBLIC_URL) */
  crlBaseUrl?: string;
  allowLeafCerts?: boolean;
}

/**
 * Changes description, CRL base URL or allow_leaf_certs. The CRL base URL
 * goes into certificates issued from now on (RFC 5280 §4.2.1.13); those
 * already issued keep theirs. Needs create_ca (the capability that governs a
 * CA's configuration).
 */
export async function updateCa(ctx: RaContext, actor: Actor, id: string, input: UpdateCaInput): Promise<CertificateAuthority> {
  if (input.description !== undefined) optionalText(input.description, "description");
  const crlBaseUrl = input.crlBaseUrl === undefined ? undefined : optionalCrlBaseUrl(input.crlBaseUrl);
  const caId = requireId(id, "id");
  const ca = await inTransaction(ctx, async (tx) => {
    const ca = await loadCa(tx, caId, { lock: "forUpdate" });
    authorize(actor, ca.organization.id, "create_ca");
    const changed: Record<string, unknown> = {};
    if (input.description !== undefined && input.description !== ca.description) changed.description = input.description;
    if (crlBaseUrl !== undefined && crlBaseUrl !== (ca.crlBaseUrl ?? null)) changed.crlBaseUrl = crlBaseUrl;
    if (input.allowLeafCerts !== undefined && input.allowLeafCerts !== ca.allowLeafCerts) changed.allowLeafCerts = input.allowLeafCerts;
    updateCaSettings(tx, ca, {
      description: "description" in changed ? input.description : undefined,
      crlBaseUrl: "crlBaseUrl" in changed ? crlBaseUrl : undefined,
      allowLeafCerts: "allowLeafCerts" in changed ? input.allowLeafCerts : undefined,
    });
    tx.audit(actor, {
      action: "ca_update",
      organizationId: ca.organization.id,
      resourceType: "certificate_authority",
      resourceId: ca.id,
      detail: { changed },
    });
    return ca;
  });
  ctx.issuers.invalidate(ca.id); // the issuer's URLs may have changed
  return ca;
}

/**
 * Deletes a CA. Refused (FAILED_PRECONDITION) while it has child CAs, while
 * it has issued certificates that are unexpired and not revoked, or while an
 * ACME directory issues from it. Certificates are never deleted (they are
 * the revocation record and reference their issuer), so the CA row is
 * retired rather than removed: deleted_at is set, leaf issuance is switched
 * off, its name is freed for reuse, and the admin API no longer shows it;
 * its CRL keeps answering for what it issued. An intermediate's own
 * certificate, when still valid, is revoked with cessationOfOperation
 * (RFC 5280 §5.3.1) so the parent's CRL lists it. Needs delete_ca.
 */
export async function deleteCa(ctx: RaContext, actor: Actor, id: string): Promise<void> {
  const caId = requireId(id, "id");
  await inTransaction(ctx, async (tx) => {
    const ca = await loadCa(tx, caId, { lock: "forUpdate" });
    authorize(actor, ca.organization.id, "delete_ca");
    const now = ctx.clock.now();
    const blockers = await caDeletionBlockers(tx, ca.id, now);
    // every blocker at once (google.rpc.PreconditionFailure at the admin edge); the message is the first's
    const subject = `certificate_authorities/${ca.id}`;
    const blocked: PreconditionViolation[] = [];
    if (blockers.children > 0) blocked.push({ type: "CA_HAS_CHILDREN", subject, description: `the CA has ${blockers.children} child CA(s); delete them first` });
    if (blockers.liveCertificates > 0) {
      blocked.push({ type: "CA_HAS_LIVE_CERTIFICATES", subject, description: `the CA has ${blockers.liveCertificates} unexpired valid certificate(s); revoke them or wait until they expire` });
    }
    if (blockers.directories > 0) {
      blocked.push({ type: "CA_BOUND_TO_DIRECTORIES", subject, description: `the CA is bound to ${blockers.directories} ACME directory(ies); rebind or delete them first` });
    }
    if (blocked.length > 0) throw SigilError.preconditionsFailed(blocked);
    let revokedOwnCertificateId: string | null = null;
    const parentId = ca.parent?.id ?? null;
    if (parentId) {
      const own = await findCaCertificate(tx, parentId, ca.serial);
      if (own && own.status === "valid") {
        markCertificateRevoked(tx, own, {
          at: now,
          reason: 5, // cessationOfOperation
          userId: actor.kind === "user" ? actor.id : null,
          byName: actorDisplayName(actor),
        });
        revokedOwnCertificateId = own.id;
        tx.afterCommit(() => {
          for (const l of ctx.events.certificateRevoked) l(parentId);
        });
      }
    }
    tx.audit(actor, {
      action: "ca_delete",
      organizationId: ca.organization.id,
      resourceType: "certificate_authority",
      resourceId: ca.id,
      detail: { name: ca.name, serial: ca.serial, parentId, revokedOwnCertificateId },
    });
    retireCa(tx, ca, now);
  });
  ctx.issuers.invalidate(caId);
}

/**
 * Revokes an intermediate CA: its certificate (the type "ca" Certificate row
 * its parent issued) is marked revoked, so it appears on the parent's CRL
 * (RFC 5280 §5.3) and in the parent's OCSP answers, and the CA issues nothing
 * any more. Roots cannot be revoked (nothing above them publishes a CRL).
 * Needs revoke_cert.
 */
export async function revokeCa(ctx: RaContext, actor: Actor, id: string, reason: number): Promise<CertificateAuthority> {
  const caId = requireId(id, "id");
  const checkedReason = checkRevocationReason(reason);
  return inTransaction(ctx, async (tx) => {
    const ca = await loadCa(tx, caId);
    authorize(actor, ca.organization.id, "revoke_cert");
    if (!ca.parent) throw SigilError.failedPrecondition("a root CA cannot be revoked: no CRL above it could list it; delete it instead");
    if (ca.status === "revoked") throw SigilError.alreadyRevoked("the CA is already revoked");
    const own = await findCaCertificate(tx, ca.parent.id, ca.serial);
    if (!own) throw SigilError.failedPrecondition("the CA's certificate is not recorded under its parent");
    // marks the CA row revoked too (the same entity instance: one transaction, one identity map)
    await revokeCertificateInTx(ctx, tx, actor, own.id, checkedReason);
    if ((ca.status as CaStatus) !== "revoked") throw SigilError.internal("CA row was not marked revoked");
    return ca;
  });
}
