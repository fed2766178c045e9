/**
 * The certificate_authorities table: CA rows as entities for the admin
 * plane (creation, reading, listing, settings, revocation and retirement),
 * and the few raw reads other paths need (the encrypted key, the published
 * certificate, the chain, the expiry sweep). ra/ decides; this module reads
 * and writes, always on the session it is given.
 */
import { LockMode } from "@mikro-orm/core";
import type { CaStatus, KeyAlgorithm, RevocationReason } from "../../core/types.js";
import { CertificateAuthority, Organization, User } from "../entities/index.js";
import { statement } from "../sql.js";
import { emOf, sqlOf, type OrmTx, type Session } from "./session.js";

/** A new CA row (status active unless given; the key already encrypted and bound to `id`). */
export interface NewCaRow {
  id: string;
  name: string;
  description: string;
  organizationId: string;
  parentId: string | null;
  pathLength: number | null;
  allowLeafCerts: boolean;
  crlBaseUrl: string | null;
  keyAlgorithm: KeyAlgorithm;
  /** null only with offlineKey */
  encryptedPrivateKey: string | null;
  /** empty for a pending_activation CA */
  certificatePem: string;
  /** lower-case hex of the DER serial */
  serial: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  creatorId: string | null;
  createdAt: Date;
  /** default active; pending_activation for an intermediate waiting for its external parent's certificate */
  status?: CaStatus;
  /** the CSR of a pending_activation CA */
  csrPem?: string | null;
  /** Sigil does not hold the key (an offline root) */
  offlineKey?: boolean;
  /** where the key lives (default database: encryptedPrivateKey); pkcs11 keys have a keyReference and no encryptedPrivateKey */
  keyStorage?: "database" | "pkcs11";
  /** the PKCS#11 key's CKA_ID in hex */
  keyReference?: string | null;
}

/** Persists a new CA in the transaction (written at the next statement or at commit). */
export function createCa(tx: OrmTx, row: NewCaRow): CertificateAuthority {
  const em = emOf(tx);
  const ca = em.create(CertificateAuthority, {
    id: row.id,
    name: row.name,
    description: row.description,
    organization: em.getReference(Organization, row.organizationId),
    parent: row.parentId ? em.getReference(CertificateAuthority, row.parentId) : null,
    pathLength: row.pathLength,
    allowLeafCerts: row.allowLeafCerts,
    crlBaseUrl: row.crlBaseUrl,
    keyAlgorithm: row.keyAlgorithm,
    encryptedPrivateKey: row.encryptedPrivateKey,
    certificatePem: row.certificatePem,
    serial: row.serial,
    subject: row.subject,
    notBefore: row.notBefore,
    notAfter: row.notAfter,
    creator: row.creatorId ? em.getReference(User, row.creatorId) : null,
    status: row.status ?? "active",
    csrPem: row.csrPem ?? null,
    offlineKey: row.offlineKey ?? false,
    keyStorage: row.keyStorage ?? "database",
    keyReference: row.keyReference ?? null,
    createdAt: row.createdAt,
    updatedAt: row.createdAt,
  });
  em.persist(ca);
  return ca;
}

export interface FindCaOptions {
  /**
   * "forShare": FOR SHARE (an issuance: a concurrent revocation or deletion
   * waits for it); "forUpdate": FOR UPDATE (a change of the row). Both need a
   * transaction.
   */
  lock?: "forShare" | "forUpdate";
  /** deleted (retired) CAs too; default false */
  includeDeleted?: boolean;
}

/** A CA by id (undefined when there is none, or it was deleted and includeDeleted is not set). */
export async function findCa(s: Session, id: string, opts: FindCaOptions = {}): Promise<CertificateAuthority | undefined> {
  const where = opts.includeDeleted ? { id } : { id, deletedAt: null };
  const lockMode = opts.lock === "forShare" ? LockMode.PESSIMISTIC_READ : opts.lock === "forUpdate" ? LockMode.PESSIMISTIC_WRITE : undefined;
  const ca = await emOf(s).findOne(CertificateAuthority, where, lockMode ? { lockMode } : {});
  return ca ?? undefined;
}

/** The intermediate whose certificate `parentId` issued with `serial` (deleted ones too). */
export async function findChildCaBySerial(s: Session, parentId: string, serial: string): Promise<CertificateAuthority | undefined> {
  return (await emOf(s).findOne(CertificateAuthority, { parent: parentId, serial })) ?? undefined;
}

/** Whether a live CA of the organization has this name (deleted CAs were renamed when deleted). */
export async function caNameTaken(s: Session, organizationId: string, name: string): Promise<boolean> {
  return (await emOf(s).count(CertificateAuthority, { organization: organizationId, name })) > 0;
}

/** Whether this CA certificate is already imported (live) in the organization. */
export async function caCertificateImported(s: Session, organizationId: string, serial: string, certificatePem: string): Promise<boolean> {
  return (await emOf(s).count(CertificateAuthority, { organization: organizationId, serial, certificatePem, deletedAt: null })) > 0;
}

export interface CaListQuery {
  /** null: every organization */
  organizationId: string | null;
  rootsOnly?: boolean;
  /** direct children of this CA only */
  parentId?: string;
  limit: number;
  offset: number;
}

/** Live CAs, oldest first, with the total count of the query. */
export async function listCas(s: Session, q: CaListQuery): Promise<{ items: CertificateAuthority[]; total: number }> {
  const where: Record<string, unknown> = { deletedAt: null };
  if (q.organizationId) where.organization = q.organizationId;
  if (q.rootsOnly) where.parent = null;
  if (q.parentId) where.parent = q.parentId;
  const [items, total] = await emOf(s).findAndCount(CertificateAuthority, where, {
    orderBy: { createdAt: "asc", id: "asc" },
    limit: q.limit,
    offset: q.offset,
  });
  return { items, total };
}

/** The organization's live CA whose certificate is exactly this one (PEM as stored), if any. */
export async function findCaByCertificate(s: Session, organizationId: string, serial: string, certificatePem: string): Promise<CertificateAuthority | undefined> {
  return (await emOf(s).findOne(CertificateAuthority, { organization: organizationId, serial, certificatePem, deletedAt: null })) ?? undefined;
}

/** What activating a pending_activation CA sets: its certificate, as signed by its external parent. */
export interface CaActivation {
  parentId: string;
  certificatePem: string;
  serial: string;
  subject: string;
  pathLength: number | null;
  notBefore: Date;
  notAfter: Date;
  at: Date;
}

/** Activates a pending CA read (FOR UPDATE) in this transaction: certificate, parent, status active, CSR dropped (written at commit). */
export function activateCa(tx: OrmTx, ca: CertificateAuthority, a: CaActivation): void {
  const em = emOf(tx);
  ca.parent = em.getReference(CertificateAuthority, a.parentId);
  ca.certificatePem = a.certificatePem;
  ca.serial = a.serial;
  ca.subject = a.subject;
  ca.pathLength = a.pathLength;
  ca.notBefore = a.notBefore;
  ca.notAfter = a.notAfter;
  ca.status = "active";
  ca.csrPem = null;
  ca.updatedAt = a.at;
}

/** Changes of a CA's settings; undefined leaves a field as it is. */
export interface CaSettings {
  description?: string;
  crlBaseUrl?: string | null;
  allowLeafCerts?: boolean;
}

/** Applies settings to a CA read in this transaction (written at commit). */
export function updateCaSettings(tx: OrmTx, ca: CertificateAuthority, changes: CaSettings): void {
  emOf(tx);
  if (changes.description !== undefined) ca.description = changes.description;
  if (changes.crlBaseUrl !== undefined) ca.crlBaseUrl = changes.crlBaseUrl;
  if (changes.allowLeafCerts !== undefined) ca.allowLeafCerts = changes.allowLeafCerts;
}

/** Marks a CA read in this transaction revoked (RFC 5280 §5.3.1 reason). */
export function markCaRevoked(tx: OrmTx, ca: CertificateAuthority, at: Date, reason: RevocationReason): void {
  emOf(tx);
  ca.status = "revoked";
  ca.revokedAt = at;
  ca.revocationReason = reason;
}

/**
 * Retires a CA read in this transaction: deleted_at set, leaf issuance off,
 * and its name freed (the (organization, name) unique key) for a new CA.
 */
export function retireCa(tx: OrmTx, ca: CertificateAuthority, at: Date): void {
  emOf(tx);
  ca.deletedAt = at;
  ca.allowLeafCerts = false;
  ca.name = `${ca.name.slice(0, 80)} (deleted ${ca.id})`;
}

const DELETION_BLOCKERS = statement(
  "sigil_certificate_authorities_deletion_blockers",
  // the responder's OCSP signing certificates (type "ocsp") are the CA's own, not something it serves others
  `select
     (select count(*) from certificate_authorities where parent_id = $1 and deleted_at is null) as children,
     (select count(*) from certificates where issuer_id = $1 and status = 'valid' and not_after > $2 and type <> 'ocsp') as live,
     (select count(*) from acme_directories where ca_id = $1) as directories`,
);

/** What keeps a CA from being deleted: live child CAs, unexpired valid certificates, ACME directories bound to it. */
export async function caDeletionBlockers(s: Session, caId: string, now: Date): Promise<{ children: number; liveCertificates: number; directories: number }> {
  const [r] = await sqlOf(s).query<{ children: string; live: string; directories: string }>(DELETION_BLOCKERS, [caId, now]);
  return { children: Number(r?.children ?? 0), liveCertificates: Number(r?.live ?? 0), directories: Number(r?.directories ?? 0) };
}

const ORGANIZATION_EXISTS = statement("sigil_certificate_authorities_organization_exists", `select 1 as one from organizations where id = $1`);

/** Whether the organization a new CA would belong to exists. */
export async function organizationExists(s: Session, organizationId: string): Promise<boolean> {
  return (await sqlOf(s).query(ORGANIZATION_EXISTS, [organizationId])).length > 0;
}

const KEY_HOLDER = statement(
  "sigil_certificate_authorities_key_holder",
  `select key_storage, key_reference, encrypted_private_key from certificate_authorities where id = $1`,
);

/** Where a CA's key is: its storage, the PKCS#11 reference or the encrypted blob; undefined when there is no such CA. */
export async function readCaKeyHolder(
  s: Session,
  caId: string,
): Promise<{ storage: "database" | "pkcs11"; reference: string | null; encryptedPrivateKey: string | null } | undefined> {
  const [r] = await sqlOf(s).query<{ key_storage: "database" | "pkcs11"; key_reference: string | null; encrypted_private_key: string | null }>(KEY_HOLDER, [caId]);
  return r ? { storage: r.key_storage, reference: r.key_reference, encryptedPrivateKey: r.encrypted_private_key } : undefined;
}

const KEY = statement("sigil_certificate_authorities_key", `select encrypted_private_key from certificate_authorities where id = $1`);

/** A CA's encrypted private key blob (bound to its id), or undefined when there is no such CA. */
export async function readCaEncryptedKey(s: Session, caId: string): Promise<string | undefined> {
  const [r] = await sqlOf(s).query<{ encrypted_private_key: string }>(KEY, [caId]);
  return r?.encrypted_private_key;
}

const CHAIN = statement(
  "sigil_certificate_authorities_chain",
  // RFC 5280 §6.1: the CA, then its issuers up to the root, in one round trip (depth bounded against a cycle)
  `with recursive chain (id, parent_id, certificate_pem, depth) as (
     select id, parent_id, certificate_pem, 0 from certificate_authorities where id = $1
     union all
     select a.id, a.parent_id, a.certificate_pem, chain.depth + 1
       from certificate_authorities a join chain on a.id = chain.parent_id where chain.depth < 32)
   select certificate_pem from chain order by depth`,
);

/** PEM certificates from the CA up to its root (empty when there is no such CA). */
export async function caChainPems(s: Session, caId: string): Promise<string[]> {
  return (await sqlOf(s).query<{ certificate_pem: string }>(CHAIN, [caId])).map((r) => r.certificate_pem);
}

const ORGANIZATION_CERTIFICATES = statement(
  "sigil_certificate_authorities_org_certificates",
  `select certificate_pem from certificate_authorities where organization_id = $1`,
);

/** The certificates of every CA of an organization, deleted ones included (their keys stay CA keys). */
export async function organizationCaCertificatePems(s: Session, organizationId: string): Promise<string[]> {
  return (await sqlOf(s).query<{ certificate_pem: string }>(ORGANIZATION_CERTIFICATES, [organizationId])).map((r) => r.certificate_pem);
}

const PUBLISHED = statement("sigil_certificate_authorities_published", `select certificate_pem, created_at from certificate_authorities where id = $1`);

/** A CA's certificate as relying parties fetch it (RFC 5280 §4.2.2.1 caIssuers), with when the row was created. */
export async function findPublishedCaCertificate(s: Session, caId: string): Promise<{ certificatePem: string; createdAt: Date } | undefined> {
  const [r] = await sqlOf(s).query<{ certificate_pem: string; created_at: Date | string }>(PUBLISHED, [caId]);
  return r && { certificatePem: r.certificate_pem, createdAt: new Date(r.created_at) };
}

const EXISTS = statement("sigil_certificate_authorities_exists", `select id from certificate_authorities where id = $1`);

/** Whether a CA row exists (deleted ones too: their CRLs are still served). */
export async function caExists(s: Session, caId: string): Promise<boolean> {
  return (await sqlOf(s).query(EXISTS, [caId])).length > 0;
}

const LOCK = statement("sigil_certificate_authorities_lock", `select id from certificate_authorities where id = $1 for update`);

/** Takes the CA row lock until the transaction ends (serializes CRL numbering and signer issuance across instances). */
export async function lockCa(tx: OrmTx, caId: string): Promise<boolean> {
  return (await sqlOf(tx).query(LOCK, [caId])).length > 0;
}

const EXPIRE = statement(
  "sigil_certificate_authorities_expire",
  // updated_at moves, so the IssuerCache reloads the row (and its status) next time
  // the rows to change are a CTE, evaluated once (an `id in (select ... for update skip locked)`
  // subquery may be rescanned per outer row: src/db/store/cleanup.ts)
  `with b as materialized (select id from certificate_authorities where status = 'active' and not_after <= $1 for update skip locked)
   update certificate_authorities a set status = 'expired', updated_at = $1 from b
    where a.id = b.id and a.status = 'active'
    returning a.id, a.organization_id, a.serial`,
);

/** Marks active CAs past notAfter expired (rows other instances hold are skipped); the rows changed. */
export async function expireCas(tx: OrmTx, now: Date): Promise<Array<{ id: string; organizationId: string; serial: string }>> {
  const rows = await sqlOf(tx).query<{ id: string; organization_id: string; serial: string }>(EXPIRE, [now]);
  return rows.map((r) => ({ id: r.id, organizationId: r.organization_id, serial: r.serial }));
}

/** the CA expiry statement, for the test that checks its plan (test/integration/db/expiry-batch.test.ts) */
export const EXPIRE_CAS_STATEMENT = EXPIRE;
