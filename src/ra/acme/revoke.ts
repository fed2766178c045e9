/**
 * RFC 8555 §7.6 certificate revocation, authorized either by the account
 * that ordered the certificate (kid) or by the certificate's own key (jwk).
 */
import { X509Certificate, type KeyObject } from "node:crypto";
import { serialToHex } from "../../ca/serial.js";
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
  const rows = await ctx.orm.em.getConnection().execute<
    Array<{ id: string; certificate_pem: string; acme_account_id: string | null; organization_id: string; dns_names: string[]; ip_addresses: string[]; emails: string[] }>
  >(
    // the (issuer_id, serial) unique index, over the CAs of the directory's organization
    `select id, certificate_pem, acme_account_id, organization_id, dns_names, ip_addresses, emails from certificates
      where serial = ? and issuer_id in (select id from certificate_authorities where organization_id = ?)`,
    [serial, dir.organizationId],
  );
  const row = rows.find((r) => pemToDer(r.certificate_pem).equals(certDer));
  // certificates of other organizations are as unknown as ones we never issued
  if (!row || row.organization_id !== dir.organizationId) throw acmeErr.notFound();
  if (auth.kind === "account") {
    if (row.acme_account_id !== auth.account.id && !(await holdsAuthorizationsFor(ctx, auth.account, row))) {
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
async function holdsAuthorizationsFor(
  ctx: RaContext,
  account: AccountInfo,
  cert: { dns_names: string[]; ip_addresses: string[]; emails: string[] },
): Promise<boolean> {
  if (cert.emails?.length) return false;
  const wanted = [
    ...(cert.dns_names ?? []).map((n) => ({ type: "dns", value: n.startsWith("*.") ? n.slice(2) : n, wildcard: n.startsWith("*.") })),
    ...(cert.ip_addresses ?? []).map((n) => ({ type: "ip", value: n, wildcard: false })),
  ];
  if (!wanted.length) return false;
  const held = await ctx.orm.em.getConnection().execute<Array<{ identifier_type: string; identifier_value: string; wildcard: boolean }>>(
    `select identifier_type, identifier_value, wildcard from acme_authorizations
      where account_id = ? and status = 'valid' and expires > ? and identifier_value in (${wanted.map(() => "?").join(", ")})`,
    [account.id, ctx.clock.now(), ...wanted.map((w) => w.value)],
  );
  return wanted.every((w) => held.some((h) => h.identifier_type === w.type && h.identifier_value === w.value && h.wildcard === w.wildcard));
}

export { AcmeError };
