/**
 * CAA checking: RFC 8659 (DNS Certification Authority Authorization) with
 * the RFC 8657 parameters `accounturi` and `validationmethods`, and the
 * CA/B Forum Baseline Requirements §3.2.2.8 rule that a lookup failure is
 * not a permission to issue.
 *
 * The parsing and the evaluation of a Relevant RRset are pure
 * (`parseIssueValue`, `evaluateCaa`); `checkCaa` adds the DNS side: the
 * tree climb of RFC 8659 §3 through an injected DnsResolver.
 *
 * Rules (each cites where it comes from):
 * - RFC 8659 §3: the Relevant RRset is the CAA RRset of the name, else of its
 *   parent, and so on up to (not including) the root. CNAMEs are followed
 *   by the recursive resolver (RFC 8659 dropped RFC 6844's CNAME-target
 *   climbing). NXDOMAIN and NODATA climb; any other failure (SERVFAIL,
 *   REFUSED, a timeout) refuses: BR §3.2.2.8 allows treating a failure as
 *   permission only for a DNSSEC-unsigned zone with the failure outside the
 *   CA and after a retry; Sigil does not validate DNSSEC, so it never does.
 * - No CAA RRset anywhere: CAA does not restrict issuance (RFC 8659 §3).
 * - RFC 8659 §4.1: tags are matched case-insensitively; a tag the CA does
 *   not understand with the Issuer Critical Flag (bit 0, 0x80) set forbids
 *   issuance; without it the property is ignored.
 * - RFC 8659 §4.3: for a wildcard name, `issuewild` properties, when there
 *   is at least one, replace the `issue` ones; for other names `issuewild`
 *   is ignored.
 * - RFC 8659 §4.2: if the relevant properties are none (only iodef, say),
 *   CAA does not restrict issuance; otherwise one of them must name this CA
 *   (a directory's caaIdentities, compared case-insensitively). An empty
 *   issuer-domain-name (`0 issue ";"`) authorizes nobody, and a value that
 *   does not parse authorizes nobody either.
 * - RFC 8657 §3: `accounturi`, when present, must equal the ACME account
 *   URL; RFC 8657 §4: `validationmethods`, when present, must list the ACME
 *   challenge type that validated. Unknown parameters are ignored; a
 *   parameter given twice makes the value malformed.
 */
import { DnsError, dnsErrorCode, isDnsNoData, type CaaRecord, type DnsResolver } from "./network.js";

/** RFC 8659 §4.1: the Issuer Critical Flag is bit 0 of the flags octet (the most significant bit). */
export const CAA_CRITICAL_FLAG = 0x80;

/**
 * Property tags Sigil understands (RFC 8659 §4.2-4.4 issue, issuewild,
 * iodef; RFC 8659 §7.2 registry: contactemail, contactphone (BR §A.1),
 * issuemail (RFC 9495, S/MIME only, so it never restricts a TLS
 * certificate)). A critical tag outside this list refuses.
 */
const KNOWN_TAGS = new Set(["issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail"]);

/** What one CAA check is about. */
export interface CaaCheckRequest {
  /** the FQDN, without the "*." of a wildcard */
  name: string;
  /** the certificate will carry "*.{name}" (RFC 8659 §4.3) */
  wildcard: boolean;
  /** RFC 8657 §3: the ACME account URL */
  accountUri: string;
  /** RFC 8657 §4: the ACME challenge type that validated the name (http-01, dns-01, ...) */
  method: string;
  /** this CA's issuer domain names (the directory's caaIdentities, RFC 8555 §7.1.1) */
  issuerDomains: readonly string[];
}

export type CaaOutcome =
  | {
      status: "valid";
      /** where the Relevant RRset was found; undefined when there is no CAA record at any level */
      relevantName?: string;
    }
  | {
      status: "invalid";
      /** caa: the records forbid issuance (RFC 8555 §6.7); dns: the lookup failed (not a pass) */
      error: { type: "caa" | "dns"; detail: string };
      /** a DNS failure may pass on a later try; a refusal by the records will not */
      transient: boolean;
    };

/** A parsed issue / issuewild value (RFC 8659 §4.2). */
export interface IssueValue {
  /** lower case, no trailing dot; "" when the value names no issuer (nobody may issue) */
  issuerDomain: string;
  /** parameter tags lower-cased */
  parameters: Map<string, string>;
}

const WSP = /^[ \t]*|[ \t]*$/g;
/** RFC 8659 §4.2 label = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)) */
const LABEL = /^[A-Za-z0-9](?:-*[A-Za-z0-9])*$/;
/** RFC 8659 §4.2 parameter = parameter-tag *WSP "=" *WSP parameter-value; value = *(%x21-3A / %x3C-7E) */
const PARAMETER = /^([A-Za-z0-9](?:-*[A-Za-z0-9])*)[ \t]*=[ \t]*([\x21-\x3a\x3c-\x7e]*)$/;

/**
 * RFC 8659 §4.2 issue-value = *WSP [issuer-domain-name *WSP]
 * [";" *WSP [parameters *WSP]]. Undefined when it does not parse.
 */
export function parseIssueValue(value: string): IssueValue | undefined {
  const semi = value.indexOf(";");
  // a trailing dot (an absolute name, "ca.example.") names the same issuer, as dns-persist-01 reads it
  const domainPart = (semi < 0 ? value : value.slice(0, semi)).replace(WSP, "").replace(/\.$/, "");
  const rest = semi < 0 ? undefined : value.slice(semi + 1);
  if (domainPart !== "" && !domainPart.split(".").every((l) => LABEL.test(l))) return undefined;
  const parameters = new Map<string, string>();
  if (rest !== undefined) {
    const parts = rest.split(";").map((p) => p.replace(WSP, ""));
    // parameters are separated by ";"; an empty one is tolerated only at the very end ("ca.example; a=b;")
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === "") {
        if (i === parts.length - 1) continue;
        return undefined;
      }
      const m = PARAMETER.exec(part);
      if (!m) return undefined;
      const tag = m[1]!.toLowerCase();
      if (parameters.has(tag)) return undefined;
      parameters.set(tag, m[2]!);
    }
  }
  return { issuerDomain: domainPart.toLowerCase(), parameters };
}

const normalizeDomain = (d: string): string => d.trim().toLowerCase().replace(/\.$/, "");

/** RFC 8657 §4: validationmethods = label *("," label) */
function parseMethods(v: string): string[] | undefined {
  const methods = v.split(",");
  return methods.every((m) => LABEL.test(m)) ? methods : undefined;
}

/** Why the records did not authorize: the most specific reason seen, for the problem detail. */
type Denial = "emptyIssuer" | "otherIssuer" | "malformed" | "accountUri" | "validationMethods";

const DENIAL_RANK: Record<Denial, number> = { malformed: 0, otherIssuer: 1, emptyIssuer: 2, accountUri: 3, validationMethods: 4 };

/**
 * Evaluates a Relevant RRset (RFC 8659 §4). `records` is the non-empty CAA
 * RRset found for `at` by the tree climb.
 */
export function evaluateCaa(records: readonly CaaRecord[], req: CaaCheckRequest, at: string): CaaOutcome {
  const shown = req.wildcard ? `*.${req.name}` : req.name;
  const refuse = (why: string): CaaOutcome => ({
    status: "invalid",
    error: { type: "caa", detail: `CAA record for ${at} prevents issuance for ${shown}: ${why}` },
    transient: false,
  });
  const issue: string[] = [];
  const issuewild: string[] = [];
  for (const r of records) {
    const tag = r.tag.toLowerCase(); // RFC 8659 §4.1: tags are case-insensitive
    if (!KNOWN_TAGS.has(tag)) {
      // RFC 8659 §4.1: an unknown property with the Issuer Critical Flag forbids issuance
      if ((r.flags & CAA_CRITICAL_FLAG) !== 0) return refuse(`critical property ${JSON.stringify(r.tag.slice(0, 32))} is not understood`);
      continue;
    }
    if (tag === "issue") issue.push(r.value);
    else if (tag === "issuewild") issuewild.push(r.value);
  }
  // RFC 8659 §4.3: issuewild replaces issue for a wildcard name when present, and is ignored otherwise
  const relevant = req.wildcard && issuewild.length > 0 ? issuewild : issue;
  const tagName = req.wildcard && issuewild.length > 0 ? "issuewild" : "issue";
  // RFC 8659 §4.2: no issue (or issuewild) property: CAA does not restrict issuance
  if (relevant.length === 0) return { status: "valid", relevantName: at };
  const ours = new Set(req.issuerDomains.map(normalizeDomain));
  let denial = "malformed" as Denial;
  const worse = (d: Denial): void => {
    if (DENIAL_RANK[d] > DENIAL_RANK[denial]) denial = d;
  };
  for (const raw of relevant) {
    const v = parseIssueValue(raw);
    if (!v) {
      worse("malformed");
      continue;
    }
    if (v.issuerDomain === "") {
      worse("emptyIssuer");
      continue;
    }
    if (!ours.has(v.issuerDomain)) {
      worse("otherIssuer");
      continue;
    }
    // RFC 8657 §3: the record applies only to the account it names
    const accountUri = v.parameters.get("accounturi");
    if (accountUri !== undefined && accountUri !== req.accountUri) {
      worse("accountUri");
      continue;
    }
    // RFC 8657 §4: the record applies only to the validation methods it lists
    const methodsRaw = v.parameters.get("validationmethods");
    if (methodsRaw !== undefined) {
      const methods = parseMethods(methodsRaw);
      if (!methods) {
        worse("malformed");
        continue;
      }
      if (!methods.includes(req.method)) {
        worse("validationMethods");
        continue;
      }
    }
    return { status: "valid", relevantName: at };
  }
  switch (denial) {
    case "emptyIssuer":
      return refuse(`the ${tagName} property authorizes no issuer`);
    case "otherIssuer":
      return refuse(`no ${tagName} property names this CA (${[...ours].join(", ") || "none configured"})`);
    case "accountUri":
      return refuse(`the ${tagName} property for this CA names another ACME account (RFC 8657 §3 accounturi)`);
    case "validationMethods":
      return refuse(`the ${tagName} property for this CA does not allow the ${req.method} validation method (RFC 8657 §4 validationmethods)`);
    case "malformed":
      return refuse(`the ${tagName} property cannot be parsed`);
    default: {
      const never: never = denial;
      return refuse(String(never));
    }
  }
}

/** RFC 8659 §3: the names the tree climb queries, the name itself first, the TLD last (never the root). */
export function caaClimb(name: string): string[] {
  const labels = name.replace(/^\*\./, "").replace(/\.$/, "").toLowerCase().split(".").filter((l) => l !== "");
  return labels.map((_, i) => labels.slice(i).join("."));
}

/** The Relevant RRset of RFC 8659 §3, or the DNS failure that stopped the climb. */
export type RelevantRRset = { at: string; records: CaaRecord[] } | { at: undefined; records: [] } | { failure: { name: string; code: string } };

/** the failure code of a climb cut short by its signal (the deadline): a timeout, never a pass */
export const CAA_ABORTED_CODE = "ETIMEOUT";

/**
 * `p`, or a rejection with CAA_ABORTED_CODE once `signal` aborts (the lookup
 * itself goes on in the resolver until its own timeout; nobody waits for it).
 */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new DnsError(CAA_ABORTED_CODE, "the CAA check was cut short"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new DnsError(CAA_ABORTED_CODE, "the CAA check was cut short"));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * RFC 8659 §3 tree climb, one lookup per label up to the TLD (a name has at
 * most 127). It is bounded by time, not by a label count (the climb must
 * reach the TLD to be right): once `signal` aborts (the caller's deadline)
 * no further lookup starts and the climb ends in a failure, which refuses.
 */
export async function findRelevantRRset(name: string, resolver: DnsResolver, signal?: AbortSignal): Promise<RelevantRRset> {
  for (const candidate of caaClimb(name)) {
    if (signal?.aborted) return { failure: { name: candidate, code: CAA_ABORTED_CODE } };
    let records: CaaRecord[];
    try {
      records = await unlessAborted(resolver.resolveCaa(candidate), signal);
    } catch (e) {
      const code = dnsErrorCode(e);
      if (code === undefined) throw e;
      // NXDOMAIN / NODATA: nothing here, try the parent (RFC 8659 §3)
      if (isDnsNoData(code)) continue;
      return { failure: { name: candidate, code } };
    }
    if (records.length > 0) return { at: candidate, records };
  }
  return { at: undefined, records: [] };
}

/**
 * RFC 8659 §3-4 with RFC 8657: may this CA issue for `req.name` now? One
 * tree climb; a DNS failure (a cut-short climb included) is a (transient)
 * refusal of type dns.
 */
export async function checkCaa(req: CaaCheckRequest, resolver: DnsResolver, signal?: AbortSignal): Promise<CaaOutcome> {
  const found = await findRelevantRRset(req.name, resolver, signal);
  if ("failure" in found) {
    const what = found.failure.code.replace(/^E/, "");
    return {
      status: "invalid",
      error: { type: "dns", detail: `DNS problem: ${what} looking up CAA for ${found.failure.name}; a failed CAA lookup does not permit issuance` },
      transient: true,
    };
  }
  // RFC 8659 §3: no CAA RRset up to the TLD: CAA does not restrict issuance
  if (found.at === undefined) return { status: "valid" };
  return evaluateCaa(found.records, req, found.at);
}

/** Performs CAA checks on the validator's network (its resolver, its retry policy). */
export interface CaaChecker {
  /** resolves once `signal` aborts at the latest, with a dns refusal then (never a pass) */
  checkCaa(req: CaaCheckRequest, signal?: AbortSignal): Promise<CaaOutcome>;
  /** where the RA reports what it cannot tell the client (a failed write of a passed check); default none */
  logger?: { error(obj: object, msg: string): void };
}

/** How checkCaaWithRetry retries a lookup failure (the validator passes its own retry policy). */
export interface CaaRetry {
  /** lookups at most, the first included (BR §3.2.2.8 counts a failure only after a retry) */
  attempts: number;
  delayMs: number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * checkCaa, trying again after a DNS failure (never after a refusal by the
 * records) up to `retry.attempts` times. An aborted signal ends it with a
 * dns failure (not a pass), the lookup under way included.
 */
export async function checkCaaWithRetry(req: CaaCheckRequest, resolver: DnsResolver, retry: CaaRetry, signal?: AbortSignal): Promise<CaaOutcome> {
  for (let n = 1; ; n++) {
    const outcome = await checkCaa(req, resolver, signal);
    if (outcome.status === "valid" || !outcome.transient || n >= Math.max(1, retry.attempts) || signal?.aborted) return outcome;
    await retry.sleep(retry.delayMs, signal);
    if (signal?.aborted) return outcome;
  }
}
