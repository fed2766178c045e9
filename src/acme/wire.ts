/** RFC 8555 §7.1 resource shapes as sent on the wire, built from ra/ data and the Linker. */
import type { Linker } from "./linker.js";
import type { AccountInfo, AuthzInfo, ChallengeInfo, DirectoryInfo, OrderInfo } from "./ra-port.js";

/** §7.1.1 directory object */
export function directoryJson(l: Linker, d: DirectoryInfo): Record<string, unknown> {
  const meta: Record<string, unknown> = { externalAccountRequired: d.eabRequired };
  if (d.termsOfServiceUrl) meta.termsOfService = d.termsOfServiceUrl;
  if (d.websiteUrl) meta.website = d.websiteUrl;
  if (d.caaIdentities.length) meta.caaIdentities = d.caaIdentities;
  return {
    newNonce: l.newNonce(d.name),
    newAccount: l.newAccount(d.name),
    newOrder: l.newOrder(d.name),
    revokeCert: l.revokeCert(d.name),
    keyChange: l.keyChange(d.name),
    // RFC 9773 §3: the directory names the renewalInfo resource
    renewalInfo: l.renewalInfo(d.name),
    meta,
  };
}

/** RFC 9773 §4.2 renewalInfo object: the suggested window, RFC 3339 timestamps */
export function renewalInfoJson(w: { start: Date; end: Date }): Record<string, unknown> {
  return { suggestedWindow: { start: w.start.toISOString(), end: w.end.toISOString() } };
}

/** §7.1.2 account object */
export function accountJson(l: Linker, dir: string, a: AccountInfo): Record<string, unknown> {
  return {
    status: a.status,
    contact: a.contact,
    termsOfServiceAgreed: a.termsOfServiceAgreed,
    orders: l.orders(dir, a.id),
  };
}

/** §7.1.3 order object */
export function orderJson(l: Linker, dir: string, o: OrderInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    status: o.status,
    expires: o.expires.toISOString(),
    identifiers: o.identifiers,
    authorizations: o.authorizationIds.map((id) => l.authz(dir, id)),
    finalize: l.finalize(dir, o.id),
  };
  if (o.notBefore) out.notBefore = new Date(o.notBefore).toISOString();
  if (o.notAfter) out.notAfter = new Date(o.notAfter).toISOString();
  if (o.error) out.error = o.error;
  if (o.certificateId && o.status === "valid") out.certificate = l.certificate(dir, o.certificateId);
  return out;
}

/** §7.1.4 authorization object */
export function authzJson(l: Linker, dir: string, a: AuthzInfo): Record<string, unknown> {
  const out: Record<string, unknown> = {
    identifier: a.identifier,
    status: a.status,
    expires: new Date(a.expires).toISOString(),
    challenges: a.challenges.map((c) => challengeJson(l, dir, c)),
  };
  if (a.wildcard) out.wildcard = true;
  return out;
}

/** §8 challenge object */
export function challengeJson(l: Linker, dir: string, c: ChallengeInfo): Record<string, unknown> {
  const out: Record<string, unknown> = { type: c.type, url: l.challenge(dir, c.id), status: c.status, token: c.token };
  if (c.validated) out.validated = new Date(c.validated).toISOString();
  if (c.error) out.error = c.error;
  return out;
}
