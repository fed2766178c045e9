/**
 * The network edges the validators use, as small injected interfaces, plus
 * the real implementations on node:dns, node:http(s) and node:tls. Tests
 * replace the resolver with a fake and point the fetcher and dialer at local
 * stub servers.
 */
import { Resolver } from "node:dns/promises";
import { lookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import tls from "node:tls";

// ---------------------------------------------------------------------------
// Errors

/**
 * How a network operation failed.
 * - connection: refused, reset, unreachable, closed early, malformed HTTP
 * - timeout: no answer within the operation's time limit
 * - tls: the TLS handshake failed
 * - aborted: the caller's AbortSignal fired
 */
export type NetworkErrorKind = "connection" | "timeout" | "tls" | "aborted";

/** The only error HttpFetcher and TlsDialer implementations reject with. */
export class NetworkError extends Error {
  constructor(
    readonly kind: NetworkErrorKind,
    message: string,
    /** the underlying system/OpenSSL code when known (ECONNREFUSED, ERR_SSL_...) */
    readonly code?: string,
  ) {
    super(message);
    this.name = "NetworkError";
  }
}

/**
 * A DNS failure. `code` uses node's c-ares names: ENOTFOUND (NXDOMAIN),
 * ENODATA (no records of that type), ESERVFAIL, EREFUSED, ETIMEOUT,
 * ECONNREFUSED, ... The real resolver rejects with node's own errors, which
 * carry the same `code`; fakes may throw this class.
 */
export class DnsError extends Error {
  constructor(readonly code: string, message?: string) {
    super(message ?? `DNS query failed: ${code}`);
    this.name = "DnsError";
  }
}

/** The DNS error code of anything a DnsResolver rejected with (undefined if it has none). */
export function dnsErrorCode(e: unknown): string | undefined {
  if (e instanceof DnsError) return e.code;
  if (e instanceof Error && "code" in e && typeof (e as { code: unknown }).code === "string") return (e as { code: string }).code;
  return undefined;
}

/** NXDOMAIN or NODATA: the name has no records of the asked type (not a transient failure of the resolver). */
export function isDnsNoData(code: string | undefined): boolean {
  return code === "ENOTFOUND" || code === "ENODATA";
}

// ---------------------------------------------------------------------------
// Interfaces

/** The DNS queries validation needs. Rejections carry a DNS error `code` (see DnsError). */
export interface DnsResolver {
  /** TXT records; each record is the list of its character-strings (RFC 1035 §3.3.14) */
  resolveTxt(name: string): Promise<string[][]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  /**
   * CAA records at exactly `name` (RFC 8659 §4.1), CNAMEs followed by the
   * recursive resolver (§3); NXDOMAIN / NODATA reject with ENOTFOUND / ENODATA
   */
  resolveCaa(name: string): Promise<CaaRecord[]>;
}

/** One CAA resource record (RFC 8659 §4.1): its flags octet, its tag as sent (any case) and its value. */
export interface CaaRecord {
  flags: number;
  tag: string;
  value: string;
}

export interface HttpFetchRequest {
  /**
   * Absolute http: or https: URL. Its host (with the port when not the
   * scheme's default) is sent as the Host header; for https its hostname is
   * the SNI server name (unless it is an IP literal).
   */
  url: string;
  /** the IP address to connect to (already resolved; no DNS lookup happens) */
  address: string;
  /** the TCP port to connect to (may differ from the URL's port) */
  port: number;
  /** time limit for the whole exchange, connect to last body byte */
  timeoutMs: number;
  /** read at most this many body bytes, then stop reading and close */
  maxBodyBytes: number;
  signal?: AbortSignal;
}

export interface HttpFetchResponse {
  status: number;
  /** the Location header, if any (redirects are NOT followed by the fetcher) */
  location: string | undefined;
  /** at most maxBodyBytes bytes of the body */
  body: Buffer;
  /** true when the body was longer than maxBodyBytes and reading stopped */
  truncated: boolean;
}

/** One HTTP GET without automatic redirects. Rejects only with NetworkError. */
export interface HttpFetcher {
  get(req: HttpFetchRequest): Promise<HttpFetchResponse>;
}

export interface TlsDialRequest {
  address: string;
  port: number;
  /** SNI server name (RFC 6066 §3); must be a DNS name, not an IP literal */
  servername: string;
  /** ALPN protocols to offer (RFC 7301) */
  alpnProtocols: string[];
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface TlsDialResult {
  /** the peer's leaf certificate, DER */
  certificateDer: Buffer;
  /** the ALPN protocol the server selected, or null when none was negotiated */
  alpnProtocol: string | null;
}

/** A TLS handshake without certificate verification. Rejects only with NetworkError. */
export interface TlsDialer {
  dial(req: TlsDialRequest): Promise<TlsDialResult>;
}

// ---------------------------------------------------------------------------
// Real implementations

const TLS_CODE = /^(ERR_SSL_|ERR_TLS_|EPROTO$|ECONNRESET_TLS)/;

/** Maps a node socket/TLS error to a NetworkError. */
export function toNetworkError(e: unknown, duringTls: boolean): NetworkError {
  if (e instanceof NetworkError) return e;
  const code = e instanceof Error && "code" in e && typeof (e as { code: unknown }).code === "string" ? (e as { code: string }).code : undefined;
  const message = e instanceof Error ? e.message : String(e);
  if (code === "ABORT_ERR") return new NetworkError("aborted", "the operation was aborted", code);
  if (code === "ETIMEDOUT") return new NetworkError("timeout", "timeout", code);
  if (code !== undefined && TLS_CODE.test(code)) return new NetworkError("tls", message, code);
  if (duringTls && (code === "ECONNRESET" || /socket disconnected before secure TLS connection/i.test(message))) {
    return new NetworkError("tls", message, code);
  }
  return new NetworkError("connection", message, code);
}

/**
 * The real resolver (node:dns/promises Resolver). `servers` are "host",
 * "host:port", "ipv6" or "[ipv6]:port" entries (SIGIL_DNS_SERVERS); empty
 * means the system resolver. Host names among them are looked up once, on
 * first use, with the system resolver.
 */
export function createDnsResolver(servers: readonly string[] = [], opts: { timeoutMs?: number; tries?: number } = {}): DnsResolver {
  const resolver = new Resolver({ timeout: opts.timeoutMs ?? 5000, tries: opts.tries ?? 2 });
  let ready: Promise<void> | undefined;
  const init = (): Promise<void> => {
    ready ??= (async () => {
      if (servers.length === 0) return;
      const resolved: string[] = [];
      for (const entry of servers) {
        const { host, port } = splitHostPort(entry);
        let ip = host;
        if (isIP(host) === 0) {
          try {
            ip = (await lookup(host)).address;
          } catch {
            // not a DNS error of the queried name: surfaces as serverInternal, and the next query tries again
            ready = undefined;
            throw new Error(`DNS server "${entry}" (SIGIL_DNS_SERVERS) could not be resolved`);
          }
        }
        const hostPart = isIP(ip) === 6 ? `[${ip}]` : ip;
        resolved.push(port === undefined ? hostPart : `${hostPart}:${port}`);
      }
      resolver.setServers(resolved);
    })();
    return ready;
  };
  return {
    async resolveTxt(name) {
      await init();
      return resolver.resolveTxt(name);
    },
    async resolve4(name) {
      await init();
      return resolver.resolve4(name);
    },
    async resolve6(name) {
      await init();
      return resolver.resolve6(name);
    },
    async resolveCaa(name) {
      await init();
      return (await resolver.resolveCaa(name)).map(caaRecordOfNode);
    },
  };
}

/**
 * One record of node's Resolver#resolveCaa, { critical: <flags octet>,
 * <tag as sent>: value }, as a CaaRecord. A property whose tag is literally
 * "critical" overwrites the flags (node sets both on one object), leaving no
 * other key and string flags: such a record (and any without a tag of its
 * own) is read as tag "critical" with the Issuer Critical Flag set, so it
 * refuses (RFC 8659 §4.1) rather than passing unseen (fail closed: its real
 * flags are lost). node also cuts a value at its first NUL octet
 * (docs/caa.md).
 */
export function caaRecordOfNode(r: object): CaaRecord {
  const rec = r as Record<string, unknown>;
  const tag = Object.keys(rec).find((k) => k !== "critical");
  // no tag besides "critical" (or a tag node could not set as an own property, "__proto__"), or flags that are not a number
  if (tag === undefined || typeof rec.critical !== "number") return { flags: 0x80, tag: "critical", value: typeof rec.critical === "string" ? rec.critical : "" };
  return { flags: rec.critical, tag, value: String(rec[tag] ?? "") };
}

/** "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal. */
export function splitHostPort(entry: string): { host: string; port: number | undefined } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] === undefined ? undefined : Number(bracketed[2]) };
  if (isIP(entry) === 6) return { host: entry, port: undefined };
  const i = entry.lastIndexOf(":");
  if (i < 0) return { host: entry, port: undefined };
  return { host: entry.slice(0, i), port: Number(entry.slice(i + 1)) };
}

const USER_AGENT = "Sigil-ACME-validation/1.0";

/**
 * The real fetcher on node:http / node:https. Connects to the given address
 * and port (no DNS), sends the URL's host as Host, never follows redirects,
 * reads at most maxBodyBytes and does not verify https certificates (the
 * http-01 check is the response body, RFC 8555 §8.3; a redirect to https is
 * only a transport).
 */
export function createHttpFetcher(): HttpFetcher {
  return {
    get(req) {
      return new Promise<HttpFetchResponse>((resolve, reject) => {
        let url: URL;
        try {
          url = new URL(req.url);
        } catch {
          reject(new NetworkError("connection", `invalid URL`));
          return;
        }
        const isHttps = url.protocol === "https:";
        if (!isHttps && url.protocol !== "http:") {
          reject(new NetworkError("connection", `unsupported scheme ${url.protocol}`));
          return;
        }
        const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
        let settled = false;
        let tlsDone = !isHttps;
        const finish = (err: NetworkError | undefined, res?: HttpFetchResponse): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          req.signal?.removeEventListener("abort", onAbort);
          request.destroy();
          if (err) reject(err);
          else resolve(res!);
        };
        const options: https.RequestOptions = {
          host: req.address,
          port: req.port,
          method: "GET",
          path: `${url.pathname}${url.search}`,
          setHost: false,
          agent: false,
          headers: { Host: url.host, "User-Agent": USER_AGENT, Accept: "*/*", Connection: "close" },
        };
        if (isHttps) {
          options.rejectUnauthorized = false;
          if (isIP(hostname) === 0) options.servername = hostname;
        }
        const request = (isHttps ? https : http).request(options, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            if (size + chunk.length > req.maxBodyBytes) {
              chunks.push(chunk.subarray(0, req.maxBodyBytes - size));
              finish(undefined, response(res, Buffer.concat(chunks), true));
              return;
            }
            chunks.push(chunk);
            size += chunk.length;
          });
          res.on("end", () => finish(undefined, response(res, Buffer.concat(chunks), false)));
          res.on("error", (e) => finish(toNetworkError(e, false)));
        });
        request.on("socket", (socket) => {
          if (isHttps) socket.once("secureConnect", () => (tlsDone = true));
        });
        request.on("error", (e) => finish(toNetworkError(e, !tlsDone)));
        const timer = setTimeout(() => finish(new NetworkError("timeout", `no complete response within ${req.timeoutMs} ms`, "ETIMEDOUT")), req.timeoutMs);
        const onAbort = (): void => finish(new NetworkError("aborted", "the operation was aborted", "ABORT_ERR"));
        if (req.signal?.aborted) {
          onAbort();
          return;
        }
        req.signal?.addEventListener("abort", onAbort, { once: true });
        request.end();
      });
    },
  };
}

function response(res: http.IncomingMessage, body: Buffer, truncated: boolean): HttpFetchResponse {
  const loc = res.headers.location;
  return { status: res.statusCode ?? 0, location: typeof loc === "string" ? loc : undefined, body, truncated };
}

/**
 * The real dialer on node:tls: handshake with SNI and ALPN, no certificate
 * verification (RFC 8737 §3: the validation certificate is self-signed),
 * returns the leaf certificate and the negotiated protocol, then closes.
 */
export function createTlsDialer(): TlsDialer {
  return {
    dial(req) {
      return new Promise<TlsDialResult>((resolve, reject) => {
        let settled = false;
        const finish = (err: NetworkError | undefined, res?: TlsDialResult): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          req.signal?.removeEventListener("abort", onAbort);
          socket.destroy();
          if (err) reject(err);
          else resolve(res!);
        };
        const socket = tls.connect({
          host: req.address,
          port: req.port,
          servername: req.servername,
          ALPNProtocols: req.alpnProtocols,
          rejectUnauthorized: false,
        });
        socket.once("secureConnect", () => {
          const cert = socket.getPeerCertificate(false);
          const raw = (cert as { raw?: Buffer }).raw;
          if (!raw || raw.length === 0) {
            finish(new NetworkError("tls", "the server presented no certificate"));
            return;
          }
          const alpn = socket.alpnProtocol;
          finish(undefined, { certificateDer: Buffer.from(raw), alpnProtocol: typeof alpn === "string" && alpn !== "" ? alpn : null });
        });
        socket.once("error", (e) => finish(toNetworkError(e, true)));
        socket.once("close", () => finish(new NetworkError("tls", "the connection closed during the TLS handshake")));
        const timer = setTimeout(() => finish(new NetworkError("timeout", `no TLS handshake within ${req.timeoutMs} ms`, "ETIMEDOUT")), req.timeoutMs);
        const onAbort = (): void => finish(new NetworkError("aborted", "the operation was aborted", "ABORT_ERR"));
        if (req.signal?.aborted) {
          onAbort();
          return;
        }
        req.signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
  };
}
