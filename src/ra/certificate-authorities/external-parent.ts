/**
 * Intermediates whose parent is outside Sigil (an offline root), and the
 * CRLs such a parent signs offline (docs/key-custody.md, "Offline root").
 *
 * 1. createPendingIntermediateCa: Sigil makes the key (sealed like every CA
 *    key) and a PKCS#10 request (src/ca/csr-builder.ts); the row is
 *    "pending_activation": no certificate, so it issues nothing, no CRL job
 *    or ACME directory uses it.
 * 2. The operator signs the CSR offline (`sigil ca sign-intermediate`).
 * 3. activateIntermediateCa: the certificate must carry the pending key,
 *    be a CA (RFC 5280 §4.2.1.9 cA, §4.2.1.3 keyCertSign), be valid now,
 *    and chain (issuer names and signatures, path lengths) to the
 *    self-signed root given with it (RFC 5280 §6.1). The chain's CAs become
 *    key-less CA rows (offline_key) of the organization, so chains and AIA
 *    serve them; a certificate already stored in the organization is reused.
 * 4. importCaCrl: a CRL signed offline for a key-less CA, verified with its
 *    certificate, with a CRL number above the last (RFC 5280 §5.2.3), is
 *    stored as that CA's current CRL and served at /crl/{id}.crl.
 */
import { hash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { isSigilError, SigilError, Violations } from "../../core/errors.js";
import type { KeyAlgorithm } from "../../core/types.js";
import type { DistinguishedName } from "../../ca/signer.js";
import { uuidv7 } from "../../core/ids.js";
import { csrDerFromPem } from "../../ca/csr.js";
import { buildCaCsr, keyObjectCsrSigner, readCaCsr } from "../../ca/csr-builder.js";
import { toPem } from "../../ca/der.js";
import { certificateDerFromPem, checkImportedCrl, CrlImportError, inspectCaCertificate, issuedBy, type CaCertificateInfo } from "../../ca/external-ca.js";
import { exportPrivateKeyPkcs8, generateKeyPair } from "../../ca/keys.js";
import type { CertificateAuthority } from "../../db/entities/index.js";
import { activateCa, caNameTaken, createCa, findCa, findCaByCertificate, organizationExists } from "../../db/store/certificate-authorities.js";
import { certificateSerialTaken } from "../../db/store/certificates.js";
import { findCrlMeta, raiseCrlNumber, revocationGeneration, saveCrl } from "../../db/store/crls.js";
import type { Session } from "../../db/store/session.js";
import { authorize } from "../../policy/permissions.js";
import { systemActor, type Actor } from "../actor.js";
import { inTransaction, type RaContext, type Tx } from "../context.js";
import { refuseCaKeysUnderPolicy } from "../issuance-policies.js";
import { requireId } from "../input.js";
import { caKeyAad, pemToDer } from "../issuers.js";
import { creatorId, formatDn, loadCa, recordCaCertificate } from "./common.js";
import { assertNameFree, checkCaInput, type CreateCaInput } from "./create.js";
import { x509CommonName, x509SubjectText } from "./import.js";

/** How long an imported CRL's thisUpdate may lie ahead of this server's clock (clock skew). */
const CRL_THIS_UPDATE_SKEW_MS = 5 * 60_000;

/** Why an intermediate with an external parent cannot keep its key in a PKCS#11 token (yet). */
export const EXTERNAL_PARENT_KEY_IN_DATABASE =
  "an intermediate with an external parent keeps its key in the database for now; create it with KEY_STORAGE_DATABASE (or unspecified), or import the activated CA with KEY_STORAGE_PKCS11";

/**
 * Creates an intermediate whose parent is outside Sigil: status
 * pending_activation, its key sealed in the row, its CSR in csr_pem. The
 * request's validity_days and path_length are not used (the offline signer
 * chooses them). Needs create_ca in the organization.
 */
export async function createPendingIntermediateCa(ctx: RaContext, actor: Actor, raw: CreateCaInput): Promise<CertificateAuthority> {
  const input = checkCaInput(raw);
  const orgId = requireId(input.organizationId, "organization_id");
  authorize(actor, orgId, "create_ca");
  await refuseCaKeysUnderPolicy(ctx.store, actor, orgId);
  // docs/key-custody.md "Offline root": the pending key is generated here and sealed in the row
  if (input.keyStorage === "pkcs11") throw SigilError.failedPrecondition(EXTERNAL_PARENT_KEY_IN_DATABASE, { type: "KEY_STORAGE", subject: "pkcs11" });
  // RFC 2986 §3: the request is signed with the key it certifies (proof of possession)
  const prepared = await preparePendingCa(input.name, input.subject, input.keyAlgorithm);
  return inTransaction(ctx, async (tx) => {
    if (!(await organizationExists(tx, orgId))) throw SigilError.notFound("organization not found");
    await assertNameFree(tx, orgId, input.name);
    return writePendingCa(tx, ctx, actor, orgId, prepared, input.description, { allowLeafCerts: input.allowLeafCerts ?? true, crlBaseUrl: input.crlBaseUrl, creatorId: creatorId(actor) });
  });
}

/** the PEM blocks of `pem` as certificates, their failures recorded under `field` */
function certificateFrom(pem: string, field: string, v: Violations): CaCertificateInfo | undefined {
  const der = certificateDerFromPem(pem ?? "");
  if (!der) {
    v.add(field, "no CERTIFICATE PEM block");
    return undefined;
  }
  return v.take(() => inspectCaCertificate(der, field));
}

/** RFC 5280 §4.1.2.5: valid at `now` */
function checkValidNow(c: CaCertificateInfo, field: string, now: Date, v: Violations): void {
  if (c.notBefore > now) v.add(field, `not valid yet (notBefore ${c.notBefore.toISOString()})`);
  if (c.notAfter <= now) v.add(field, `expired (notAfter ${c.notAfter.toISOString()})`);
}

/** RFC 5280 §4.2.1.9, §4.2.1.3: a CA certificate that may sign certificates, with a key Sigil can use */
function checkCa(c: CaCertificateInfo, field: string, v: Violations): void {
  if (!c.isCa) v.add(field, "not a CA certificate: basicConstraints cA is not TRUE (RFC 5280 §4.2.1.9)");
  if (!c.keyCertSign) v.add(field, "its key usage lacks keyCertSign (RFC 5280 §4.2.1.3)");
  if (!c.keyAlgorithm) v.add(field, "its key is not P-256, P-384, RSA 2048, RSA 3072 or RSA 4096");
}

/** A CA row name from a certificate's CN: the characters requireCaName allows, at most 128. */
function caNameFrom(c: CaCertificateInfo): string {
  const cn = (x509CommonName(c.x509) ?? "offline CA").replace(/[^A-Za-z0-9._ -]/g, "-").replace(/^[^A-Za-z0-9]+/, "");
  return (cn || "offline CA").slice(0, 100);
}

async function freeCaName(s: Session, organizationId: string, c: CaCertificateInfo): Promise<string> {
  const base = caNameFrom(c);
  if (!(await caNameTaken(s, organizationId, base))) return base;
  const withSerial = `${base} ${c.serial.slice(0, 16)}`;
  if (!(await caNameTaken(s, organizationId, withSerial))) return withSerial;
  return `${base} ${uuidv7()}`;
}

/**
 * Activates a pending_activation CA with `certificatePem`, signed outside
 * Sigil, and its issuer chain (`chainPems`: the issuer first, the
 * self-signed root last). Bad certificates are INVALID_ARGUMENT with one
 * field violation per problem; a CA that is not pending is
 * FAILED_PRECONDITION. Needs create_ca.
 */
export async function activateIntermediateCa(ctx: RaContext, actor: Actor, rawId: string, certificatePem: string, chainPems: readonly string[]): Promise<CertificateAuthority> {
  const id = requireId(rawId, "id");
  const pending = await loadCa(ctx.store, id);
  authorize(actor, pending.organization.id, "create_ca");
  const orgId = pending.organization.id;
  if (pending.status !== "pending_activation" || !pending.csrPem) {
    throw SigilError.failedPrecondition(`the CA is ${pending.status}: only a pending_activation CA (created with external_parent) can be activated`);
  }

  const v = new Violations();
  const cert = certificateFrom(certificatePem, "certificate_pem", v);
  if (chainPems.length === 0) v.add("chain_pems", "required: the issuer chain, the self-signed root last");
  if (chainPems.length > 8) v.add("chain_pems", "at most 8 certificates");
  const chain = chainPems.slice(0, 8).map((pem, i) => certificateFrom(pem, `chain_pems[${i}]`, v));
  v.throwIfAny();
  const leaf = cert!;
  const issuers = chain as CaCertificateInfo[];
  const now = ctx.clock.now();

  const csr = readCaCsr(csrDerFromPem(pending.csrPem));
  if (!leaf.spki.equals(csr.spki)) v.add("certificate_pem", "its public key is not this CA's pending key (signed for another CSR?)");
  checkCa(leaf, "certificate_pem", v);
  checkValidNow(leaf, "certificate_pem", now, v);
  for (let i = 0; i < issuers.length; i++) {
    const issuer = issuers[i]!;
    const field = `chain_pems[${i}]`;
    const child = i === 0 ? leaf : issuers[i - 1]!;
    const childField = i === 0 ? "certificate_pem" : `chain_pems[${i - 1}]`;
    checkCa(issuer, field, v);
    checkValidNow(issuer, field, now, v);
    // RFC 5280 §6.1.3 (a)(1), (a)(4): the issuer's name and signature
    if (!issuedBy(child, issuer)) v.add(childField, `not issued by ${field} (issuer name or signature)`);
    // RFC 5280 §4.2.1.9: each CA below one with a path length has a smaller one
    if (issuer.pathLength !== null && (child.pathLength === null || child.pathLength >= issuer.pathLength)) {
      v.add(childField, `its path length must be below its issuer's (${issuer.pathLength})`);
    }
  }
  const root = issuers[issuers.length - 1]!;
  if (!issuedBy(root, root)) v.add(`chain_pems[${issuers.length - 1}]`, "the last certificate must be the self-signed root");
  v.throwIfAny();

  return inTransaction(ctx, async (tx) => {
    const ca = await findCa(tx, id, { lock: "forUpdate" });
    if (!ca) throw SigilError.notFound("certificate authority not found");
    if (ca.status !== "pending_activation") throw SigilError.failedPrecondition(`the CA is ${ca.status}: it was activated meanwhile`);
    // from the root down: the organization's CA with this very certificate, or a new key-less one
    let parentId: string | null = null;
    for (let i = issuers.length - 1; i >= 0; i--) {
      const c = issuers[i]!;
      const pem = toPem(c.der, "CERTIFICATE");
      const existing = await findCaByCertificate(tx, orgId, c.serial, pem);
      if (existing) {
        parentId = existing.id;
        continue;
      }
      const rowId = uuidv7();
      const name = await freeCaName(tx, orgId, c);
      createCa(tx, {
        id: rowId,
        name,
        description: `offline CA, stored when ${ca.name} was activated`,
        organizationId: orgId,
        parentId,
        pathLength: c.pathLength,
        allowLeafCerts: false,
        crlBaseUrl: null,
        keyAlgorithm: c.keyAlgorithm!,
        encryptedPrivateKey: null,
        certificatePem: pem,
        serial: c.serial,
        subject: x509SubjectText(c.x509),
        notBefore: c.notBefore,
        notAfter: c.notAfter,
        creatorId: creatorId(actor),
        createdAt: now,
        offlineKey: true,
      });
      if (parentId) await recordChild(tx, parentId, orgId, c, pem, actor, now);
      tx.audit(actor, {
        action: "ca_import",
        organizationId: orgId,
        resourceType: "certificate_authority",
        resourceId: rowId,
        detail: { name, parentId, keyAlgorithm: c.keyAlgorithm, serial: c.serial, offlineKey: true },
      });
      parentId = rowId;
    }
    const pem = toPem(leaf.der, "CERTIFICATE");
    await recordChild(tx, parentId!, orgId, leaf, pem, actor, now);
    activateCa(tx, ca, {
      parentId: parentId!,
      certificatePem: pem,
      serial: leaf.serial,
      subject: x509SubjectText(leaf.x509),
      pathLength: leaf.pathLength,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      at: now,
    });
    tx.audit(actor, {
      action: "ca_activate",
      organizationId: orgId,
      resourceType: "certificate_authority",
      resourceId: ca.id,
      detail: { name: ca.name, parentId, serial: leaf.serial, notAfter: leaf.notAfter.toISOString() },
    });
    return ca;
  });
}

/** A CA certificate recorded as a certificates row of its issuer (serials unique per issuer, revocable there). */
async function recordChild(tx: Session, issuerId: string, orgId: string, c: CaCertificateInfo, pem: string, actor: Actor, now: Date): Promise<void> {
  if (await certificateSerialTaken(tx, issuerId, c.serial)) return;
  await recordCaCertificate(tx, {
    serial: c.serial,
    issuerId,
    organizationId: orgId,
    commonName: x509CommonName(c.x509),
    notBefore: c.notBefore,
    notAfter: c.notAfter,
    creatorId: creatorId(actor),
    certificatePem: pem,
    createdAt: now,
  });
}

/** What an import answers. */
export interface ImportedCrl {
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  entryCount: number;
}

/** CRL numbers are stored as PostgreSQL bigint */
const MAX_STORED_CRL_NUMBER = (1n << 63n) - 1n;

/**
 * Imports a CRL signed offline for a key-less (offline_key) CA: checked by
 * src/ca/external-ca.ts (v2, issuer, signature, CRL number, nextUpdate),
 * thisUpdate not in the future, nextUpdate not past, its CRL number above
 * the CA's last (RFC 5280 §5.2.3: numbers increase). It replaces the CA's
 * current CRL; relying parties get it at /crl/{id}.crl. Needs revoke_cert.
 */
export async function importCaCrl(ctx: RaContext, actor: Actor, rawId: string, crl: Buffer): Promise<ImportedCrl> {
  const id = requireId(rawId, "id");
  const ca = await loadCa(ctx.store, id);
  authorize(actor, ca.organization.id, "revoke_cert");
  if (!ca.offlineKey) throw SigilError.failedPrecondition("Sigil signs this CA's CRLs itself; only a key-less (offline_key) CA's CRL can be imported");
  if (crl.length === 0) throw SigilError.invalidArgument("required", "crl");
  if (crl.length > 64 * 1024 * 1024) throw SigilError.invalidArgument("at most 64 MiB", "crl");
  const issuer = inspectCaCertificate(pemToDer(ca.certificatePem), "id");
  let checked;
  try {
    checked = checkImportedCrl(crl, issuer);
  } catch (e) {
    if (e instanceof CrlImportError) throw new SigilError("invalidArgument", e.message, { field: "crl", cause: e });
    throw e;
  }
  const now = ctx.clock.now();
  const v = new Violations();
  if (checked.thisUpdate.getTime() > now.getTime() + CRL_THIS_UPDATE_SKEW_MS) v.add("crl", `its thisUpdate ${checked.thisUpdate.toISOString()} is in the future`);
  if (checked.nextUpdate <= now) v.add("crl", `its nextUpdate ${checked.nextUpdate.toISOString()} has passed: sign a new CRL`);
  if (checked.nextUpdate <= checked.thisUpdate) v.add("crl", "its nextUpdate is not after its thisUpdate (RFC 5280 §5.1.2.5)");
  if (checked.crlNumber > MAX_STORED_CRL_NUMBER) v.add("crl", "its CRL number is above 2^63-1, which Sigil cannot store");
  v.throwIfAny();

  return inTransaction(ctx, async (tx) => {
    // the row lock orders concurrent imports; a lower or equal number than the stored one is refused
    const locked = await findCa(tx, id, { lock: "forUpdate" });
    if (!locked) throw SigilError.notFound("certificate authority not found");
    const stored = await findCrlMeta(tx, id);
    if (stored && checked.crlNumber <= stored.crlNumber) {
      throw SigilError.invalidArgument(`its CRL number ${checked.crlNumber} is not above the current CRL's (${stored.crlNumber}) (RFC 5280 §5.2.3)`, "crl");
    }
    if (!(await raiseCrlNumber(tx, id, checked.crlNumber)) && stored) {
      throw SigilError.invalidArgument(`its CRL number ${checked.crlNumber} is not above the CA's last (RFC 5280 §5.2.3)`, "crl");
    }
    const etag = `"${checked.crlNumber.toString(16)}-${hash("sha256", checked.der, "hex").slice(0, 32)}"`;
    await saveCrl(tx, {
      caId: id,
      crlNumber: checked.crlNumber,
      thisUpdate: checked.thisUpdate,
      nextUpdate: checked.nextUpdate,
      der: checked.der,
      etag,
      entryCount: checked.entryCount,
      revocationGeneration: await revocationGeneration(tx, id),
      createdAt: now,
    });
    tx.audit(actor, {
      action: "ca_crl_import",
      organizationId: ca.organization.id,
      resourceType: "certificate_authority",
      resourceId: id,
      detail: { crlNumber: checked.crlNumber.toString(), thisUpdate: checked.thisUpdate.toISOString(), nextUpdate: checked.nextUpdate.toISOString(), entries: checked.entryCount },
    });
    return { crlNumber: checked.crlNumber, thisUpdate: checked.thisUpdate, nextUpdate: checked.nextUpdate, entryCount: checked.entryCount };
  });
}

/** A pending intermediate prepared before a transaction (key generation and the CSR need no row). */
export interface PreparedPendingCa {
  id: string;
  name: string;
  subject: DistinguishedName;
  keyAlgorithm: KeyAlgorithm;
  privateKeyPkcs8: Buffer;
  csrPem: string;
}

/** Key and CSR of a pending intermediate (CreateIntermediateCertificateAuthority with external_parent, or the first start with SIGIL_BOOTSTRAP_MODE=external-root). */
export async function preparePendingCa(name: string, subject: DistinguishedName, keyAlgorithm: KeyAlgorithm): Promise<PreparedPendingCa> {
  const keyPair = await generateKeyPair(keyAlgorithm);
  const csr = buildCaCsr({ subject, signer: keyObjectCsrSigner(keyPair.privateKey) });
  return { id: uuidv7(), name, subject, keyAlgorithm, privateKeyPkcs8: exportPrivateKeyPkcs8(keyPair.privateKey), csrPem: csr.pem };
}

/** Writes a prepared pending intermediate and its audit entry in `tx`. */
export async function writePendingCa(
  tx: Tx,
  ctx: RaContext,
  actor: Actor,
  organizationId: string,
  p: PreparedPendingCa,
  description: string,
  settings: { allowLeafCerts: boolean; crlBaseUrl: string | null; creatorId: string | null } = { allowLeafCerts: true, crlBaseUrl: null, creatorId: null },
): Promise<CertificateAuthority> {
  const now = ctx.clock.now();
  const ca = createCa(tx, {
    id: p.id,
    name: p.name,
    description,
    organizationId,
    parentId: null,
    pathLength: null,
    allowLeafCerts: settings.allowLeafCerts,
    crlBaseUrl: settings.crlBaseUrl,
    keyAlgorithm: p.keyAlgorithm,
    encryptedPrivateKey: await ctx.secrets.seal(tx, organizationId, p.privateKeyPkcs8, caKeyAad(p.id)),
    // no certificate until activation: the validity columns hold the creation time meanwhile
    certificatePem: "",
    serial: "",
    subject: formatDn(p.subject),
    notBefore: now,
    notAfter: now,
    creatorId: settings.creatorId,
    createdAt: now,
    status: "pending_activation",
    csrPem: p.csrPem,
  });
  tx.audit(actor, {
    action: "ca_create",
    organizationId,
    resourceType: "certificate_authority",
    resourceId: p.id,
    detail: { name: p.name, kind: "intermediate", externalParent: true, status: "pending_activation", keyAlgorithm: p.keyAlgorithm },
  });
  return ca;
}

/** Every CERTIFICATE block of a PEM text, in order. */
export function pemCertificates(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** SIGIL_BOOTSTRAP_MODE=external-root: where the CSR goes, and the files that activate it. */
export interface ExternalRootBootstrap {
  /** where the pending intermediate's CSR is written (`<dataDir>/default-intermediate.csr`) */
  csrFile: string;
  /** SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE: the certificate the offline root signed for that CSR */
  intermediateCertFile?: string;
  /** SIGIL_BOOTSTRAP_ROOT_CERT_FILE: the issuer chain, the self-signed root last (one certificate: the root) */
  rootCertFile?: string;
}

/**
 * The end of a first start in external-root mode: an active default
 * intermediate is returned with its parent (the offline root); a pending
 * one is activated from the configured files, or its CSR is written to
 * `csrFile` and start-up stops with what to do next (a config error: the
 * rows already committed stay, the next start picks up from here).
 */
export async function finishExternalRootBootstrap(ctx: RaContext, opts: ExternalRootBootstrap, intermediateId: string): Promise<{ rootCaId: string; intermediateCaId: string }> {
  let ca = await loadCa(ctx.store, intermediateId);
  if (ca.status === "pending_activation") {
    if (!opts.intermediateCertFile || !opts.rootCertFile) {
      writeFileSync(opts.csrFile, ca.csrPem ?? "", { mode: 0o644 });
      throw SigilError.config(
        `the default intermediate waits for its certificate from the offline root: its CSR is in ${opts.csrFile}. ` +
          `Sign it offline (sigil ca sign-intermediate --root-key ROOT.key --csr ${opts.csrFile} --out intermediate.pem), ` +
          `then start again with SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE=intermediate.pem and SIGIL_BOOTSTRAP_ROOT_CERT_FILE=root.pem`,
        "SIGIL_BOOTSTRAP_MODE",
      );
    }
    const read = (file: string, name: string): string => {
      try {
        return readFileSync(file, "utf8");
      } catch (e) {
        throw SigilError.config(`cannot read ${name} ${file} (${(e as Error).message})`, name);
      }
    };
    const cert = read(opts.intermediateCertFile, "SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE");
    const chain = pemCertificates(read(opts.rootCertFile, "SIGIL_BOOTSTRAP_ROOT_CERT_FILE"));
    try {
      ca = await activateIntermediateCa(ctx, systemActor("bootstrap"), ca.id, cert, chain);
    } catch (e) {
      if (isSigilError(e, "invalidArgument")) {
        const why = e.violations.map((v) => `${v.field}: ${v.description}`).join("; ") || e.message;
        throw SigilError.config(`the default intermediate cannot be activated from SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE / SIGIL_BOOTSTRAP_ROOT_CERT_FILE: ${why}`, "SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE");
      }
      throw e;
    }
  }
  return { rootCaId: ca.parent?.id ?? ca.id, intermediateCaId: ca.id };
}
