/**
 * ACME profiles (draft-ietf-acme-profiles-00), pure: the rules of a
 * profile's fields (each refusal INVALID_ARGUMENT naming the admin API
 * field, as in proto/sigil/admin/v1/acme.proto), the shipped presets, and
 * what a profile means for one order (which profile applies, identifier
 * count and types, validity, lifetimes, key usages and EKUs).
 *
 * A directory's own identifier rules (allowed_dns_suffixes,
 * allowed_ip_ranges, challenge_types) and its max_validity_days stay the
 * outer bound; a profile only narrows them (docs/profiles.md).
 */
import { SigilError, Violations } from "../core/errors.js";
import { LEAF_TYPES, parseLeafType, type IdentifierType, type LeafType } from "../core/types.js";
import type { ProfileFields } from "../db/store/acme-profiles.js";
import { kindWithin } from "./engine.js";

const SECOND = 1;
const HOUR = 3600 * SECOND;
const DAY = 24 * HOUR;

/** RFC 5280 §4.2.1.6 / the signer's SAN limit: identifiers per order at most */
export const MAX_PROFILE_IDENTIFIERS = 100;
/** a certificate lives at least an hour */
export const MIN_VALIDITY_SECONDS = HOUR;
/** the longest validity a directory allows (MAX_ACME_VALIDITY_DAYS) */
export const MAX_VALIDITY_SECONDS = 3650 * DAY;
/** how long a validated authorization stays valid (ra/acme/transitions.ts VALID_AUTHZ_LIFETIME_MS): reuse cannot go further back */
export const MAX_AUTHORIZATION_REUSE_SECONDS = 30 * DAY;
/** order and pending-authorization lifetimes: 5 minutes to 30 days */
export const MIN_LIFETIME_SECONDS = 5 * 60;
export const MAX_LIFETIME_SECONDS = 30 * DAY;
/** profiles per directory at most */
export const MAX_PROFILES_PER_DIRECTORY = 64;
export const MAX_PROFILE_DESCRIPTION_LENGTH = 512;

/** RFC 5280 §4.2.1.3 key usages a leaf may carry (keyEncipherment only on RSA keys, keyAgreement only on EC keys) */
export const PROFILE_KEY_USAGES = ["digitalSignature", "keyEncipherment", "keyAgreement"] as const;
export type ProfileKeyUsage = (typeof PROFILE_KEY_USAGES)[number];
export const PROFILE_IDENTIFIER_TYPES: readonly IdentifierType[] = ["dns", "ip"];

/** RFC 5280 §4.2.1.12 EKU names per certificate kind: the kind is the EKU choice */
export const KIND_EXTENDED_KEY_USAGES: Record<LeafType, readonly string[]> = {
  server: ["serverAuth"],
  client: ["clientAuth"],
  dual: ["serverAuth", "clientAuth"],
};

/**
 * A directory's certificate kind is the outer bound of its profiles' kinds
 * (review 2 M6): a `server` directory issues only serverAuth, a `client`
 * one only clientAuth, a `dual` one any of the three.
 */
export { kindWithin };

const PROFILE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const PROFILE_MESSAGES = {
  name: "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit (at most 64)",
  description: `at most ${MAX_PROFILE_DESCRIPTION_LENGTH} characters, no control characters`,
  certificateKind: LEAF_TYPES.join(", "),
  maxValidity: (capSeconds: number) => `${MIN_VALIDITY_SECONDS} to ${capSeconds} seconds (the directory's max_validity_days); 0 for the preset's`,
  keyUsage: (raw: string) => `unknown key usage ${JSON.stringify(String(raw).slice(0, 40))} (${PROFILE_KEY_USAGES.join(", ")})`,
  keyUsageNeedsSignature: "key_usages must include digitalSignature (TLS needs it)",
  maxIdentifiers: `1 to ${MAX_PROFILE_IDENTIFIERS}; 0 for the preset's`,
  identifierType: (raw: string) => `unknown identifier type ${JSON.stringify(String(raw).slice(0, 40))} (${PROFILE_IDENTIFIER_TYPES.join(", ")})`,
  reuse: `1 to ${MAX_AUTHORIZATION_REUSE_SECONDS} seconds; 0 for the preset's`,
  lifetime: `${MIN_LIFETIME_SECONDS} to ${MAX_LIFETIME_SECONDS} seconds; 0 for the preset's`,
  preset: (raw: string) => `unknown preset ${JSON.stringify(String(raw).slice(0, 40))} (${Object.keys(PROFILE_PRESETS).join(", ")})`,
  tooMany: `a directory has at most ${MAX_PROFILES_PER_DIRECTORY} profiles`,
  kindOutsideDirectory: (profileKind: string, directoryKind: string) =>
    `a ${directoryKind} directory cannot have a ${profileKind} profile (the directory's certificate_kind bounds its profiles'; dual allows all)`,
} as const;

/**
 * The shipped presets. `classic` is the behaviour before profiles (CN from
 * the CSR, any identifier the directory allows, 30-day authorization reuse,
 * 7-day orders); the others follow today's public CAs: CA/B Forum BR
 * §6.3.2 allows 200 days (100 from 2027-03-15), `tlsserver` issues 45,
 * `shortlived` 160 hours.
 */
export const PROFILE_PRESETS: Readonly<Record<string, ProfileFields>> = Object.freeze({
  classic: {
    name: "classic",
    description: "TLS server certificates as before profiles: subject CN from the CSR, up to 200 days",
    certificateKind: "server",
    maxValiditySeconds: 200 * DAY,
    keyUsages: [],
    includeCommonName: true,
    maxIdentifiers: MAX_PROFILE_IDENTIFIERS,
    identifierTypes: ["dns", "ip"],
    authorizationReuseSeconds: 30 * DAY,
    orderLifetimeSeconds: 7 * DAY,
    pendingAuthorizationLifetimeSeconds: 7 * DAY,
  },
  tlsserver: {
    name: "tlsserver",
    description: "TLS server certificates (serverAuth), no subject CN, 45 days",
    certificateKind: "server",
    maxValiditySeconds: 45 * DAY,
    keyUsages: [],
    includeCommonName: false,
    maxIdentifiers: MAX_PROFILE_IDENTIFIERS,
    identifierTypes: ["dns", "ip"],
    authorizationReuseSeconds: 7 * DAY,
    orderLifetimeSeconds: 7 * DAY,
    pendingAuthorizationLifetimeSeconds: 7 * DAY,
  },
  tlsclient: {
    name: "tlsclient",
    description: "TLS client certificates (clientAuth only), subject CN from the CSR, 45 days",
    certificateKind: "client",
    maxValiditySeconds: 45 * DAY,
    keyUsages: [],
    includeCommonName: true,
    maxIdentifiers: MAX_PROFILE_IDENTIFIERS,
    identifierTypes: ["dns", "ip"],
    authorizationReuseSeconds: 7 * DAY,
    orderLifetimeSeconds: 7 * DAY,
    pendingAuthorizationLifetimeSeconds: 7 * DAY,
  },
  shortlived: {
    name: "shortlived",
    description: "Short-lived TLS server certificates: 160 hours, no subject CN, authorizations reused for 7 hours",
    certificateKind: "server",
    maxValiditySeconds: 160 * HOUR,
    keyUsages: [],
    includeCommonName: false,
    maxIdentifiers: MAX_PROFILE_IDENTIFIERS,
    identifierTypes: ["dns", "ip"],
    authorizationReuseSeconds: 7 * HOUR,
    orderLifetimeSeconds: 7 * DAY,
    pendingAuthorizationLifetimeSeconds: 7 * DAY,
  },
});

/** the presets a new default directory offers, `classic` its default */
export const DEFAULT_DIRECTORY_PRESETS = ["classic", "tlsserver", "tlsclient", "shortlived"] as const;
export const DEFAULT_PROFILE_NAME = "classic";

/** A preset by name, or undefined. */
export function presetProfile(name: string): ProfileFields | undefined {
  return Object.prototype.hasOwnProperty.call(PROFILE_PRESETS, name) ? structuredClone(PROFILE_PRESETS[name]!) : undefined;
}

/** A profile's URL-safe, lower-case name (newOrder's `profile`, meta.profiles' key). */
export function checkProfileName(name: unknown, field = "name"): string {
  if (typeof name !== "string" || !PROFILE_NAME.test(name)) throw SigilError.invalidArgument(PROFILE_MESSAGES.name, field);
  return name;
}

/**
 * A profile as given by a caller: absent fields (or 0 / empty, which the
 * admin API cannot tell from absent) take the base's value (a preset on
 * create, the stored profile on update).
 */
export interface ProfileInput {
  description?: string;
  certificateKind?: string;
  maxValiditySeconds?: number;
  keyUsages?: readonly string[];
  includeCommonName?: boolean;
  maxIdentifiers?: number;
  identifierTypes?: readonly string[];
  authorizationReuseSeconds?: number;
  orderLifetimeSeconds?: number;
  pendingAuthorizationLifetimeSeconds?: number;
}

function intIn(v: number, min: number, max: number, message: string, field: string): number {
  if (!Number.isInteger(v) || v < min || v > max) throw SigilError.invalidArgument(message, field);
  return v;
}

function checkDescription(v: string): string {
  const d = v.trim();
  // eslint-disable-next-line no-control-regex
  if (d.length > MAX_PROFILE_DESCRIPTION_LENGTH || /[\u0000-\u001f\u007f]/.test(d)) throw SigilError.invalidArgument(PROFILE_MESSAGES.description, "description");
  return d;
}

function checkKeyUsages(values: readonly string[]): string[] {
  const out = values.map((v) => {
    const k = PROFILE_KEY_USAGES.find((u) => u === v);
    if (!k) throw SigilError.invalidArgument(PROFILE_MESSAGES.keyUsage(v), "key_usages");
    return k;
  });
  const set = [...new Set(out)];
  if (!set.includes("digitalSignature")) throw SigilError.invalidArgument(PROFILE_MESSAGES.keyUsageNeedsSignature, "key_usages");
  // stored in RFC 5280's bit order
  return PROFILE_KEY_USAGES.filter((k) => set.includes(k));
}

function checkIdentifierTypes(values: readonly string[]): IdentifierType[] {
  const out = values.map((v) => {
    const t = PROFILE_IDENTIFIER_TYPES.find((u) => u === v);
    if (!t) throw SigilError.invalidArgument(PROFILE_MESSAGES.identifierType(v), "identifier_types");
    return t;
  });
  return PROFILE_IDENTIFIER_TYPES.filter((t) => out.includes(t));
}

/**
 * `input` over `base`, every given field checked. `capSeconds` is the
 * directory's max_validity_days in seconds: a profile may not promise more;
 * `directoryKind` bounds the profile's certificate kind (kindWithin).
 */
export function checkProfileFields(name: string, base: ProfileFields, input: ProfileInput, capSeconds: number, directoryKind: LeafType): ProfileFields {
  const cap = Math.min(capSeconds, MAX_VALIDITY_SECONDS);
  const given = (n: number | undefined): n is number => n !== undefined && n !== 0;
  const kind = input.certificateKind ? parseLeafType(input.certificateKind) : base.certificateKind;
  // every bad field is named at once (google.rpc.BadRequest at the admin edge)
  const v = new Violations();
  if (!kind) v.add("certificate_kind", PROFILE_MESSAGES.certificateKind);
  else if (!kindWithin(directoryKind, kind)) v.add("certificate_kind", PROFILE_MESSAGES.kindOutsideDirectory(kind, directoryKind));
  const fields: ProfileFields = {
    name: v.take(() => checkProfileName(name)) ?? name,
    description: input.description !== undefined ? (v.take(() => checkDescription(input.description!)) ?? base.description) : base.description,
    // certificateKind is only read once v is empty
    certificateKind: kind ?? base.certificateKind,
    maxValiditySeconds: given(input.maxValiditySeconds)
      ? (v.take(() => intIn(input.maxValiditySeconds!, MIN_VALIDITY_SECONDS, cap, PROFILE_MESSAGES.maxValidity(cap), "max_validity_seconds")) ?? 0)
      : Math.min(base.maxValiditySeconds, cap),
    keyUsages: input.keyUsages?.length ? (v.take(() => checkKeyUsages(input.keyUsages!)) ?? base.keyUsages) : base.keyUsages,
    includeCommonName: input.includeCommonName ?? base.includeCommonName,
    maxIdentifiers: given(input.maxIdentifiers)
      ? (v.take(() => intIn(input.maxIdentifiers!, 1, MAX_PROFILE_IDENTIFIERS, PROFILE_MESSAGES.maxIdentifiers, "max_identifiers")) ?? 0)
      : base.maxIdentifiers,
    identifierTypes: input.identifierTypes?.length ? (v.take(() => checkIdentifierTypes(input.identifierTypes!)) ?? base.identifierTypes) : base.identifierTypes,
    authorizationReuseSeconds: given(input.authorizationReuseSeconds)
      ? (v.take(() => intIn(input.authorizationReuseSeconds!, 1, MAX_AUTHORIZATION_REUSE_SECONDS, PROFILE_MESSAGES.reuse, "authorization_reuse_seconds")) ?? 0)
      : base.authorizationReuseSeconds,
    orderLifetimeSeconds: given(input.orderLifetimeSeconds)
      ? (v.take(() => intIn(input.orderLifetimeSeconds!, MIN_LIFETIME_SECONDS, MAX_LIFETIME_SECONDS, PROFILE_MESSAGES.lifetime, "order_lifetime_seconds")) ?? 0)
      : base.orderLifetimeSeconds,
    pendingAuthorizationLifetimeSeconds: given(input.pendingAuthorizationLifetimeSeconds)
      ? (v.take(() => intIn(input.pendingAuthorizationLifetimeSeconds!, MIN_LIFETIME_SECONDS, MAX_LIFETIME_SECONDS, PROFILE_MESSAGES.lifetime, "pending_authorization_lifetime_seconds")) ?? 0)
      : base.pendingAuthorizationLifetimeSeconds,
  };
  v.throwIfAny();
  return fields;
}

/** The base of a new profile: the named preset, or `classic`'s rules. */
export function profileBase(preset: string | undefined): ProfileFields {
  if (!preset) return presetProfile(DEFAULT_PROFILE_NAME)!;
  const p = presetProfile(preset);
  if (!p) throw SigilError.invalidArgument(PROFILE_MESSAGES.preset(preset), "preset");
  return p;
}

/**
 * The profile created with a directory (and by the migration for every
 * directory that existed before profiles): `classic`'s rules with the
 * directory's own kind and validity, so it issues exactly as before.
 */
export function directoryClassicProfile(dir: { certificateKind: LeafType; maxValidityDays: number }): ProfileFields {
  const p = presetProfile(DEFAULT_PROFILE_NAME)!;
  return {
    ...p,
    description: `Certificates as the directory issued before profiles: subject CN from the CSR, up to ${dir.maxValidityDays} days`,
    certificateKind: dir.certificateKind,
    maxValiditySeconds: dir.maxValidityDays * DAY,
  };
}

/** A preset for a directory: its validity clipped to the directory's max_validity_days. */
export function presetForDirectory(name: string, dir: { maxValidityDays: number }): ProfileFields | undefined {
  const p = presetProfile(name);
  if (!p) return undefined;
  return { ...p, maxValiditySeconds: Math.min(p.maxValiditySeconds, dir.maxValidityDays * DAY) };
}

// ---- one order ------------------------------------------------------------------------

/** The profiles of a directory as newOrder and finalize see them. */
export interface DirectoryProfiles {
  /** by name */
  byName: ReadonlyMap<string, ProfileFields>;
  /** the default's name (null: the directory has none) */
  defaultName: string | null;
}

/**
 * draft-ietf-acme-profiles-00 §4: the profile a newOrder gets. The one it
 * names when the directory advertises it; the directory's default when it
 * names none ("RECOMMENDED that the server select a profile"). `unknown`
 * when it names one not advertised (invalidProfile); `none` when the
 * directory has no profiles at all (its own policy applies, as before).
 */
export function selectProfile(profiles: DirectoryProfiles | undefined, requested: string | undefined): { profile: ProfileFields; explicit: boolean } | "unknown" | "none" {
  if (requested !== undefined) {
    const p = profiles?.byName.get(requested);
    return p ? { profile: p, explicit: true } : "unknown";
  }
  const d = profiles?.defaultName ? profiles.byName.get(profiles.defaultName) : undefined;
  return d ? { profile: d, explicit: false } : "none";
}

/** An identifier the profile refuses, for RFC 8555 §6.7.1 subproblems. */
export interface ProfileIdentifierProblem {
  identifier: { type: string; value: string };
  detail: string;
}

/** The identifiers of an order against the profile: too many (a count), or types it does not issue for. */
export function checkProfileIdentifiers(
  profile: Pick<ProfileFields, "name" | "maxIdentifiers" | "identifierTypes">,
  identifiers: ReadonlyArray<{ type: string; value: string }>,
): { tooMany: string } | { wrongType: ProfileIdentifierProblem[] } | undefined {
  if (identifiers.length > profile.maxIdentifiers) {
    return { tooMany: `profile "${profile.name}" allows at most ${profile.maxIdentifiers} identifiers per order` };
  }
  const wrongType = identifiers
    .filter((i) => !(profile.identifierTypes as readonly string[]).includes(i.type))
    .map((i) => ({ identifier: { type: i.type, value: i.value }, detail: `profile "${profile.name}" does not issue for ${i.type} identifiers` }));
  return wrongType.length ? { wrongType } : undefined;
}

/** The longest validity of a certificate under this profile in this directory, in ms (the directory's max_validity_days bounds it). */
export function profileValidityMs(profile: Pick<ProfileFields, "maxValiditySeconds">, directoryMaxValidityDays: number): number {
  return Math.min(profile.maxValiditySeconds * 1000, directoryMaxValidityDays * DAY * 1000);
}

/** RFC 5280 Appendix A ub-common-name: a subject CN holds at most 64 characters */
export const MAX_COMMON_NAME_LENGTH = 64;

/**
 * The subject CN of a leaf: the CSR's (lower-cased) when the profile copies
 * it. A CN longer than RFC 5280's ub-common-name (64) is left out rather
 * than refused: the name is in the subjectAltName anyway (CA/B BR §7.1.4.3
 * makes the CN optional; Let's Encrypt does the same), so a valid order for
 * a long DNS name still gets its certificate.
 */
export function leafCommonName(includeCommonName: boolean, csrCommonName: string | undefined): string | undefined {
  if (!includeCommonName || csrCommonName === undefined) return undefined;
  const cn = csrCommonName.toLowerCase();
  return [...cn].length <= MAX_COMMON_NAME_LENGTH ? cn : undefined;
}

/**
 * How far before issuance an order's notBefore may lie, checked at newOrder
 * and again at finalize (orders live up to 30 days): a day, inside the 48
 * hours of backdating CA/B BR §7.1.2.7 tolerates.
 */
export const MAX_NOT_BEFORE_BACKDATE_MS = DAY * 1000;

/** The key usages to write: undefined keeps the signer's default (digitalSignature, plus keyEncipherment for RSA). */
export function profileKeyUsages(profile: Pick<ProfileFields, "keyUsages">): ProfileKeyUsage[] | undefined {
  return profile.keyUsages.length ? (profile.keyUsages as ProfileKeyUsage[]) : undefined;
}
