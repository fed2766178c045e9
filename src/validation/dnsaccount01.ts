/**
 * dns-account-01 (draft-ietf-acme-dns-account-label; CA/B Forum BR
 * 3.2.2.4.21 "DNS Labeled with Account ID - ACME"): dns-01 (RFC 8555 §8.4)
 * with an account-specific record name, so several ACME clients (accounts)
 * can validate one name at the same time without overwriting each other.
 *
 * The draft (§3, "Challenge Response"): construct the validation domain name
 * by prepending to the domain being validated
 *
 *     "_" || base32(SHA-256(<ACCOUNT_URL>)[0:10]) || "._acme-challenge"
 *
 * "[0:10] is the operation that selects the first ten bytes (bytes 0 through
 * 9 inclusive)", "base32 is the operation defined in [RFC4648]", ACCOUNT_URL
 * is "the value in the Location header field" of newAccount (RFC 8555 §7.3).
 * Ten bytes are 80 bits, exactly sixteen base32 characters, so there is no
 * padding; the label is written in lower case (the draft's example
 * `_ujmmovf2vn55tgye` for https://example.com/acme/acct/ExampleAccount; DNS
 * compares names case-insensitively in any case).
 *
 * The challenge object and the TXT value are dns-01's: a token, and the
 * record holds base64url(SHA-256(keyAuthorization)). Like dns-01 it cannot
 * validate IP identifiers and it can validate wildcards (the record lives
 * under the base name, RFC 8555 §7.1.3).
 */
import { createHash } from "node:crypto";
import { fail, type CheckContext, type CheckResult } from "./common.js";
import { checkKeyAuthorizationTxt, DNS01_LABEL } from "./dns01.js";
import type { ValidationRequest } from "./types.js";

/** RFC 4648 §6 alphabet, lower case */
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";

/** RFC 4648 §6 base32 of `bytes`, lower case, without padding. */
export function base32Lower(bytes: Uint8Array): string {
  let out = "";
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

/** The account label: "_" || base32(SHA-256(accountUrl)[0:10]), lower case (16 characters after the "_"). */
export function dnsAccountLabel(accountUrl: string): string {
  const digest = createHash("sha256").update(accountUrl, "utf8").digest();
  return `_${base32Lower(digest.subarray(0, 10))}`;
}

/** The validation domain name `_<label>._acme-challenge.<domain>` (a wildcard's "*." dropped, RFC 8555 §7.1.3). */
export function dnsAccount01RecordName(domain: string, accountUrl: string): string {
  return `${dnsAccountLabel(accountUrl)}.${DNS01_LABEL}.${domain.replace(/^\*\./, "").replace(/\.$/, "")}`;
}

export async function checkDnsAccount01(req: ValidationRequest, ctx: CheckContext): Promise<CheckResult> {
  // registered for the "dns" identifier type only, like dns-01 (RFC 8738 §7)
  if (req.identifier.type !== "dns") {
    return fail("malformed", "The dns-account-01 challenge cannot be used to validate IP identifiers", false);
  }
  // ra/ always passes it for this type; without it there is no name to look up
  if (!req.accountUrl) throw new Error("dns-account-01 validation needs the account URL");
  // the same TXT value as dns-01 (draft-ietf-acme-dns-account-label §3), at the account-labelled name
  return checkKeyAuthorizationTxt(dnsAccount01RecordName(req.identifier.value, req.accountUrl), req.keyAuthorization, ctx);
}
