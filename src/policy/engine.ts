/**
 * The policy engine (pure: no I/O): the matching rules every issuance
 * policy uses, shared by the ACME directories' identifier policy
 * (src/policy/identifiers.ts, directory-policy.ts, profiles.ts) and the
 * admin plane's issuance policies (src/ra/issuance-policies.ts).
 *
 * One syntax of DNS name patterns (lower-case, A-labels; Unicode input is
 * converted with UTS #46 / IDNA, RFC 5891 §5):
 * - `www.example.com`: exactly that name;
 * - `*.example.com`: exactly one label below example.com (`a.example.com`,
 *   and the wildcard name `*.example.com` itself), never `example.com` nor
 *   `a.b.example.com` (RFC 6125 §6.4.3: a wildcard covers one label);
 * - `.example.com`: any name below example.com, at any depth (and wildcard
 *   names below it), never `example.com` itself: list both for both.
 * An ACME directory's allowed_dns_suffixes entry `example.com` is the pair
 * `example.com` + `.example.com` (suffixPatterns): the name and its subtree.
 *
 * Email patterns (RFC 5280 §4.2.1.6 rfc822Name, RFC 5321 mailboxes):
 * `local@domain-pattern` or `*@domain-pattern`, the domain pattern in the
 * DNS syntax above (compared case-insensitively, RFC 5280 §7.5); the local
 * part compares exactly (RFC 5321 §2.4: it may be case-sensitive).
 *
 * IP ranges: CIDR (RFC 4632, RFC 4291 §2.3), a bare address being a /32 or
 * /128; IPv4 never matches an IPv6 range (no mapped-address tricks).
 */
import { domainToASCII } from "node:url";
import { ipFromText } from "../ca/ip.js";
import type { KeyAlgorithm, LeafType } from "../core/types.js";

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A DNS name pattern, parsed. */
export type DnsPattern =
  | { kind: "exact"; name: string }
  /** one label below `base` */
  | { kind: "oneLabel"; base: string }
  /** any depth below `base` (not `base` itself) */
  | { kind: "subtree"; base: string };

/** RFC 1035 §2.3.1 preferred syntax of a (pattern's) base name: LDH labels, lower case, at most 253 octets. */
function ldhName(name: string, minLabels: number): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  return labels.length >= minLabels && labels.every((l) => LABEL.test(l));
}

/** `raw` in A-labels and lower case (RFC 5891 §5 via the WHATWG/UTS #46 mapping); undefined when it is not a host name. */
export function toALabels(raw: string): string | undefined {
  const v = raw.trim().replace(/\.$/, "");
  if (!v) return undefined;
  // ASCII already: only lower-case it (domainToASCII would also accept "a_b" and percent forms)
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(v)) return v.toLowerCase();
  const ascii = domainToASCII(v);
  return ascii ? ascii.toLowerCase() : undefined;
}

/**
 * Parses a DNS name pattern (see the module comment). Undefined when it is
 * not one: a base of at least two LDH labels, a wildcard only as the whole
 * leftmost label.
 */
export function parseDnsPattern(raw: string): DnsPattern | undefined {
  const v = String(raw).trim();
  const [kind, rest] = v.startsWith("*.") ? (["oneLabel", v.slice(2)] as const) : v.startsWith(".") ? (["subtree", v.slice(1)] as const) : (["exact", v] as const);
  const base = toALabels(rest);
  if (!base || !ldhName(base, 2)) return undefined;
  return kind === "exact" ? { kind, name: base } : { kind, base };
}

/** The pattern's text, normalized (what a policy stores). */
export function formatDnsPattern(p: DnsPattern): string {
  switch (p.kind) {
    case "exact":
      return p.name;
    case "oneLabel":
      return `*.${p.base}`;
    case "subtree":
      return `.${p.base}`;
  }
}

/** An ACME directory's suffix entry: the name itself and everything below it. */
export function suffixPatterns(suffix: string): DnsPattern[] {
  const base = suffix.toLowerCase().replace(/^\*?\.+/, "").replace(/\.$/, "");
  return [
    { kind: "exact", name: base },
    { kind: "subtree", base },
  ];
}

/**
 * Whether one pattern admits a (lower-cased, A-label) DNS name. The name may
 * be a wildcard (`*.example.com`, RFC 6125 §6.4.3): it is admitted by the
 * same pattern text, or by a subtree pattern above it (every name it covers
 * is in the subtree), never by a one-label pattern of a lower level.
 */
export function dnsPatternMatches(p: DnsPattern, rawName: string): boolean {
  const name = rawName.toLowerCase().replace(/\.$/, "");
  switch (p.kind) {
    case "exact":
      return name === p.name;
    case "oneLabel": {
      if (!name.endsWith(`.${p.base}`)) return false;
      const first = name.slice(0, name.length - p.base.length - 1);
      return first.length > 0 && !first.includes(".");
    }
    case "subtree":
      return name.endsWith(`.${p.base}`) && name.length > p.base.length + 1;
  }
}

/** Whether any pattern admits the name. */
export function dnsNameAllowed(name: string, patterns: readonly DnsPattern[]): boolean {
  return patterns.some((p) => dnsPatternMatches(p, name));
}

/** An email pattern, parsed: the local part (undefined = any) at a domain pattern. */
export interface EmailPattern {
  local?: string;
  domain: DnsPattern;
}

/** Parses `local@domain-pattern` / `*@domain-pattern`; undefined when it is not one. */
export function parseEmailPattern(raw: string): EmailPattern | undefined {
  const v = String(raw).trim();
  const at = v.lastIndexOf("@");
  if (at <= 0) return undefined;
  const local = v.slice(0, at);
  if (local !== "*" && (local.length > 64 || !/^[\x21-\x3f\x41-\x7e]+$/.test(local))) return undefined;
  const domain = parseDnsPattern(v.slice(at + 1));
  if (!domain) return undefined;
  return local === "*" ? { domain } : { local, domain };
}

export function formatEmailPattern(p: EmailPattern): string {
  return `${p.local ?? "*"}@${formatDnsPattern(p.domain)}`;
}

/** Whether the pattern admits the mailbox (local part exact, domain case-insensitive). */
export function emailPatternMatches(p: EmailPattern, email: string): boolean {
  const at = email.lastIndexOf("@");
  if (at <= 0) return false;
  if (p.local !== undefined && p.local !== email.slice(0, at)) return false;
  return dnsPatternMatches(p.domain, email.slice(at + 1).toLowerCase());
}

export function emailAllowed(email: string, patterns: readonly EmailPattern[]): boolean {
  return patterns.some((p) => emailPatternMatches(p, email));
}

/** parses "a.b.c.d/n" or "v6::/n" (a bare address is a /32 or /128) */
export function parseCidr(cidr: string): { net: Buffer; bits: number } | undefined {
  const [addr, len, ...rest] = cidr.trim().split("/");
  if (rest.length || !addr) return undefined;
  const net = ipFromText(addr);
  if (!net) return undefined;
  const max = net.length * 8;
  // decimal digits only: Number("") is 0, which would turn "10.0.0.0/" into 0.0.0.0/0
  if (len !== undefined && !/^\d{1,3}$/.test(len)) return undefined;
  const bits = len === undefined ? max : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) return undefined;
  return { net, bits };
}

/** Whether the address lies in one of the CIDR ranges (same family only). */
export function ipInRanges(ip: string, ranges: readonly string[]): boolean {
  const a = ipFromText(ip);
  if (!a) return false;
  return ranges.some((r) => {
    const c = parseCidr(r);
    if (!c || c.net.length !== a.length) return false;
    const full = Math.floor(c.bits / 8);
    for (let i = 0; i < full; i++) if (a[i] !== c.net[i]) return false;
    const rem = c.bits % 8;
    if (rem === 0) return true;
    const mask = (0xff << (8 - rem)) & 0xff;
    return (a[full]! & mask) === (c.net[full]! & mask);
  });
}

/**
 * Whether a certificate kind is within an allowed one (RFC 5280 §4.2.1.12
 * EKUs): `dual` (serverAuth + clientAuth) covers server, client and dual;
 * server and client only themselves.
 */
export function kindWithin(allowed: LeafType, kind: LeafType): boolean {
  return allowed === "dual" || allowed === kind;
}

/** Whether the kind is within one of the allowed kinds; an empty list allows any. */
export function kindAllowed(kind: LeafType, allowed: readonly LeafType[]): boolean {
  return allowed.length === 0 || allowed.some((a) => kindWithin(a, kind));
}

/** Whether a validity (any unit) is within a maximum; 0 or undefined = no maximum. */
export function validityWithin(validity: number, max: number | undefined): boolean {
  return !max || validity <= max;
}

/** The tightest of several maxima (0 or undefined = none); undefined when none applies. */
export function tightestMaximum(...maxima: ReadonlyArray<number | undefined>): number | undefined {
  const set = maxima.filter((m): m is number => m !== undefined && m > 0);
  return set.length ? Math.min(...set) : undefined;
}

/** Whether a key type is allowed; an empty list allows any the key policy accepts. undefined (a type Sigil does not name) only when the list is empty. */
export function keyTypeAllowed(keyType: KeyAlgorithm | undefined, allowed: readonly KeyAlgorithm[]): boolean {
  if (allowed.length === 0) return true;
  return keyType !== undefined && allowed.includes(keyType);
}

/** Whether an id is in a list; an empty list allows any. */
export function idAllowed(id: string, allowed: readonly string[]): boolean {
  return allowed.length === 0 || allowed.includes(id);
}
