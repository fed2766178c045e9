/**
 * http-01 (RFC 8555 §8.3; IP identifiers RFC 8738 §3 via the same procedure).
 *
 * GET http://{domain-or-ip}[:port]/.well-known/acme-challenge/{token}; the
 * body, ignoring trailing whitespace, must equal the key authorization.
 * Redirects are followed here (the fetcher never follows them), a bounded
 * number of times and only to http on the validation port or https on the
 * TLS port (RFC 8555 §10.2: validation requests can be pointed at internal
 * services, so keep them narrow). Every hop's addresses pass the network
 * policy before anything connects, and the body is never quoted back (it
 * may be an internal service's answer): the detail says what was expected
 * and how many bytes came.
 */
import { isIP } from "node:net";
import { allowedTargets, fail, networkFailure, quoteShort, resolveAddresses, urlHost, VALID, type CheckContext, type CheckResult } from "./common.js";
import type { HttpFetchResponse } from "./network.js";
import type { ValidationRequest } from "./types.js";

/** redirect hops followed at most (RFC 8555 §8.3 "SHOULD follow redirects"; bounded like Boulder) */
export const MAX_REDIRECTS = 10;
/** bytes of the response body read at most; a key authorization is far shorter */
export const MAX_BODY_BYTES = 8 * 1024;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** RFC 8555 §8.3: the well-known path of the challenge. */
export function http01Path(token: string): string {
  return `/.well-known/acme-challenge/${token}`;
}

/** The first URL asked: the identifier as host, the port only when it is not 80. */
export function http01Url(host: string, token: string, httpPort: number): string {
  return `http://${urlHost(host)}${httpPort === 80 ? "" : `:${httpPort}`}${http01Path(token)}`;
}

export async function checkHttp01(req: ValidationRequest, ctx: CheckContext): Promise<CheckResult> {
  const visited = new Set<string>();
  let url = new URL(http01Url(req.identifier.value, req.token, ctx.httpPort));
  let port = ctx.httpPort;
  for (let hop = 0; ; hop++) {
    visited.add(url.href);
    const got = await fetchOnce(url, port, ctx);
    if ("outcome" in got) return got;
    const res = got;
    if (REDIRECT_STATUSES.has(res.status)) {
      if (hop >= MAX_REDIRECTS) return fail("connection", `Too many redirects (more than ${MAX_REDIRECTS}) fetching ${url.href}`, false);
      const next = redirectTarget(url, res.location, ctx);
      if ("outcome" in next) return next;
      if (visited.has(next.url.href)) return fail("connection", `Redirect loop detected at ${next.url.href}`, false);
      url = next.url;
      port = next.port;
      continue;
    }
    if (res.status !== 200) {
      return fail("unauthorized", `Invalid response from ${url.href}: the key authorization file from the server did not match (status ${res.status})`);
    }
    // RFC 8555 §8.3: "The server SHOULD ignore whitespace characters at the end of the body."
    const body = res.body.toString("utf8");
    if (!res.truncated && body.replace(/[ \t\r\n]+$/, "") === req.keyAuthorization) return VALID;
    const size = res.truncated ? `more than ${MAX_BODY_BYTES} bytes` : `${res.body.length} byte${res.body.length === 1 ? "" : "s"}`;
    return fail(
      "incorrectResponse",
      `The key authorization file from the server did not match this challenge: expected ${JSON.stringify(req.keyAuthorization)} (${Buffer.byteLength(req.keyAuthorization)} bytes), got ${size} from ${url.href}`,
    );
  }
}

/** One GET of `url` on `port`, trying each address of its host until one answers. */
async function fetchOnce(url: URL, port: number, ctx: CheckContext): Promise<HttpFetchResponse | CheckResult> {
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  // RFC 8738 §3: for an IP identifier (or an IP literal in a redirect) connect to that address
  const resolved = isIP(host) !== 0 ? [host] : await resolveAddresses(ctx.resolver, host);
  if (!Array.isArray(resolved)) return resolved;
  // RFC 8555 §10.2: judge every address before connecting; the fetcher then dials exactly that address (no second lookup)
  const addrs = allowedTargets(ctx.networkPolicy, resolved, `Fetching ${url.href}`);
  if (!Array.isArray(addrs)) return addrs;
  let firstFailure: CheckResult | undefined;
  for (const address of addrs) {
    try {
      return await ctx.fetcher.get({ url: url.href, address, port, timeoutMs: ctx.timeoutMs, maxBodyBytes: MAX_BODY_BYTES, signal: ctx.signal });
    } catch (e) {
      const r = networkFailure(e, `Fetching ${url.href} (${urlHost(address)}:${port})`);
      // only a failure to connect moves on to the next address; TLS trouble is an answer
      if (r.outcome.status === "invalid" && r.outcome.error.type !== "connection") return r;
      firstFailure ??= r;
    }
  }
  return firstFailure ?? fail("connection", `Fetching ${url.href}: no address to connect to`);
}

/**
 * Where a redirect may lead: http on port 80 or the validation port (both
 * connect to the validation port), https on 443 or the TLS port (both
 * connect to the TLS port). Anything else ends the validation.
 */
function redirectTarget(from: URL, location: string | undefined, ctx: CheckContext): { url: URL; port: number } | CheckResult {
  if (location === undefined || location === "") return fail("connection", `Redirect from ${from.href} without a Location header`, false);
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    return fail("connection", `Redirect from ${from.href} to an invalid URL ${quoteShort(location)}`, false);
  }
  const explicit = to.port === "" ? undefined : Number(to.port);
  if (to.protocol === "http:") {
    if (explicit === undefined || explicit === 80 || explicit === ctx.httpPort) return { url: to, port: ctx.httpPort };
  } else if (to.protocol === "https:") {
    if (explicit === undefined || explicit === 443 || explicit === ctx.tlsPort) return { url: to, port: ctx.tlsPort };
  } else {
    return fail("connection", `Redirect to an unsupported scheme in ${quoteShort(to.href, 128)} (only http and https)`, false);
  }
  return fail(
    "connection",
    `Redirect to ${quoteShort(to.href, 128)} on port ${explicit}: only ports 80, 443, ${ctx.httpPort} (http) and ${ctx.tlsPort} (https) are followed`,
    false,
  );
}
