/** Small input checks shared by the admin-plane RA modules; each names the offending field. */
import { SigilError } from "../core/errors.js";
import { isUniqueViolation } from "../db/store/constraint-errors.js";
import { isValidCrlBaseUrl, MAX_CRL_BASE_URL } from "./issuers.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A required server-assigned id (UUID); INVALID_ARGUMENT naming `field` otherwise. */
export function requireId(value: string, field: string): string {
  if (!value) throw SigilError.invalidArgument("required", field);
  if (!UUID.test(value)) throw SigilError.invalidArgument("not a valid id", field);
  return value.toLowerCase();
}

/** An optional id: "" stays null. */
export function optionalId(value: string | undefined, field: string): string | null {
  return value ? requireId(value, field) : null;
}

/** A required name: trimmed, 1..max characters, no control characters. */
export function requireName(value: string, field: string, max: number): string {
  const v = value.trim();
  if (!v) throw SigilError.invalidArgument("required", field);
  if (v.length > max) throw SigilError.invalidArgument(`at most ${max} characters`, field);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) throw SigilError.invalidArgument("must not contain control characters", field);
  return v;
}

/** Free text up to `max` characters. */
export function optionalText(value: string, field: string, max = 4096): string {
  if (value.length > max) throw SigilError.invalidArgument(`at most ${max} characters`, field);
  return value;
}

/** Login names: 1..64 of letters, digits and . _ @ - */
export function requireUsername(value: string, field = "username"): string {
  if (!value) throw SigilError.invalidArgument("required", field);
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(value)) {
    throw SigilError.invalidArgument("1 to 64 letters, digits or . _ @ -", field);
  }
  return value;
}

/** A mailbox (RFC 5321 §4.5.3.1 length limits; a pragmatic syntax check, not full RFC 5322). */
export function requireEmail(value: string, field = "email"): string {
  const v = value.trim();
  if (!v) throw SigilError.invalidArgument("required", field);
  if (v.length > 254 || !/^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/.test(v)) throw SigilError.invalidArgument("not a valid email address", field);
  return v;
}

/** Passwords: 8..72 bytes (bcrypt reads at most 72 bytes; longer ones would be silently truncated). */
export function requirePassword(value: string, field = "password"): string {
  if (!value) throw SigilError.invalidArgument("required", field);
  const bytes = Buffer.byteLength(value, "utf8");
  if (value.length < 8) throw SigilError.invalidArgument("at least 8 characters", field);
  if (bytes > 72) throw SigilError.invalidArgument("at most 72 bytes", field);
  return value;
}

/** Runs `fn`; a unique-constraint violation becomes ALREADY_EXISTS naming `field`. */
export async function uniquely<T>(field: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isUniqueViolation(e)) throw SigilError.alreadyExists(`${what} already exists`, field);
    throw e;
  }
}

/** A CA name: 1..128 letters, digits, '.', '_', '-' or spaces, starting with a letter or digit. */
export function requireCaName(value: string, field = "name"): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._ -]{0,127}$/.test(value)) {
    throw SigilError.invalidArgument("1-128 letters, digits, '.', '_', '-' or spaces", field);
  }
  return value;
}

/**
 * A CA's CRL base URL, exactly as the signer will accept the URLs built from
 * it (isValidCrlBaseUrl); "" or absent means the server default (null).
 */
export function optionalCrlBaseUrl(value: string | null | undefined, field = "crl_base_url"): string | null {
  if (value == null || value === "") return null;
  if (!isValidCrlBaseUrl(value)) {
    throw SigilError.invalidArgument(
      `an absolute http(s) URL of printable ASCII (no spaces), without query or fragment, at most ${MAX_CRL_BASE_URL} characters`,
      field,
    );
  }
  return value;
}
