/**
 * RFC 8555 §7.6 certificate revocation, authorized either by the account
 * that ordered the certificate (kid) or by the certificate's own key (jwk).
 */
import { X509Certificate, type KeyObject } from "node:crypto";
import { serialToHex } from "../../ca/serial.js";
import type { IdentifierType } from "../../core/types.js";
import { findReusableAuthorizations } from "../../db/store/acme-authorizations.js";
import { findBySerialInOrganization, type CertificateBySerial } from "../../db/store/certificates.js";
import { systemActor } from "../actor.js";
import { inTransaction, type RaContext } from "../context.js";
import { pemToDer } from "../issuers.js";
import { checkRevocationReason, revokeCertificateInTx } from "../revocation.js";
import { accountActor, type AccountInfo } from "./accounts.js";
import type { DirectoryInfo } from "./directories.js";
import { AcmeError, acmeErr } from "./errors.js";

export type RevocationAuth = { kind: "account"; account: AccountInfo } | { kind: "certKey"; publicKey: KeyObject };

export async function revokeCertificate(ctx: RaContext, dir: DirectoryInfo, auth: RevocationAuth, certDer: Buffer, reason: unknown): Promise<void> {
  if (reason !== undefined && (typeof reason !== "number" || !Number.isInteger(reason))) {
    throw acmeErr.badRevocationReason("reason must be an RFC 5280 reason code");
  }
  let code: ReturnType<typeof checkRevocationReason>;
  try {
    code = checkRevocationReason((reason as number | undefined) ?? 0);
  } catch (e) {
    throw acmeErr.badRevocationReason((e as Error).message);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certDer);
  } catch {
    throw acmeErr.malformed("certificate is not a DER X.509 certificate");
  }
  const serial = serialToHex(Buffer.from(x509.serialNumber.length % 2 ? `0${x509.serialNumber}` : x509.serialNumber, "hex"));
  // the (issuer_id, serial) unique index, over the CAs of the directory's organization
  const rows = await findBySerialInOrganization(ctx.store, serial, dir.organizationId);
  const row = rows.find((r) => pemToDer(r.certificatePem).equals(certDer));
  // certificates of other organizations are as unknown as ones we never issued
  if (!row || row.organizationId !== dir.organizationId) throw acmeErr.notFound();
  if (auth.kind === "account") {
    if (row.acmeAccountId !== auth.account.id && !(await holdsAuthorizationsFor(ctx, auth.account, row))) {
      throw acmeErr.unauthorized("this account did not order the certificate and does not hold valid authorizations for all its names");
    }
  } else {
    const certSpki = x509.publicKey.export({ type: "spki", format: "der" });
    const jwsSpki = auth.publicKey.export({ type: "spki", format: "der" });
    if (!certSpki.equals(jwsSpki)) throw acmeErr.unauthorized("the request is not signed with the certificate's key");
  }
  const actor = auth.kind === "account" ? accountActor(auth.account) : systemActor("acme-cert-key");
  await inTransaction(ctx, async (tx) => {
    await revokeCertificateInTx(ctx, tx, actor, row.id, code);
  });
}

/**
 * §7.6: "an account that holds authorizations for all of the identifiers in
 * the certificate" may revoke it: a valid, unexpired authorization of the
 * account for each name (a wildcard name needs a wildcard authorization).
 */
interface Wanted {
  type: IdentifierType;
  value: string;
  wildcard: boolean;
}

async function holdsAuthorizationsFor(ctx: RaContext, account: AccountInfo, cert: Pick<CertificateBySerial, "dnsNames" | "ipAddresses" | "emails">): Promise<boolean> {
  if (cert.emails?.length) return false;
  const wanted: Wanted[] = [
    ...(cert.dnsNames ?? []).map((n): Wanted => ({ type: "dns", value: n.startsWith("*.") ? n.slice(2) : n, wildcard: n.startsWith("*.") })),
    ...(cert.ipAddresses ?? []).map((n): Wanted => ({ type: "ip", value: n, wildcard: false })),
  ];
  if (!wanted.length) return false;
  const held = await findReusableAuthorizations(ctx.store, {
    accountId: account.id,
    identifierTypes: [...new Set(wanted.map((w) => w.type))],
    identifierValues: [...new Set(wanted.map((w) => w.value))],
    validAfter: ctx.clock.now(),
  });
  return wanted.every((w) => held.some((h) => h.identifierType === w.type && h.identifierValue === w.value && h.wildcard === w.wildcard));
}

export { AcmeError };
