/**
 * Creating CAs: a self-signed root, or an intermediate under a CA of the
 * same organization. Keys are generated here, encrypted under the master
 * key bound to the new row's id, and never stored in clear.
 */
import { SigilError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import { KEY_ALGORITHMS, type KeyAlgorithm } from "../../core/types.js";
import { KEY_STORAGES, type KeyStorage } from "../../ca/key-store.js";
import { newSerial, serialToHex } from "../../ca/serial.js";
import { createRootCa as signRootCa, issueSubordinateCa, type DistinguishedName } from "../../ca/signer.js";
import type { CertificateAuthority } from "../../db/entities/index.js";
import { caNameTaken, createCa, organizationExists } from "../../db/store/certificate-authorities.js";
import type { Session } from "../../db/store/session.js";
import { authorize } from "../../policy/permissions.js";
import type { Actor } from "../actor.js";
import { inTransaction, type RaContext } from "../context.js";
import { refuseCaKeysUnderPolicy } from "../issuance-policies.js";
import { optionalCrlBaseUrl, optionalText, requireCaName, requireId } from "../input.js";
import { generateCaKey, type NewCaKey } from "../issuers.js";
import { creatorId, DAY_MS, floorToSecond, formatDn, loadCa, recordCaCertificate } from "./common.js";

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
  /** where the key is created (docs/key-custody.md); default database; pkcs11 needs SIGIL_PKCS11_MODULE */
  keyStorage?: KeyStorage;
}

/** The checked input: every field once, by the rules of ra/input.ts. */
interface CheckedCaInput extends CreateCaInput {
  crlBaseUrl: string | null;
  description: string;
}

export function checkCaInput(input: CreateCaInput): CheckedCaInput {
  requireCaName(input.name);
  const description = optionalText(input.description ?? "", "description");
  if (!input.subject.commonName?.trim()) throw SigilError.invalidArgument("required", "subject.common_name");
  if (!KEY_ALGORITHMS.includes(input.keyAlgorithm)) throw SigilError.invalidArgument("unsupported", "key_algorithm");
  if (input.keyStorage !== undefined && !KEY_STORAGES.includes(input.keyStorage)) throw SigilError.invalidArgument("unsupported", "key_storage");
  if (!Number.isInteger(input.validityDays) || input.validityDays < 1 || input.validityDays > 36_500) {
    throw SigilError.invalidArgument("1 to 36500", "validity_days");
  }
  if (input.pathLength != null && (!Number.isInteger(input.pathLength) || input.pathLength < 0 || input.pathLength > 16)) {
    throw SigilError.invalidArgument("0 to 16", "path_length");
  }
  return { ...input, description, crlBaseUrl: optionalCrlBaseUrl(input.crlBaseUrl) };
}

export async function assertNameFree(s: Session, organizationId: string, name: string): Promise<void> {
  // deleted CAs were renamed when deleted, so they never hold a name
  if (await caNameTaken(s, organizationId, name)) {
    throw SigilError.alreadyExists(`a CA named "${name}" already exists in this organization`, "name");
  }
}

/** Creates a self-signed root CA (needs create_ca in the organization). */
export async function createRootCa(ctx: RaContext, actor: Actor, raw: CreateCaInput): Promise<CertificateAuthority> {
  const input = checkCaInput(raw);
  const orgId = requireId(input.organizationId, "organization_id");
  authorize(actor, orgId, "create_ca");
  await refuseCaKeysUnderPolicy(ctx.store, actor, orgId);
  // the row id first: a PKCS#11 key is labelled with it (CKA_LABEL sigil-ca-<id>)
  const id = uuidv7();
  const key = await generateCaKey(ctx.issuers.keyStores, ctx.secrets, input.keyStorage ?? "database", input.keyAlgorithm, id);
  const now = ctx.clock.now();
  // whole seconds, so the row's validity is the certificate's (RFC 5280 §4.1.2.5)
  const notBefore = floorToSecond(new Date(now.getTime() - 60_000));
  const notAfter = floorToSecond(new Date(now.getTime() + input.validityDays * DAY_MS));
  const serial = newSerial(ctx.random);
  return withCaKey(key, async () => {
    const cert = await signRootCa({ subject: input.subject, signingKey: key.signingKey, serial, notBefore, notAfter, pathLength: input.pathLength ?? null });
    return inTransaction(ctx, async (tx) => {
      if (!(await organizationExists(tx, orgId))) throw SigilError.notFound("organization not found");
      await assertNameFree(tx, orgId, input.name);
      const ca = createCa(tx, {
        id,
        name: input.name,
        description: input.description,
        organizationId: orgId,
        parentId: null,
        pathLength: input.pathLength ?? null,
        allowLeafCerts: input.allowLeafCerts ?? false,
        crlBaseUrl: input.crlBaseUrl,
        keyAlgorithm: input.keyAlgorithm,
        ...(await key.columns(tx, orgId)),
        certificatePem: cert.pem,
        serial: serialToHex(serial),
        subject: formatDn(input.subject),
        notBefore,
        notAfter,
        creatorId: creatorId(actor),
        createdAt: now,
      });
      tx.audit(actor, {
        action: "ca_create",
        organizationId: orgId,
        resourceType: "certificate_authority",
        resourceId: id,
        detail: { name: input.name, kind: "root", keyAlgorithm: input.keyAlgorithm, keyStorage: key.storage, serial: ca.serial },
      });
      return ca;
    });
  });
}

/** Runs the CA creation `fn` with a key just generated; a failure discards the key (a PKCS#11 key would stay in the token). */
async function withCaKey<T>(key: NewCaKey, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    key.discard();
    throw e;
  }
}

/**
 * Creates an intermediate under `parentId` (same organization). Its path
 * length must be below the parent's, and its validity lies within the
 * parent certificate's: a request for longer is clamped to the parent's
 * notAfter as the parent's certificate states it (whole seconds). The
 * intermediate's certificate is also recorded as a Certificate row of type
 * "ca" issued by the parent, so it can be revoked on the parent's CRL and
 * answered for by the parent's OCSP responder.
 */
export async function createIntermediateCa(ctx: RaContext, actor: Actor, parentId: string, raw: CreateCaInput): Promise<CertificateAuthority> {
  const input = checkCaInput(raw);
  const parent = await loadCa(ctx.store, requireId(parentId, "parent_id"));
  authorize(actor, parent.organization.id, "create_ca");
  await refuseCaKeysUnderPolicy(ctx.store, actor, parent.organization.id);
  if (input.organizationId !== parent.organization.id) {
    throw SigilError.invalidArgument("an intermediate belongs to its parent's organization", "organization_id");
  }
  if (parent.status !== "active") throw SigilError.failedPrecondition(`the parent CA is ${parent.status}`);
  // docs/key-custody.md "Offline root": Sigil cannot sign with a key it does not hold
  if (parent.offlineKey) throw SigilError.failedPrecondition("the parent CA's key is offline: create the intermediate with external_parent and have its CSR signed offline");
  if (parent.notAfter <= ctx.clock.now()) throw SigilError.failedPrecondition("the parent CA has expired");
  if (parent.pathLength === 0) throw SigilError.failedPrecondition("the parent CA's path length (0) allows no intermediate");
  let pathLength = input.pathLength ?? null;
  if (parent.pathLength != null) {
    if (pathLength == null) pathLength = parent.pathLength - 1;
    if (pathLength >= parent.pathLength) {
      throw SigilError.invalidArgument(`must be below the parent's (${parent.pathLength})`, "path_length");
    }
  }
  const issuer = await ctx.issuers.get(ctx.store, parent);
  const id = uuidv7();
  const key = await generateCaKey(ctx.issuers.keyStores, ctx.secrets, input.keyStorage ?? "database", input.keyAlgorithm, id);
  return withCaKey(key, async () => {
    const now = ctx.clock.now();
    // RFC 5280 §6.1.3: a chain is valid only while every certificate is. Clamp to the parent's
    // certificate as signed (whole seconds), not to its row, whose times may carry milliseconds.
    const wantedStart = floorToSecond(new Date(now.getTime() - 60_000));
    const notBefore = wantedStart < issuer.notBefore ? issuer.notBefore : wantedStart;
    const wantedEnd = floorToSecond(new Date(now.getTime() + input.validityDays * DAY_MS));
    const notAfter = wantedEnd > issuer.notAfter ? issuer.notAfter : wantedEnd;
    if (notAfter <= notBefore) throw SigilError.failedPrecondition("the parent CA's validity leaves no time for an intermediate");
    const serial = newSerial(ctx.random);
    const cert = await issueSubordinateCa(issuer, { subject: input.subject, publicKey: key.signingKey.publicKey, serial, notBefore, notAfter, pathLength });
    const orgId = parent.organization.id;
    return inTransaction(ctx, async (tx) => {
      await assertNameFree(tx, orgId, input.name);
      const serialHex = serialToHex(serial);
      const ca = createCa(tx, {
        id,
        name: input.name,
        description: input.description,
        organizationId: orgId,
        parentId: parent.id,
        pathLength,
        allowLeafCerts: input.allowLeafCerts ?? true,
        crlBaseUrl: input.crlBaseUrl,
        keyAlgorithm: input.keyAlgorithm,
        ...(await key.columns(tx, orgId)),
        certificatePem: cert.pem,
        serial: serialHex,
        subject: formatDn(input.subject),
        notBefore,
        notAfter,
        creatorId: creatorId(actor),
        createdAt: now,
      });
      // written now: a serial the parent already used fails this transaction
      await recordCaCertificate(tx, {
        serial: serialHex,
        issuerId: parent.id,
        organizationId: orgId,
        commonName: input.subject.commonName ?? null,
        notBefore: notBefore,
        notAfter: notAfter,
        creatorId: creatorId(actor),
        certificatePem: cert.pem,
        createdAt: now,
      });
      tx.audit(actor, {
        action: "ca_create",
        organizationId: orgId,
        resourceType: "certificate_authority",
        resourceId: id,
        detail: { name: input.name, kind: "intermediate", parentId: parent.id, keyAlgorithm: input.keyAlgorithm, keyStorage: key.storage, serial: serialHex },
      });
      return ca;
    });
  });
}
