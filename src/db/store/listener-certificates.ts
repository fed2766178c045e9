/**
 * The HTTPS listener's own certificates (src/tls/self-issued.ts): leaves of
 * type "server" that Sigil issued for itself (source "system", no creator)
 * with a server-generated key, stored encrypted like any such key. They are
 * ordinary certificates rows (listed, revocable, on the CRL); this module
 * only finds them again on start, so a restart reuses the current one
 * instead of issuing a new one every time.
 */
import { statement } from "../sql.js";
import { sqlOf, type Session } from "./session.js";

/** the columns LISTENER_CERTIFICATES reads */
export const LISTENER_CERTIFICATE_COLUMNS = ["id", "dns_names", "ip_addresses", "not_before", "not_after", "certificate_pem"] as const;

/** A stored listener certificate (its key is read separately, by id). */
export interface ListenerCertificateRow {
  id: string;
  dnsNames: string[];
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
  certificatePem: string;
}

const LISTENER_CERTIFICATES = statement(
  "sigil_listener_certificates",
  // system-issued server leaves of one CA that are still usable, newest expiry first; only
  // those whose key Sigil holds (a listener needs it). OCSP signers are type 'ocsp', never here.
  `select ${LISTENER_CERTIFICATE_COLUMNS.join(", ")} from certificates
    where issuer_id = $1 and type = 'server' and source = 'system' and creator_id is null
      and status = 'valid' and not_after > $2 and encrypted_private_key is not null
    order by not_after desc
    limit $3`,
);

/**
 * Valid system listener certificates of `issuerId` that have not expired at
 * `now`, latest notAfter first (at most `limit`); the caller picks the one
 * whose names match.
 */
export async function findListenerCertificates(s: Session, issuerId: string, now: Date, limit = 20): Promise<ListenerCertificateRow[]> {
  const rows = await sqlOf(s).query<{
    id: string;
    dns_names: string[];
    ip_addresses: string[];
    not_before: Date | string;
    not_after: Date | string;
    certificate_pem: string;
  }>(LISTENER_CERTIFICATES, [issuerId, now, limit]);
  return rows.map((r) => ({
    id: r.id,
    dnsNames: r.dns_names,
    ipAddresses: r.ip_addresses,
    notBefore: new Date(r.not_before),
    notAfter: new Date(r.not_after),
    certificatePem: r.certificate_pem,
  }));
}
