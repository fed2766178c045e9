import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { LockMode } from "@mikro-orm/core";
import type { EntityManager } from "@mikro-orm/postgresql";
import { isSigilError, SigilError } from "../core/errors.js";
import type { CaStatus, KeyAlgorithm } from "../core/types.js";
import { KEY_ALGORITHMS } from "../core/types.js";
import { fromPem } from "../ca/der.js";
import { exportPrivateKeyPkcs8, generateKeyPair, importPrivateKeyPkcs8, privateKeyToPem } from "../ca/keys.js";
import { buildPkcs12, checkPkcs12Password } from "../ca/pkcs12.js";
import { newSerial, serialToHex } from "../ca/serial.js";
import { createRootCa as signRootCa, issueSubordinateCa, loadIssuer, type DistinguishedName, type Issuer } from "../ca/signer.js";
import { uuidv7 } from "../core/ids.js";
import { AcmeDirectory, Certificate, CertificateAuthority, Organization, User } from "../db/entities/index.js";
import { authorize, isSuperuser } from "../policy/permissions.js";
import { actorDisplayName, type Actor } from "./actor.js";
import { inTransaction, type RaContext } from "./context.js";
import { optionalId, optionalText, requireId } from "./input.js";
import { caKeyAad, pemToDer } from "./issuers.js";
import { nextPageToken, parsePage } from "./paging.js";
import { checkRevocationReason, revokeCertificateInTx } from "./revocation.js";

const DAY_MS = 86_400_000;

export interface CreateCaInput {
  organizationId: string;
  name: string;
  description?: string;
  subject: DistinguishedName;
  keyAlgorithm: KeyAlgorithm;
  validityDays: number;
  /** RFC 5280 §4.2.1.9 pathLenConstraint; null/undefined = unlimited (root) or parent's minus one (intermediate) */
  pathLength?: number | null;
  allowLeafCerts?: boolean;
  crlBaseUrl?: string | null;
}

function checkCaInput(input: CreateCaInput): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$/.test(input.name)) {
    throw SigilError.invalidArgument("name: 1-128 letters, digits, '.', '_', '-' or spaces", "name");
  }
  if (!input.subject.commonName?.trim()) throw SigilError.invalidArgument("subject.common_name: required", "subject.common_name");
  if (!KEY_ALGORITHMS.includes(input.keyAlgorithm)) throw SigilError.invalidArgument("key_algorithm: unsupported", "key_algorithm");
  if (!Number.isInteger(input.validityDays) || input.validityDays < 1 || input.validityDays > 36_500) {
    throw SigilError.invalidArgument("validity_days: 1 to 36500", "validity_days");
  }
  if (input.pathLength != null && (!Number.isInteger(input.pathLength) || input.pathLength < 0 || input.pathLength > 16)) {
    throw SigilError.invalidArgument("path_length: 0 to 16", "path_length");
  }
  if (input.crlBaseUrl != null && input.crlBaseUrl !== "") {
    let ok = false;
    try {
      ok = ["http:", "https:"].includes(new URL(input.crlBaseUrl).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw SigilError.invalidArgument("crl_base_url: must be an http(s) URL", "crl_base_url");
  }
}

async function loadOrganization(em: EntityManager, id: string): Promise<Organization> {
  const org = await em.findOne(Organization, { id });
  if (!org) throw SigilError.notFound("organization not found");
  return org;
}

async function assertNameFree(em: EntityManager, organizationId: string, name: string): Promise<void> {
  // deleted CAs were renamed when deleted, so they never hold a name
  if (await em.count(CertificateAuthority, { organization: organizationId, name })) {
    throw SigilError.alreadyExists(`name: a CA named "${name}" already exists in this organization`, "name");
  }
}

function creatorRef(em: EntityManager, actor: Actor): User | null {
  return actor.kind === "user" ? em.getReference(User, actor.id) : null;
}

/** A new CA row; its private key is encrypted under the master key and bound to the row id. */
function newCaRow(
  ctx: RaContext,
  em: EntityManager,
  actor: Actor,
  p: {
    id: string;
    input: CreateCaInput;
    organization: Organization;
    parent: CertificateAuthority | null;
    pathLength: number | null;
    allowLeafCerts: boolean;
    privateKey: KeyObject;
    certificatePem: string;
    serial: Buffer;
    notBefore: Date;
    notAfter: Date;
  },
): CertificateAuthority {
  return em.create(CertificateAuthority, {
    id: p.id,
    name: p.input.name,
    description: p.input.description ?? "",
    organization: p.organization,
    parent: p.parent,
    pathLength: p.pathLength,
    allowLeafCerts: p.allowLeafCerts,
    crlBaseUrl: p.input.crlBaseUrl || null,
    keyAlgorithm: p.input.keyAlgorithm,
    encryptedPrivateKey: ctx.keyRing.encrypt(exportPrivateKeyPkcs8(p.privateKey), caKeyAad(p.id)),
    certificatePem: p.certificatePem,
    serial: serialToHex(p.serial),
    subject: formatDn(p.input.subject),
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    creator: creatorRef(em, actor),
  } as CertificateAuthority);
}

/**
 * Creates a self-signed root CA. The key is generated here, encrypted under
 * the master key bound to the new row's id, and never stored in clear.
 */
export async function createRootCa(ctx: RaContext, actor: Actor, input: CreateCaInput): Promise<CertificateAuthority> {
  checkCaInput(input);
  const orgId = requireId(input.organizationId, "organization_id");
  authorize(actor, orgId, "create_ca");
  const keyPair = await generateKeyPair(input.keyAlgorithm);
  const now = ctx.clock.now();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + input.validityDays * DAY_MS);
  const serial = newSerial(ctx.random);
  const cert = await signRootCa({ subject: input.subject, keyPair, serial, notBefore, notAfter, pathLength: input.pathLength ?? null });
  return inTransaction(ctx, async (tx) => {
    const org = await loadOrganization(tx.em, orgId);
    await assertNameFree(tx.em, org.id, input.name);
    const id = uuidv7();
    const ca = newCaRow(ctx, tx.em, actor, {
      id, input, organization: org, parent: null, pathLength: input.pathLength ?? null,
      allowLeafCerts: input.allowLeafCerts ?? false, privateKey: keyPair.privateKey, certificatePem: cert.pem, serial, notBefore, notAfter,
    });
    tx.audit(actor, {
      action: "ca_create",
      organizationId: org.id,
      resourceType: "certificate_authority",
      resourceId: id,
      detail: { name: input.name, kind: "root", keyAlgorithm: input.keyAlgorithm, serial: ca.serial },
    });
    return ca;
  });
}

/**
 * Creates an intermediate under `parentId` (same organization). Its path
 * length must be below the parent's, and its validity lies within the
 * parent's. The intermediate's certificate is also recorded as a Certificate
 * row of type "ca" issued by the parent, so it can be revoked on the parent's
 * CRL and answered for by the parent's OCSP responder.
 */
export async function createIntermediateCa(
  ctx: RaContext,
  actor: Actor,
  parentId: string,
  input: CreateCaInput,
): Promise<CertificateAuthority> {
  checkCaInput(input);
  const em0 = ctx.orm.em.fork();
  const parent = await em0.findOne(CertificateAuthority, { id: parentId, deletedAt: null }, { populate: ["organization"] });
  if (!parent) throw SigilError.notFound("parent CA not found");
  authorize(actor, parent.organization.id, "create_ca");
  if (input.organizationId !== parent.organization.id) {
    throw SigilError.invalidArgument("organization_id: an intermediate belongs to its parent's organization", "organization_id");
  }
  if (parent.status !== "active") throw SigilError.failedPrecondition(`the parent CA is ${parent.status}`);
  if (parent.notAfter <= ctx.clock.now()) throw SigilError.failedPrecondition("the parent CA has expired");
  if (parent.pathLength === 0) throw SigilError.failedPrecondition("the parent CA's path length (0) allows no intermediate");
  let pathLength = input.pathLength ?? null;
  if (parent.pathLength != null) {
    if (pathLength == null) pathLength = parent.pathLength - 1;
    if (pathLength >= parent.pathLength) {
      throw SigilError.invalidArgument(`path_length: must be below the parent's (${parent.pathLength})`, "path_length");
    }
  }
  const issuer = await ctx.issuers.get(em0 as EntityManager, parent);
  const keyPair = await generateKeyPair(input.keyAlgorithm);
  const now = ctx.clock.now();
  const notBefore = new Date(now.getTime() - 60_000);
  const requestedEnd = new Date(now.getTime() + input.validityDays * DAY_MS);
  // RFC 5280 §6.1.3: a chain is valid only while every certificate is; clamp to the parent.
  const notAfter = requestedEnd > parent.notAfter ? parent.notAfter : requestedEnd;
  const serial = newSerial(ctx.random);
  const cert = await issueSubordinateCa(issuer, {
    subject: input.subject,
    publicKey: keyPair.publicKey,
    serial,
    notBefore: notBefore < parent.notBefore ? parent.notBefore : notBefore,
    notAfter,
    pathLength,
  });
  return inTransaction(ctx, async (tx) => {
    await assertNameFree(tx.em, parent.organization.id, input.name);
    const id = uuidv7();
    const org = tx.em.getReference(Organization, parent.organization.id);
    const ca = newCaRow(ctx, tx.em, actor, {
      id, input, organization: org, parent: tx.em.getReference(CertificateAuthority, parent.id), pathLength,
      allowLeafCerts: input.allowLeafCerts ?? true, privateKey: keyPair.privateKey, certificatePem: cert.pem, serial, notBefore, notAfter,
    });
    tx.em.create(Certificate, {
      serial: ca.serial,
      issuer: tx.em.getReference(CertificateAuthority, parent.id),
      organization: org,
      type: "ca",
      commonName: input.subject.commonName,
      notBefore,
      notAfter,
      creator: creatorRef(tx.em, actor),
      source: "admin",
      certificatePem: cert.pem,
    } as Certificate);
    tx.audit(actor, {
      action: "ca_create",
      organizationId: org.id,
      resourceType: "certificate_authority",
      resourceId: id,
      detail: { name: input.name, kind: "intermediate", parentId: parent.id, keyAlgorithm: input.keyAlgorithm, serial: ca.serial },
    });
    return ca;
  });
}

/** RFC 4514-style text of a subject, for listing and search. */
export function formatDn(dn: DistinguishedName): string {
  const parts = [`CN=${dn.commonName}`];
  if (dn.organizationalUnit) parts.push(`OU=${dn.organizationalUnit}`);
  if (dn.organization) parts.push(`O=${dn.organization}`);
  if (dn.country) parts.push(`C=${dn.country}`);
  return parts.join(",");
}

// ---------------------------------------------------------------------------
// Reading, import, update, delete, revoke and key export (admin plane)

/** Status as callers see it: an active CA past notAfter reads as "expired" (RFC 5280 §4.1.2.5). */
export function effectiveCaStatus(ca: Pick<CertificateAuthority, "status" | "notAfter">, now: Date): CaStatus {
  return ca.status === "active" && ca.notAfter <= now ? "expired" : ca.status;
}

async function loadCa(em: EntityManager, id: string): Promise<CertificateAuthority> {
  const ca = await em.findOne(CertificateAuthority, { id: requireId(id, "id"), deletedAt: null });
  if (!ca) throw SigilError.notFound("certificate authority not found");
  return ca;
}

/** One CA (any member of its organization may read it). */
export async function getCa(ctx: RaContext, actor: Actor, id: string): Promise<CertificateAuthority> {
  const ca = await loadCa(ctx.orm.em.fork() as EntityManager, id);
  authorize(actor, ca.organization.id, "read");
  return ca;
}

/** Organizations whose rows a list may show: all for a superuser, the caller's own otherwise. */
export function visibleOrganization(actor: Actor, requested: string | undefined): string | null | "none" {
  if (requested) {
    const id = requireId(requested, "organization_id");
    authorize(actor, id, "read");
    return id;
  }
  if (isSuperuser(actor)) return null; // everything
  if (actor.kind === "user" || actor.kind === "serviceAccount") return actor.organizationId ?? "none";
  return "none";
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** CAs visible to the caller, oldest first. */
export async function listCas(
  ctx: RaContext,
  actor: Actor,
  req: { organizationId?: string; rootsOnly?: boolean; pageSize: number; pageToken: string },
): Promise<Page<CertificateAuthority>> {
  const page = parsePage(req.pageSize, req.pageToken);
  const org = visibleOrganization(actor, req.organizationId);
  if (org === "none") return { items: [], nextPageToken: "" };
  const where: Record<string, unknown> = { deletedAt: null };
  if (org) where.organization = org;
  if (req.rootsOnly) where.parent = null;
  const [items, total] = await ctx.orm.em
    .fork()
    .findAndCount(CertificateAuthority, where, { orderBy: { createdAt: "asc", id: "asc" }, limit: page.limit, offset: page.offset });
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** Direct children of a CA. */
export async function listCaChildren(
  ctx: RaContext,
  actor: Actor,
  id: string,
  req: { pageSize: number; pageToken: string },
): Promise<Page<CertificateAuthority>> {
  const page = parsePage(req.pageSize, req.pageToken);
  const em = ctx.orm.em.fork() as EntityManager;
  const ca = await loadCa(em, id);
  authorize(actor, ca.organization.id, "read");
  const [items, total] = await em.findAndCount(
    CertificateAuthority,
    { parent: ca.id, deletedAt: null },
    { orderBy: { createdAt: "asc", id: "asc" }, limit: page.limit, offset: page.offset },
  );
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** PEM certificates from `ca` up to its root (RFC 5280 §6.1: the path a relying party validates). */
export async function caChainPems(em: EntityManager, ca: CertificateAuthority): Promise<string[]> {
  const out = [ca.certificatePem];
  let cur: CertificateAuthority = ca;
  for (let depth = 0; cur.parent && depth < 32; depth++) {
    const parent = await em.findOne(CertificateAuthority, { id: cur.parent.id });
    if (!parent) break;
    out.push(parent.certificatePem);
    cur = parent;
  }
  return out;
}

/** The chain of a CA, the CA first and its root last. */
export async function getCaChain(ctx: RaContext, actor: Actor, id: string): Promise<string[]> {
  const em = ctx.orm.em.fork() as EntityManager;
  const ca = await loadCa(em, id);
  authorize(actor, ca.organization.id, "read");
  return caChainPems(em, ca);
}

export interface UpdateCaInput {
  description?: string;
  /** "" resets to the server default (SIGIL_PUBLIC_URL) */
  crlBaseUrl?: string;
  allowLeafCerts?: boolean;
}

/**
 * Changes description, CRL base URL or allow_leaf_certs. The CRL base URL
 * goes into certificates issued from now on (RFC 5280 §4.2.1.13); those
 * already issued keep theirs. Needs create_ca (the capability that governs a
 * CA's configuration).
 */
export async function updateCa(ctx: RaContext, actor: Actor, id: string, input: UpdateCaInput): Promise<CertificateAuthority> {
  if (input.description !== undefined) optionalText(input.description, "description");
  if (input.crlBaseUrl !== undefined && input.crlBaseUrl !== "") checkCrlBaseUrl(input.crlBaseUrl);
  const caId = requireId(id, "id");
  const ca = await inTransaction(ctx, async (tx) => {
    const ca = await tx.em.findOne(CertificateAuthority, { id: caId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!ca) throw SigilError.notFound("certificate authority not found");
    authorize(actor, ca.organization.id, "create_ca");
    const changed: Record<string, unknown> = {};
    if (input.description !== undefined && input.description !== ca.description) {
      ca.description = input.description;
      changed.description = input.description;
    }
    if (input.crlBaseUrl !== undefined && (input.crlBaseUrl || null) !== (ca.crlBaseUrl ?? null)) {
      ca.crlBaseUrl = input.crlBaseUrl || null;
      changed.crlBaseUrl = ca.crlBaseUrl;
    }
    if (input.allowLeafCerts !== undefined && input.allowLeafCerts !== ca.allowLeafCerts) {
      ca.allowLeafCerts = input.allowLeafCerts;
      changed.allowLeafCerts = input.allowLeafCerts;
    }
    tx.audit(actor, {
      action: "ca_update",
      organizationId: ca.organization.id,
      resourceType: "certificate_authority",
      resourceId: ca.id,
      detail: { changed },
    });
    return ca;
  });
  ctx.issuers.invalidate(ca.id); // the issuer's URLs may have changed
  return ca;
}

function checkCrlBaseUrl(url: string): void {
  let ok = false;
  try {
    ok = ["http:", "https:"].includes(new URL(url).protocol) && /^[\x21-\x7e]+$/.test(url);
  } catch {
    ok = false;
  }
  if (!ok) throw SigilError.invalidArgument("crl_base_url: must be an absolute http(s) URL in ASCII", "crl_base_url");
}

/**
 * Deletes a CA. Refused (FAILED_PRECONDITION) while it has child CAs, while
 * it has issued certificates that are unexpired and not revoked, or while an
 * ACME directory issues from it. Certificates are never deleted (they are
 * the revocation record and reference their issuer), so the CA row is
 * retired rather than removed: deleted_at is set, leaf issuance is switched
 * off, its name is freed for reuse, and the admin API no longer shows it;
 * its CRL keeps answering for what it issued. An intermediate's own
 * certificate, when still valid, is revoked with cessationOfOperation
 * (RFC 5280 §5.3.1) so the parent's CRL lists it. Needs delete_ca.
 */
export async function deleteCa(ctx: RaContext, actor: Actor, id: string): Promise<void> {
  const caId = requireId(id, "id");
  await inTransaction(ctx, async (tx) => {
    const ca = await tx.em.findOne(CertificateAuthority, { id: caId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!ca) throw SigilError.notFound("certificate authority not found");
    authorize(actor, ca.organization.id, "delete_ca");
    const now = ctx.clock.now();
    const children = await tx.em.count(CertificateAuthority, { parent: ca.id, deletedAt: null });
    if (children > 0) throw SigilError.failedPrecondition(`the CA has ${children} child CA(s); delete them first`);
    // the responder's OCSP signing certificates (type "ocsp") are the CA's own, not something it serves others
    const live = await tx.em.count(Certificate, { issuer: ca.id, status: "valid", notAfter: { $gt: now }, type: { $ne: "ocsp" } });
    if (live > 0) {
      throw SigilError.failedPrecondition(`the CA has ${live} unexpired valid certificate(s); revoke them or wait until they expire`);
    }
    const dirs = await tx.em.count(AcmeDirectory, { ca: ca.id });
    if (dirs > 0) throw SigilError.failedPrecondition(`the CA is bound to ${dirs} ACME directory(ies); rebind or delete them first`);
    let revokedOwnCertificateId: string | null = null;
    if (ca.parent) {
      const own = await tx.em.findOne(Certificate, { issuer: ca.parent.id, serial: ca.serial, type: "ca" });
      if (own && own.status === "valid") {
        own.status = "revoked";
        own.revokedAt = now;
        own.revocationReason = 5; // cessationOfOperation
        own.revokedBy = actor.kind === "user" ? tx.em.getReference(User, actor.id) : null;
        own.revokedByName = actorDisplayName(actor);
        revokedOwnCertificateId = own.id;
        const parentId = ca.parent.id;
        tx.afterCommit(() => {
          for (const l of ctx.events.certificateRevoked) l(parentId);
        });
      }
    }
    tx.audit(actor, {
      action: "ca_delete",
      organizationId: ca.organization.id,
      resourceType: "certificate_authority",
      resourceId: ca.id,
      detail: { name: ca.name, serial: ca.serial, parentId: ca.parent?.id ?? null, revokedOwnCertificateId },
    });
    ca.deletedAt = now;
    ca.allowLeafCerts = false;
    // free the (organization, name) unique key for a new CA of the same name
    ca.name = `${ca.name.slice(0, 80)} (deleted ${ca.id})`;
  });
  ctx.issuers.invalidate(caId);
}


/**
 * Revokes an intermediate CA: its certificate (the type "ca" Certificate row
 * its parent issued) is marked revoked, so it appears on the parent's CRL
 * (RFC 5280 §5.3) and in the parent's OCSP answers, and the CA issues nothing
 * any more. Roots cannot be revoked (nothing above them publishes a CRL).
 * Needs revoke_cert.
 */
export async function revokeCa(ctx: RaContext, actor: Actor, id: string, reason: number): Promise<CertificateAuthority> {
  const caId = requireId(id, "id");
  const checkedReason = checkRevocationReason(reason);
  return inTransaction(ctx, async (tx) => {
    const ca = await tx.em.findOne(CertificateAuthority, { id: caId, deletedAt: null });
    if (!ca) throw SigilError.notFound("certificate authority not found");
    authorize(actor, ca.organization.id, "revoke_cert");
    if (!ca.parent) throw SigilError.failedPrecondition("a root CA cannot be revoked: no CRL above it could list it; delete it instead");
    if (ca.status === "revoked") throw SigilError.alreadyRevoked("the CA is already revoked");
    const own = await tx.em.findOne(Certificate, { issuer: ca.parent.id, serial: ca.serial, type: "ca" });
    if (!own) throw SigilError.failedPrecondition("the CA's certificate is not recorded under its parent");
    // marks the CA row revoked too (the same entity instance, through the identity map)
    await revokeCertificateInTx(ctx, tx, actor, own.id, checkedReason);
    if ((ca.status as CaStatus) !== "revoked") throw SigilError.internal("CA row was not marked revoked");
    return ca;
  });
}

/** Formats of an exported private key. */
export type PrivateKeyExportFormat = "pem" | "pkcs12";

export type ExportedKey = { format: "pem"; pem: string } | { format: "pkcs12"; der: Buffer };

/**
 * Decrypts a CA key and returns it as PKCS#8 PEM, or as PKCS#12 (RFC 7292)
 * with the CA certificate and its chain. Needs export_private_key; the
 * ca_export_private_key audit entry commits in the same transaction as the
 * read, so no key leaves without its entry.
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
    const ca = await tx.em.findOne(CertificateAuthority, { id: caId, deletedAt: null });
    if (!ca) throw SigilError.notFound("certificate authority not found");
    authorize(actor, ca.organization.id, "export_private_key");
    const rows = await tx.em
      .getConnection()
      .execute<{ encrypted_private_key: string }[]>(`select encrypted_private_key from certificate_authorities where id = ?`, [ca.id]);
    const pkcs8 = ctx.keyRing.decrypt(rows[0]!.encrypted_private_key, caKeyAad(ca.id));
    const key = importPrivateKeyPkcs8(pkcs8);
    tx.audit(actor, {
      action: "ca_export_private_key",
      organizationId: ca.organization.id,
      resourceType: "certificate_authority",
      resourceId: ca.id,
      detail: { name: ca.name, serial: ca.serial, format },
    });
    if (format === "pem") return { format, pem: privateKeyToPem(key) };
    const chain = await caChainPems(tx.em, ca);
    const der = buildPkcs12({ privateKey: key, certificates: chain.map(pemToDer), password, friendlyName: ca.name });
    return { format, der };
  });
}

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
}

/**
 * Imports an existing CA certificate with its private key (PKCS#8, PKCS#1 or
 * SEC1 PEM; encrypted PKCS#8 with a password). The certificate must be a CA
 * (RFC 5280 §4.2.1.9 cA, §4.2.1.3 keyCertSign), unexpired, and match the key.
 * With parent_id, it must have been issued by that CA (issuer name and
 * signature, RFC 5280 §6.1.3) with a path length below the parent's; its
 * certificate is then recorded under the parent so it can be revoked. Needs
 * create_ca.
 */
export async function importCa(ctx: RaContext, actor: Actor, input: ImportCaInput): Promise<CertificateAuthority> {
  const orgId = requireId(input.organizationId, "organization_id");
  authorize(actor, orgId, "create_ca");
  if (!/^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$/.test(input.name)) {
    throw SigilError.invalidArgument("name: 1-128 letters, digits, '.', '_', '-' or spaces", "name");
  }
  optionalText(input.description ?? "", "description");
  if (input.crlBaseUrl) checkCrlBaseUrl(input.crlBaseUrl);
  const certDer = fromPem(input.certificatePem ?? "", "CERTIFICATE");
  if (!certDer) throw SigilError.invalidArgument("certificate_pem: no CERTIFICATE PEM block", "certificate_pem");
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certDer);
  } catch {
    throw SigilError.invalidArgument("certificate_pem: not a valid X.509 certificate", "certificate_pem");
  }
  if (!input.privateKeyPem) throw SigilError.invalidArgument("private_key_pem: required", "private_key_pem");
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: input.privateKeyPem, format: "pem", passphrase: input.privateKeyPassword || undefined });
  } catch (e) {
    const encrypted = /ENCRYPTED/.test(input.privateKeyPem);
    throw new SigilError(
      "invalidArgument",
      encrypted ? "private_key_password: cannot decrypt the private key" : "private_key_pem: not a PKCS#8, PKCS#1 or SEC1 private key",
      { field: encrypted ? "private_key_password" : "private_key_pem", cause: e },
    );
  }
  let issuer: Issuer;
  try {
    issuer = loadIssuer({ certificateDer: certDer, privateKey });
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
  const parentId = optionalId(input.parentId, "parent_id");

  return inTransaction(ctx, async (tx) => {
    const org = await loadOrganization(tx.em, orgId);
    let parent: CertificateAuthority | null = null;
    if (parentId) {
      parent = await tx.em.findOne(CertificateAuthority, { id: parentId, deletedAt: null });
      if (!parent) throw SigilError.notFound("parent CA not found");
      authorize(actor, parent.organization.id, "read");
      if (parent.organization.id !== org.id) {
        throw SigilError.invalidArgument("parent_id: the parent belongs to another organization", "parent_id");
      }
      const parentX509 = new X509Certificate(pemToDer(parent.certificatePem));
      // RFC 5280 §6.1.3 (a)(1), (a)(4): signed by the parent's key, issuer name = parent's subject
      if (!x509.checkIssued(parentX509) || !x509.verify(parentX509.publicKey)) {
        throw SigilError.invalidArgument("parent_id: the certificate was not issued by this parent CA", "parent_id");
      }
      if (parent.pathLength != null && (issuer.pathLength === null || issuer.pathLength >= parent.pathLength)) {
        throw SigilError.invalidArgument(`certificate_pem: its path length must be below the parent's (${parent.pathLength})`, "certificate_pem");
      }
    }
    await assertNameFree(tx.em, org.id, input.name);
    if (await tx.em.count(CertificateAuthority, { organization: org.id, serial, certificatePem: issuer.pem, deletedAt: null })) {
      throw SigilError.alreadyExists("certificate_pem: this CA certificate is already imported", "certificate_pem");
    }
    const id = uuidv7();
    const ca = tx.em.create(CertificateAuthority, {
      id,
      name: input.name,
      description: input.description ?? "",
      organization: org,
      parent,
      pathLength: issuer.pathLength,
      allowLeafCerts: input.allowLeafCerts,
      crlBaseUrl: input.crlBaseUrl || null,
      keyAlgorithm: issuer.keyAlgorithm,
      encryptedPrivateKey: ctx.keyRing.encrypt(exportPrivateKeyPkcs8(privateKey), caKeyAad(id)),
      certificatePem: issuer.pem,
      serial,
      subject: x509SubjectText(x509),
      notBefore: issuer.notBefore,
      notAfter: issuer.notAfter,
      creator: creatorRef(tx.em, actor),
    } as CertificateAuthority);
    if (parent && !(await tx.em.count(Certificate, { issuer: parent.id, serial }))) {
      tx.em.create(Certificate, {
        serial,
        issuer: parent,
        organization: org,
        type: "ca",
        commonName: x509CommonName(x509),
        notBefore: issuer.notBefore,
        notAfter: issuer.notAfter,
        creator: creatorRef(tx.em, actor),
        source: "admin",
        certificatePem: issuer.pem,
      } as Certificate);
    }
    tx.audit(actor, {
      action: "ca_import",
      organizationId: org.id,
      resourceType: "certificate_authority",
      resourceId: id,
      detail: { name: input.name, parentId: parent?.id ?? null, keyAlgorithm: issuer.keyAlgorithm, serial },
    });
    return ca;
  });
}

/** RFC 4514 §2.1: the RDNs last-to-first (node lists them first-to-last, one per line). */
function x509SubjectText(x: X509Certificate): string {
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

function x509CommonName(x: X509Certificate): string | null {
  const cn = x.subject
    .split("\n")
    .filter((l) => l.startsWith("CN="))
    .pop();
  return cn ? cn.slice(3).slice(0, 255) : null;
}
