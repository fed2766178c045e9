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
import { X509Certificate, type KeyObject } from "node:crypto";
import { csrDerFromPem, parseCsr } from "../ca/csr.js";
import { privateKeyPkcs8Der } from "../ca/ec-pkcs8.js";
import { generateKeyPair, importPrivateKeyPkcs8, keyAlgorithmOf, checkLeafKeyPolicy } from "../ca/keys.js";
import { checkPkcs12Password } from "../ca/pkcs12.js";
import { serialFromHex, serialToHex } from "../ca/serial.js";
import { SigilError } from "../core/errors.js";
import { KEY_ALGORITHMS, parseLeafType, type CertificateStatus, type KeyAlgorithm, type LeafType } from "../core/types.js";
import type { Certificate, CertificateAuthority } from "../db/entities/index.js";
import { caChainPems, organizationCaCertificatePems } from "../db/store/certificate-authorities.js";
import { findAdminCertificate, listCertificates as listCertificateRows } from "../db/store/certificate-entities.js";
import { certificateListExtras, commitIssuedCertificate, readCertificateEncryptedKey, readIssuanceCa, type NewCertificateRow } from "../db/store/certificates.js";
import type { Session } from "../db/store/session.js";
import { checkLeafKeyNotReused, keyIdentity } from "../policy/key-reuse.js";
import { checkLeafNames } from "../policy/leaf-names.js";
import { authorize } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import { visibleOrganization, type ExportedKey, type Page, type PrivateKeyExportFormat } from "./certificate-authorities.js";
import { loadCa, renderExportedKey } from "./certificate-authorities/common.js";
import { inSqlTransaction, inTransaction, type RaContext } from "./context.js";
import { requireId } from "./input.js";
import { certKeyAad, issueLeafInTx, signLeafInSqlTx, type LeafRequest } from "./issuance.js";
import { pemToDer } from "./issuers.js";
import { nextPageToken, parsePage } from "./paging.js";
import { checkRevocationReason, revokeCertificateInTx } from "./revocation.js";
import { checkIssuanceKey, issuanceValidityDays, settingsOf, type OrganizationSettings } from "./organization-settings.js";
import { organizationSettings } from "./organizations.js";
import { auditingPolicyRefusals, enforceIssuancePolicies, type PolicyCheck } from "./issuance-policies.js";
import { singleInputFields } from "../policy/issuance-policies.js";

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

function checkProfile(type: string): LeafType {
  const t = parseLeafType(type);
  if (!t) throw SigilError.invalidArgument("server, client or dual", "type");
  return t;
}

/** Status as callers see it: valid past notAfter reads as "expired". */
export function effectiveCertificateStatus(c: Pick<Certificate, "status" | "notAfter">, now: Date): CertificateStatus {
  return c.status === "valid" && c.notAfter <= now ? "expired" : c.status;
}

/** A live CA for an issuance in this transaction, FOR SHARE: a concurrent revocation or deletion of the CA waits for it (and vice versa). */
function loadCaForIssuance(tx: Session, caId: string): Promise<CertificateAuthority> {
  return loadCa(tx, caId, { lock: "forShare" });
}

/**
 * A leaf never certifies a CA's key (src/policy/key-reuse.ts): refused when
 * the key is that of any CA of the organization (the issuing CA and its
 * chain among them; deleted CAs too, their keys stay CA keys).
 */
async function checkNotCaKey(s: Session, organizationId: string, key: KeyObject): Promise<void> {
  const caKeys = (await organizationCaCertificatePems(s, organizationId)).map((pem) => keyIdentity(new X509Certificate(pemToDer(pem)).publicKey));
  checkLeafKeyNotReused(keyIdentity(key), { caKeys });
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

/** A certificate just issued through the admin plane: its row as written, with what the response shows besides. */
export interface IssuedCertificate extends NewCertificateRow {
  status: "valid";
  /** the certified key's algorithm (known from the request: no X.509 parse) */
  keyAlgorithm: KeyAlgorithm | undefined;
  /** whether Sigil holds the private key (server-generated) */
  hasPrivateKey: boolean;
}

/**
 * The issuing CA and its organization's settings in one prepared read, and
 * the caller's create_cert permission on it (before any key is generated).
 */
async function authorizeIssuance(ctx: RaContext, actor: Actor, caId: string): Promise<{ organizationId: string; settings: OrganizationSettings }> {
  const ca = await readIssuanceCa(ctx.store, caId);
  if (!ca) throw SigilError.notFound("certificate authority not found");
  authorize(actor, ca.organizationId, "create_cert");
  return { organizationId: ca.organizationId, settings: settingsOf({ settings: ca.organizationSettings }) };
}

/**
 * The issuing transaction of IssueCertificate and SignCsr, on prepared SQL
 * in a pipelined transaction: BEGIN with the CA row read FOR SHARE (a
 * concurrent revocation or deletion of the CA waits for it, and vice
 * versa); the issuance policies that bind the caller (issue 13 item 7),
 * before anything is signed; the signature (and, for a server-generated
 * key, the key sealed with the organization's data key, read FOR SHARE in
 * the same statement as the CA row); then one statement
 * writing the certificate row and its audit entry, sent with COMMIT. The
 * certificate is returned only once that commit succeeded.
 */
async function issueAdminLeaf(
  ctx: RaContext,
  actor: Actor,
  caId: string,
  policy: Omit<PolicyCheck, "organizationId">,
  req: Omit<LeafRequest, "ca" | "notAfter">,
  keyAlgorithm: KeyAlgorithm | undefined,
): Promise<IssuedCertificate> {
  const sealsKey = req.privateKeyPkcs8 !== undefined;
  return inSqlTransaction(ctx, async (tx) => {
    // a server-generated key is sealed with the organization's data key: read it (FOR SHARE) with the CA row
    const ca = await readIssuanceCa(tx, caId, { lock: true, withDataKey: sealsKey });
    if (!ca) throw SigilError.notFound("certificate authority not found");
    if (ca.activeDataKey) ctx.secrets.useActiveDataKey(tx, ca.activeDataKey);
    const policyDays = await enforceIssuancePolicies(tx, actor, { ...policy, organizationId: ca.organizationId });
    const now = ctx.clock.now();
    // the CA's status, leaf permission and validity are checked on the share-locked row (prepareLeaf)
    const { row } = await signLeafInSqlTx(ctx, tx, actor, ca, { ...req, notAfter: new Date(now.getTime() + policyDays * DAY_MS) });
    await commitIssuedCertificate(tx, row);
    return { ...row, status: "valid" as const, keyAlgorithm, hasPrivateKey: row.encryptedPrivateKey !== null };
  });
}

/**
 * Issues a leaf with a key generated here (RSA or EC). The key is stored
 * encrypted under the master key, bound to the certificate id, and leaves the
 * server only through exportCertificatePrivateKey. Needs create_cert.
 */
export async function issueCertificate(ctx: RaContext, actor: Actor, input: IssueInput): Promise<IssuedCertificate> {
  const caId = requireId(input.caId, "ca_id");
  const profile = checkProfile(input.type);
  const names = checkLeafNames(profile, input);
  if (!KEY_ALGORITHMS.includes(input.keyAlgorithm)) throw SigilError.invalidArgument("key_algorithm: unsupported", "key_algorithm");
  checkValidityDays(input.validityDays);
  const issuing = await authorizeIssuance(ctx, actor, caId);
  // issue 13 item 1: the organization's default/maximum validity and allowed key types
  const days = issuanceValidityDays(issuing.settings, input.validityDays);
  checkIssuanceKey(issuing.settings, input.keyAlgorithm, "key_algorithm");
  // generated before the transaction opens (an RSA key takes long; no lock or connection is held meanwhile)
  const keyPair = await generateKeyPair(input.keyAlgorithm);
  const refusal = { organizationId: () => issuing.organizationId, caId, operation: "issue" as const };
  return auditingPolicyRefusals(ctx, actor, refusal, () =>
    issueAdminLeaf(
      ctx,
      actor,
      caId,
      {
        request: { caId, kind: profile, ...names, keyType: input.keyAlgorithm },
        requestedDays: input.validityDays === 0 ? undefined : days,
        defaultDays: days,
      },
      { publicKey: keyPair.publicKey, type: profile, ...names, source: "admin", privateKeyPkcs8: privateKeyPkcs8Der(keyPair.privateKey) },
      input.keyAlgorithm,
    ),
  );
}

/**
 * Issues a leaf for a PKCS#10 CSR (RFC 2986): the signature is verified
 * (proof of possession), the key must pass the leaf key policy, a CSR asking
 * for cA=TRUE is refused (RFC 5280 §4.2.1.9), a key that is one of the
 * organization's CA keys is refused (src/policy/key-reuse.ts), and the CSR's
 * names must fit the profile. Needs create_cert.
 */
export async function signCsr(
  ctx: RaContext,
  actor: Actor,
  input: { caId: string; csrPem: string; type: string; validityDays: number },
): Promise<IssuedCertificate> {
  const caId = requireId(input.caId, "ca_id");
  const profile = checkProfile(input.type);
  checkValidityDays(input.validityDays);
  if (!input.csrPem) throw SigilError.invalidArgument("csr_pem: required", "csr_pem");
  const csr = parseCsr(csrDerFromPem(input.csrPem));
  if (csr.requestsCa) throw SigilError.badCsr("the CSR asks for a CA certificate (basicConstraints cA=TRUE); use the CA service");
  checkLeafKeyPolicy(csr.publicKey);
  const names = checkLeafNames(profile, csr);
  const issuing = await authorizeIssuance(ctx, actor, caId);
  // issue 13 item 1: the organization's default/maximum validity and allowed key types
  const days = issuanceValidityDays(issuing.settings, input.validityDays);
  checkIssuanceKey(issuing.settings, csr.publicKey, "csr_pem");
  await checkNotCaKey(ctx.store, issuing.organizationId, csr.publicKey);
  const keyType = keyAlgorithmOf(csr.publicKey);
  const refusal = { organizationId: () => issuing.organizationId, caId, operation: "sign_csr" as const };
  return auditingPolicyRefusals(ctx, actor, refusal, () =>
    issueAdminLeaf(
      ctx,
      actor,
      caId,
      {
        request: { caId, kind: profile, ...names, keyType },
        requestedDays: input.validityDays === 0 ? undefined : days,
        defaultDays: days,
        fields: singleInputFields("csr_pem"),
      },
      { publicKey: csr.publicKey, type: profile, ...names, source: "admin" },
      keyType,
    ),
  );
}

async function loadCertificate(s: Session, id: string): Promise<Certificate> {
  const cert = await findAdminCertificate(s, requireId(id, "id"));
  if (!cert) throw SigilError.notFound("certificate not found");
  return cert;
}

/** One certificate (any member of its organization may read it). */
export async function getCertificate(ctx: RaContext, actor: Actor, id: string): Promise<Certificate> {
  const cert = await loadCertificate(ctx.store, id);
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

/** Certificates visible to the caller, oldest first, with filters (AND). */
export async function listCertificates(ctx: RaContext, actor: Actor, input: ListCertificatesInput): Promise<Page<Certificate>> {
  const page = parsePage(input.pageSize, input.pageToken);
  const org = visibleOrganization(actor, input.organizationId);
  if (org === "none") return { items: [], nextPageToken: "" };
  if (input.nameContains && input.nameContains.length > 255) throw SigilError.invalidArgument("at most 255 characters", "name_contains");
  let issuerId: string | undefined;
  if (input.caId) {
    const ca = await loadCa(ctx.store, requireId(input.caId, "ca_id"));
    authorize(actor, ca.organization.id, "read");
    issuerId = ca.id;
  }
  const { items, total } = await listCertificateRows(ctx.store, {
    organizationId: org,
    issuerId,
    status: input.status,
    nameContains: input.nameContains || undefined,
    expiringBefore: input.expiringBefore,
    serial: input.serial ? serialToHex(serialFromHex(input.serial)) : undefined,
    now: ctx.clock.now(),
    limit: page.limit,
    offset: page.offset,
  });
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** The certificate's PEM, then its issuers up to the root. */
export async function getCertificateChain(ctx: RaContext, actor: Actor, id: string): Promise<string[]> {
  const cert = await loadCertificate(ctx.store, id);
  authorize(actor, cert.organization.id, "read");
  return [cert.certificatePem, ...(await caChainPems(ctx.store, cert.issuer.id))];
}

/**
 * Revokes a certificate with an RFC 5280 §5.3.1 reason; it appears on its
 * issuer's next CRL and in OCSP answers. Needs revoke_cert.
 */
export async function revokeCertificate(ctx: RaContext, actor: Actor, id: string, reason: number): Promise<Certificate> {
  const certId = requireId(id, "id");
  const checked = checkRevocationReason(reason);
  // the organization of a certificate never changes: authorize before taking the row lock
  const cert = await loadCertificate(ctx.store, certId);
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
  const orig = await loadCertificate(ctx.store, certId);
  authorize(actor, orig.organization.id, "create_cert");
  if (orig.type === "ca") throw SigilError.failedPrecondition("CA certificates are renewed through the CA service, not here");
  if (orig.status === "revoked") throw SigilError.failedPrecondition("a revoked certificate is not renewed; issue a new one");
  const orgSettings = await organizationSettings(ctx.store, orig.organization.id);
  // the original's validity, no longer than the organization now allows (issue 13 item 1)
  const days =
    validityDays === undefined
      ? Math.min(orgSettings.maxValidityDays, Math.max(1, Math.round((orig.notAfter.getTime() - orig.notBefore.getTime()) / DAY_MS)))
      : (checkValidityDays(validityDays), issuanceValidityDays(orgSettings, validityDays));
  const hasKey = (await certificateListExtras(ctx.store, [orig.id]))[0]?.hasPrivateKey ?? false;
  const oldPublicKey = new X509Certificate(pemToDer(orig.certificatePem)).publicKey;
  let publicKey = oldPublicKey;
  let privateKeyPkcs8: Buffer | undefined;
  if (hasKey) {
    const alg = keyAlgorithmOf(oldPublicKey);
    if (!alg) throw SigilError.failedPrecondition("the original key algorithm is not one Sigil generates");
    checkIssuanceKey(orgSettings, alg, "id");
    const kp = await generateKeyPair(alg);
    publicKey = kp.publicKey;
    privateKeyPkcs8 = privateKeyPkcs8Der(kp.privateKey);
  } else {
    // the holder's key is certified again: it must still pass the key policy, and not have become a CA's key
    checkLeafKeyPolicy(oldPublicKey);
    checkIssuanceKey(orgSettings, oldPublicKey, "id");
    await checkNotCaKey(ctx.store, orig.organization.id, oldPublicKey);
  }
  const profile = checkProfile(orig.type);
  const refusal = { organizationId: () => orig.organization.id, caId: orig.issuer.id, operation: "renew" as const };
  return auditingPolicyRefusals(ctx, actor, refusal, () => inTransaction(ctx, async (tx) => {
    const ca = await loadCaForIssuance(tx, orig.issuer.id);
    // issue 13 item 7: a renewal is an issuance: the policies that bind the caller now apply
    const policyDays = await enforceIssuancePolicies(tx, actor, {
      organizationId: ca.organization.id,
      request: { caId: ca.id, kind: profile, commonName: orig.commonName ?? undefined, dnsNames: orig.dnsNames, ipAddresses: orig.ipAddresses, emails: orig.emails, keyType: keyAlgorithmOf(publicKey) },
      requestedDays: validityDays === undefined ? undefined : days,
      defaultDays: days,
      fields: singleInputFields("id", { validityDays: "validity_days" }),
    });
    const now = ctx.clock.now();
    return issueLeafInTx(ctx, tx, actor, {
      ca,
      publicKey,
      type: profile,
      commonName: orig.commonName ?? undefined,
      dnsNames: orig.dnsNames,
      ipAddresses: orig.ipAddresses,
      emails: orig.emails,
      notAfter: new Date(now.getTime() + policyDays * DAY_MS),
      source: "admin",
      renewedFromId: orig.id,
      privateKeyPkcs8,
      auditAction: "cert_renew",
    });
  }));
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
    const cert = await loadCertificate(tx, certId);
    authorize(actor, cert.organization.id, "export_private_key");
    const blob = await readCertificateEncryptedKey(tx, cert.id);
    if (!blob) throw SigilError.failedPrecondition("Sigil does not hold this certificate's private key (it was issued for a CSR)");
    const key = importPrivateKeyPkcs8(await ctx.secrets.open(tx, blob, certKeyAad(cert.id)));
    tx.audit(actor, {
      action: "cert_export_private_key",
      organizationId: cert.organization.id,
      resourceType: "certificate",
      resourceId: cert.id,
      detail: { serial: cert.serial, issuerId: cert.issuer.id, format },
    });
    return renderExportedKey(key, format, password, {
      certificatePems: async () => [cert.certificatePem, ...(await caChainPems(tx, cert.issuer.id))],
      friendlyName: cert.commonName ?? cert.dnsNames[0] ?? cert.emails[0] ?? cert.serial,
    });
  });
}

/** What the wire shape of certificates needs besides the rows: which keys Sigil holds, and the ACME directory of ACME-issued ones. */
export interface CertificateExtras {
  hasPrivateKey: Set<string>;
  /** certificate id -> ACME directory id */
  acmeDirectoryId: Map<string, string>;
}

export async function certificateExtras(ctx: RaContext, certs: Certificate[]): Promise<CertificateExtras> {
  const rows = await certificateListExtras(
    ctx.store,
    certs.map((c) => c.id),
  );
  const hasPrivateKey = new Set<string>();
  const acmeDirectoryId = new Map<string, string>();
  for (const r of rows) {
    if (r.hasPrivateKey) hasPrivateKey.add(r.id);
    if (r.acmeDirectoryId) acmeDirectoryId.set(r.id, r.acmeDirectoryId);
  }
  return { hasPrivateKey, acmeDirectoryId };
}
