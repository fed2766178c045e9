/**
 * RFC 9773 §5 `replaces` in newOrder: the certificate a certID names (with
 * what the checks need: its account, names, status), the write that marks
 * an order as its replacement, and freeing a certificate from a replacing
 * order that has expired. The acme_orders_replaces_certificate_unique
 * partial index lets one order that is not invalid replace a certificate;
 * a second one fails the write with a unique violation.
 */
import { statement } from "../sql.js";
import { sqlOf, type Session } from "./session.js";

/** the columns REPLACED_CERTIFICATE reads (table certificates) */
export const REPLACED_CERTIFICATE_COLUMNS = ["id", "acme_account_id", "dns_names", "ip_addresses", "status", "not_after"] as const;

/** The certificate a `replaces` certID names. */
export interface ReplacedCertificateRow {
  id: string;
  acmeAccountId: string | null;
  dnsNames: string[];
  ipAddresses: string[];
  status: string;
  notAfter: Date;
}

const REPLACED_CERTIFICATE = statement(
  "sigil_acme_replaced_certificate",
  // the (issuer_id, serial) unique index, over the issuers the key identifier matched
  `select ${REPLACED_CERTIFICATE_COLUMNS.join(", ")} from certificates
    where issuer_id = any($1::uuid[]) and serial = $2 and organization_id = $3`,
);

/** the certificate with this serial (stored hex) issued by one of `issuerIds`, in the organization */
export async function findReplacedCertificate(s: Session, issuerIds: string[], serialHex: string, organizationId: string): Promise<ReplacedCertificateRow | null> {
  if (!issuerIds.length) return null;
  const [r] = await sqlOf(s).query<{
    id: string;
    acme_account_id: string | null;
    dns_names: string[];
    ip_addresses: string[];
    status: string;
    not_after: Date | string;
  }>(REPLACED_CERTIFICATE, [issuerIds, serialHex, organizationId]);
  return r
    ? { id: r.id, acmeAccountId: r.acme_account_id, dnsNames: r.dns_names, ipAddresses: r.ip_addresses, status: r.status, notAfter: new Date(r.not_after) }
    : null;
}

/** When a replacing order no longer holds its certificate (src/ra/acme/replaces.ts staleness bounds). */
export interface ReplacingOrderBounds {
  now: Date;
  /** a pending or ready replacing order created before this is abandoned */
  pendingCreatedBefore: Date;
  /** a processing replacing order not updated since this is stuck (a crashed finalize) */
  processingUpdatedBefore: Date;
}

/** $2 now, $3 pending/ready created before, $4 processing updated before: the replacing orders that no longer hold it */
const STALE = `((status in ('pending', 'ready') and (expires <= $2 or created_at <= $3)) or (status = 'processing' and updated_at <= $4))`;

const FREE_EXPIRED_REPLACING = statement(
  "sigil_acme_replacing_orders_expire",
  // RFC 8555 §7.1.6: a pending or ready order past its expiry is invalid, and so is one abandoned or stuck past the
  // bounds; storing that frees the certificate (RFC 9773 §5: only an order that is not invalid holds it)
  `update acme_orders set status = 'invalid', updated_at = $2 where replaces_certificate_id = $1 and ${STALE}`,
);

/** Stores `invalid` on the expired, abandoned or stuck orders replacing this certificate, so a new one may. */
export async function expireStaleReplacingOrders(s: Session, certificateId: string, b: ReplacingOrderBounds): Promise<void> {
  await sqlOf(s).query(FREE_EXPIRED_REPLACING, [certificateId, b.now, b.pendingCreatedBefore, b.processingUpdatedBefore]);
}

const MARK_REPLACES = statement("sigil_acme_order_mark_replaces", `update acme_orders set replaces = $2, replaces_certificate_id = $3 where id = $1`);

/**
 * Marks the order as replacing the certificate. A unique violation
 * (isUniqueViolation) means another order that is not invalid already does.
 */
export async function markOrderReplaces(s: Session, orderId: string, certId: string, certificateId: string): Promise<void> {
  await sqlOf(s).query(MARK_REPLACES, [orderId, certId, certificateId]);
}

const REPLACED_NAMES = statement("sigil_acme_replaced_names", `select dns_names, ip_addresses from certificates where id = $1`);

/** The names of the certificate an order replaces (finalize's certificates-per-registered-domain, review 2 M1). */
export async function findReplacedNames(s: Session, certificateId: string): Promise<{ dnsNames: string[]; ipAddresses: string[] } | null> {
  const [r] = await sqlOf(s).query<{ dns_names: string[]; ip_addresses: string[] }>(REPLACED_NAMES, [certificateId]);
  return r ? { dnsNames: r.dns_names, ipAddresses: r.ip_addresses } : null;
}

const EVER_REPLACED = statement(
  "sigil_acme_replacing_order_any",
  // acme_orders_replaces_certificate_index (migration ReplacementLimits): every order that ever named it, invalid ones too
  `select 1 from acme_orders where replaces_certificate_id = $1 limit 1`,
);

/** Whether any order (whatever its status) has replaced or tried to replace this certificate. */
export async function hasEverBeenReplaced(s: Session, certificateId: string): Promise<boolean> {
  return (await sqlOf(s).query(EVER_REPLACED, [certificateId])).length > 0;
}

const REPLACING_ORDER = statement(
  "sigil_acme_replacing_order",
  // an issued order keeps it replaced; an issuing, pending or ready one only while it is not stale (STALE)
  `select id from acme_orders where replaces_certificate_id = $1 and status in ('valid', 'processing', 'pending', 'ready') and not ${STALE} limit 1`,
);

/** Whether an order that is not invalid (nor expired, abandoned or stuck) already replaces this certificate. */
export async function hasReplacingOrder(s: Session, certificateId: string, b: ReplacingOrderBounds): Promise<boolean> {
  return (await sqlOf(s).query(REPLACING_ORDER, [certificateId, b.now, b.pendingCreatedBefore, b.processingUpdatedBefore])).length > 0;
}
