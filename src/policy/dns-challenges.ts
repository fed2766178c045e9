/**
 * The values of the account-bound DNS challenges that the ACME front end
 * renders and the RA validates against, derived in one place so both agree
 * (pure: no I/O).
 *
 * - draft-ietf-acme-dns-account-label: the account URL (RFC 8555 §7.3, the
 *   Location of newAccount) is hashed into the record name.
 * - draft-ietf-acme-dns-persist-02 §3.1/§3.2: the issuer domain names (the
 *   challenge's and the directory meta's `issuerDomainNames`) and §4.1 the
 *   directory meta `accountHashPrefix`.
 */
import { domainToASCII } from "node:url";
import type { AcmeChallengeType } from "../core/types.js";

/** draft-ietf-acme-dns-persist-02 §3.1: "Servers MUST NOT send more than 10 issuer domain names." */
export const MAX_ISSUER_DOMAIN_NAMES = 10;
/** §3.1: "Each domain name MUST NOT exceed 253 octets in length." */
const MAX_ISSUER_DOMAIN_NAME_LENGTH = 253;

/**
 * The account URL exactly as the Linker builds it (src/acme/linker.ts
 * `account`): `{acmeBase}/acme/{directory}/acct/{id}`. The ra/ may not import
 * the transport, so the rule lives here; a unit test holds the two equal.
 */
export function acmeAccountUrl(acmeBase: string, directory: string, accountId: string): string {
  return `${acmeBase.replace(/\/+$/, "")}/acme/${encodeURIComponent(directory)}/acct/${accountId}`;
}

/**
 * draft-ietf-acme-dns-persist-02 §4.1: "A CA that advertises support for the
 * dns-persist-01 challenge type MUST advertise an accountHashPrefix ... The CA
 * MUST choose a prefix such that appending the remaining components yields a
 * valid URI", and §4.5 keep it stable for the account's lifetime: it is the
 * directory's root (the same base as every account URL) plus "/account-hash/".
 */
export function dnsPersistAccountHashPrefix(acmeBase: string, directory: string): string {
  return `${acmeBase.replace(/\/+$/, "")}/acme/${encodeURIComponent(directory)}/account-hash/`;
}

/**
 * §3.1 normalization of an issuer domain name: A-label (RFC 5890), lower
 * case, no trailing dot; undefined when it cannot be one (empty, too long).
 */
export function normalizeIssuerDomainName(name: string): string | undefined {
  const trimmed = name.trim().replace(/\.$/, "");
  if (!trimmed) return undefined;
  const ascii = domainToASCII(trimmed.normalize("NFC")).toLowerCase();
  if (!ascii || ascii.length > MAX_ISSUER_DOMAIN_NAME_LENGTH) return undefined;
  return ascii;
}

/**
 * §3.1/§3.2 the Issuer Domain Names of a directory: its caaIdentities (so
 * "every value in C MUST also appear in I" holds), at most 10; a directory
 * without caaIdentities uses the host name of the ACME base URL
 * (SIGIL_ACME_URL, default SIGIL_PUBLIC_URL), the name the CA is reached at.
 * The same list is the directory meta's (D) and every challenge's (C), so
 * "Every value in D MUST appear in C" holds. Never empty.
 */
export function dnsPersistIssuerDomainNames(caaIdentities: readonly string[], acmeBase: string): string[] {
  const out: string[] = [];
  for (const c of caaIdentities) {
    const n = normalizeIssuerDomainName(c);
    if (n && !out.includes(n)) out.push(n);
    if (out.length === MAX_ISSUER_DOMAIN_NAMES) break;
  }
  if (out.length) return out;
  let host = "localhost";
  try {
    host = new URL(acmeBase).hostname.replace(/^\[|\]$/g, "") || host;
  } catch {
    // the config validated the URL at start-up; keep the fallback
  }
  return [normalizeIssuerDomainName(host) ?? host.toLowerCase()];
}

/** the directory offers dns-persist-01 (its meta then carries issuerDomainNames and accountHashPrefix, §3.2, §4.1) */
export function offersDnsPersist(challengeTypes: readonly AcmeChallengeType[]): boolean {
  return challengeTypes.includes("dns-persist-01");
}
