/** Exporting a CA's private key (audited, in the transaction that reads it). */
import { SigilError } from "../../core/errors.js";
import { importPrivateKeyPkcs8 } from "../../ca/keys.js";
import { checkPkcs12Password } from "../../ca/pkcs12.js";
import { caChainPems, readCaEncryptedKey } from "../../db/store/certificate-authorities.js";
import { authorize } from "../../policy/permissions.js";
import type { Actor } from "../actor.js";
import { inTransaction, type RaContext } from "../context.js";
import { refuseCaKeysUnderPolicy } from "../issuance-policies.js";
import { requireId } from "../input.js";
import { caKeyAad, HSM_KEY_NOT_EXPORTABLE } from "../issuers.js";
import { loadCa, renderExportedKey, type ExportedKey, type PrivateKeyExportFormat } from "./common.js";

/**
 * Decrypts a CA key and returns it as PKCS#8 PEM, or as PKCS#12 (RFC 7292)
 * with the CA certificate and its chain. A key in a PKCS#11 token is
 * refused (FAILED_PRECONDITION): it was created non-extractable. Needs export_private_key; the
 * ca_export_private_key audit entry commits in the same transaction as the
 * read, so no key leaves without its entry. Every read goes through the
 * transaction (on the embedded database a second connection would wait for
 * ever).
 */
export async function exportCaPrivateKey(
  ctx: RaContext,
  actor: Actor,
  id: string,
  format: PrivateKeyExportFormat,
  password: string,
): Promise<ExportedKey> {
  const caId = requireId(id, "id");
  if (format === "pkcs12") checkPkcs12Password(password);
  return inTransaction(ctx, async (tx) => {
    const ca = await loadCa(tx, caId);
    authorize(actor, ca.organization.id, "export_private_key");
    await refuseCaKeysUnderPolicy(tx, actor, ca.organization.id);
    // docs/key-custody.md: a PKCS#11 key was created CKA_EXTRACTABLE=false; there is nothing to decrypt
    if (ca.keyStorage === "pkcs11") throw SigilError.failedPrecondition(HSM_KEY_NOT_EXPORTABLE, { type: "KEY_STORAGE", subject: "pkcs11" });
    const blob = await readCaEncryptedKey(tx, ca.id);
    if (!blob) throw SigilError.notFound("certificate authority not found");
    const key = importPrivateKeyPkcs8(await ctx.secrets.open(tx, blob, caKeyAad(ca.id)));
    tx.audit(actor, {
      action: "ca_export_private_key",
      organizationId: ca.organization.id,
      resourceType: "certificate_authority",
      resourceId: ca.id,
      detail: { name: ca.name, serial: ca.serial, format },
    });
    return renderExportedKey(key, format, password, { certificatePems: () => caChainPems(tx, ca.id), friendlyName: ca.name });
  });
}
