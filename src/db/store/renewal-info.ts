/**
 * RFC 9773 ACME Renewal Information (ARI): the reads a renewalInfo GET
 * needs. The certID names a certificate by its issuer's key identifier and
 * its serial (§4.1); the issuer is found among the CAs of the directory's
 * organization (ra/ matches the key identifier against each CA certificate),
 * then the certificate by the (issuer_id, serial) unique index.
 */
import { statement } from "../sql.js";
import { sqlOf, type Session } from "./session.js";

/** the columns RENEWAL_INFO_CAS reads (table certificate_authorities) */
export const RENEWAL_INFO_CA_COLUMNS = ["id", "certificate_pem", "status", "not_after"] as const;
/** the columns RENEWAL_INFO_CERTIFICATE reads (table certificates) */
export const RENEWAL_INFO_CERTIFICATE_COLUMNS = ["id", "status", "not_before", "not_after"] as const;

/** A CA of the organization, as the issuer of a certificate the certID may name. */
export interface RenewalInfoCaRow {
  id: string;
  certificatePem: string;
  status: string;
  notAfter: Date;
}

/** The certificate the certID names. */
export interface RenewalInfoCertificateRow {
  id: string;
  status: string;
  notBefore: Date;
  notAfter: Date;
}

const RENEWAL_INFO_CAS = statement(
  "sigil_renewal_info_cas",
  // a deleted CA (deleted_at set) names no certificate any more
  `select ${RENEWAL_INFO_CA_COLUMNS.join(", ")} from certificate_authorities where organization_id = $1 and deleted_at is null`,
);

const RENEWAL_INFO_CERTIFICATE = statement(
  "sigil_renewal_info_certificate",
  // the (issuer_id, serial) unique index; the organization again, so no other tenant's row answers
  `select ${RENEWAL_INFO_CERTIFICATE_COLUMNS.join(", ")} from certificates
    where issuer_id = $1 and serial = $2 and organization_id = $3`,
);

/** every live (not deleted) CA of an organization (the caller matches their key identifiers) */
export async function findOrganizationCas(s: Session, organizationId: string): Promise<RenewalInfoCaRow[]> {
  const rows = await sqlOf(s).query<{ id: string; certificate_pem: string; status: string; not_after: Date | string }>(RENEWAL_INFO_CAS, [organizationId]);
  return rows.map((r) => ({ id: r.id, certificatePem: r.certificate_pem, status: r.status, notAfter: new Date(r.not_after) }));
}

/** the certificate of `issuerId` with this serial (stored hex form, src/ca/serial.ts), in the organization */
export async function findCertificateByIssuerSerial(s: Session, issuerId: string, serialHex: string, organizationId: string): Promise<RenewalInfoCertificateRow | null> {
  const [r] = await sqlOf(s).query<{ id: string; status: string; not_before: Date | string; not_after: Date | string }>(RENEWAL_INFO_CERTIFICATE, [
    issuerId,
    serialHex,
    organizationId,
  ]);
  return r ? { id: r.id, status: r.status, notBefore: new Date(r.not_before), notAfter: new Date(r.not_after) } : null;
}
