/** RFC 8555 §7.1 resource shapes as sent on the wire, built from ra/ data and the Linker. */
import type { Linker } from "./linker.js";
import { dnsPersistAccountHashPrefix, dnsPersistIssuerDomainNames, offersDnsPersist } from "../policy/dns-challenges.js";
import type { AccountInfo, AuthzInfo, ChallengeInfo, DirectoryInfo, OrderInfo } from "./ra-port.js";

/** draft-ietf-acme-profiles-00 §3 meta.profiles: each profile's name -> its description, by name */
function metaProfiles(d: DirectoryInfo): Record<string, string> | undefined {
  if (!d.profiles?.byName.size) return undefined;
  const out: Record<string, string> = {};
  for (const name of [...d.profiles.byName.keys()].sort()) out[name] = d.profiles.byName.get(name)!.description || name;
  return out;
}

/** §7.1.1 directory object */
export function directoryJson(l: Linker, d: DirectoryInfo): Record<string, unknown> {
  const meta: Record<string, unknown> = { externalAccountRequired: d.eabRequired };
  if (d.termsOfServiceUrl) meta.termsOfService = d.termsOfServiceUrl;
  if (d.websiteUrl) meta.website = d.websiteUrl;
  if (d.caaIdentities.length) meta.caaIdentities = d.caaIdentities;
  // draft-ietf-acme-profiles-00 §3: profile name -> description
  const profiles = metaProfiles(d);
  if (profiles) meta.profiles = profiles;
  // draft-ietf-acme-dns-persist-02 §3.2 and §4.1: a CA offering dns-persist-01 MUST advertise both
  if (offersDnsPersist(d.challengeTypes)) {
    meta.issuerDomainNames = dnsPersistIssuerDomainNames(d.caaIdentities, l.base);
    meta.accountHashPrefix = dnsPersistAccountHashPrefix(l.base, d.name);
  }
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

/** RFC 9773 §4.2 renewalInfo object: the suggested window, RFC 3339 timestamps, and the explanationURL when there is one */
export function renewalInfoJson(w: { start: Date; end: Date }, explanationUrl?: string): Record<string, unknown> {
  const out: Record<string, unknown> = { suggestedWindow: { start: w.start.toISOString(), end: w.end.toISOString() } };
  if (explanationUrl) out.explanationURL = explanationUrl;
  return out;
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
  // RFC 9773 §5: the order reflects the replaces field it was created with
  if (o.replaces) out.replaces = o.replaces;
  // draft-ietf-acme-profiles-00 §4: the profile the order was placed under
  if (o.profile) out.profile = o.profile;
  return out;
}

/** §7.1.4 authorization object (`d`: the directory's caaIdentities, for dns-persist-01's issuerDomainNames) */
export function authzJson(l: Linker, dir: string, a: AuthzInfo, d?: Pick<DirectoryInfo, "caaIdentities">): Record<string, unknown> {
  const out: Record<string, unknown> = {
    identifier: a.identifier,
    status: a.status,
    expires: new Date(a.expires).toISOString(),
    challenges: a.challenges.map((c) => challengeJson(l, dir, c, d)),
  };
  if (a.wildcard) out.wildcard = true;
  return out;
}

/**
 * §8 challenge object. dns-persist-01 (draft-ietf-acme-dns-persist-02 §3.1)
 * has no token: type, url, status and issuerDomainNames (from `d`).
 */
export function challengeJson(l: Linker, dir: string, c: ChallengeInfo, d?: Pick<DirectoryInfo, "caaIdentities">): Record<string, unknown> {
  const out: Record<string, unknown> =
    c.type === "dns-persist-01"
      ? { type: c.type, url: l.challenge(dir, c.id), status: c.status, issuerDomainNames: dnsPersistIssuerDomainNames(d?.caaIdentities ?? [], l.base) }
      : { type: c.type, url: l.challenge(dir, c.id), status: c.status, token: c.token };
  if (c.validated) out.validated = new Date(c.validated).toISOString();
  if (c.error) out.error = c.error;
  return out;
}
