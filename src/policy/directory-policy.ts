/**
 * The rules of an ACME directory's name and policy (pure: no I/O), one rule
 * per input, used by every way a directory is created or changed (the admin
 * API, the CLI through it, the ACME module's own createDirectory, bootstrap's
 * default directory). Each refusal is INVALID_ARGUMENT naming the admin API
 * field (snake_case, as in proto/sigil/admin/v1/acme.proto).
 */
import { SigilError, Violations } from "../core/errors.js";
import type { DirectoryPolicyFields } from "../db/store/acme-directories.js";
import { NetworkPolicyError, parseNetworkPolicy } from "../validation/network-policy.js";
import { LEAF_TYPES, parseLeafType, type AcmeChallengeType, type LeafType } from "../core/types.js";
import { parseCidr } from "./engine.js";

/** RFC 8555 §8.3, §8.4 and RFC 8737: the challenge types a directory offers by default (an empty list means these) */
export const ACME_CHALLENGE_TYPES: readonly AcmeChallengeType[] = ["http-01", "dns-01", "tls-alpn-01"];
/**
 * draft-ietf-acme-dns-account-label (dns-account-01) and draft-ietf-acme-dns-persist-02
 * (dns-persist-01): offered only by a directory that lists them (docs/challenges.md)
 */
export const OPT_IN_CHALLENGE_TYPES: readonly AcmeChallengeType[] = ["dns-account-01", "dns-persist-01"];
/** every challenge type Sigil validates */
export const KNOWN_CHALLENGE_TYPES: readonly AcmeChallengeType[] = [...ACME_CHALLENGE_TYPES, ...OPT_IN_CHALLENGE_TYPES];
/** max_validity_days when none (or 0) is given */
export const DEFAULT_ACME_MAX_VALIDITY_DAYS = 90;
export const MAX_ACME_VALIDITY_DAYS = 3650;
/** at most this many entries in each policy list */
export const MAX_POLICY_ENTRIES = 256;
/** meta.termsOfService / meta.website length limit (the column's) */
export const MAX_META_URL_LENGTH = 512;

const DIRECTORY_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export const DIRECTORY_POLICY_MESSAGES = {
  name: "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit (at most 64)",
  tooMany: `at most ${MAX_POLICY_ENTRIES} entries`,
  dnsSuffix: (raw: string) => `"${raw.slice(0, 80)}" is not a DNS name or suffix`,
  ipRange: (raw: string) => `"${raw.slice(0, 80)}" is not an IP range in CIDR notation`,
  challengeType: (raw: string) => `unknown challenge type ${JSON.stringify(String(raw).slice(0, 40))} (${KNOWN_CHALLENGE_TYPES.join(", ")})`,
  maxValidityDays: `1 to ${MAX_ACME_VALIDITY_DAYS} (0 for ${DEFAULT_ACME_MAX_VALIDITY_DAYS})`,
  certificateKind: LEAF_TYPES.join(", "),
  metaUrl: `must be an absolute http(s) URL (at most ${MAX_META_URL_LENGTH} characters)`,
  caaWithoutIdentities: "CAA checking needs the CA's issuer domain names in caa_identities (RFC 8659 §4.2)",
} as const;

/** The policy of a directory, normalized: the fields the directory store keeps. */
export type DirectoryPolicy = DirectoryPolicyFields;

/**
 * A policy as given by a caller: absent fields take their defaults (create)
 * or stay unchanged (update). An empty challenge list means all types, 0 days
 * the default, "" for a URL none (the admin API cannot tell absent from empty).
 */
export interface DirectoryPolicyInput {
  eabRequired?: boolean;
  allowedDnsSuffixes?: readonly string[];
  allowedIpRanges?: readonly string[];
  challengeTypes?: readonly string[];
  maxValidityDays?: number;
  certificateKind?: string;
  termsOfServiceUrl?: string | null;
  websiteUrl?: string | null;
  caaIdentities?: readonly string[];
  validationAllowedNetworks?: readonly string[];
  /** RFC 8659 CAA checking on or off (default off) */
  caaEnabled?: boolean;
}

/** The URL name of a directory (`/acme/{name}/directory`). */
export function checkDirectoryName(name: string, field = "name"): string {
  if (typeof name !== "string" || !DIRECTORY_NAME.test(name)) throw SigilError.invalidArgument(DIRECTORY_POLICY_MESSAGES.name, field);
  return name;
}

function checkList(values: readonly string[], field: string): void {
  if (values.length > MAX_POLICY_ENTRIES) throw SigilError.invalidArgument(DIRECTORY_POLICY_MESSAGES.tooMany, field);
}

/** DNS suffixes: lower-cased, a leading "*." or "." dropped; one or more LDH labels (RFC 1035 §2.3.1). */
export function checkDnsSuffixes(values: readonly string[], field = "allowed_dns_suffixes"): string[] {
  checkList(values, field);
  const out = values.map((raw) => {
    const v = String(raw).trim().toLowerCase().replace(/^\*?\./, "").replace(/\.$/, "");
    if (!v || v.length > 253 || !v.split(".").every((l) => LABEL.test(l))) throw SigilError.invalidArgument(DIRECTORY_POLICY_MESSAGES.dnsSuffix(raw), field);
    return v;
  });
  return [...new Set(out)];
}

/** CIDR ranges (a bare address is a /32 or /128), as parseCidr reads them for the identifier policy. */
export function checkIpRanges(values: readonly string[], field = "allowed_ip_ranges"): string[] {
  checkList(values, field);
  const out = values.map((raw) => {
    const v = String(raw).trim();
    if (!parseCidr(v)) throw SigilError.invalidArgument(DIRECTORY_POLICY_MESSAGES.ipRange(raw), field);
    return v;
  });
  return [...new Set(out)];
}

/** Challenge types (RFC 8555 §8, RFC 8737, the two opt-in drafts); empty means the default three (never the opt-in ones). */
export function checkChallengeTypes(values: readonly string[], field = "challenge_types"): AcmeChallengeType[] {
  if (values.length === 0) return [...ACME_CHALLENGE_TYPES];
  const out = values.map((v) => {
    const t = KNOWN_CHALLENGE_TYPES.find((c) => c === v);
    if (!t) throw SigilError.invalidArgument(DIRECTORY_POLICY_MESSAGES.challengeType(v), field);
    return t;
  });
  return [...new Set(out)];
}

/** Whole days, 1..MAX_ACME_VALIDITY_DAYS; 0 for the default. */
export function checkMaxValidityDays(days: number, field = "max_validity_days"): number {
  if (days === 0) return DEFAULT_ACME_MAX_VALIDITY_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > MAX_ACME_VALIDITY_DAYS) throw SigilError.invalidArgument(DIRECTORY_POLICY_MESSAGES.maxValidityDays, field);
  return days;
}

/** The kind of leaf the directory issues: the one LeafType (server, client, dual). */
export function checkCertificateKind(kind: string, field = "certificate_kind"): LeafType {
  const k = parseLeafType(kind);
  if (!k) throw SigilError.invalidArgument(DIRECTORY_POLICY_MESSAGES.certificateKind, field);
  return k;
}

/** meta.termsOfService / meta.website (RFC 8555 §7.1.1): an absolute http(s) URL, or "" (or null) to omit. */
export function checkMetaUrl(value: string | null, field: string): string | null {
  const v = (value ?? "").trim();
  if (!v) return null;
  let ok = false;
  try {
    ok = ["http:", "https:"].includes(new URL(v).protocol) && v.length <= MAX_META_URL_LENGTH && !/\s/.test(v);
  } catch {
    ok = false;
  }
  if (!ok) throw SigilError.invalidArgument(DIRECTORY_POLICY_MESSAGES.metaUrl, field);
  return v;
}

/** meta.caaIdentities: issuer domain names (RFC 8659 §4.2, RFC 8555 §7.1.1). */
export function checkCaaIdentities(values: readonly string[], field = "caa_identities"): string[] {
  return checkDnsSuffixes(values, field);
}

/**
 * CAA checking (RFC 8659 §4.2) needs this CA's issuer domain names: a
 * directory with CAA on and no caa_identities could never match an issue
 * property, so the configuration is refused rather than every issuance.
 */
export function checkCaaSettings(caaEnabled: boolean, caaIdentities: readonly string[]): void {
  if (caaEnabled && caaIdentities.length === 0) throw SigilError.invalidArgument(DIRECTORY_POLICY_MESSAGES.caaWithoutIdentities, "caa_enabled");
}

/**
 * The per-directory override of SIGIL_VALIDATION_ALLOWED_NETWORKS: the same
 * syntax (CIDRs, "public", "private"), checked by the same parser the
 * validator uses, stored normalized; empty = the server's setting.
 */
export function checkValidationNetworks(values: readonly string[], field = "validation_allowed_networks"): string[] {
  if (values.length === 0) return [];
  try {
    return parseNetworkPolicy(values.join(",")).spec.split(",");
  } catch (e) {
    if (e instanceof NetworkPolicyError) throw SigilError.invalidArgument(`${field}: ${e.message}`, field);
    throw e;
  }
}

/** The full policy of a new directory: every field checked (all bad ones named at once), absent ones at their defaults. */
export function checkDirectoryPolicy(input: DirectoryPolicyInput): DirectoryPolicy {
  const v = new Violations();
  const checkedCaa = v.take(() => checkCaaIdentities(input.caaIdentities ?? []));
  if (checkedCaa) v.collect(() => checkCaaSettings(input.caaEnabled ?? false, checkedCaa));
  const caaIdentities = checkedCaa ?? [];
  const policy = {
    eabRequired: input.eabRequired ?? false,
    allowedDnsSuffixes: v.take(() => checkDnsSuffixes(input.allowedDnsSuffixes ?? [])) ?? [],
    allowedIpRanges: v.take(() => checkIpRanges(input.allowedIpRanges ?? [])) ?? [],
    challengeTypes: v.take(() => checkChallengeTypes(input.challengeTypes ?? [])) ?? [],
    maxValidityDays: v.take(() => checkMaxValidityDays(input.maxValidityDays ?? 0)) ?? 0,
    certificateKind: v.take(() => checkCertificateKind(input.certificateKind ?? "server")) ?? "server",
    termsOfServiceUrl: v.take(() => checkMetaUrl(input.termsOfServiceUrl ?? null, "terms_of_service_url")) ?? null,
    websiteUrl: v.take(() => checkMetaUrl(input.websiteUrl ?? null, "website_url")) ?? null,
    caaIdentities,
    validationAllowedNetworks: v.take(() => checkValidationNetworks(input.validationAllowedNetworks ?? [])) ?? [],
    caaEnabled: input.caaEnabled ?? false,
  };
  v.throwIfAny();
  return policy;
}

/** The fields of a policy change: each given field checked (all bad ones named at once); absent ones absent (unchanged). */
export function checkDirectoryPolicyPatch(input: DirectoryPolicyInput): Partial<DirectoryPolicy> {
  const patch: Partial<DirectoryPolicy> = {};
  const v = new Violations();
  if (input.eabRequired !== undefined) patch.eabRequired = input.eabRequired;
  if (input.allowedDnsSuffixes !== undefined) patch.allowedDnsSuffixes = v.take(() => checkDnsSuffixes(input.allowedDnsSuffixes!));
  if (input.allowedIpRanges !== undefined) patch.allowedIpRanges = v.take(() => checkIpRanges(input.allowedIpRanges!));
  if (input.challengeTypes !== undefined) patch.challengeTypes = v.take(() => checkChallengeTypes(input.challengeTypes!));
  if (input.maxValidityDays !== undefined) patch.maxValidityDays = v.take(() => checkMaxValidityDays(input.maxValidityDays!));
  if (input.certificateKind !== undefined) patch.certificateKind = v.take(() => checkCertificateKind(input.certificateKind!));
  if (input.termsOfServiceUrl !== undefined) patch.termsOfServiceUrl = v.take(() => checkMetaUrl(input.termsOfServiceUrl!, "terms_of_service_url"));
  if (input.websiteUrl !== undefined) patch.websiteUrl = v.take(() => checkMetaUrl(input.websiteUrl!, "website_url"));
  if (input.caaIdentities !== undefined) patch.caaIdentities = v.take(() => checkCaaIdentities(input.caaIdentities!));
  if (input.validationAllowedNetworks !== undefined) patch.validationAllowedNetworks = v.take(() => checkValidationNetworks(input.validationAllowedNetworks!));
  v.throwIfAny();
  // with the stored fields, checkCaaSettings once the patch is applied (ra/acme-admin.ts)
  if (input.caaEnabled !== undefined) patch.caaEnabled = input.caaEnabled;
  return patch;
}
