/**
 * The ocsp_signers table: delegated OCSP signing certificates (RFC 6960
 * §4.2.2.2) Sigil issued under a CA for its own responder, with their
 * encrypted keys. Each one is also a certificates row of type "ocsp" (same
 * id), written by the one certificates insert in the same transaction, so
 * its serial is unique among everything the CA signed.
 */
import { CertificateAuthority, Certificate, OcspSigner } from "../entities/index.js";
import { insertCertificate } from "./certificates.js";
import { emOf, type OrmTx, type Session } from "./session.js";

/** The CA's signer with the latest notAfter (its key blob loaded), or undefined. */
export async function newestOcspSigner(s: Session, caId: string): Promise<OcspSigner | undefined> {
  return (await emOf(s).findOne(OcspSigner, { ca: caId }, { orderBy: { notAfter: "desc" }, populate: ["encryptedPrivateKey"] })) ?? undefined;
}

/** A new signer (its key encrypted and bound to `id`). */
export interface NewOcspSigner {
  id: string;
  caId: string;
  organizationId: string;
  /** lower-case hex */
  serial: string;
  commonName: string;
  certificatePem: string;
  encryptedPrivateKey: string;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

/**
 * Writes the signer's certificates row now (a serial a leaf already has
 * fails this transaction, and the certificate is never used) and persists
 * the ocsp_signers row that references it.
 */
export async function createOcspSigner(tx: OrmTx, n: NewOcspSigner): Promise<OcspSigner> {
  await insertCertificate(tx, {
    id: n.id,
    serial: n.serial,
    issuerId: n.caId,
    organizationId: n.organizationId,
    type: "ocsp",
    commonName: n.commonName,
    dnsNames: [],
    ipAddresses: [],
    emails: [],
    notBefore: n.notBefore,
    notAfter: n.notAfter,
    creatorId: null,
    source: "system",
    certificatePem: n.certificatePem,
    encryptedPrivateKey: null,
    renewedFromId: null,
    acmeAccountId: null,
    acmeOrderId: null,
    createdAt: n.createdAt,
  });
  const em = emOf(tx);
  const row = em.create(OcspSigner, {
    id: n.id,
    ca: em.getReference(CertificateAuthority, n.caId),
    certificate: em.getReference(Certificate, n.id),
    serial: n.serial,
    certificatePem: n.certificatePem,
    encryptedPrivateKey: n.encryptedPrivateKey,
    notBefore: n.notBefore,
    notAfter: n.notAfter,
    createdAt: n.createdAt,
  });
  em.persist(row);
  await em.flush();
  return row;
}
