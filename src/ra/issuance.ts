import type { KeyObject } from "node:crypto";
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import type { CertificateSource, LeafType } from "../core/types.js";
import { newSerial, serialToHex } from "../ca/serial.js";
import { issueLeaf } from "../ca/signer.js";
import type { Certificate, CertificateAuthority } from "../db/entities/index.js";
import { insertCertificate, type NewCertificateRow } from "../db/store/certificates.js";
import { findCertificateEntity } from "../db/store/certificate-entities.js";
import type { Actor } from "./actor.js";
import type { AuditEntry } from "./audit.js";
import type { Session } from "../db/store/session.js";
import type { RaContext, SqlTx, Tx } from "./context.js";
import type { Issuer, LeafKeyUsage } from "../ca/signer.js";
import type { IssuerCa } from "./issuers.js";

export type { LeafType };

export interface LeafRequest {
  ca: CertificateAuthority;
  /** already checked against the key policy (checkLeafKeyPolicy) */
  publicKey: KeyObject;
  type: LeafType;
  commonName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  emails: string[];
  /** RFC 5280 §4.2.1.3 key usages (an ACME profile's); default: the signer's */
  keyUsages?: readonly LeafKeyUsage[];
  /** default: now minus one minute (clock skew of relying parties) */
  notBefore?: Date;
  notAfter: Date;
  source: CertificateSource;
  acmeAccountId?: string;
  acmeOrderId?: string;
  renewedFromId?: string;
  /** for server-generated keys: PKCS#8 DER, stored encrypted and bound to the certificate id */
  privateKeyPkcs8?: Buffer;
  /** audit action of the entry; default "cert_create" ("cert_renew" for admin renewals) */
  auditAction?: "cert_create" | "cert_renew";
}

/** AAD binding a stored leaf key to its certificate row. */
export function certKeyAad(certId: string): string {
  return `cert:${certId}`;
}

/**
 * Signs a leaf and writes its Certificate row and audit entry inside the
 * caller's transaction. The serial is random (≥ 64 bits of entropy, RFC 5280
 * §4.1.2.2 / CA/B BR 7.1) and made unique by the (issuer, serial) constraint:
 * the certificate exists for callers only once that row commits, so nothing
 * is ever handed out that is not recorded.
 */
export async function issueLeafInTx(ctx: RaContext, tx: Tx, actor: Actor, req: LeafRequest): Promise<Certificate> {
  const { ca } = req;
  const caFields: IssuingCa = {
    id: ca.id,
    organizationId: ca.organization.id,
    status: ca.status,
    allowLeafCerts: ca.allowLeafCerts,
    notAfter: ca.notAfter,
    updatedAt: ca.updatedAt,
    certificatePem: ca.certificatePem,
    crlBaseUrl: ca.crlBaseUrl,
  };
  const leaf = await signLeafFor(ctx, tx, ca.organization.id, await prepareLeaf(ctx, caFields, req, () => ctx.issuers.get(tx, ca)), req);
  const row = certificateRow(ctx, leaf, { id: ca.id, organizationId: ca.organization.id }, actor, req);
  tx.audit(actor, leafAuditEntry(ca.id, ca.organization.id, leaf, req));
  // written now so a serial collision fails this transaction, not a later one
  await insertCertificate(tx, row);
  return findCertificateEntity(tx, row.id);
}

/** the row of a signed leaf */
function certificateRow(
  ctx: RaContext,
  leaf: SignedLeaf,
  ca: { id: string; organizationId: string },
  actor: Actor,
  req: Omit<LeafRequest, "ca">,
): NewCertificateRow {
  return {
    id: leaf.id,
    serial: leaf.serial,
    issuerId: ca.id,
    organizationId: ca.organizationId,
    type: req.type,
    commonName: req.commonName ?? null,
    dnsNames: req.dnsNames,
    ipAddresses: req.ipAddresses,
    emails: req.emails,
    notBefore: leaf.notBefore,
    notAfter: leaf.notAfter,
    creatorId: actor.kind === "user" ? actor.id : null,
    source: req.source,
    certificatePem: leaf.pem,
    encryptedPrivateKey: leaf.encryptedPrivateKey,
    renewedFromId: req.renewedFromId ?? null,
    acmeAccountId: req.acmeAccountId ?? null,
    acmeOrderId: req.acmeOrderId ?? null,
    createdAt: ctx.clock.now(),
  };
}

/** What issuing needs of the CA row: the entity, or the columns a raw query read. */
export type IssuingCa = IssuerCa & Pick<CertificateAuthority, "status" | "allowLeafCerts" | "notAfter"> & { organizationId: string };

interface PreparedLeaf {
  issuer: Issuer;
  notBefore: Date;
  notAfter: Date;
}

/** the CA must be able to issue now; validity clipped to the CA's (RFC 5280 §6.1.3) */
async function prepareLeaf(
  ctx: RaContext,
  ca: IssuingCa,
  req: Omit<LeafRequest, "ca">,
  issuerOf: (ca: IssuingCa) => Promise<Issuer>,
): Promise<PreparedLeaf> {
  if (ca.status !== "active") throw SigilError.failedPrecondition(`the CA is ${ca.status}`);
  if (!ca.allowLeafCerts) throw SigilError.failedPrecondition("this CA does not issue leaf certificates (allow_leaf_certs is false)");
  const now = ctx.clock.now();
  if (ca.notAfter <= now) throw SigilError.failedPrecondition("the CA has expired");
  const issuer = await issuerOf(ca);
  // whole seconds (what the certificate carries, RFC 5280 §4.1.2.5), so the row states the certificate's validity
  const notBefore = floorToSecond(req.notBefore ?? new Date(now.getTime() - 60_000));
  // RFC 5280 §6.1.3: never outlive the issuer's certificate
  const wanted = floorToSecond(req.notAfter);
  const notAfter = wanted > issuer.notAfter ? issuer.notAfter : wanted;
  if (notAfter <= notBefore) throw SigilError.invalidArgument("must be after not_before", "not_after");
  return { issuer, notBefore, notAfter };
}

/** A signed leaf, not yet written. */
export interface SignedLeaf {
  id: string;
  /** hex, as stored */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  pem: string;
  encryptedPrivateKey: string | null;
}

/** `s`/`organizationId`: where a server-generated key is sealed (with the organization's data key) */
async function signLeafFor(ctx: RaContext, s: Session, organizationId: string, p: PreparedLeaf, req: Omit<LeafRequest, "ca">): Promise<SignedLeaf> {
  const serial = newSerial(ctx.random);
  const signed = issueLeaf(p.issuer, {
    publicKey: req.publicKey,
    type: req.type,
    commonName: req.commonName,
    dnsNames: req.dnsNames,
    ipAddresses: req.ipAddresses,
    emails: req.emails,
    serial,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    ...(req.keyUsages ? { keyUsages: req.keyUsages } : {}),
  });
  const id = uuidv7();
  return {
    id,
    serial: serialToHex(serial),
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    pem: signed.pem,
    encryptedPrivateKey: req.privateKeyPkcs8 ? await ctx.secrets.seal(s, organizationId, req.privateKeyPkcs8, certKeyAad(id)) : null,
  };
}

function leafAuditEntry(caId: string, organizationId: string, leaf: SignedLeaf, req: Omit<LeafRequest, "ca">): AuditEntry {
  return {
    action: req.auditAction ?? "cert_create",
    organizationId,
    resourceType: "certificate",
    resourceId: leaf.id,
    detail: {
      serial: leaf.serial,
      issuerId: caId,
      type: req.type,
      source: req.source,
      names: [...req.dnsNames, ...req.ipAddresses, ...req.emails],
      ...(req.acmeOrderId ? { acmeOrderId: req.acmeOrderId } : {}),
      ...(req.renewedFromId ? { renewedFromId: req.renewedFromId } : {}),
    },
  };
}

/**
 * issueLeafInTx for a raw SQL transaction (inSqlTransaction): signs the
 * leaf and records its audit entry in `tx`; returns the signed leaf and its
 * row, for the caller to write (insertCertificate, or certificateInsertSql
 * as a CTE of the statement that also records the change it belongs to). The
 * certificate exists only once that statement's transaction commits.
 */
export async function signLeafInSqlTx(
  ctx: RaContext,
  tx: SqlTx,
  actor: Actor,
  ca: IssuingCa,
  req: Omit<LeafRequest, "ca">,
): Promise<{ leaf: SignedLeaf; row: NewCertificateRow }> {
  const leaf = await signLeafFor(ctx, tx, ca.organizationId, await prepareLeaf(ctx, ca, req, (c) => ctx.issuers.get(tx, c)), req);
  tx.audit(actor, leafAuditEntry(ca.id, ca.organizationId, leaf, req));
  return { leaf, row: certificateRow(ctx, leaf, ca, actor, req) };
}

function floorToSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}
