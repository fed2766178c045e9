/**
 * Importing an existing CA certificate with its private key.
 */
import { X509Certificate, type KeyObject } from "node:crypto";
import { isSigilError, SigilError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import { keyObjectSigningKey } from "../../ca/key-store.js";
import { fromPem } from "../../ca/der.js";
import { exportPrivateKeyPkcs8 } from "../../ca/keys.js";
import { importPrivateKeyPem, KeyImportError } from "../../ca/private-key-import.js";
import { serialToHex } from "../../ca/serial.js";
import { loadIssuer, type Issuer } from "../../ca/signer.js";
import type { CertificateAuthority } from "../../db/entities/index.js";
import { caCertificateImported, caNameTaken, createCa, findCa, organizationExists } from "../../db/store/certificate-authorities.js";
import { certificateSerialTaken } from "../../db/store/certificates.js";
import { authorize } from "../../policy/permissions.js";
import type { Actor } from "../actor.js";
import { inTransaction, type RaContext } from "../context.js";
import { refuseCaKeysUnderPolicy } from "../issuance-policies.js";
import { optionalCrlBaseUrl, optionalId, optionalText, requireCaName, requireId } from "../input.js";
import { caKeyAad, caKeyStore, pemToDer } from "../issuers.js";
import type { GeneratedKey, KeyStorage } from "../../ca/key-store.js";
import { creatorId, recordCaCertificate } from "./common.js";

export interface ImportCaInput {
  organizationId: string;
  name: string;
  description?: string;
  certificatePem: string;
  privateKeyPem: string;
  privateKeyPassword?: string;
  parentId?: string;
  allowLeafCerts: boolean;
  crlBaseUrl?: string;
  /** default database; pkcs11 creates the key in the server's token (non-extractable) and stores no copy */
  keyStorage?: KeyStorage;
}

/** The private key of an import, its failures named by the API's fields. */
async function importKey(pem: string, password: string | undefined): Promise<KeyObject> {
  if (!pem) throw SigilError.invalidArgument("required", "private_key_pem");
  try {
    return await importPrivateKeyPem(pem, password || undefined);
  } catch (e) {
    if (!(e instanceof KeyImportError)) throw e;
    // the key import's messages never carry key material or the password
    const field = e.reason === "password" ? "private_key_password" : "private_key_pem";
    throw new SigilError("invalidArgument", e.message, { field, cause: e });
  }
}

/**
 * Imports an existing CA certificate with its private key (PKCS#8, PKCS#1 or
 * SEC1 PEM; encrypted PKCS#8 with a password, its iteration count capped and
 * decrypted off the event loop: src/ca/private-key-import.ts). The
 * certificate must be a CA (RFC 5280 §4.2.1.9 cA, §4.2.1.3 keyCertSign),
 * unexpired, and match the key. With parent_id, it must have been issued by
 * that CA (issuer name and signature, RFC 5280 §6.1.3) with a path length
 * below the parent's; its certificate is then recorded under the parent so
 * it can be revoked. Needs create_ca.
 */
export async function importCa(ctx: RaContext, actor: Actor, input: ImportCaInput): Promise<CertificateAuthority> {
  const orgId = requireId(input.organizationId, "organization_id");
  authorize(actor, orgId, "create_ca");
  await refuseCaKeysUnderPolicy(ctx.store, actor, orgId);
  requireCaName(input.name);
  const description = optionalText(input.description ?? "", "description");
  const crlBaseUrl = optionalCrlBaseUrl(input.crlBaseUrl);
  const parentId = optionalId(input.parentId, "parent_id");
  const certDer = fromPem(input.certificatePem ?? "", "CERTIFICATE");
  if (!certDer) throw SigilError.invalidArgument("no CERTIFICATE PEM block", "certificate_pem");
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certDer);
  } catch {
    throw SigilError.invalidArgument("not a valid X.509 certificate", "certificate_pem");
  }
  const privateKey = await importKey(input.privateKeyPem, input.privateKeyPassword);
  let issuer: Issuer;
  try {
    issuer = loadIssuer({ certificateDer: certDer, signingKey: keyObjectSigningKey(privateKey) });
  } catch (e) {
    if (isSigilError(e)) {
      const field = e.field === "privateKey" ? "private_key_pem" : "certificate_pem";
      throw new SigilError(e.kind, `${field}: ${e.message}`, { field, cause: e });
    }
    throw e;
  }
  const now = ctx.clock.now();
  if (issuer.notAfter <= now) throw SigilError.failedPrecondition("the CA certificate has expired");
  const serial = serialToHex(issuer.serial);

  // refused before anything is written when the server has no token
  const keyStore = input.keyStorage === "pkcs11" ? (caKeyStore(ctx.issuers.keyStores, "pkcs11"), ctx.issuers.keyStores.pkcs11!) : undefined;
  let inToken: GeneratedKey | undefined;
  try {
    return await inTransaction(ctx, async (tx) => {
      if (!(await organizationExists(tx, orgId))) throw SigilError.notFound("organization not found");
      let parent: CertificateAuthority | undefined;
      if (parentId) {
        parent = await findCa(tx, parentId);
        if (!parent) throw SigilError.notFound("parent CA not found");
        authorize(actor, parent.organization.id, "read");
        if (parent.organization.id !== orgId) throw SigilError.invalidArgument("the parent belongs to another organization", "parent_id");
        const parentX509 = new X509Certificate(pemToDer(parent.certificatePem));
        // RFC 5280 §6.1.3 (a)(1), (a)(4): signed by the parent's key, issuer name = parent's subject
        if (!x509.checkIssued(parentX509) || !x509.verify(parentX509.publicKey)) {
          throw SigilError.invalidArgument("the certificate was not issued by this parent CA", "parent_id");
        }
        if (parent.pathLength != null && (issuer.pathLength === null || issuer.pathLength >= parent.pathLength)) {
          throw SigilError.invalidArgument(`its path length must be below the parent's (${parent.pathLength})`, "certificate_pem");
        }
      }
      if (await caNameTaken(tx, orgId, input.name)) {
        throw SigilError.alreadyExists(`a CA named "${input.name}" already exists in this organization`, "name");
      }
      if (await caCertificateImported(tx, orgId, serial, issuer.pem)) {
        throw SigilError.alreadyExists("this CA certificate is already imported", "certificate_pem");
      }
      const id = uuidv7();
      const ca = createCa(tx, {
        id,
        name: input.name,
        description,
        organizationId: orgId,
        parentId: parent?.id ?? null,
        pathLength: issuer.pathLength,
        allowLeafCerts: input.allowLeafCerts,
        crlBaseUrl,
        keyAlgorithm: issuer.keyAlgorithm,
        ...(keyStore
          ? // docs/key-custody.md: created in the token CKA_SENSITIVE, CKA_EXTRACTABLE=false; the database keeps only the reference
            ((inToken = keyStore.importKey(privateKey, `sigil-ca-${id}`)), { keyStorage: "pkcs11" as const, keyReference: inToken.reference, encryptedPrivateKey: null })
          : { encryptedPrivateKey: await ctx.secrets.seal(tx, orgId, exportPrivateKeyPkcs8(privateKey), caKeyAad(id)) }),
        certificatePem: issuer.pem,
        serial,
        subject: x509SubjectText(x509),
        notBefore: issuer.notBefore,
        notAfter: issuer.notAfter,
        creatorId: creatorId(actor),
        createdAt: now,
      });
      if (parent && !(await certificateSerialTaken(tx, parent.id, serial))) {
        await recordCaCertificate(tx, {
          serial: serial,
          issuerId: parent.id,
          organizationId: orgId,
          commonName: x509CommonName(x509),
          notBefore: issuer.notBefore,
          notAfter: issuer.notAfter,
          creatorId: creatorId(actor),
          certificatePem: issuer.pem,
          createdAt: now,
        });
      }
      tx.audit(actor, {
        action: "ca_import",
        organizationId: orgId,
        resourceType: "certificate_authority",
        resourceId: id,
        detail: { name: input.name, parentId: parent?.id ?? null, keyAlgorithm: issuer.keyAlgorithm, serial },
      });
      return ca;
    });
  } catch (e) {
    // the CA row was not written: the key must not stay in the token
    if (inToken) keyStore!.discard(inToken);
    throw e;
  }
}

/** RFC 4514 §2.1: the RDNs last-to-first (node lists them first-to-last, one per line). */
export function x509SubjectText(x: X509Certificate): string {
  return x.subject
    .split("\n")
    .filter(Boolean)
    .reverse()
    .map((rdn) => {
      const eq = rdn.indexOf("=");
      // RFC 4514 §2.4: escape the special characters of the value
      return `${rdn.slice(0, eq)}=${rdn.slice(eq + 1).replace(/([,+"\\<>;])/g, "\\$1")}`;
    })
    .join(",")
    .slice(0, 512);
}

export function x509CommonName(x: X509Certificate): string | null {
  const cn = x.subject
    .split("\n")
    .filter((l) => l.startsWith("CN="))
    .pop();
  return cn ? cn.slice(3).slice(0, 255) : null;
}
