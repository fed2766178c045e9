/**
 * Identifier policy for ACME orders (pure: no I/O). RFC 8555 §7.1.4 / §9.7.7
 * (dns), RFC 8738 (ip). A directory's policy names the DNS suffixes and IP
 * ranges it issues for and the challenge types it offers.
 */
import { canonicalIp } from "../ca/ip.js";
import type { AcmeChallengeType, Identifier } from "../core/types.js";
import { dnsNameAllowed, ipInRanges, parseCidr, suffixPatterns } from "./engine.js";

export const IDENTIFIER_MESSAGES = {
  badType: (t: string) => `identifier type "${t}" is not supported (dns, ip)`,
  badDnsName: (v: string) => `"${v}" is not a valid DNS name`,
  dnsLooksLikeIp: (v: string) => `"${v}" is an IP address; use an "ip" identifier (RFC 8738)`,
  badWildcard: (v: string) => `"${v}": a wildcard is only allowed as the whole leftmost label ("*.example.com")`,
  badIp: (v: string) => `"${v}" is not an IPv4 or IPv6 address in canonical form`,
  dnsNotAllowed: (v: string) => `"${v}" is not within this directory's allowed DNS names`,
  ipNotAllowed: (v: string) => `"${v}" is not within this directory's allowed IP ranges`,
  wildcardNeedsDns01: (v: string) => `"${v}": wildcard names need a DNS challenge (dns-01, dns-account-01 or dns-persist-01), which this directory does not offer`,
  noChallenge: (v: string) => `"${v}": none of this directory's challenge types can validate this identifier`,
  empty: "an order needs at least one identifier",
  tooMany: (n: number) => `at most ${n} identifiers per order`,
  duplicate: (v: string) => `identifier "${v}" appears twice`,
} as const;

export const MAX_IDENTIFIERS = 100;

export interface IdentifierPolicy {
  /** exact names or parent domains; empty = any name */
  allowedDnsSuffixes: readonly string[];
  /** CIDR ranges; empty = no ip identifiers */
  allowedIpRanges: readonly string[];
  challengeTypes: readonly AcmeChallengeType[];
}

/** One identifier's problem, for RFC 8555 §6.7.1 subproblems. */
export interface IdentifierProblem {
  kind: "malformed" | "unsupportedIdentifier" | "rejectedIdentifier";
  identifier: Identifier;
  detail: string;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** RFC 1035 §2.3.1 preferred syntax (LDH labels, lower-cased; punycode A-labels pass as LDH). */
export function isValidDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  if (labels.length < 2) return false;
  return labels.every((l) => LABEL.test(l));
}

/**
 * WHATWG URL "ends in a number": a host whose last label is decimal digits or
 * 0x-hex is parsed as an IPv4 address ("127.1", "0x7f.0x1" -> 127.0.0.1), so
 * such a name would be validated (http-01) and used as an IP, not a DNS name.
 */
function endsInNumber(name: string): boolean {
  const last = name.slice(name.lastIndexOf(".") + 1);
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
}

/**
 * dns identifier within a suffix list: the name itself or a subdomain of an
 * entry (each entry is the engine's name + subtree pair, src/policy/engine.ts)
 */
export function dnsAllowed(name: string, suffixes: readonly string[]): boolean {
  if (suffixes.length === 0) return true;
  return dnsNameAllowed(name, suffixes.flatMap(suffixPatterns));
}

// the CIDR rules live in the shared policy engine; re-exported for the directory policy's callers
export { parseCidr, ipInRanges };

/**
 * RFC 8555 §8 / RFC 8737 §3 / RFC 8738 §7: which challenge types can validate an identifier.
 * dns-account-01 and dns-persist-01 are registered for the "dns" identifier type only
 * (draft-ietf-acme-dns-account-label IANA considerations; draft-ietf-acme-dns-persist-02 §8.1).
 * Wildcards: dns-01 (RFC 8555 §7.1.3), dns-account-01 (a dns-01 variant: same record content,
 * another name), and dns-persist-01, which then succeeds only with a record carrying
 * policy=wildcard (draft-ietf-acme-dns-persist-02 §5; checked at validation time).
 */
export function challengeTypesFor(id: { type: Identifier["type"]; wildcard: boolean }, enabled: readonly AcmeChallengeType[]): AcmeChallengeType[] {
  if (id.type === "ip") return enabled.filter((t) => t === "http-01" || t === "tls-alpn-01");
  if (id.wildcard) return enabled.filter((t) => t === "dns-01" || t === "dns-account-01" || t === "dns-persist-01");
  return [...enabled];
}

export interface CheckedIdentifier {
  /** as the order shows it (wildcard keeps "*.") */
  identifier: Identifier;
  /** as the authorization shows it ("*." stripped) */
  authzValue: string;
  wildcard: boolean;
  challengeTypes: AcmeChallengeType[];
}

/**
 * Normalizes and checks an order's identifiers against a directory policy.
 * Returns the checked identifiers, or the problems (one per bad identifier).
 */
export function checkOrderIdentifiers(
  raw: unknown,
  policy: IdentifierPolicy,
): { ok: true; identifiers: CheckedIdentifier[] } | { ok: false; problems: IdentifierProblem[]; detail?: string } {
  if (!Array.isArray(raw) || raw.length === 0) return { ok: false, problems: [], detail: IDENTIFIER_MESSAGES.empty };
  if (raw.length > MAX_IDENTIFIERS) return { ok: false, problems: [], detail: IDENTIFIER_MESSAGES.tooMany(MAX_IDENTIFIERS) };
  const out: CheckedIdentifier[] = [];
  const problems: IdentifierProblem[] = [];
  const seen = new Set<string>();
  for (const item of raw) {
    const type = (item as { type?: unknown })?.type;
    const value = (item as { value?: unknown })?.value;
    if (typeof type !== "string" || typeof value !== "string") {
      problems.push({ kind: "malformed", identifier: { type: "dns", value: String(value) }, detail: "identifier needs string type and value" });
      continue;
    }
    const r = checkIdentifier(type, value, policy);
    if ("problem" in r) {
      problems.push(r.problem);
      continue;
    }
    const key = `${r.identifier.type}:${r.identifier.value}`;
    if (seen.has(key)) {
      problems.push({ kind: "malformed", identifier: r.identifier, detail: IDENTIFIER_MESSAGES.duplicate(r.identifier.value) });
      continue;
    }
    seen.add(key);
    out.push(r);
  }
  if (problems.length) return { ok: false, problems };
  return { ok: true, identifiers: out };
}

export function checkIdentifier(type: string, value: string, policy: IdentifierPolicy): CheckedIdentifier | { problem: IdentifierProblem } {
  if (type === "ip") {
    const ip = canonicalIp(value);
    const identifier: Identifier = { type: "ip", value };
    // RFC 8738 §3: the value is the textual form (RFC 5952 canonical for IPv6)
    if (!ip || ip !== value.toLowerCase()) return { problem: { kind: "malformed", identifier, detail: IDENTIFIER_MESSAGES.badIp(value) } };
    const canon: Identifier = { type: "ip", value: ip };
    if (!ipInRanges(ip, policy.allowedIpRanges)) {
      return { problem: { kind: "rejectedIdentifier", identifier: canon, detail: IDENTIFIER_MESSAGES.ipNotAllowed(ip) } };
    }
    const challengeTypes = challengeTypesFor({ type: "ip", wildcard: false }, policy.challengeTypes);
    if (!challengeTypes.length) return { problem: { kind: "rejectedIdentifier", identifier: canon, detail: IDENTIFIER_MESSAGES.noChallenge(ip) } };
    return { identifier: canon, authzValue: ip, wildcard: false, challengeTypes };
  }
  if (type !== "dns") {
    return { problem: { kind: "unsupportedIdentifier", identifier: { type: "dns", value }, detail: IDENTIFIER_MESSAGES.badType(type) } };
  }
  const name = value.toLowerCase();
  const identifier: Identifier = { type: "dns", value: name };
  const wildcard = name.startsWith("*.");
  const base = wildcard ? name.slice(2) : name;
  if (base.includes("*")) return { problem: { kind: "malformed", identifier, detail: IDENTIFIER_MESSAGES.badWildcard(value) } };
  if (canonicalIp(base) || endsInNumber(base)) return { problem: { kind: "malformed", identifier, detail: IDENTIFIER_MESSAGES.dnsLooksLikeIp(value) } };
  if (!isValidDnsName(base)) return { problem: { kind: "malformed", identifier, detail: IDENTIFIER_MESSAGES.badDnsName(value) } };
  if (!dnsAllowed(base, policy.allowedDnsSuffixes)) {
    return { problem: { kind: "rejectedIdentifier", identifier, detail: IDENTIFIER_MESSAGES.dnsNotAllowed(name) } };
  }
  const challengeTypes = challengeTypesFor({ type: "dns", wildcard }, policy.challengeTypes);
  if (!challengeTypes.length) {
    const detail = wildcard ? IDENTIFIER_MESSAGES.wildcardNeedsDns01(name) : IDENTIFIER_MESSAGES.noChallenge(name);
    return { problem: { kind: "rejectedIdentifier", identifier, detail } };
  }
  return { identifier, authzValue: base, wildcard, challengeTypes };
}
