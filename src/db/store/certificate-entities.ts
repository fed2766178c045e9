/**
 * Certificates as ORM entities, for the admin plane (which renders issuer,
 * organization and creator through the entity's relations): reading,
 * listing with filters, locking for revocation and marking revoked. New
 * rows are written by the one insert in certificates.ts, then read here.
 */
import { LockMode } from "@mikro-orm/core";
import type { CertificateStatus, RevocationReason } from "../../core/types.js";
import { Certificate, User } from "../entities/index.js";
import { emOf, type OrmTx, type Session } from "./session.js";

/** A certificate entity by id (it must exist: the caller just wrote or found it). */
export async function findCertificateEntity(s: Session, id: string): Promise<Certificate> {
  return emOf(s).findOneOrFail(Certificate, { id }, { populate: ["issuer", "organization"] });
}

/** certificates the admin plane deals with: all but the OCSP responder's own signing certificates */
const ADMIN_VISIBLE = { type: { $ne: "ocsp" } } as const;

/** A certificate the admin plane may see (not an OCSP signing certificate), or undefined. */
export async function findAdminCertificate(s: Session, id: string): Promise<Certificate | undefined> {
  return (await emOf(s).findOne(Certificate, { id, ...ADMIN_VISIBLE })) ?? undefined;
}

/**
 * A certificate locked FOR UPDATE with its issuer loaded (so two concurrent
 * revocations give one success and one alreadyRevoked), or undefined.
 */
export async function lockCertificate(tx: OrmTx, id: string): Promise<Certificate | undefined> {
  return (await emOf(tx).findOne(Certificate, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE, populate: ["issuer"] })) ?? undefined;
}

/** The type "ca" certificate `issuerId` issued with `serial` (an intermediate's own certificate), or undefined. */
export async function findCaCertificate(s: Session, issuerId: string, serial: string): Promise<Certificate | undefined> {
  return (await emOf(s).findOne(Certificate, { issuer: issuerId, serial, type: "ca" })) ?? undefined;
}

/** Who revoked, and why (RFC 5280 §5.3.1). */
export interface Revocation {
  at: Date;
  reason: RevocationReason;
  /** the admin user, when a user revoked */
  userId: string | null;
  /** "user:<name>", "acme-account:<id>", ... */
  byName: string;
}

/** Marks a certificate read in this transaction revoked (written at commit). */
export function markCertificateRevoked(tx: OrmTx, cert: Certificate, r: Revocation): void {
  const em = emOf(tx);
  cert.status = "revoked";
  cert.revokedAt = r.at;
  cert.revocationReason = r.reason;
  cert.revokedBy = r.userId ? em.getReference(User, r.userId) : null;
  cert.revokedByName = r.byName;
}

export interface CertificateListQuery {
  /** null: every organization */
  organizationId: string | null;
  issuerId?: string;
  /** as callers see it: "valid" excludes rows past notAfter, "expired" includes them */
  status?: CertificateStatus;
  /** case-insensitive substring of the common name, DNS names, IP addresses or emails */
  nameContains?: string;
  expiringBefore?: Date;
  /** lower-case hex as stored */
  serial?: string;
  now: Date;
  limit: number;
  offset: number;
}

/** LIKE pattern for a literal substring (PostgreSQL's default escape character is backslash). */
function likeContains(s: string): string {
  return `%${s.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Admin-visible certificates matching every filter, oldest first, with the total count. */
export async function listCertificates(s: Session, q: CertificateListQuery): Promise<{ items: Certificate[]; total: number }> {
  const where: Record<string, unknown>[] = [ADMIN_VISIBLE];
  if (q.organizationId) where.push({ organization: q.organizationId });
  if (q.issuerId) where.push({ issuer: q.issuerId });
  switch (q.status) {
    case undefined:
      break;
    case "valid":
      where.push({ status: "valid", notAfter: { $gt: q.now } });
      break;
    case "expired":
      where.push({ $or: [{ status: "expired" }, { status: "valid", notAfter: { $lte: q.now } }] });
      break;
    case "revoked":
      where.push({ status: "revoked" });
      break;
    default: {
      const never: never = q.status;
      throw new Error(`unknown certificate status ${String(never)}`);
    }
  }
  if (q.expiringBefore) where.push({ notAfter: { $lt: q.expiringBefore } });
  if (q.serial) where.push({ serial: q.serial });
  const qb = emOf(s).createQueryBuilder(Certificate, "c").where({ $and: where });
  if (q.nameContains) {
    const pattern = likeContains(q.nameContains);
    qb.andWhere(
      `(lower(coalesce(c.common_name, '')) like ? or exists (select 1 from jsonb_array_elements_text(c.dns_names || c.ip_addresses || c.emails) as n(v) where lower(n.v) like ?))`,
      [pattern, pattern],
    );
  }
  qb.orderBy({ createdAt: "asc", id: "asc" }).limit(q.limit).offset(q.offset);
  const [items, total] = await qb.getResultAndCount();
  return { items, total };
}
