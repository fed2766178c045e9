/**
 * An organization's typed settings (issue 13 item 1), stored as jsonb in
 * organizations.settings where an absent key means its default, and the
 * checks that enforce them: admin issuance (validity, key types), session
 * lifetime, login method, what deactivation does to certificates.
 */
import type { KeyObject } from "node:crypto";
import { keyAlgorithmOf } from "../ca/keys.js";
import { SigilError } from "../core/errors.js";
import type { KeyAlgorithm } from "../core/types.js";

export const KEY_TYPES: readonly KeyAlgorithm[] = ["p256", "p384", "rsa2048", "rsa3072", "rsa4096"];
export type LoginMethod = "password" | "sso";

/** Every setting, defaults filled in. */
export interface OrganizationSettings {
  /** validity of admin-issued leaves when the request gives none; default 365, at most maxValidityDays */
  defaultValidityDays: number;
  /** longest validity an admin-issued leaf may ask for; default and bound 3650 */
  maxValidityDays: number;
  /** key types admin-issued leaves may have; empty (default): any the key policy accepts */
  allowedKeyTypes: KeyAlgorithm[];
  /** deactivating a user revokes its certificates (affiliationChanged); default true */
  revokeCertificatesOnDeactivation: boolean;
  /** absolute lifetime of a login session, seconds; default 7 days */
  sessionLifetimeSeconds: number;
  /** how members sign in; default password */
  requiredLoginMethod: LoginMethod;
}

export const VALIDITY_DAYS_BOUND = 3650;
export const SESSION_LIFETIME_MIN_SECONDS = 300;
export const SESSION_LIFETIME_MAX_SECONDS = 30 * 24 * 3600;

export const DEFAULT_ORGANIZATION_SETTINGS: Readonly<OrganizationSettings> = Object.freeze({
  defaultValidityDays: 365,
  maxValidityDays: VALIDITY_DAYS_BOUND,
  allowedKeyTypes: [],
  revokeCertificatesOnDeactivation: true,
  sessionLifetimeSeconds: 7 * 24 * 3600,
  requiredLoginMethod: "password",
});

/** The wire (proto) field name of each setting, for INVALID_ARGUMENT and audit detail. */
export const SETTING_FIELDS: Record<keyof OrganizationSettings, string> = {
  defaultValidityDays: "settings.default_validity_days",
  maxValidityDays: "settings.max_validity_days",
  allowedKeyTypes: "settings.allowed_key_types",
  revokeCertificatesOnDeactivation: "settings.revoke_certificates_on_deactivation",
  sessionLifetimeSeconds: "settings.session_lifetime_seconds",
  requiredLoginMethod: "settings.required_login_method",
};

/** The settings stored in the row, defaults filled in (unknown or malformed keys fall back to the default). */
export function settingsOf(org: { settings?: Record<string, unknown> | null }): OrganizationSettings {
  const s = org.settings ?? {};
  const out: OrganizationSettings = { ...DEFAULT_ORGANIZATION_SETTINGS, allowedKeyTypes: [] };
  if (Number.isInteger(s.defaultValidityDays)) out.defaultValidityDays = s.defaultValidityDays as number;
  if (Number.isInteger(s.maxValidityDays)) out.maxValidityDays = s.maxValidityDays as number;
  if (Array.isArray(s.allowedKeyTypes)) out.allowedKeyTypes = (s.allowedKeyTypes as unknown[]).filter((k): k is KeyAlgorithm => KEY_TYPES.includes(k as KeyAlgorithm));
  if (typeof s.revokeCertificatesOnDeactivation === "boolean") out.revokeCertificatesOnDeactivation = s.revokeCertificatesOnDeactivation;
  if (Number.isInteger(s.sessionLifetimeSeconds)) out.sessionLifetimeSeconds = s.sessionLifetimeSeconds as number;
  if (s.requiredLoginMethod === "password" || s.requiredLoginMethod === "sso") out.requiredLoginMethod = s.requiredLoginMethod;
  return out;
}

export type SettingsUpdate = Partial<OrganizationSettings>;

/**
 * `current` with `update` applied, validated as a whole (INVALID_ARGUMENT
 * naming the field): validity days 1..3650 with default <= max, key types
 * known and not repeated, session lifetime 300..2592000 seconds.
 */
export function applySettingsUpdate(current: OrganizationSettings, update: SettingsUpdate): OrganizationSettings {
  const next: OrganizationSettings = { ...current, allowedKeyTypes: [...current.allowedKeyTypes] };
  for (const [k, v] of Object.entries(update) as Array<[keyof OrganizationSettings, unknown]>) {
    if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = Array.isArray(v) ? [...v] : v;
  }
  for (const k of ["defaultValidityDays", "maxValidityDays"] as const) {
    const d = next[k];
    if (!Number.isInteger(d) || d < 1 || d > VALIDITY_DAYS_BOUND) throw SigilError.invalidArgument(`1 to ${VALIDITY_DAYS_BOUND}`, SETTING_FIELDS[k]);
  }
  if (next.defaultValidityDays > next.maxValidityDays) {
    throw SigilError.invalidArgument(`at most max_validity_days (${next.maxValidityDays})`, SETTING_FIELDS.defaultValidityDays);
  }
  const seen = new Set<string>();
  for (const k of next.allowedKeyTypes) {
    if (!KEY_TYPES.includes(k)) throw SigilError.invalidArgument("unknown key type", SETTING_FIELDS.allowedKeyTypes);
    if (seen.has(k)) throw SigilError.invalidArgument(`${k} is listed twice`, SETTING_FIELDS.allowedKeyTypes);
    seen.add(k);
  }
  const life = next.sessionLifetimeSeconds;
  if (!Number.isInteger(life) || life < SESSION_LIFETIME_MIN_SECONDS || life > SESSION_LIFETIME_MAX_SECONDS) {
    throw SigilError.invalidArgument(`${SESSION_LIFETIME_MIN_SECONDS} to ${SESSION_LIFETIME_MAX_SECONDS} seconds`, SETTING_FIELDS.sessionLifetimeSeconds);
  }
  if (next.requiredLoginMethod !== "password" && next.requiredLoginMethod !== "sso") {
    throw SigilError.invalidArgument("password or sso", SETTING_FIELDS.requiredLoginMethod);
  }
  return next;
}

/** What changed, as { field: { from, to } } for the audit entry (wire field names). */
export function settingsDiff(before: OrganizationSettings, after: OrganizationSettings): Record<string, { from: unknown; to: unknown }> {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const k of Object.keys(SETTING_FIELDS) as Array<keyof OrganizationSettings>) {
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) out[SETTING_FIELDS[k]] = { from: before[k], to: after[k] };
  }
  return out;
}

/** The row's jsonb: only the settings that differ from their defaults (so a changed default reaches untouched organizations). */
export function storedSettings(s: OrganizationSettings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(SETTING_FIELDS) as Array<keyof OrganizationSettings>) {
    if (JSON.stringify(s[k]) !== JSON.stringify(DEFAULT_ORGANIZATION_SETTINGS[k])) out[k] = s[k];
  }
  return out;
}

/**
 * The validity of an admin-issued leaf under the settings: 0 (none asked)
 * takes the default; more than the maximum is INVALID_ARGUMENT naming
 * validity_days.
 */
export function issuanceValidityDays(s: OrganizationSettings, requested: number): number {
  if (requested === 0) return s.defaultValidityDays;
  if (requested > s.maxValidityDays) {
    throw SigilError.invalidArgument(`at most ${s.maxValidityDays} days (the organization's max_validity_days)`, "validity_days");
  }
  return requested;
}

/** Refuses a key type the settings do not allow (INVALID_ARGUMENT naming `field`). */
export function checkIssuanceKey(s: OrganizationSettings, key: KeyObject | KeyAlgorithm, field: string): void {
  if (s.allowedKeyTypes.length === 0) return;
  const alg = typeof key === "string" ? key : keyAlgorithmOf(key);
  if (!alg || !s.allowedKeyTypes.includes(alg)) {
    throw SigilError.invalidArgument(`the organization allows only these key types: ${s.allowedKeyTypes.join(", ")}`, field);
  }
}
