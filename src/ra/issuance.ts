import type { KeyObject } from "node:crypto";
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import type { CertificateSource } from "../core/types.js";
import { newSerial, serialToHex } from "../ca/serial.js";
import { issueLeaf } from "../ca/signer.js";
import { Certificate, CertificateAuthority, Organization, User } from "../db/entities/index.js";
import type { Actor } from "./actor.js";
import type { RaContext, Tx } from "./context.js";

/** Leaf key types the signer produces profiles for. */
export type LeafType = "server" | "client" | "dual";

export interface LeafRequest {
  ca: CertificateAuthority;
  /** already checked against the key policy (checkLeafKeyPolicy) */
  publicKey: KeyObject;
  type: LeafType;
  commonName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  emails: string[];
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
  if (ca.status !== "active") throw SigilError.failedPrecondition(`the CA is ${ca.status}`);
  if (!ca.allowLeafCerts) throw SigilError.failedPrecondition("this CA does not issue leaf certificates (allow_leaf_certs is false)");
  const now = ctx.clock.now();
  if (ca.notAfter <= now) throw SigilError.failedPrecondition("the CA has expired");
  const notBefore = req.notBefore ?? new Date(now.getTime() - 60_000);
  // RFC 5280 §6.1.3: never outlive the issuer
  const notAfter = req.notAfter > ca.notAfter ? ca.notAfter : req.notAfter;
  if (notAfter <= notBefore) throw SigilError.invalidArgument("not_after: must be after not_before", "not_after");
  const issuer = await ctx.issuers.get(tx.em, ca);
  const serial = newSerial(ctx.random);
  const signed = issueLeaf(issuer, {
    publicKey: req.publicKey,
    type: req.type,
    commonName: req.commonName,
    dnsNames: req.dnsNames,
    ipAddresses: req.ipAddresses,
    emails: req.emails,
    serial,
    notBefore,
    notAfter,
  });
  const id = uuidv7();
  const cert = tx.em.create(Certificate, {
    id,
    serial: serialToHex(serial),
    issuer: ca,
    organization: tx.em.getReference(Organization, ca.organization.id),
    type: req.type,
    commonName: req.commonName ?? null,
    dnsNames: req.dnsNames,
    ipAddresses: req.ipAddresses,
    emails: req.emails,
    notBefore,
    notAfter,
    creator: actor.kind === "user" ? tx.em.getReference(User, actor.id) : null,
    source: req.source,
    certificatePem: signed.pem,
    encryptedPrivateKey: req.privateKeyPkcs8 ? ctx.keyRing.encrypt(req.privateKeyPkcs8, certKeyAad(id)) : null,
    renewedFrom: req.renewedFromId ? tx.em.getReference(Certificate, req.renewedFromId) : null,
    acmeAccountId: req.acmeAccountId ?? null,
    acmeOrderId: req.acmeOrderId ?? null,
  } as Certificate);
  tx.audit(actor, {
    action: req.auditAction ?? "cert_create",
    organizationId: ca.organization.id,
    resourceType: "certificate",
    resourceId: id,
    detail: {
      serial: cert.serial,
      issuerId: ca.id,
      type: req.type,
      source: req.source,
      names: [...req.dnsNames, ...req.ipAddresses, ...req.emails],
      ...(req.acmeOrderId ? { acmeOrderId: req.acmeOrderId } : {}),
      ...(req.renewedFromId ? { renewedFromId: req.renewedFromId } : {}),
    },
  });
  // write now so a serial collision fails this transaction, not a later one
  await tx.em.flush();
  return cert;
}

export { CertificateAuthority };
