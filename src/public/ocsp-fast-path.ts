/**
 * GET /ocsp/{ca}/{url-encoded base64 OCSPRequest} (RFC 6960 Appendix A.1)
 * answered in front of the Koa app: what relying parties and CDNs fetch most,
 * and what the responder answers from its cache (RFC 5019 §6: precomputed
 * responses), so the per-request cost is node's HTTP parsing, the cache
 * lookup and one write: a path seen before is not parsed again, and an
 * answer the responder holds for those request bytes is written in the same
 * turn (`cachedAnswer`), with headers rendered once per answer and second.
 * docs/benchmarks.md and `npm run bench -- ocsp` have the figures. Everything else (POST, the other routes, a
 * conditional GET with If-None-Match / If-Modified-Since, an unknown CA, a
 * path that is not an OCSP GET) goes to the app unchanged.
 *
 * What a request gets is exactly what the Koa route renders (same
 * `ocspHttpHeaders`): status 200 with the DER, Cache-Control / Last-Modified /
 * ETag for cacheable answers (RFC 5019 §6.2), `no-store` otherwise, plus the
 * app's X-Request-Id, the same log line and the same metrics.
 */
import { forwardedClientAddress, type TrustProxy } from "../core/client-address.js";
import { createHash } from "node:crypto";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Clock } from "../core/clock.js";
import { loggedUserAgent, requestIdFrom, type Logger } from "../logger.js";
import type { SigilMetrics } from "../metrics/registry.js";
import type { OcspAnswer } from "../ra/ocsp.js";

export interface OcspFastPathDeps {
  ocsp: {
    respond(caId: string, requestDer: Buffer): Promise<OcspAnswer | undefined>;
    /** the responder's cached answer to these request bytes, synchronously (OcspResponder.cachedAnswer) */
    cachedAnswer?(caId: string, requestDer: Buffer): OcspAnswer | undefined;
  };
  clock: Clock;
  logger: Logger;
  metrics?: SigilMetrics;
  /** Cache-Control max-age cap, seconds (the router's maxAgeSeconds; default 60) */
  maxAgeSeconds?: number;
  /** true once the process drains: answers carry `Connection: close` (RFC 9112 §9.6) */
  draining?: () => boolean;
  /** SIGIL_TRUST_PROXY: log the client from X-Forwarded-For */
  trustProxy?: boolean | TrustProxy;
}

/** the route template the Koa router reports for this endpoint (metrics label) */
export const OCSP_GET_ROUTE = "/ocsp/:id/*req";

/** RFC 6960 Appendix A.1: requests are small; anything bigger is refused before parsing (as the router does) */
const MAX_OCSP_REQUEST_BYTES = 8 * 1024;
const MAX_PATH = 64 + Math.ceil((MAX_OCSP_REQUEST_BYTES * 4) / 3) * 3; // base64, possibly %-encoded
const CA_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** ETag per response DER (cached responses are the same Buffer until re-signed) */
const etags = new WeakMap<Buffer, string>();
function etagOf(der: Buffer): string {
  let e = etags.get(der);
  if (!e) {
    e = `"${createHash("sha256").update(der).digest("hex").slice(0, 32)}"`;
    etags.set(der, e);
  }
  return e;
}

/** HTTP-date per second (RFC 9110 §5.6.7) */
const httpDates = new Map<number, string>();
function httpDate(d: Date): string {
  const t = d.getTime();
  let s = httpDates.get(t);
  if (s === undefined) {
    if (httpDates.size > 1024) httpDates.clear();
    s = d.toUTCString();
    httpDates.set(t, s);
  }
  return s;
}

/**
 * The headers of an OCSP answer over HTTP: RFC 5019 §6.2 caching headers
 * (max-age below nextUpdate, capped; Last-Modified = thisUpdate; a strong
 * ETag) when `cacheable` and the answer has a validity, else no-store. The
 * Koa route and the fast path both render with this.
 */
export function ocspHttpHeaders(answer: OcspAnswer, cacheable: boolean, now: Date, maxAgeCap: number): Record<string, string> {
  if (cacheable && answer.thisUpdate && answer.nextUpdate) {
    const maxAge = Math.max(0, Math.min(maxAgeCap, Math.floor((answer.nextUpdate.getTime() - now.getTime()) / 1000)));
    return {
      "Cache-Control": `public, max-age=${maxAge}, no-transform, must-revalidate`,
      "Last-Modified": httpDate(answer.thisUpdate),
      ETag: etagOf(answer.der),
    };
  }
  return { "Cache-Control": "no-store" };
}

interface ParsedPath {
  id: string;
  /** shared by every request for the same path: read only */
  der: Buffer;
}

/**
 * Paths parsed before (relying parties and CDNs ask for the same few
 * thousand URLs over and over): the split, the %-decoding, the base64 check
 * and decode happen once per path. Only paths that parse and are no longer
 * than a plain request's (REMEMBERED_PATH_MAX) are kept, and at most
 * PARSED_PATHS of them (all dropped when full: no bookkeeping per hit), so the
 * map stays under ~3 MB whatever the paths asked for.
 */
const PARSED_PATHS = 4096;
/** "/ocsp/" + uuid + "/" + base64 of a ~256-byte request (ra/ocsp.ts MAX_REMEMBERED_REQUEST_BYTES), %-encoded */
const REMEMBERED_PATH_MAX = 512;
const parsedPaths = new Map<string, ParsedPath>();

function parsePathCached(url: string): ParsedPath | undefined {
  let p = parsedPaths.get(url);
  if (p === undefined) {
    p = parsePath(url);
    if (p === undefined) return undefined;
    if (url.length > REMEMBERED_PATH_MAX) return p;
    if (parsedPaths.size >= PARSED_PATHS) parsedPaths.clear();
    parsedPaths.set(url, p);
  }
  return p;
}

/** `/ocsp/{id}/{request}` split, or undefined when the path is not an OCSP GET this path answers */
function parsePath(url: string): ParsedPath | undefined {
  if (url.length > MAX_PATH || url.charCodeAt(5) !== 0x2f || !url.startsWith("/ocsp/")) return undefined;
  const slash = url.indexOf("/", 6);
  if (slash !== 42) return undefined; // "/ocsp/" + 36-character uuid
  const id = url.slice(6, 42).toLowerCase();
  if (!CA_ID.test(id)) return undefined;
  let text = url.slice(43);
  if (text.includes("?")) return undefined; // a query string: leave it to the app
  if (text.includes("%")) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return undefined;
    }
  }
  // RFC 6960 Appendix A.1: base64 (node also reads the URL-safe alphabet); "/" is part of it
  if (!BASE64.test(text)) return undefined;
  const der = Buffer.from(text, "base64");
  return der.length > 0 && der.length <= MAX_OCSP_REQUEST_BYTES ? { id, der } : undefined;
}

/**
 * The fast path's headers for one answer the responder keeps in its cache
 * (the same object until it is re-signed or dropped), as a flat name/value
 * list for `writeHead`: built with `ocspHttpHeaders` once, and again only when
 * max-age changes (at most once a second), instead of an object, a spread
 * and the ETag lookup per request.
 */
interface RenderedHeaders {
  /** the second (ms since the epoch / 1000, floored) they were rendered for */
  second: number;
  flat: string[];
}
const rendered = new WeakMap<OcspAnswer, RenderedHeaders>();

function flatHeaders(answer: OcspAnswer, now: Date, maxAgeCap: number): string[] {
  const flat = ["Content-Type", "application/ocsp-response", "Content-Length", String(answer.der.length)];
  for (const [k, v] of Object.entries(ocspHttpHeaders(answer, true, now, maxAgeCap))) flat.push(k, v);
  return flat;
}

function headersFor(answer: OcspAnswer, now: Date, maxAgeCap: number): string[] {
  if (answer.cached !== true) return flatHeaders(answer, now, maxAgeCap);
  const second = Math.floor(now.getTime() / 1000);
  let r = rendered.get(answer);
  if (r === undefined || r.second !== second) {
    r = { second, flat: flatHeaders(answer, now, maxAgeCap) };
    rendered.set(answer, r);
  }
  return r.flat;
}

/** the User-Agent as the access line logs it (loggedUserAgent); clients repeat theirs, so the last one is kept */
let lastUa: string | undefined;
let lastUaLogged: string | undefined;
function logUserAgent(ua: string | undefined): string | undefined {
  if (ua !== lastUa) {
    lastUaLogged = loggedUserAgent(ua);
    lastUa = ua;
  }
  return lastUaLogged;
}

/**
 * Wraps the HTTP app's request listener: OCSP GETs are answered here, every
 * other request goes to `next`. An answer the responder has cached for these
 * request bytes is written in the same turn (no promise, no parse of the
 * OCSPRequest); anything else waits for `respond`.
 */
export function withOcspFastPath(deps: OcspFastPathDeps, next: RequestListener): RequestListener {
  const maxAgeCap = deps.maxAgeSeconds ?? 60;
  const { metrics, ocsp, clock } = deps;
  // The request log line without pino's redaction pass (~10 µs a line with the app's wildcard paths):
  // its fields are the fixed ones below, strings and numbers under keys no redaction path names, so
  // the line is the same as the app logger writes.
  const logger = deps.logger.child({}, { redact: [] });
  const trustProxy = deps.trustProxy ?? false;

  const send = (req: IncomingMessage, res: ServerResponse, answer: OcspAnswer, start: number): void => {
    const h = req.headers;
    const requestId = requestIdFrom(h["x-request-id"]);
    const flat = headersFor(answer, clock.now(), maxAgeCap);
    res.writeHead(200, deps.draining?.() ? ["X-Request-Id", requestId, ...flat, "Connection", "close"] : ["X-Request-Id", requestId, ...flat]);
    res.end(answer.der);
    const seconds = (performance.now() - start) / 1000;
    if (metrics) {
      metrics.httpRequest(OCSP_GET_ROUTE, "GET", 200, seconds);
      metrics.ocspResponse(answer.status, answer.cached === true ? "hit" : "miss");
    }
    if (logger.isLevelEnabled("info")) {
      logger.info(
        {
          reqId: requestId,
          method: "GET",
          path: req.url, // parsePath refused query strings
          route: OCSP_GET_ROUTE,
          status: 200,
          ms: Math.round(seconds * 1e4) / 10,
          client: forwardedClientAddress(req.socket.remoteAddress, h["x-forwarded-for"], trustProxy),
          userAgent: logUserAgent(h["user-agent"]),
        },
        "http",
      );
    }
  };

  return (req: IncomingMessage, res: ServerResponse) => {
    const h = req.headers;
    const parsed =
      req.method === "GET" && req.url !== undefined && h["if-none-match"] === undefined && h["if-modified-since"] === undefined
        ? parsePathCached(req.url)
        : undefined;
    if (!parsed) return next(req, res);
    const start = performance.now();
    const hit = ocsp.cachedAnswer?.(parsed.id, parsed.der);
    if (hit) return send(req, res, hit, start);
    ocsp.respond(parsed.id, parsed.der).then(
      (answer) => {
        // an unknown CA: the app's 404 (the router renders it)
        if (!answer) return next(req, res);
        send(req, res, answer, start);
      },
      (e: unknown) => {
        // respond() never throws for bad input; anything else is the app's 500
        deps.logger.error({ err: e, path: "/ocsp" }, "relying-party endpoint failed");
        if (!res.headersSent) {
          res.writeHead(500, { "Content-Type": "text/plain" });
          res.end("internal error\n");
        }
      },
    );
  };
}
