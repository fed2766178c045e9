/**
 * What the CA modules share: the status callers see, which organizations a
 * caller's lists cover, subject text, pages, key export formats, and the
 * one "live CA or NOT_FOUND" read, and the certificates row of a
 * subordinate CA.
 */
import type { KeyObject } from "node:crypto";
import { SigilError } from "../../core/errors.js";
import { privateKeyToPem } from "../../ca/keys.js";
import { buildPkcs12 } from "../../ca/pkcs12.js";
import { pemToDer } from "../issuers.js";
import type { CaStatus } from "../../core/types.js";
import type { DistinguishedName } from "../../ca/signer.js";
import type { CertificateAuthority } from "../../db/entities/index.js";
import { findCa, type FindCaOptions } from "../../db/store/certificate-authorities.js";
import { insertCertificate } from "../../db/store/certificates.js";
import { uuidv7 } from "../../core/ids.js";
import type { Session } from "../../db/store/session.js";
import { authorize, isSuperuser } from "../../policy/permissions.js";
import type { Actor } from "../actor.js";
import { requireId } from "../input.js";

export const DAY_MS = 86_400_000;

/** Status as callers see it: an active CA past notAfter reads as "expired" (RFC 5280 §4.1.2.5). */
export function effectiveCaStatus(ca: Pick<CertificateAuthority, "status" | "notAfter">, now: Date): CaStatus {
  return ca.status === "active" && ca.notAfter <= now ? "expired" : ca.status;
}

/** Organizations whose rows a list may show: all for a superuser (null), the caller's own otherwise. */
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

/** RFC 4514-style text of a subject, for listing and search. */
export function formatDn(dn: DistinguishedName): string {
  const parts = [`CN=${dn.commonName}`];
  if (dn.organizationalUnit) parts.push(`OU=${dn.organizationalUnit}`);
  if (dn.organization) parts.push(`O=${dn.organization}`);
  if (dn.country) parts.push(`C=${dn.country}`);
  return parts.join(",");
}

/** Formats of an exported private key. */
export type PrivateKeyExportFormat = "pem" | "pkcs12";

export type ExportedKey = { format: "pem"; pem: string } | { format: "pkcs12"; der: Buffer };

/**
 * An exported private key as the caller asked for it: PKCS#8 PEM, or
 * PKCS#12 (RFC 7292) holding the key with `certificatePems` (its certificate
 * first, then the chain) under `password`. The one rendering of both export
 * paths (CA keys and held leaf keys).
 */
export async function renderExportedKey(
  key: KeyObject,
  format: PrivateKeyExportFormat,
  password: string,
  pkcs12: { certificatePems: () => Promise<string[]>; friendlyName: string },
): Promise<ExportedKey> {
  if (format === "pem") return { format, pem: privateKeyToPem(key) };
  const certificates = (await pkcs12.certificatePems()).map(pemToDer);
  return { format, der: buildPkcs12({ privateKey: key, certificates, password, friendlyName: pkcs12.friendlyName }) };
}

/** A live (not deleted) CA by an already checked id, or NOT_FOUND. */
export async function loadCa(s: Session, id: string, opts: Omit<FindCaOptions, "includeDeleted"> = {}): Promise<CertificateAuthority> {
  const ca = await findCa(s, id, opts);
  if (!ca) throw SigilError.notFound("certificate authority not found");
  return ca;
}

/** The user id recorded as creator (service accounts and the system record none). */
export function creatorId(actor: Actor): string | null {
  return actor.kind === "user" ? actor.id : null;
}

/** Whole seconds: what an X.509 Time carries (RFC 5280 §4.1.2.5), so stored times equal the certificate's. */
export function floorToSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

/** What recording a CA certificate as a row of its issuer needs. */
export interface CaCertificateRow {
  /** lower-case hex, as the CA row stores it */
  serial: string;
  issuerId: string;
  organizationId: string;
  commonName: string | null;
  notBefore: Date;
  notAfter: Date;
  creatorId: string | null;
  certificatePem: string;
  createdAt: Date;
}

/**
 * A subordinate CA's certificate is also a certificates row of the CA that
 * signed it (type "ca"), so (issuer, serial) stays unique across everything
 * a CA signs and its CRL and OCSP answer for it.
 */
export async function recordCaCertificate(tx: Session, c: CaCertificateRow): Promise<void> {
  await insertCertificate(tx, {
    id: uuidv7(),
    type: "ca",
    source: "admin",
    dnsNames: [],
    ipAddresses: [],
    emails: [],
    encryptedPrivateKey: null,
    renewedFromId: null,
    acmeAccountId: null,
    acmeOrderId: null,
    ...c,
  });
}

