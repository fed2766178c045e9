import type { EntityManager } from "@mikro-orm/postgresql";
import { SigilError } from "../core/errors.js";
import type { KeyAlgorithm } from "../core/types.js";
import { KEY_ALGORITHMS } from "../core/types.js";
import { exportPrivateKeyPkcs8, generateKeyPair } from "../ca/keys.js";
import { newSerial, serialToHex } from "../ca/serial.js";
import { createRootCa as signRootCa, issueSubordinateCa, type DistinguishedName } from "../ca/signer.js";
import { uuidv7 } from "../core/ids.js";
import { Certificate, CertificateAuthority, Organization, User } from "../db/entities/index.js";
import { authorize } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import { inTransaction, type RaContext } from "./context.js";
import { caKeyAad } from "./issuers.js";

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
  if (await em.count(CertificateAuthority, { organization: organizationId, name })) {
    throw SigilError.alreadyExists(`name: a CA named "${name}" already exists in this organization`, "name");
  }
}

function creatorRef(em: EntityManager, actor: Actor): User | null {
  return actor.kind === "user" ? em.getReference(User, actor.id) : null;
}

/**
 * Creates a self-signed root CA. The key is generated here, encrypted under
 * the master key bound to the new row's id, and never stored in clear.
 */
export async function createRootCa(ctx: RaContext, actor: Actor, input: CreateCaInput): Promise<CertificateAuthority> {
  checkCaInput(input);
  authorize(actor, input.organizationId, "create_ca");
  const keyPair = await generateKeyPair(input.keyAlgorithm);
  const now = ctx.clock.now();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + input.validityDays * DAY_MS);
  const serial = newSerial(ctx.random);
  const cert = await signRootCa({ subject: input.subject, keyPair, serial, notBefore, notAfter, pathLength: input.pathLength ?? null });
  return inTransaction(ctx, async (tx) => {
    const org = await loadOrganization(tx.em, input.organizationId);
    await assertNameFree(tx.em, org.id, input.name);
    const id = uuidv7();
    const ca = tx.em.create(CertificateAuthority, {
      id,
      name: input.name,
      description: input.description ?? "",
      organization: org,
      parent: null,
      pathLength: input.pathLength ?? null,
      allowLeafCerts: input.allowLeafCerts ?? false,
      crlBaseUrl: input.crlBaseUrl || null,
      keyAlgorithm: input.keyAlgorithm,
      encryptedPrivateKey: ctx.keyRing.encrypt(exportPrivateKeyPkcs8(keyPair.privateKey), caKeyAad(id)),
      certificatePem: cert.pem,
      serial: serialToHex(serial),
      subject: formatDn(input.subject),
      notBefore,
      notAfter,
      creator: creatorRef(tx.em, actor),
    } as CertificateAuthority);
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
  const parent = await em0.findOne(CertificateAuthority, { id: parentId }, { populate: ["organization"] });
  if (!parent) throw SigilError.notFound("parent CA not found");
  authorize(actor, parent.organization.id, "create_ca");
  if (input.organizationId !== parent.organization.id) {
    throw SigilError.invalidArgument("organization_id: an intermediate belongs to its parent's organization", "organization_id");
  }
  if (parent.status !== "active") throw SigilError.failedPrecondition(`the parent CA is ${parent.status}`);
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
    const ca = tx.em.create(CertificateAuthority, {
      id,
      name: input.name,
      description: input.description ?? "",
      organization: org,
      parent: tx.em.getReference(CertificateAuthority, parent.id),
      pathLength,
      allowLeafCerts: input.allowLeafCerts ?? true,
      crlBaseUrl: input.crlBaseUrl || null,
      keyAlgorithm: input.keyAlgorithm,
      encryptedPrivateKey: ctx.keyRing.encrypt(exportPrivateKeyPkcs8(keyPair.privateKey), caKeyAad(id)),
      certificatePem: cert.pem,
      serial: serialToHex(serial),
      subject: formatDn(input.subject),
      notBefore,
      notAfter,
      creator: creatorRef(tx.em, actor),
    } as CertificateAuthority);
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
