/**
 * Issuance policies of the admin plane (pure: no I/O): the rules' syntax
 * and the decision. Names, IP ranges, kinds, validity and key types are
 * matched by the engine the ACME directories use (src/policy/engine.ts).
 *
 * Combination (docs/issuance-policies.md): every policy that applies to a
 * request must admit it (the organization's, then the principal's own,
 * which can only narrow). Within one policy:
 * - every DNS name, IP address and email of the certificate must be
 *   admitted by one of its entries (an empty list admits none of that kind:
 *   deny by default), and so must a common name that is a DNS name or an
 *   IP address (legacy clients match on it, RFC 6125 §6.4.4);
 * - ca_ids, certificate kinds and key types restrict when not empty;
 * - max_validity_days bounds the validity when not 0.
 */
import { canonicalIp } from "../ca/ip.js";
import { Violations, type FieldViolation } from "../core/errors.js";
import { KEY_ALGORITHMS, LEAF_TYPES, type KeyAlgorithm, type LeafType } from "../core/types.js";
import {
  dnsNameAllowed,
  emailAllowed,
  formatDnsPattern,
  formatEmailPattern,
  idAllowed,
  ipInRanges,
  keyTypeAllowed,
  kindAllowed,
  parseCidr,
  parseDnsPattern,
  parseEmailPattern,
  validityWithin,
  type DnsPattern,
  type EmailPattern,
} from "./engine.js";
import { isValidDnsName } from "./identifiers.js";

/** at most this many entries in each list of a policy */
export const MAX_ISSUANCE_POLICY_ENTRIES = 256;
/** the longest validity a policy may name (the admin plane's bound) */
export const MAX_ISSUANCE_POLICY_VALIDITY_DAYS = 3650;
export const MAX_ISSUANCE_POLICY_DESCRIPTION = 512;

/** What a policy allows, normalized. */
export interface IssuancePolicyRules {
  /** DNS name patterns (engine syntax), normalized text */
  dnsNames: string[];
  /** email patterns, normalized text */
  emails: string[];
  /** CIDR ranges */
  ipRanges: string[];
  /** CA ids; empty = any CA of the organization */
  caIds: string[];
  /** empty = any */
  certificateKinds: LeafType[];
  /** 0 = no maximum beyond the organization's */
  maxValidityDays: number;
  /** empty = any the organization allows */
  keyTypes: KeyAlgorithm[];
}

export const ISSUANCE_POLICY_MESSAGES = {
  tooMany: `at most ${MAX_ISSUANCE_POLICY_ENTRIES} entries`,
  dnsPattern: (raw: string) =>
    `"${raw.slice(0, 80)}" is not a DNS name pattern ("www.example.com", "*.example.com" for one label, ".example.com" for any depth)`,
  emailPattern: (raw: string) => `"${raw.slice(0, 80)}" is not an email pattern ("alice@example.com", "*@example.com")`,
  ipRange: (raw: string) => `"${raw.slice(0, 80)}" is not an IP range in CIDR notation`,
  caId: "not a CA id",
  kind: `one of ${LEAF_TYPES.join(", ")}`,
  keyType: `one of ${KEY_ALGORITHMS.join(", ")}`,
  maxValidityDays: `0 (none) to ${MAX_ISSUANCE_POLICY_VALIDITY_DAYS}`,
  description: `at most ${MAX_ISSUANCE_POLICY_DESCRIPTION} characters, no control characters`,
  // refusals (PERMISSION_DENIED, one field violation each)
  refused: "the issuance policy does not allow this certificate",
  dnsRefused: (name: string, policy: string) => `"${name}" is not allowed by the ${policy}`,
  ipRefused: (ip: string, policy: string) => `"${ip}" is not within the ${policy}'s IP ranges`,
  emailRefused: (email: string, policy: string) => `"${email}" is not allowed by the ${policy}`,
  commonNameRefused: (cn: string, policy: string) => `the common name "${cn.slice(0, 64)}" is not allowed by the ${policy}`,
  caRefused: (policy: string) => `the ${policy} does not allow this CA`,
  kindRefused: (kind: string, policy: string) => `the ${policy} does not allow ${kind} certificates`,
  validityRefused: (days: number, max: number, policy: string) => `${days} days is more than the ${policy}'s max_validity_days (${max})`,
  keyTypeRefused: (key: string, policy: string) => `the ${policy} does not allow ${key} keys`,
} as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function list<T>(v: Violations, values: readonly string[], field: string, parse: (raw: string) => T | undefined, bad: (raw: string) => string): T[] {
  if (values.length > MAX_ISSUANCE_POLICY_ENTRIES) {
    v.add(field, ISSUANCE_POLICY_MESSAGES.tooMany);
    return [];
  }
  const out: T[] = [];
  values.forEach((raw, i) => {
    const p = parse(String(raw));
    if (p === undefined) v.add(`${field}[${i}]`, bad(String(raw)));
    else out.push(p);
  });
  return out;
}

/** A policy's rules as a caller gives them: kinds and key types as text, checked here. */
export type IssuancePolicyRulesText = Partial<Omit<IssuancePolicyRules, "certificateKinds" | "keyTypes">> & {
  certificateKinds?: readonly string[];
  keyTypes?: readonly string[];
};

/** A policy's rules as given, each entry checked (every bad one named, "rules.dns_names[2]"), normalized and deduplicated. */
export function checkIssuancePolicyRules(input: IssuancePolicyRulesText, prefix = "rules"): IssuancePolicyRules {
  const v = new Violations();
  const f = (name: string) => `${prefix}.${name}`;
  const dnsNames = list(v, input.dnsNames ?? [], f("dns_names"), (r) => {
    const p = parseDnsPattern(r);
    return p && formatDnsPattern(p);
  }, ISSUANCE_POLICY_MESSAGES.dnsPattern);
  const emails = list(v, input.emails ?? [], f("emails"), (r) => {
    const p = parseEmailPattern(r);
    return p && formatEmailPattern(p);
  }, ISSUANCE_POLICY_MESSAGES.emailPattern);
  const ipRanges = list(v, input.ipRanges ?? [], f("ip_ranges"), (r) => (parseCidr(r) ? r.trim() : undefined), ISSUANCE_POLICY_MESSAGES.ipRange);
  const caIds = list(v, input.caIds ?? [], f("ca_ids"), (r) => (UUID.test(r.trim()) ? r.trim().toLowerCase() : undefined), () => ISSUANCE_POLICY_MESSAGES.caId);
  const certificateKinds = list(v, input.certificateKinds ?? [], f("certificate_types"), (r) => LEAF_TYPES.find((k) => k === r), () => ISSUANCE_POLICY_MESSAGES.kind);
  const keyTypes = list(v, input.keyTypes ?? [], f("key_types"), (r) => KEY_ALGORITHMS.find((k) => k === r), () => ISSUANCE_POLICY_MESSAGES.keyType);
  const maxValidityDays = input.maxValidityDays ?? 0;
  if (!Number.isInteger(maxValidityDays) || maxValidityDays < 0 || maxValidityDays > MAX_ISSUANCE_POLICY_VALIDITY_DAYS) {
    v.add(f("max_validity_days"), ISSUANCE_POLICY_MESSAGES.maxValidityDays);
  }
  v.throwIfAny();
  const uniq = <T>(xs: T[]): T[] => [...new Set(xs)];
  return {
    dnsNames: uniq(dnsNames),
    emails: uniq(emails),
    ipRanges: uniq(ipRanges),
    caIds: uniq(caIds),
    certificateKinds: uniq(certificateKinds),
    maxValidityDays,
    keyTypes: uniq(keyTypes),
  };
}

/** Free text for operators: at most 512 characters, no control characters. */
export function checkIssuancePolicyDescription(raw: string | undefined, field = "description"): string {
  const d = (raw ?? "").trim();
  // eslint-disable-next-line no-control-regex
  if (d.length > MAX_ISSUANCE_POLICY_DESCRIPTION || /[\u0000-\u001f\u007f]/.test(d)) {
    const v = new Violations().add(field, ISSUANCE_POLICY_MESSAGES.description);
    v.throwIfAny();
  }
  return d;
}

/** A policy that applies to a request, as the decision reads it. */
export interface AppliedPolicy {
  /** how refusals name it: "organization's issuance policy", "user's issuance policy", ... */
  label: string;
  rules: IssuancePolicyRules;
}

/** What is asked for, already normalized by checkLeafNames (lower-case DNS names, canonical IPs). */
export interface IssuanceRequest {
  caId: string;
  kind: LeafType;
  commonName?: string;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  emails: readonly string[];
  validityDays: number;
  /** undefined: a key type Sigil does not name (refused when a policy lists key types) */
  keyType: KeyAlgorithm | undefined;
}

/** The request's field names for refusals (IssueCertificate's by default; SignCsr's and RenewCertificate's name their one input). */
export interface RequestFields {
  dnsName: (i: number) => string;
  ipAddress: (i: number) => string;
  email: (i: number) => string;
  commonName: string;
  caId: string;
  kind: string;
  validityDays: string;
  keyType: string;
}

export const ISSUE_FIELDS: RequestFields = {
  dnsName: (i) => `dns_names[${i}]`,
  ipAddress: (i) => `ip_addresses[${i}]`,
  email: (i) => `emails[${i}]`,
  commonName: "common_name",
  caId: "ca_id",
  kind: "type",
  validityDays: "validity_days",
  keyType: "key_algorithm",
};

/** Every field refers to one input (`csr_pem`, the certificate `id` of a renewal), except the CA, kind and validity of the request. */
export function singleInputFields(input: string, overrides: Partial<RequestFields> = {}): RequestFields {
  return {
    dnsName: () => input,
    ipAddress: () => input,
    email: () => input,
    commonName: input,
    caId: "ca_id",
    kind: "type",
    validityDays: "validity_days",
    keyType: input,
    ...overrides,
  };
}

interface CompiledRules {
  dns: DnsPattern[];
  emails: EmailPattern[];
}

function compile(rules: IssuancePolicyRules): CompiledRules {
  return {
    dns: rules.dnsNames.map((r) => parseDnsPattern(r)).filter((p): p is DnsPattern => p !== undefined),
    emails: rules.emails.map((r) => parseEmailPattern(r)).filter((p): p is EmailPattern => p !== undefined),
  };
}

/**
 * The decision: every refusal of every applying policy, one field
 * violation each (each refused name by itself). Empty: allowed.
 */
export function evaluateIssuancePolicies(policies: readonly AppliedPolicy[], req: IssuanceRequest, fields: RequestFields = ISSUE_FIELDS): FieldViolation[] {
  const out: FieldViolation[] = [];
  const M = ISSUANCE_POLICY_MESSAGES;
  for (const { label, rules } of policies) {
    const c = compile(rules);
    if (!idAllowed(req.caId, rules.caIds)) out.push({ field: fields.caId, description: M.caRefused(label) });
    if (!kindAllowed(req.kind, rules.certificateKinds)) out.push({ field: fields.kind, description: M.kindRefused(req.kind, label) });
    if (!validityWithin(req.validityDays, rules.maxValidityDays)) {
      out.push({ field: fields.validityDays, description: M.validityRefused(req.validityDays, rules.maxValidityDays, label) });
    }
    if (!keyTypeAllowed(req.keyType, rules.keyTypes)) out.push({ field: fields.keyType, description: M.keyTypeRefused(req.keyType ?? "this type of", label) });
    req.dnsNames.forEach((n, i) => {
      if (!dnsNameAllowed(n, c.dns)) out.push({ field: fields.dnsName(i), description: M.dnsRefused(n, label) });
    });
    req.ipAddresses.forEach((ip, i) => {
      if (!ipInRanges(ip, rules.ipRanges)) out.push({ field: fields.ipAddress(i), description: M.ipRefused(ip, label) });
    });
    req.emails.forEach((e, i) => {
      if (!emailAllowed(e, c.emails)) out.push({ field: fields.email(i), description: M.emailRefused(e, label) });
    });
    const cn = req.commonName;
    if (cn !== undefined) {
      const ip = canonicalIp(cn);
      const name = cn.toLowerCase().replace(/\.$/, "");
      const base = name.startsWith("*.") ? name.slice(2) : name;
      // Fail closed on anything host-like (review R3 HIGH-1): a CN with a dot or a "*" that is neither an IP
      // nor a valid DNS name ("w*.victim.test", "victim.test..", U-labels) is refused, since a client without
      // a DNS SAN to prefer falls back to the CN (OpenSSL's X509_check_host accepts partial wildcards).
      // Only plain text ("Web server") passes unchecked.
      const hostLike = /[.*]/.test(cn);
      const refused = ip !== undefined ? !ipInRanges(ip, rules.ipRanges) : isValidDnsName(base) ? !dnsNameAllowed(name, c.dns) : hostLike;
      if (refused) out.push({ field: fields.commonName, description: M.commonNameRefused(cn, label) });
    }
  }
  return out;
}

/**
 * The validity to use when the request names none: the default, no longer
 * than the tightest maximum of the applying policies.
 */
export function defaultValidityUnder(policies: readonly AppliedPolicy[], defaultDays: number): number {
  return policies.reduce((d, p) => (p.rules.maxValidityDays > 0 ? Math.min(d, p.rules.maxValidityDays) : d), defaultDays);
}
