/**
 * Certificates through the admin plane: issuance with a server-generated key
 * or for a PKCS#10 CSR, reading and listing, chains, revocation, renewal and
 * private-key export. Every write and its audit entry commit together
 * (issueLeafInTx / revokeCertificateInTx write the row and the entry in the
 * caller's transaction).
 *
 * The OCSP responder's own signing certificates (type "ocsp") are recorded
 * in the certificates table but are not the admin plane's: they are neither
 * listed nor found here (NOT_FOUND), so they are not revoked, renewed or
 * exported through it. The responder issues and rotates them.
 */
import { X509Certificate } from "node:crypto";
import { LockMode } from "@mikro-orm/core";
import type { EntityManager } from "@mikro-orm/postgresql";
import { csrDerFromPem, parseCsr } from "../ca/csr.js";
import { exportPrivateKeyPkcs8, generateKeyPair, importPrivateKeyPkcs8, keyAlgorithmOf, checkLeafKeyPolicy, privateKeyToPem } from "../ca/keys.js";
import { buildPkcs12, checkPkcs12Password } from "../ca/pkcs12.js";
import { serialFromHex, serialToHex } from "../ca/serial.js";
import { SigilError } from "../core/errors.js";
import type { CertificateStatus, KeyAlgorithm } from "../core/types.js";
import { KEY_ALGORITHMS } from "../core/types.js";
import { AcmeAccount, Certificate, CertificateAuthority } from "../db/entities/index.js";
import { checkLeafNames, type LeafProfile } from "../policy/leaf-names.js";
import { authorize } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import {
  caChainPems,
  visibleOrganization,
  type ExportedKey,
  type Page,
  type PrivateKeyExportFormat,
} from "./certificate-authorities.js";
import { inTransaction, type RaContext } from "./context.js";
import { requireId } from "./input.js";
import { certKeyAad, issueLeafInTx } from "./issuance.js";
import { pemToDer } from "./issuers.js";
import { nextPageToken, parsePage } from "./paging.js";
import { checkRevocationReason, revokeCertificateInTx } from "./revocation.js";

const DAY_MS = 86_400_000;
/** Validity of admin-issued leaves when the request gives none. */
export const DEFAULT_LEAF_VALIDITY_DAYS = 365;
/** Longest validity an admin-issued leaf may ask for (clamped to the CA's notAfter anyway, RFC 5280 §6.1.3). */
export const MAX_LEAF_VALIDITY_DAYS = 3650;

function checkValidityDays(days: number): number {
  if (days === 0) return DEFAULT_LEAF_VALIDITY_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > MAX_LEAF_VALIDITY_DAYS) {
    throw SigilError.invalidArgument(`validity_days: 1 to ${MAX_LEAF_VALIDITY_DAYS} (0 for ${DEFAULT_LEAF_VALIDITY_DAYS})`, "validity_days");
  }
  return days;
}

function checkProfile(type: string): LeafProfile {
  if (type === "server" || type === "client" || type === "dual") return type;
  throw SigilError.invalidArgument("type: server, client or dual", "type");
}

/** Status as callers see it: valid past notAfter reads as "expired". */
export function effectiveCertificateStatus(c: Pick<Certificate, "status" | "notAfter">, now: Date): CertificateStatus {
  return c.status === "valid" && c.notAfter <= now ? "expired" : c.status;
}

/** Ids among `ids` whose private key Sigil holds (server-side generation), without loading the encrypted blobs. */
export async function idsWithPrivateKey(em: EntityManager, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await em.find(Certificate, { id: { $in: ids }, encryptedPrivateKey: { $ne: null } }, { fields: ["id"] });
  return new Set(rows.map((r) => r.id));
}

async function loadCaForIssuance(em: EntityManager, caId: string): Promise<CertificateAuthority> {
  // FOR SHARE: a concurrent revocation or deletion of the CA waits for this issuance (and vice versa)
  const ca = await em.findOne(CertificateAuthority, { id: caId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_READ });
  if (!ca) throw SigilError.notFound("certificate authority not found");
  return ca;
}

async function authorizeCa(ctx: RaContext, actor: Actor, caId: string, need: "create_cert" | "read"): Promise<CertificateAuthority> {
  const ca = await ctx.orm.em.fork().findOne(CertificateAuthority, { id: caId, deletedAt: null });
  if (!ca) throw SigilError.notFound("certificate authority not found");
  authorize(actor, ca.organization.id, need);
  return ca;
}

export interface IssueInput {
  caId: string;
  type: string;
  commonName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  emails: string[];
  keyAlgorithm: KeyAlgorithm;
  /** 0 = DEFAULT_LEAF_VALIDITY_DAYS */
  validityDays: number;
}

/**
 * Issues a leaf with a key generated here (RSA or EC). The key is stored
 * encrypted under the master key, bound to the certificate id, and leaves the
 * server only through exportCertificatePrivateKey. Needs create_cert.
 */
export async function issueCertificate(ctx: RaContext, actor: Actor, input: IssueInput): Promise<Certificate> {
  const caId = requireId(input.caId, "ca_id");
  const profile = checkProfile(input.type);
  const names = checkLeafNames(profile, input);
  if (!KEY_ALGORITHMS.includes(input.keyAlgorithm)) throw SigilError.invalidArgument("key_algorithm: unsupported", "key_algorithm");
  const days = checkValidityDays(input.validityDays);
  await authorizeCa(ctx, actor, caId, "create_cert");
  const keyPair = await generateKeyPair(input.keyAlgorithm);
  return inTransaction(ctx, async (tx) => {
    const ca = await loadCaForIssuance(tx.em, caId);
    const now = ctx.clock.now();
    return issueLeafInTx(ctx, tx, actor, {
      ca,
      publicKey: keyPair.publicKey,
      type: profile,
      ...names,
      notAfter: new Date(now.getTime() + days * DAY_MS),
      source: "admin",
      privateKeyPkcs8: exportPrivateKeyPkcs8(keyPair.privateKey),
    });
  });
}

/**
 * Issues a leaf for a PKCS#10 CSR (RFC 2986): the signature is verified
 * (proof of possession), the key must pass the leaf key policy, a CSR asking
 * for cA=TRUE is refused (RFC 5280 §4.2.1.9), and the CSR's names must fit
 * the profile. Needs create_cert.
 */
export async function signCsr(
  ctx: RaContext,
  actor: Actor,
  input: { caId: string; csrPem: string; type: string; validityDays: number },
): Promise<Certificate> {
  const caId = requireId(input.caId, "ca_id");
  const profile = checkProfile(input.type);
  const days = checkValidityDays(input.validityDays);
  if (!input.csrPem) throw SigilError.invalidArgument("csr_pem: required", "csr_pem");
  const csr = parseCsr(csrDerFromPem(input.csrPem));
  if (csr.requestsCa) throw SigilError.badCsr("the CSR asks for a CA certificate (basicConstraints cA=TRUE); use the CA service");
  checkLeafKeyPolicy(csr.publicKey);
  const names = checkLeafNames(profile, csr);
  await authorizeCa(ctx, actor, caId, "create_cert");
  return inTransaction(ctx, async (tx) => {
    const ca = await loadCaForIssuance(tx.em, caId);
    const now = ctx.clock.now();
    return issueLeafInTx(ctx, tx, actor, {
      ca,
      publicKey: csr.publicKey,
      type: profile,
      ...names,
      notAfter: new Date(now.getTime() + days * DAY_MS),
      source: "admin",
    });
  });
}

/** certificates the admin plane deals with: all but the OCSP responder's own (see the header) */
const ADMIN_VISIBLE = { type: { $ne: "ocsp" } } as const;

async function loadCertificate(em: EntityManager, id: string): Promise<Certificate> {
  const cert = await em.findOne(Certificate, { id: requireId(id, "id"), ...ADMIN_VISIBLE });
  if (!cert) throw SigilError.notFound("certificate not found");
  return cert;
}

/** One certificate (any member of its organization may read it). */
export async function getCertificate(ctx: RaContext, actor: Actor, id: string): Promise<Certificate> {
  const cert = await loadCertificate(ctx.orm.em.fork() as EntityManager, id);
  authorize(actor, cert.organization.id, "read");
  return cert;
}

export interface ListCertificatesInput {
  organizationId?: string;
  caId?: string;
  status?: CertificateStatus;
  /** case-insensitive substring of the common name, DNS names, IP addresses or emails */
  nameContains?: string;
  expiringBefore?: Date;
  serial?: string;
  pageSize: number;
  pageToken: string;
}

/** LIKE pattern for a literal substring (PostgreSQL's default escape character is backslash). */
function likeContains(s: string): string {
  return `%${s.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Certificates visible to the caller, oldest first, with filters (AND). */
export async function listCertificates(ctx: RaContext, actor: Actor, input: ListCertificatesInput): Promise<Page<Certificate>> {
  const page = parsePage(input.pageSize, input.pageToken);
  const org = visibleOrganization(actor, input.organizationId);
  if (org === "none") return { items: [], nextPageToken: "" };
  const em = ctx.orm.em.fork() as EntityManager;
  const now = ctx.clock.now();
  const where: Record<string, unknown>[] = [ADMIN_VISIBLE];
  if (org) where.push({ organization: org });
  if (input.caId) {
    const ca = await em.findOne(CertificateAuthority, { id: requireId(input.caId, "ca_id"), deletedAt: null });
    if (!ca) throw SigilError.notFound("certificate authority not found");
    authorize(actor, ca.organization.id, "read");
    where.push({ issuer: ca.id });
  }
  switch (input.status) {
    case undefined:
      break;
    case "valid":
      where.push({ status: "valid", notAfter: { $gt: now } });
      break;
    case "expired":
      where.push({ $or: [{ status: "expired" }, { status: "valid", notAfter: { $lte: now } }] });
      break;
    case "revoked":
      where.push({ status: "revoked" });
      break;
    default: {
      const never: never = input.status;
      throw SigilError.invalidArgument(`status: unknown ${String(never)}`, "status");
    }
  }
  if (input.expiringBefore) where.push({ notAfter: { $lt: input.expiringBefore } });
  if (input.serial) where.push({ serial: serialToHex(serialFromHex(input.serial)) });
  const qb = em.createQueryBuilder(Certificate, "c").where({ $and: where });
  if (input.nameContains) {
    if (input.nameContains.length > 255) throw SigilError.invalidArgument("name_contains: at most 255 characters", "name_contains");
    const pattern = likeContains(input.nameContains);
    qb.andWhere(
      `(lower(coalesce(c.common_name, '')) like ? or exists (select 1 from jsonb_array_elements_text(c.dns_names || c.ip_addresses || c.emails) as n(v) where lower(n.v) like ?))`,
      [pattern, pattern],
    );
  }
  qb.orderBy({ createdAt: "asc", id: "asc" }).limit(page.limit).offset(page.offset);
  const [items, total] = await qb.getResultAndCount();
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** The certificate's PEM, then its issuers up to the root. */
export async function getCertificateChain(ctx: RaContext, actor: Actor, id: string): Promise<string[]> {
  const em = ctx.orm.em.fork() as EntityManager;
  const cert = await loadCertificate(em, id);
  authorize(actor, cert.organization.id, "read");
  const issuer = await em.findOneOrFail(CertificateAuthority, { id: cert.issuer.id });
  return [cert.certificatePem, ...(await caChainPems(em, issuer))];
}

/**
 * Revokes a certificate with an RFC 5280 §5.3.1 reason; it appears on its
 * issuer's next CRL and in OCSP answers. Needs revoke_cert.
 */
export async function revokeCertificate(ctx: RaContext, actor: Actor, id: string, reason: number): Promise<Certificate> {
  const certId = requireId(id, "id");
  const checked = checkRevocationReason(reason);
  // the organization of a certificate never changes: authorize before taking the row lock
  const cert = await loadCertificate(ctx.orm.em.fork() as EntityManager, certId);
  authorize(actor, cert.organization.id, "revoke_cert");
  return inTransaction(ctx, (tx) => revokeCertificateInTx(ctx, tx, actor, certId, checked));
}

/**
 * Issues a successor with the same names, type and issuer, recording
 * renewed_from (one cert_renew audit entry). Key choice:
 * - the original's key was generated here: a NEW key of the same algorithm is
 *   generated (a renewal is the moment to rotate; the old key is not reused
 *   and stays exportable with the old certificate);
 * - the original was issued for a CSR: the same public key is certified
 *   again (Sigil never had the private key; the holder renews without a new
 *   CSR), after re-checking the key policy.
 * Revoked certificates are not renewed, nor are CA certificates. The
 * original is left valid (it expires on its own; revoke it with reason
 * superseded if it must go now). Needs create_cert.
 */
export async function renewCertificate(
  ctx: RaContext,
  actor: Actor,
  id: string,
  validityDays: number | undefined,
): Promise<Certificate> {
  const certId = requireId(id, "id");
  const em0 = ctx.orm.em.fork() as EntityManager;
  const orig = await loadCertificate(em0, certId);
  authorize(actor, orig.organization.id, "create_cert");
  if (orig.type === "ca") throw SigilError.failedPrecondition("CA certificates are renewed through the CA service, not here");
  if (orig.status === "revoked") throw SigilError.failedPrecondition("a revoked certificate is not renewed; issue a new one");
  const days =
    validityDays === undefined
      ? Math.max(1, Math.round((orig.notAfter.getTime() - orig.notBefore.getTime()) / DAY_MS))
      : checkValidityDays(validityDays);
  const hasKey = (await idsWithPrivateKey(em0, [orig.id])).has(orig.id);
  const oldPublicKey = new X509Certificate(pemToDer(orig.certificatePem)).publicKey;
  let publicKey = oldPublicKey;
  let privateKeyPkcs8: Buffer | undefined;
  if (hasKey) {
    const alg = keyAlgorithmOf(oldPublicKey);
    if (!alg) throw SigilError.failedPrecondition("the original key algorithm is not one Sigil generates");
    const kp = await generateKeyPair(alg);
    publicKey = kp.publicKey;
    privateKeyPkcs8 = exportPrivateKeyPkcs8(kp.privateKey);
  } else {
    checkLeafKeyPolicy(oldPublicKey);
  }
  const profile = checkProfile(orig.type);
  return inTransaction(ctx, async (tx) => {
    const ca = await loadCaForIssuance(tx.em, orig.issuer.id);
    const now = ctx.clock.now();
    return issueLeafInTx(ctx, tx, actor, {
      ca,
      publicKey,
      type: profile,
      commonName: orig.commonName ?? undefined,
      dnsNames: orig.dnsNames,
      ipAddresses: orig.ipAddresses,
      emails: orig.emails,
      notAfter: new Date(now.getTime() + days * DAY_MS),
      source: "admin",
      renewedFromId: orig.id,
      privateKeyPkcs8,
      auditAction: "cert_renew",
    });
  });
}

/**
 * Exports the private key of a certificate issued with a server-generated
 * key: PKCS#8 PEM, or PKCS#12 (RFC 7292) with the certificate and its chain,
 * protected by `password`. Needs export_private_key; the
 * cert_export_private_key audit entry commits with the read (no key leaves
 * without its entry). FAILED_PRECONDITION when Sigil does not hold the key.
 */
export async function exportCertificatePrivateKey(
  ctx: RaContext,
  actor: Actor,
  id: string,
  format: PrivateKeyExportFormat,
  password: string,
): Promise<ExportedKey> {
  const certId = requireId(id, "id");
  if (format === "pkcs12") checkPkcs12Password(password);
  return inTransaction(ctx, async (tx) => {
    const cert = await tx.em.findOne(Certificate, { id: certId, ...ADMIN_VISIBLE });
    if (!cert) throw SigilError.notFound("certificate not found");
    authorize(actor, cert.organization.id, "export_private_key");
    const rows = await tx.em
      .getConnection()
      .execute<{ encrypted_private_key: string | null }[]>(`select encrypted_private_key from certificates where id = ?`, [cert.id]);
    const blob = rows[0]?.encrypted_private_key;
    if (!blob) throw SigilError.failedPrecondition("Sigil does not hold this certificate's private key (it was issued for a CSR)");
    const key = importPrivateKeyPkcs8(ctx.keyRing.decrypt(blob, certKeyAad(cert.id)));
    tx.audit(actor, {
      action: "cert_export_private_key",
      organizationId: cert.organization.id,
      resourceType: "certificate",
      resourceId: cert.id,
      detail: { serial: cert.serial, issuerId: cert.issuer.id, format },
    });
    if (format === "pem") return { format, pem: privateKeyToPem(key) };
    const issuer = await tx.em.findOneOrFail(CertificateAuthority, { id: cert.issuer.id });
    const chain = [cert.certificatePem, ...(await caChainPems(tx.em, issuer))];
    const der = buildPkcs12({
      privateKey: key,
      certificates: chain.map(pemToDer),
      password,
      friendlyName: cert.commonName ?? cert.dnsNames[0] ?? cert.emails[0] ?? cert.serial,
    });
    return { format, der };
  });
}

/** What the wire shape of certificates needs besides the rows: which keys Sigil holds, and the ACME directory of ACME-issued ones. */
export interface CertificateExtras {
  hasPrivateKey: Set<string>;
  /** certificate id -> ACME directory id */
  acmeDirectoryId: Map<string, string>;
}

export async function certificateExtras(ctx: RaContext, certs: Certificate[]): Promise<CertificateExtras> {
  const em = ctx.orm.em.fork() as EntityManager;
  const hasPrivateKey = await idsWithPrivateKey(
    em,
    certs.map((c) => c.id),
  );
  const acmeDirectoryId = new Map<string, string>();
  const accountIds = [...new Set(certs.map((c) => c.acmeAccountId).filter((x): x is string => !!x))];
  if (accountIds.length) {
    const accounts = await em.find(AcmeAccount, { id: { $in: accountIds } }, { fields: ["id", "directory"] });
    const byAccount = new Map(accounts.map((a) => [a.id, a.directory.id]));
    for (const c of certs) {
      const d = c.acmeAccountId ? byAccount.get(c.acmeAccountId) : undefined;
      if (d) acmeDirectoryId.set(c.id, d);
    }
  }
  return { hasPrivateKey, acmeDirectoryId };
}
