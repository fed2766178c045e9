/**
 * dns-01 (RFC 8555 §8.4): a TXT record at _acme-challenge.{domain} whose
 * value is base64url(SHA-256(keyAuthorization)).
 */
import { createHash } from "node:crypto";
import { dnsFailure, fail, quoteShort, VALID, type CheckContext, type CheckResult } from "./common.js";
import { dnsErrorCode, isDnsNoData } from "./network.js";
import type { ValidationRequest } from "./types.js";

/** RFC 8555 §8.4: the label prepended to the domain. */
export const DNS01_LABEL = "_acme-challenge";

/** RFC 8555 §8.4: base64url (no padding) of the SHA-256 digest of the key authorization. */
export function dns01TxtValue(keyAuthorization: string): string {
  return createHash("sha256").update(keyAuthorization, "utf8").digest("base64url");
}

/** RFC 8555 §8.4 the record name; a wildcard's "*." is dropped (RFC 8555 §7.1.3). */
export function dns01RecordName(domain: string): string {
  return `${DNS01_LABEL}.${domain.replace(/^\*\./, "").replace(/\.$/, "")}`;
}

export async function checkDns01(req: ValidationRequest, ctx: CheckContext): Promise<CheckResult> {
  // RFC 8738 §7: "The dns-01 challenge MUST NOT be used to validate IP identifiers."
  if (req.identifier.type !== "dns") {
    return fail("malformed", "The dns-01 challenge cannot be used to validate IP identifiers (RFC 8738 §7)", false);
  }
  return checkKeyAuthorizationTxt(dns01RecordName(req.identifier.value), req.keyAuthorization, ctx);
}

/**
 * The TXT check dns-01 (RFC 8555 §8.4) and dns-account-01 share: some TXT
 * record at `name` holds base64url(SHA-256(keyAuthorization)). A missing
 * record stays retryable (it may not have propagated yet).
 */
export async function checkKeyAuthorizationTxt(name: string, keyAuthorization: string, ctx: CheckContext): Promise<CheckResult> {
  let records: string[][];
  try {
    records = await ctx.resolver.resolveTxt(name);
  } catch (e) {
    // NXDOMAIN / NODATA: the record may simply not have propagated yet, so it stays retryable
    if (isDnsNoData(dnsErrorCode(e))) return fail("dns", `No TXT record found at ${name}`);
    return dnsFailure(e, "TXT", name);
  }
  if (records.length === 0) return fail("dns", `No TXT record found at ${name}`);
  const expected = dns01TxtValue(keyAuthorization);
  // a TXT record longer than 255 octets arrives as several character-strings: join them
  const values = records.map((chunks) => chunks.join(""));
  if (values.some((v) => v === expected)) return VALID;
  const shown = values.length === 1 ? quoteShort(values[0]!) : `${quoteShort(values[0]!)} and ${values.length - 1} more`;
  return fail("incorrectResponse", `Incorrect TXT record ${shown} found at ${name}`);
}
