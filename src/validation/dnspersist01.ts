/**
 * dns-persist-01 (draft-ietf-acme-dns-persist-02; CA/B Forum BR 3.2.2.4.22
 * "DNS TXT Record with Persistent Value"): a long-lived TXT record at
 * `_validation-persist.<FQDN>` naming this CA (an issuer domain name) and the
 * ACME account (a hashed account URI). No token and no key authorization:
 * the record does not change per challenge, so it can be published before
 * any order (§4.5).
 *
 * §4.1 Validation Record Format: the RDATA "MUST conform to the issue-value
 * syntax defined in [RFC8659], Section 4.2" ("the server MUST ignore any
 * parameter within the issue-value that has an unrecognized tag"); the
 * issuer-domain-name "MUST be one of the Issuer Domain Names provided by the
 * CA"; "The issue-value MUST contain an accounturi parameter whose value is a
 * hashed URI":
 *
 *     <accountHashPrefix><hash-alg>/<base64url hash value>
 *     H(length_of_domain || domain_name || key || account_URL)
 *
 * with length_of_domain one octet, domain_name the validated FQDN (or "*",
 * the correlation opt-out a CA "MUST accept"), key "the 43 ASCII octets of the
 * unpadded base64url encoding [RFC4648] of the SHA-256 JWK Thumbprint
 * [RFC7638]" of a key of the account, account_URL the account URL; sha-256 is
 * the one algorithm Sigil accepts ("a CA MUST accept ... this token").
 * Optional `policy` (case-insensitive; only "wildcard" means anything) and
 * `persistUntil` (base-10 UNIX seconds: "After timestamp T, a CA MUST NOT
 * consider the record valid for new validation attempts").
 *
 * §4.2/§4.3.2: the TXT records at the name are examined, the ones naming
 * another issuer are ignored, and any one record meeting every requirement
 * validates. Sigil's bounds (both chosen by the zone's owner otherwise): at
 * most DNS_PERSIST_MAX_RECORDS records naming this CA are examined, against
 * the hashed URIs of at most DNS_PERSIST_MAX_KEYS keys of the account,
 * computed once per validation. §9.3.1 error types: malformed for syntax (duplicate parameters,
 * a bad persistUntil, a missing or ill-formed accounturi, an algorithm the CA
 * does not accept), unauthorized for a hashed URI of another account, an
 * expired persistUntil, or no record naming this CA's issuer domain names.
 */
import { createHash } from "node:crypto";
import { dnsFailure, fail, quoteShort, type CheckContext, type CheckResult } from "./common.js";
import { dnsErrorCode, isDnsNoData } from "./network.js";
import type { DnsPersistParams, ValidationErrorType, ValidationRequest } from "./types.js";

/** §2 "DNS TXT Record Persistent DCV Domain Label" */
export const DNS_PERSIST_LABEL = "_validation-persist";
/** §4.1 the mandatory RFC 6920 §9.4 Hash Name String; the only one accepted */
export const DNS_PERSIST_HASH_ALG = "sha-256";
/** §4.1 the domain_name of the domain-omitted opt-out form */
export const DNS_PERSIST_ANY_DOMAIN = "*";

/** The validation domain name `_validation-persist.<FQDN>` (§4; a wildcard's base name, §5). */
export function dnsPersistRecordName(domain: string): string {
  return `${DNS_PERSIST_LABEL}.${domain.replace(/^\*\./, "").replace(/\.$/, "")}`;
}

/**
 * §4.1 the hashed account URI for one key: accountHashPrefix || "sha-256/" ||
 * base64url(SHA-256(len(domain) || domain || thumbprint || accountUrl)).
 * `domain` is the validated FQDN (lower-case A-labels, no trailing dot) or "*".
 */
export function dnsPersistHashedAccountUri(accountHashPrefix: string, domain: string, keyThumbprint: string, accountUrl: string): string {
  const d = Buffer.from(domain, "ascii");
  if (d.length > 255) throw new RangeError("domain_name longer than 255 octets");
  const digest = createHash("sha256").update(Buffer.from([d.length])).update(d).update(Buffer.from(keyThumbprint, "ascii")).update(Buffer.from(accountUrl, "ascii")).digest("base64url");
  return `${accountHashPrefix}${DNS_PERSIST_HASH_ALG}/${digest}`;
}

/** RFC 8659 §4.2 `tag = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))` */
const TAG = /^[A-Za-z0-9](?:-*[A-Za-z0-9])*$/;
/** RFC 8659 §4.2 `value = *(%x21-3A / %x3C-7E)` */
const VALUE = /^[\x21-\x3a\x3c-\x7e]*$/;
/** RFC 8659 §4.2 `issuer-domain-name = label *("." label)`, `label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT))` */
const ISSUER = /^[A-Za-z0-9](?:-*[A-Za-z0-9])*(?:\.[A-Za-z0-9](?:-*[A-Za-z0-9])*)*$/;
/** RFC 5234 WSP */
const WSP = /^[ \t]+|[ \t]+$/g;

/** A parsed issue-value: the issuer (lower-cased, null when absent) and its parameters by lower-cased tag. */
export interface IssueValue {
  issuer: string | null;
  params: Map<string, string>;
}

/**
 * The issuer-domain-name of a record as §4.3.2 filters by it: the text before
 * the first ";", without surrounding WSP, lower-cased, a trailing dot dropped
 * (§3.1 normalization). Records whose issuer is not this CA's are ignored
 * whatever else they hold.
 */
export function issueValueIssuer(text: string): string {
  const semi = text.indexOf(";");
  return (semi < 0 ? text : text.slice(0, semi)).replace(WSP, "").toLowerCase().replace(/\.$/, "");
}

/**
 * RFC 8659 §4.2 issue-value:
 *   issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]]
 *   parameters = (parameter *WSP ";" *WSP parameters) / parameter
 *   parameter = tag *WSP "=" *WSP value
 * A trailing ";" after the last parameter is tolerated. Tags are matched
 * case-insensitively (the draft spells `persistUntil` in camel case; RFC 8659
 * tags have no case rule for parameters, and a record written `persistuntil`
 * must not be read as an unknown, ignored tag); a tag given twice is
 * malformed (§9.3.1 "duplicate parameters").
 */
export function parseIssueValue(text: string): { ok: true; value: IssueValue } | { ok: false; reason: string } {
  const semi = text.indexOf(";");
  const rawIssuer = (semi < 0 ? text : text.slice(0, semi)).replace(WSP, "");
  let issuer: string | null = null;
  if (rawIssuer) {
    const bare = rawIssuer.replace(/\.$/, "");
    if (!ISSUER.test(bare)) return { ok: false, reason: `the issuer-domain-name ${quoteShort(rawIssuer)} is not a domain name` };
    issuer = bare.toLowerCase();
  }
  const params = new Map<string, string>();
  if (semi >= 0) {
    const parts = text.slice(semi + 1).split(";");
    // "issuer;" and "issuer; a=b;" end with one empty part
    if (parts.length > 0 && parts[parts.length - 1]!.replace(WSP, "") === "") parts.pop();
    for (const part of parts) {
      const p = part.replace(WSP, "");
      const eq = p.indexOf("=");
      if (eq < 0) return { ok: false, reason: `the parameter ${quoteShort(p)} has no "="` };
      const tag = p.slice(0, eq).replace(WSP, "");
      const value = p.slice(eq + 1).replace(WSP, "");
      if (!TAG.test(tag)) return { ok: false, reason: `the parameter tag ${quoteShort(tag)} is not a valid tag` };
      if (!VALUE.test(value)) return { ok: false, reason: `the value of parameter ${quoteShort(tag)} has characters outside %x21-3A / %x3C-7E` };
      const key = tag.toLowerCase();
      if (params.has(key)) return { ok: false, reason: `the parameter ${quoteShort(tag)} appears twice` };
      params.set(key, value);
    }
  }
  return { ok: true, value: { issuer, params } };
}

/** The verdict on one record naming this CA. */
type RecordVerdict = { ok: true; persistUntil?: number } | { ok: false; type: ValidationErrorType; detail: string };

/**
 * The most account keys one validation considers: the current one and the
 * 15 most recent earlier ones (§4.2 "SHOULD evaluate remaining retained keys
 * in reverse chronological order"; Sigil's own bound: each key costs two
 * SHA-256 computations per validation, and an account can change its key
 * without limit). A record hashed with an older key no longer validates;
 * docs/challenges.md says so.
 */
export const DNS_PERSIST_MAX_KEYS = 16;
/**
 * The most records naming this CA one validation examines (Sigil's own
 * bound: a 64 KiB TCP answer holds some 450 records, all chosen by whoever
 * controls the zone). The ones after the first 32 are ignored.
 */
export const DNS_PERSIST_MAX_RECORDS = 32;
/** persistUntil: at most 11 base-10 digits (UNIX seconds up to the year 5138; a Date holds them exactly) */
const PERSIST_UNTIL = /^[0-9]{1,11}$/;

/** computes one hashed account URI (dnsPersistHashedAccountUri; tests pass a counting one) */
export type HashedAccountUriFn = (accountHashPrefix: string, domain: string, keyThumbprint: string, accountUrl: string) => string;

/**
 * §4.1 the hashed account URIs that identify the account for `domain`: for
 * each of its first DNS_PERSIST_MAX_KEYS keys (current first), with the FQDN
 * and with "*". Computed once per validation, so each record costs one set
 * lookup, not two hashes per key.
 */
export function expectedHashedAccountUris(
  p: Pick<DnsPersistParams, "accountHashPrefix" | "keyThumbprints"> & { domain: string; accountUrl: string },
  hash: HashedAccountUriFn = dnsPersistHashedAccountUri,
): Set<string> {
  const out = new Set<string>();
  for (const key of [...new Set(p.keyThumbprints)].slice(0, DNS_PERSIST_MAX_KEYS)) {
    out.add(hash(p.accountHashPrefix, p.domain, key, p.accountUrl));
    out.add(hash(p.accountHashPrefix, DNS_PERSIST_ANY_DOMAIN, key, p.accountUrl));
  }
  return out;
}

/**
 * §4.1/§4.2 one record's checks, in order: syntax, accounturi (present,
 * under the prefix, sha-256, 43 base64url characters, and one of `expected`:
 * expectedHashedAccountUris), persistUntil (base-10, not passed), and the
 * wildcard policy.
 */
export function evaluatePersistRecord(
  text: string,
  p: Pick<DnsPersistParams, "accountHashPrefix" | "wildcard"> & { now: Date },
  expected: () => ReadonlySet<string>,
): RecordVerdict {
  const parsed = parseIssueValue(text);
  if (!parsed.ok) return { ok: false, type: "malformed", detail: parsed.reason };
  const { params } = parsed.value;
  const accountUri = params.get("accounturi");
  if (accountUri === undefined) return { ok: false, type: "malformed", detail: "the record has no accounturi parameter" };
  if (!accountUri.startsWith(p.accountHashPrefix)) {
    return { ok: false, type: "malformed", detail: `the accounturi ${quoteShort(accountUri, 96)} is not a hashed URI under this CA's accountHashPrefix ${p.accountHashPrefix}` };
  }
  const rest = accountUri.slice(p.accountHashPrefix.length);
  const slash = rest.indexOf("/");
  const alg = slash < 0 ? rest : rest.slice(0, slash);
  if (alg !== DNS_PERSIST_HASH_ALG) {
    // §4.1 "A CA MUST reject with a malformed error ... any _validation-persist record whose <hash-alg> token identifies a hash algorithm the CA no longer accepts"
    return { ok: false, type: "malformed", detail: `the accounturi hash algorithm ${quoteShort(alg)} is not accepted (${DNS_PERSIST_HASH_ALG})` };
  }
  if (!/^[A-Za-z0-9_-]{43}$/.test(rest.slice(slash + 1))) {
    return { ok: false, type: "malformed", detail: "the accounturi hash value is not 43 base64url characters (an unpadded SHA-256 digest)" };
  }
  let persistUntil: number | undefined;
  const until = params.get("persistuntil");
  if (until !== undefined) {
    // §4.1 "If the value is not a valid base-10 integer, the CA MUST treat the record as malformed and reject it."
    if (!PERSIST_UNTIL.test(until)) return { ok: false, type: "malformed", detail: `persistUntil ${quoteShort(until)} is not a base-10 UNIX timestamp` };
    persistUntil = Number(until);
  }
  // §4.1 "CAs MUST compare accounturi values using Simple String Comparison per [RFC3986], Section 6.2.1"
  if (!expected().has(accountUri)) {
    return { ok: false, type: "unauthorized", detail: `the accounturi does not identify this account (no key of the account, of its ${DNS_PERSIST_MAX_KEYS} most recent, yields it for this domain or for "*")` };
  }
  if (persistUntil !== undefined && p.now.getTime() > persistUntil * 1000) {
    // §4.1 "After timestamp T, a CA MUST NOT consider the record valid for new validation attempts."
    return { ok: false, type: "unauthorized", detail: `the record's persistUntil ${persistUntil} (${new Date(persistUntil * 1000).toISOString()}) has passed` };
  }
  // §4.1 item 4 "Comparison of the values defined for this parameter MUST be case-insensitive";
  // §5 without policy=wildcard "CAs MUST NOT consider such validation sufficient for wildcard certificates"
  if (p.wildcard && params.get("policy")?.toLowerCase() !== "wildcard") {
    return { ok: false, type: "unauthorized", detail: "a wildcard authorization needs a record with policy=wildcard" };
  }
  return persistUntil === undefined ? { ok: true } : { ok: true, persistUntil };
}

/**
 * §4.3.2 over the TXT records at the validation domain name: the records
 * naming one of `issuerDomainNames` are evaluated (the first
 * DNS_PERSIST_MAX_RECORDS of them), others ignored; the outcome is valid
 * when one passes (the one that lasts longest: the first without
 * persistUntil ends the search, else the latest), else the first failure.
 * The expected hashed URIs are computed once, and only if a record gets
 * that far.
 */
export function evaluatePersistRecords(
  values: readonly string[],
  p: DnsPersistParams & { domain: string; accountUrl: string; now: Date; name: string },
  hash: HashedAccountUriFn = dnsPersistHashedAccountUri,
): CheckResult {
  let best: { persistUntil?: number } | undefined;
  let firstFailure: { type: ValidationErrorType; detail: string } | undefined;
  let failures = 0;
  let examined = 0;
  let skipped = 0;
  let expected: Set<string> | undefined;
  const expectedOnce = (): Set<string> => (expected ??= expectedHashedAccountUris(p, hash));
  for (const text of values) {
    // §4.3.2 step 2 "The CA MUST ignore all other records."
    if (!p.issuerDomainNames.includes(issueValueIssuer(text))) continue;
    if (examined >= DNS_PERSIST_MAX_RECORDS) {
      skipped++;
      continue;
    }
    examined++;
    const v = evaluatePersistRecord(text, p, expectedOnce);
    if (v.ok) {
      // no persistUntil: nothing lasts longer
      if (v.persistUntil === undefined) return { outcome: { status: "valid" }, transient: false };
      if (!best || (best.persistUntil !== undefined && v.persistUntil > best.persistUntil)) best = v;
    } else {
      failures++;
      firstFailure ??= v;
    }
  }
  if (best?.persistUntil !== undefined) return { outcome: { status: "valid", notAfter: new Date(best.persistUntil * 1000) }, transient: false };
  if (firstFailure) {
    const more = failures > 1 ? ` (and ${failures - 1} more record${failures > 2 ? "s" : ""} naming this CA failed too)` : "";
    const ignored = skipped > 0 ? `; ${skipped} more record${skipped > 1 ? "s" : ""} naming this CA ${skipped > 1 ? "were" : "was"} not examined (at most ${DNS_PERSIST_MAX_RECORDS})` : "";
    return fail(firstFailure.type, `Invalid TXT record at ${p.name}: ${firstFailure.detail}${more}${ignored}`);
  }
  // §9.3.1 unauthorized: "The issuer-domain-name in the DNS TXT record does not match any of the values provided"
  const shown = values.length === 1 ? quoteShort(values[0]!) : `${quoteShort(values[0]!)} and ${values.length - 1} more`;
  return fail("unauthorized", `No TXT record at ${p.name} names an issuer domain name of this CA (${p.issuerDomainNames.join(", ")}); found ${shown}`);
}

export async function checkDnsPersist01(req: ValidationRequest, ctx: CheckContext, now: Date): Promise<CheckResult> {
  // §8.1 registered for the "dns" identifier type only
  if (req.identifier.type !== "dns") {
    return fail("malformed", "The dns-persist-01 challenge cannot be used to validate IP identifiers", false);
  }
  // ra/ always passes both for this type
  if (!req.persist || !req.accountUrl) throw new Error("dns-persist-01 validation needs the account URL and the persist parameters");
  // §4.1 domain_name: "the normalized lowercase A-label form" without a trailing dot
  const domain = req.identifier.value.replace(/^\*\./, "").replace(/\.$/, "").toLowerCase();
  const name = dnsPersistRecordName(domain);
  let records: string[][];
  try {
    // §4.2 "The CA MUST evaluate persistUntil, policy, issuer-domain-name, and any unrecognized parameters from fresh DNS data retrieved during each validation attempt."
    records = await ctx.resolver.resolveTxt(name);
  } catch (e) {
    if (isDnsNoData(dnsErrorCode(e))) return fail("dns", `No TXT record found at ${name}`);
    return dnsFailure(e, "TXT", name);
  }
  if (records.length === 0) return fail("dns", `No TXT record found at ${name}`);
  // §9.1 RDATA over 255 octets arrives as several character-strings: concatenated
  const values = records.map((chunks) => chunks.join(""));
  return evaluatePersistRecords(values, { ...req.persist, domain, accountUrl: req.accountUrl, now, name });
}
