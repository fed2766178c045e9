/**
 * Pieces shared by the three challenge validators: the context each check
 * gets, the internal result (outcome + whether a retry may help), address
 * resolution and IP helpers.
 */
import { isIP } from "node:net";
import { dnsErrorCode, isDnsNoData, NetworkError, type DnsResolver, type HttpFetcher, type TlsDialer } from "./network.js";
import { ipBytes, type NetworkPolicy } from "./network-policy.js";
import type { ValidationErrorType, ValidationOutcome } from "./types.js";

/** What one attempt of a challenge check needs. */
export interface CheckContext {
  resolver: DnsResolver;
  fetcher: HttpFetcher;
  dialer: TlsDialer;
  /** port http-01 connects to (SIGIL_VALIDATION_HTTP_PORT, default 80) */
  httpPort: number;
  /** port tls-alpn-01 and https redirects connect to (SIGIL_VALIDATION_TLS_PORT, default 443) */
  tlsPort: number;
  /** time limit of one network operation */
  timeoutMs: number;
  /** the addresses connections may go to; every one is checked before it is dialled */
  networkPolicy: NetworkPolicy;
  signal?: AbortSignal;
}

/** addresses of one name tried at most (after the policy dropped the refused ones) */
export const MAX_ADDRESSES = 4;

/** The result of one attempt: the outcome, and whether trying again later may change it. */
export interface CheckResult {
  outcome: ValidationOutcome;
  transient: boolean;
}

export const VALID: CheckResult = { outcome: { status: "valid" }, transient: false };

/** An invalid outcome; connection and dns problems are transient unless said otherwise. */
export function fail(type: ValidationErrorType, detail: string, transient = type === "connection" || type === "dns"): CheckResult {
  return { outcome: { status: "invalid", error: { type, detail } }, transient };
}

/** Thrown (internally) when the caller's AbortSignal fired; the validator turns it into an outcome. */
export class ValidationAborted extends Error {
  constructor() {
    super("validation aborted");
    this.name = "ValidationAborted";
  }
}

/** At most `max` characters of untrusted text, JSON-quoted so control characters cannot leak into logs or problem details. */
export function quoteShort(text: string, max = 64): string {
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  return JSON.stringify(cut);
}

/** Maps a NetworkError from a fetcher or dialer to a check result ("aborted" rethrows). */
export function networkFailure(e: unknown, where: string): CheckResult {
  if (!(e instanceof NetworkError)) throw e;
  switch (e.kind) {
    case "aborted":
      throw new ValidationAborted();
    case "timeout":
      return fail("connection", `${where}: timeout`);
    case "connection":
      return fail("connection", `${where}: ${connectionReason(e)}`);
    case "tls":
      return fail("tls", `${where}: TLS handshake failed${e.code ? ` (${e.code})` : ""}`);
    default: {
      const never: never = e.kind;
      throw new Error(`unknown network error kind ${String(never)}`);
    }
  }
}

function connectionReason(e: NetworkError): string {
  switch (e.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset by peer";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    default:
      return e.code ? `connection failed (${e.code})` : "connection failed";
  }
}

/** A DNS failure of `qtype` for `name` as a check result (all DNS problems are worth a retry). */
export function dnsFailure(e: unknown, qtype: string, name: string): CheckResult {
  const code = dnsErrorCode(e);
  if (code === undefined) throw e;
  const what = code === "ENOTFOUND" ? "NXDOMAIN" : code === "ENODATA" ? "no records" : code.replace(/^E/, "");
  return fail("dns", `DNS problem: ${what} looking up ${qtype} for ${name}`);
}

/**
 * Every address of a DNS name: its A records first, then AAAA (RFC 8555
 * §8.3 and RFC 8737 §3 leave the choice to the server). A name with
 * neither is a dns failure. Callers pass the list through allowedTargets
 * before connecting.
 */
export async function resolveAddresses(resolver: DnsResolver, name: string): Promise<string[] | CheckResult> {
  const [v4, v6] = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
  const addrs = [...(v4.status === "fulfilled" ? v4.value : []), ...(v6.status === "fulfilled" ? v6.value : [])].filter((a) => isIP(a) !== 0);
  if (addrs.length > 0) return addrs;
  // neither gave an address: report the more informative failure
  for (const [r, qtype] of [[v4, "A"], [v6, "AAAA"]] as const) {
    if (r.status === "rejected" && !isDnsNoData(dnsErrorCode(r.reason))) return dnsFailure(r.reason, qtype, name);
  }
  if (v4.status === "rejected" && dnsErrorCode(v4.reason) === "ENOTFOUND") return dnsFailure(v4.reason, "A", name);
  return fail("dns", `DNS problem: no valid A or AAAA records found for ${name}`);
}

/**
 * The addresses of `addrs` the network policy allows, at most `max`, in
 * order (RFC 8555 §10.2: a refused address is never connected to, even when
 * another address of the same name is allowed). When none is allowed, a
 * connection failure that says so (not transient: retrying soon would meet
 * the same records) and names no port state.
 */
export function allowedTargets(policy: NetworkPolicy, addrs: readonly string[], what: string, max = MAX_ADDRESSES): string[] | CheckResult {
  const allowed: string[] = [];
  const refused: string[] = [];
  for (const a of addrs) {
    const v = policy.check(a);
    if (v.allowed) allowed.push(a);
    else refused.push(`${a} (${v.class})`);
  }
  if (allowed.length > 0) return allowed.slice(0, max);
  const shown = refused.length > MAX_ADDRESSES ? `${refused.slice(0, MAX_ADDRESSES).join(", ")} and ${refused.length - MAX_ADDRESSES} more` : refused.join(", ");
  return fail(
    "connection",
    refused.length === 1
      ? `${what}: the address ${shown} is not allowed as a validation target`
      : `${what}: the addresses ${shown} are not allowed as validation targets`,
    false,
  );
}

/** The 4 or 16 octets of an IP literal (RFC 5280 §4.2.1.6 iPAddress encoding); undefined for anything else. */
export function ipToBytes(ip: string): Buffer | undefined {
  return ipBytes(ip);
}

/**
 * The reverse-mapping name of an IP address (RFC 8738 §6: the tls-alpn-01
 * SNI for an IP identifier is its "in-addr.arpa" / "ip6.arpa" name,
 * RFC 1035 §3.5 and RFC 3596 §2.5).
 */
export function reverseName(ip: string): string {
  const bytes = ipToBytes(ip);
  if (!bytes) throw new Error(`not an IP address: ${ip}`);
  if (bytes.length === 4) return `${[...bytes].reverse().join(".")}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (const b of bytes) nibbles.push((b >> 4).toString(16), (b & 15).toString(16));
  return `${nibbles.reverse().join(".")}.ip6.arpa`;
}

/** A host for a URL authority: IPv6 literals bracketed (RFC 3986 §3.2.2). */
export function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
