/**
 * Names of admin-issued leaf certificates by profile (pure: no I/O).
 *
 * RFC 5280 §4.2.1.6 subjectAltName: dNSName (RFC 1035 preferred syntax, a
 * leftmost "*" label allowed), iPAddress (4 or 16 octets; text here in
 * canonical form, RFC 5952 for IPv6), rfc822Name (an RFC 5321 mailbox).
 *
 * Profiles (EKU, RFC 5280 §4.2.1.12):
 * - server (serverAuth): at least one DNS name or IP address; no emails
 *   (a TLS client matches the server against DNS/IP SANs, RFC 6125 §6.4);
 * - client (clientAuth): at least one email, no DNS names or IP addresses
 *   (the signer always writes a non-empty subjectAltName, RFC 5280 §4.2.1.6);
 * - dual (serverAuth + clientAuth): as server, and emails allowed.
 */
import { canonicalIp } from "../ca/ip.js";
import { SigilError } from "../core/errors.js";
import type { LeafType } from "../core/types.js";
import { isValidDnsName } from "./identifiers.js";

/** the server/client/dual kind, as one type everywhere (core/types.ts) */
export type LeafProfile = LeafType;

/** RFC 5280 Appendix A ub-common-name */
export const MAX_COMMON_NAME = 64;
export const MAX_LEAF_NAMES = 100;

export const LEAF_NAME_MESSAGES = {
  serverNeedsDnsOrIp: "a server certificate needs at least one DNS name or IP address",
  dualNeedsDnsOrIp: "a dual certificate needs at least one DNS name or IP address (it is also a server certificate)",
  serverNoEmail: "a server certificate carries no email addresses; use type dual",
  clientNoDnsOrIp: "a client certificate carries no DNS names or IP addresses; use type dual",
  clientNeedsName: "a client certificate needs at least one email address (its subjectAltName)",
  tooMany: `at most ${MAX_LEAF_NAMES} names per certificate`,
  badDns: (v: string) => `"${v}" is not a valid DNS name`,
  badIp: (v: string) => `"${v}" is not an IPv4 or IPv6 address`,
  badEmail: (v: string) => `"${v}" is not a valid ASCII email address`,
  badCommonName: `common_name: 1 to ${MAX_COMMON_NAME} characters without control characters`,
} as const;

export interface LeafNames {
  commonName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  emails: string[];
}

const EMAIL = /^[\x21-\x3f\x41-\x7e]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** Normalizes names (lower-case DNS, canonical IPs, deduplicated) and applies the profile's rules; INVALID_ARGUMENT naming the field. */
export function checkLeafNames(profile: LeafProfile, input: LeafNames): LeafNames {
  const commonName: string | undefined = input.commonName?.trim() || undefined;
  // eslint-disable-next-line no-control-regex
  if (commonName !== undefined && (commonName.length > MAX_COMMON_NAME || /[\u0000-\u001f\u007f]/.test(commonName))) {
    throw SigilError.invalidArgument(LEAF_NAME_MESSAGES.badCommonName, "common_name");
  }
  const dnsNames = dedupe(
    input.dnsNames.map((raw) => {
      const v = raw.trim().toLowerCase().replace(/\.$/, "");
      const base = v.startsWith("*.") ? v.slice(2) : v;
      if (!isValidDnsName(base) || canonicalIp(base) !== undefined) throw SigilError.invalidArgument(LEAF_NAME_MESSAGES.badDns(raw), "dns_names");
      return v;
    }),
  );
  const ipAddresses = dedupe(
    input.ipAddresses.map((raw) => {
      const v = canonicalIp(raw.trim());
      if (!v) throw SigilError.invalidArgument(LEAF_NAME_MESSAGES.badIp(raw), "ip_addresses");
      return v;
    }),
  );
  const emails = dedupe(
    input.emails.map((raw) => {
      const v = raw.trim();
      if (v.length > 254 || !EMAIL.test(v)) throw SigilError.invalidArgument(LEAF_NAME_MESSAGES.badEmail(raw), "emails");
      // RFC 5280 §4.2.1.6 / §7.5: the domain part compares case-insensitively
      const at = v.lastIndexOf("@");
      return `${v.slice(0, at)}@${v.slice(at + 1).toLowerCase()}`;
    }),
  );
  if (dnsNames.length + ipAddresses.length + emails.length > MAX_LEAF_NAMES) {
    throw SigilError.invalidArgument(LEAF_NAME_MESSAGES.tooMany, "dns_names");
  }
  const hostNames = dnsNames.length + ipAddresses.length;
  switch (profile) {
    case "server":
      if (emails.length) throw SigilError.invalidArgument(LEAF_NAME_MESSAGES.serverNoEmail, "emails");
      if (!hostNames) throw SigilError.invalidArgument(LEAF_NAME_MESSAGES.serverNeedsDnsOrIp, "dns_names");
      break;
    case "client":
      if (hostNames) throw SigilError.invalidArgument(LEAF_NAME_MESSAGES.clientNoDnsOrIp, dnsNames.length ? "dns_names" : "ip_addresses");
      if (!emails.length) throw SigilError.invalidArgument(LEAF_NAME_MESSAGES.clientNeedsName, "emails");
      break;
    case "dual":
      if (!hostNames) throw SigilError.invalidArgument(LEAF_NAME_MESSAGES.dualNeedsDnsOrIp, "dns_names");
      break;
    default: {
      const never: never = profile;
      throw SigilError.invalidArgument(`unknown certificate type ${String(never)}`, "type");
    }
  }
  return { commonName, dnsNames, ipAddresses, emails };
}
