/**
 * The certificates table: every certificate a CA signed (leaves, CA
 * certificates, OCSP signing certificates). The one insert statement, its
 * column list and the named row it takes live here; both the admin plane's
 * ORM transactions and the ACME finalize's pipelined statement use it.
 */
import type { CaStatus, CertificateSource, CertificateType } from "../../core/types.js";
import { statement } from "../sql.js";
import { auditInsertSql } from "./audit-sql.js";
import { activeDataKeyLateral, dataKeyOfColumns, type DataKeyJoinColumns, type DataKeyRow } from "./data-keys.js";
import { pipelineOf, sqlOf, takeQueuedAudit, type Session, type SqlTx } from "./session.js";

/** A new certificate row (status is always "valid" when written). */
export interface NewCertificateRow {
  id: string;
  /** lower-case hex of the DER serial */
  serial: string;
  issuerId: string;
  organizationId: string;
  type: CertificateType;
  commonName: string | null;
  dnsNames: string[];
  ipAddresses: string[];
  emails: string[];
  notBefore: Date;
  notAfter: Date;
  creatorId: string | null;
  source: CertificateSource;
  certificatePem: string;
  encryptedPrivateKey: string | null;
  renewedFromId: string | null;
  acmeAccountId: string | null;
  acmeOrderId: string | null;
  createdAt: Date;
}

/** the columns CERTIFICATE_INSERT writes, in parameter order (status is the literal 'valid') */
export const CERTIFICATE_INSERT_COLUMNS = [
  "id",
  "serial",
  "issuer_id",
  "organization_id",
  "type",
  "common_name",
  "dns_names",
  "ip_addresses",
  "emails",
  "not_before",
  "not_after",
  "creator_id",
  "source",
  "certificate_pem",
  "encrypted_private_key",
  "renewed_from_id",
  "acme_account_id",
  "acme_order_id",
  "created_at",
] as const;

const CASTS: Partial<Record<(typeof CERTIFICATE_INSERT_COLUMNS)[number], string>> = {
  dns_names: "::jsonb",
  ip_addresses: "::jsonb",
  emails: "::jsonb",
  creator_id: "::uuid",
  renewed_from_id: "::uuid",
  acme_account_id: "::uuid",
  acme_order_id: "::uuid",
};

/** How many parameters certificateInsertSql takes. */
export const CERTIFICATE_INSERT_PARAMS = CERTIFICATE_INSERT_COLUMNS.length;

/**
 * `insert into certificates` with parameters $first .. $(first + 18), so it
 * can stand alone or as a data-modifying CTE of a larger statement.
 */
export function certificateInsertSql(first = 1): string {
  const values = CERTIFICATE_INSERT_COLUMNS.map((c, i) => `$${first + i}${CASTS[c] ?? ""}`);
  return `insert into certificates (${CERTIFICATE_INSERT_COLUMNS.join(", ")}, status) values (${values.join(", ")}, 'valid')`;
}

/** the parameters of certificateInsertSql for a row, in column order */
export function certificateInsertParams(r: NewCertificateRow): unknown[] {
  return [
    r.id,
    r.serial,
    r.issuerId,
    r.organizationId,
    r.type,
    r.commonName,
    JSON.stringify(r.dnsNames),
    JSON.stringify(r.ipAddresses),
    JSON.stringify(r.emails),
    r.notBefore,
    r.notAfter,
    r.creatorId,
    r.source,
    r.certificatePem,
    r.encryptedPrivateKey,
    r.renewedFromId,
    r.acmeAccountId,
    r.acmeOrderId,
    r.createdAt,
  ];
}

const INSERT = statement("sigil_certificate_insert", certificateInsertSql(1));

/**
 * Writes a certificate row now, in the session's transaction: a serial
 * collision (the (issuer, serial) unique key) fails this transaction.
 */
export async function insertCertificate(s: Session, row: NewCertificateRow): Promise<void> {
  await sqlOf(s).query(INSERT, certificateInsertParams(row));
}

// ---- admin issuance: the issuing CA with its organization's settings, and the one write ----

/** What admin issuance needs of the issuing CA and its organization, read in one statement. */
export interface IssuanceCaRow {
  id: string;
  organizationId: string;
  status: CaStatus;
  allowLeafCerts: boolean;
  notAfter: Date;
  updatedAt: Date;
  certificatePem: string;
  crlBaseUrl: string | null;
  /** organizations.settings as stored (typed by src/ra/organization-settings.ts) */
  organizationSettings: Record<string, unknown> | null;
  /** with `withDataKey`: the organization's active data key, read FOR SHARE (undefined: it has none yet) */
  activeDataKey?: DataKeyRow | undefined;
}

const ISSUANCE_CA_SELECT = `ca.id, ca.organization_id, ca.status, ca.allow_leaf_certs, ca.not_after, ca.updated_at, ca.certificate_pem, ca.crl_base_url,
          o.settings organization_settings`;
const ISSUANCE_CA_FROM = `certificate_authorities ca join organizations o on o.id = ca.organization_id`;
const ISSUANCE_CA_WHERE = `ca.id = $1 and ca.deleted_at is null`;
const ISSUANCE_CA_COLUMNS = `${ISSUANCE_CA_SELECT}
     from ${ISSUANCE_CA_FROM}
    where ${ISSUANCE_CA_WHERE}`;

const ISSUANCE_CA = statement("sigil_certificate_issuance_ca", `select ${ISSUANCE_CA_COLUMNS}`);
/**
 * FOR SHARE of the CA row: a concurrent revocation or deletion of the CA
 * (an update of its row) waits until the certificate is written, or, if it
 * committed first, this read sees it (the certificate's foreign key alone
 * takes only FOR KEY SHARE). The organization row is not locked.
 */
const ISSUANCE_CA_LOCK = statement("sigil_certificate_issuance_ca_lock", `select ${ISSUANCE_CA_COLUMNS} for share of ca`);
/**
 * The same with the organization's active data key, FOR SHARE as
 * SecretVault.seal reads it (a rotation waits for this transaction), for an
 * issuance that seals a server-generated key: one round trip less.
 */
const ISSUANCE_CA_LOCK_WITH_DATA_KEY = statement(
  "sigil_certificate_issuance_ca_lock_data_key",
  `select ${ISSUANCE_CA_SELECT}, dk.*
     from ${ISSUANCE_CA_FROM}
     left join lateral ${activeDataKeyLateral("ca.organization_id")} dk on true
    where ${ISSUANCE_CA_WHERE} for share of ca`,
);

interface IssuanceCaSqlRow extends Partial<DataKeyJoinColumns> {
  id: string;
  organization_id: string;
  status: CaStatus;
  allow_leaf_certs: boolean;
  not_after: Date | string;
  updated_at: Date | string;
  certificate_pem: string;
  crl_base_url: string | null;
  organization_settings: Record<string, unknown> | null;
}

const asDate = (d: Date | string): Date => (d instanceof Date ? d : new Date(d));

/**
 * The live (not deleted) CA `caId` with its organization's settings;
 * undefined when there is none. `lock`: FOR SHARE, in the issuing
 * transaction (in a raw-SQL transaction this statement carries its BEGIN);
 * `withDataKey` (with `lock`): also the organization's active data key.
 */
export async function readIssuanceCa(s: Session, caId: string, opts: { lock?: boolean; withDataKey?: boolean } = {}): Promise<IssuanceCaRow | undefined> {
  const sql = opts.lock ? (opts.withDataKey ? ISSUANCE_CA_LOCK_WITH_DATA_KEY : ISSUANCE_CA_LOCK) : ISSUANCE_CA;
  const [r] = await sqlOf(s).query<IssuanceCaSqlRow>(sql, [caId]);
  return (
    r && {
      ...(r.dk_id !== undefined ? { activeDataKey: dataKeyOfColumns(r as DataKeyJoinColumns) } : {}),
      id: r.id,
      organizationId: r.organization_id,
      status: r.status,
      allowLeafCerts: r.allow_leaf_certs,
      notAfter: asDate(r.not_after),
      updatedAt: asDate(r.updated_at),
      certificatePem: r.certificate_pem,
      crlBaseUrl: r.crl_base_url,
      organizationSettings: r.organization_settings,
    }
  );
}

/** $1-$19 the certificate, $20 the transaction's queued audit rows */
const ISSUED_WRITE = statement(
  "sigil_certificate_issued_write",
  `with cert as (${certificateInsertSql(1)}),
        au as (${auditInsertSql(`$${CERTIFICATE_INSERT_PARAMS + 1}`)})
   select 1 as one`,
);

/**
 * The certificate row and the transaction's queued audit entries in one
 * statement sent with COMMIT; resolves once committed. A serial collision
 * ((issuer_id, serial) is unique) fails it and the whole transaction, so no
 * certificate is handed out unrecorded.
 */
export async function commitIssuedCertificate(tx: SqlTx, row: NewCertificateRow): Promise<void> {
  await pipelineOf(tx).commitWith(ISSUED_WRITE, [...certificateInsertParams(row), takeQueuedAudit(tx)]);
}

const ACME_CERTIFICATE = statement("sigil_acme_certificate_get", `select certificate_pem, issuer_id from certificates where id = $1 and acme_account_id = $2`);

/** An ACME account's certificate: its PEM and issuer (undefined when the account did not order it). */
export async function findAccountCertificate(s: Session, id: string, accountId: string): Promise<{ certificatePem: string; issuerId: string } | undefined> {
  const [r] = await sqlOf(s).query<{ certificate_pem: string; issuer_id: string }>(ACME_CERTIFICATE, [id, accountId]);
  return r && { certificatePem: r.certificate_pem, issuerId: r.issuer_id };
}

/** What revoking by certificate needs of a row found by serial. */
export interface CertificateBySerial {
  id: string;
  certificatePem: string;
  acmeAccountId: string | null;
  organizationId: string;
  dnsNames: string[];
  ipAddresses: string[];
  emails: string[];
}

const BY_SERIAL_IN_ORG = statement(
  "sigil_certificate_by_serial_in_org",
  // the (issuer_id, serial) unique index, over the CAs of the organization
  `select id, certificate_pem, acme_account_id, organization_id, dns_names, ip_addresses, emails from certificates
    where serial = $1 and issuer_id in (select id from certificate_authorities where organization_id = $2)`,
);

/** Certificates with this serial issued by any CA of an organization (one per issuer at most). */
export async function findBySerialInOrganization(s: Session, serial: string, organizationId: string): Promise<CertificateBySerial[]> {
  const rows = await sqlOf(s).query<{
    id: string;
    certificate_pem: string;
    acme_account_id: string | null;
    organization_id: string;
    dns_names: string[];
    ip_addresses: string[];
    emails: string[];
  }>(BY_SERIAL_IN_ORG, [serial, organizationId]);
  return rows.map((r) => ({
    id: r.id,
    certificatePem: r.certificate_pem,
    acmeAccountId: r.acme_account_id,
    organizationId: r.organization_id,
    dnsNames: r.dns_names,
    ipAddresses: r.ip_addresses,
    emails: r.emails,
  }));
}

// ---- the PKI side: key blobs, listing extras, OCSP status, the expiry sweep ----------------

const PRIVATE_KEY = statement("sigil_certificate_private_key", `select encrypted_private_key from certificates where id = $1`);

/** A certificate's encrypted private key (server-generated keys only), null when Sigil never held it, undefined when there is no such row. */
export async function readCertificateEncryptedKey(s: Session, id: string): Promise<string | null | undefined> {
  const [r] = await sqlOf(s).query<{ encrypted_private_key: string | null }>(PRIVATE_KEY, [id]);
  return r ? r.encrypted_private_key : undefined;
}

const SERIAL_TAKEN = statement("sigil_certificate_serial_taken", `select 1 as one from certificates where issuer_id = $1 and serial = $2`);

/** Whether `issuerId` already has a certificate row with this serial. */
export async function certificateSerialTaken(s: Session, issuerId: string, serial: string): Promise<boolean> {
  return (await sqlOf(s).query(SERIAL_TAKEN, [issuerId, serial])).length > 0;
}

/** What listing a certificate shows besides its row: whether Sigil holds its key, and the ACME directory of an ACME-issued one. */
export interface CertificateListExtra {
  id: string;
  hasPrivateKey: boolean;
  acmeDirectoryId: string | null;
}

const LIST_EXTRAS = statement(
  "sigil_certificate_list_extras",
  // the key blob itself is never read here, only whether there is one
  `select c.id, c.encrypted_private_key is not null as has_private_key, a.directory_id
     from certificates c left join acme_accounts a on a.id = c.acme_account_id
    where c.id = any($1::uuid[])`,
);

/** The extras of some certificates, in one round trip. */
export async function certificateListExtras(s: Session, ids: readonly string[]): Promise<CertificateListExtra[]> {
  if (ids.length === 0) return [];
  const rows = await sqlOf(s).query<{ id: string; has_private_key: boolean; directory_id: string | null }>(LIST_EXTRAS, [ids]);
  return rows.map((r) => ({ id: r.id, hasPrivateKey: r.has_private_key, acmeDirectoryId: r.directory_id }));
}

/** The revocation state of a certificate as OCSP answers it (RFC 6960 §2.2). */
export interface CertificateRevocationState {
  status: "valid" | "revoked" | "expired";
  revokedAt: Date | null;
  revocationReason: number | null;
}

const STATUS_BY_SERIAL = statement(
  "sigil_certificate_status_by_serial",
  `select status, revoked_at, revocation_reason from certificates where issuer_id = $1 and serial = $2`,
);

/** The state of `issuerId`'s certificate with this serial (lower-case hex), or undefined when it never issued one. */
export async function findRevocationState(s: Session, issuerId: string, serial: string): Promise<CertificateRevocationState | undefined> {
  const [r] = await sqlOf(s).query<{ status: CertificateRevocationState["status"]; revoked_at: Date | string | null; revocation_reason: number | null }>(
    STATUS_BY_SERIAL,
    [issuerId, serial],
  );
  return r && { status: r.status, revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at), revocationReason: r.revocation_reason };
}

const EXPIRE = statement(
  "sigil_certificate_expire",
  // rows another instance holds are skipped. The batch is a CTE, evaluated once: as
  // `id in (select ... limit $2 for update skip locked)` the planner may rescan the
  // subquery per outer row, each rescan skipping the rows already changed and locking
  // the next $2 (src/db/store/cleanup.ts), so one statement could do the whole backlog;
  // MATERIALIZED: never folded back into the update
  `with b as materialized (select id from certificates where status = 'valid' and not_after <= $1 order by not_after limit $2 for update skip locked)
   update certificates c set status = 'expired' from b
    where c.id = b.id and c.status = 'valid'
    returning c.id, c.serial, c.issuer_id, c.organization_id, c.type`,
);

/** A certificate the expiry sweep marked expired. */
export interface ExpiredCertificate {
  id: string;
  serial: string;
  issuerId: string;
  organizationId: string;
  type: CertificateType;
}

/** Marks at most `limit` valid certificates past notAfter expired; the rows changed. */
export async function expireCertificates(s: Session, now: Date, limit: number): Promise<ExpiredCertificate[]> {
  const rows = await sqlOf(s).query<{ id: string; serial: string; issuer_id: string; organization_id: string; type: CertificateType }>(EXPIRE, [now, limit]);
  return rows.map((r) => ({ id: r.id, serial: r.serial, issuerId: r.issuer_id, organizationId: r.organization_id, type: r.type }));
}

/** the statements ACME reads certificates with, for tests that check their plans (test/integration/acme/hot-path-explain.test.ts) */
export const ACME_CERTIFICATE_STATEMENTS = { accountCertificate: ACME_CERTIFICATE, bySerialInOrganization: BY_SERIAL_IN_ORG, insert: INSERT } as const;

/** the statements of admin issuance, for tests that check their plans */
export const ADMIN_ISSUANCE_STATEMENTS = { ca: ISSUANCE_CA, caLocked: ISSUANCE_CA_LOCK, write: ISSUED_WRITE } as const;

/** the expiry batch statement, for the test that checks it stays one bounded batch (test/integration/db/expiry-batch.test.ts) */
export const EXPIRE_CERTIFICATES_STATEMENT = EXPIRE;
