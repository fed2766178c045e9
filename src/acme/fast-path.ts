/**
 * The ACME requests that carry no JWS answered in front of the Koa app:
 * `HEAD /acme/{dir}/new-nonce` (RFC 8555 §7.2: 200), `GET
 * /acme/{dir}/new-nonce` (204) and `GET /acme/{dir}/directory` (§7.1.1).
 * They are what clients and load balancers send before anything else, and
 * what they cost is node's HTTP parsing, the cached directory lookup, one
 * nonce and one write; through Koa the context, the middleware chain and the
 * router double it (docs/benchmarks.md, issue 11).
 *
 * An answer is exactly what the ACME router renders (src/acme/routes/
 * directory.ts behind the edge of src/acme/router.ts, in the app of
 * src/http-app.ts): the status, X-Request-Id, Replay-Nonce (§6.5), Link
 * rel="index" (§7.1), Cache-Control: no-store on newNonce (§7.2), the
 * directory object with Koa's Content-Type and Content-Length, Connection:
 * close while draining, the same access log line and metrics under the same
 * route template. Everything else goes to the app unchanged: other methods
 * and paths, a query string, a trailing slash, other letter case, a
 * %-encoded or unusual directory name, an unknown directory (its 404
 * problem), a directory or nonce that cannot be read or stored now (the
 * app's 503 problem with Retry-After; the app tries again, so a nonce may
 * be stored for nothing, which the clean-up job deletes like any unused
 * one).
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { forwardedClientAddress, type TrustProxy } from "../core/client-address.js";
import { loggedUserAgent, requestIdFrom, type Logger } from "../logger.js";
import type { SigilMetrics } from "../metrics/registry.js";
import type { Linker } from "./linker.js";
import type { AcmeDirectories, AcmeNonces } from "./ra-port.js";
import { directoryJson } from "./wire.js";

export interface AcmeFastPathDeps {
  directories: AcmeDirectories;
  nonces: AcmeNonces;
  linker: Linker;
  logger: Logger;
  metrics?: SigilMetrics;
  /** true once the process drains: answers carry `Connection: close` (RFC 9112 §9.6) */
  draining?: () => boolean;
  /** SIGIL_TRUST_PROXY: log the client from X-Forwarded-For */
  trustProxy?: boolean | TrustProxy;
}

/** the route templates the ACME router reports for these endpoints (metrics labels) */
export const NEW_NONCE_ROUTE = "/acme/:directory/new-nonce";
export const DIRECTORY_ROUTE = "/acme/:directory/directory";

/** a directory name the router would decode to itself: no %, no character needing care */
const PLAIN_NAME = /^[A-Za-z0-9._~-]{1,255}$/;

type Endpoint = "head-nonce" | "get-nonce" | "directory";

/** which endpoint `method url` is, with its directory name, or undefined when the app answers it */
function endpointOf(method: string | undefined, url: string | undefined): { endpoint: Endpoint; name: string } | undefined {
  if ((method !== "GET" && method !== "HEAD") || url === undefined || !url.startsWith("/acme/")) return undefined;
  const slash = url.indexOf("/", 6);
  if (slash < 0) return undefined;
  const name = url.slice(6, slash);
  if (!PLAIN_NAME.test(name)) return undefined;
  const rest = url.slice(slash);
  if (rest === "/new-nonce") return { endpoint: method === "HEAD" ? "head-nonce" : "get-nonce", name };
  // HEAD of the directory stays with the app (Koa answers it with the GET's headers)
  if (rest === "/directory" && method === "GET") return { endpoint: "directory", name };
  return undefined;
}

/**
 * Wraps the HTTP app's request listener: the three endpoints above are
 * answered here, every other request goes to `next`.
 */
export function withAcmeFastPath(deps: AcmeFastPathDeps, next: RequestListener): RequestListener {
  const { logger, metrics, linker } = deps;
  const trust = deps.trustProxy ?? false;
  const answer = async (req: IncomingMessage, res: ServerResponse, endpoint: Endpoint, name: string, start: bigint): Promise<boolean> => {
    const dir = await deps.directories.get(name);
    if (!dir) return false;
    const nonce = await deps.nonces.issue();
    const headers: Record<string, string> = {
      "X-Request-Id": requestIdFrom(req.headers["x-request-id"]),
      "Replay-Nonce": nonce,
      Link: `<${linker.directory(dir.name)}>;rel="index"`,
    };
    let status: number;
    let body: string | undefined;
    if (endpoint === "directory") {
      status = 200;
      body = JSON.stringify(directoryJson(linker, dir));
      headers["Content-Type"] = "application/json; charset=utf-8";
      headers["Content-Length"] = String(Buffer.byteLength(body));
    } else {
      // §7.2: HEAD 200, GET 204, never cached
      status = endpoint === "head-nonce" ? 200 : 204;
      headers["Cache-Control"] = "no-store";
      // as the route: a HEAD 200 without Content-Length would close the keep-alive connection
      if (endpoint === "head-nonce") headers["Content-Length"] = "0";
    }
    if (deps.draining?.()) headers.Connection = "close";
    res.writeHead(status, headers);
    res.end(body);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const route = endpoint === "directory" ? DIRECTORY_ROUTE : NEW_NONCE_ROUTE;
    metrics?.httpRequest(route, req.method!, status, seconds);
    if (logger.isLevelEnabled("info")) {
      logger.info(
        {
          reqId: headers["X-Request-Id"],
          method: req.method,
          path: req.url,
          route,
          status,
          ms: Math.round(seconds * 1e4) / 10,
          client: (trust !== false ? forwardedClientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"], trust) : undefined) || req.socket.remoteAddress || "",
          userAgent: loggedUserAgent(req.headers["user-agent"]),
        },
        "http",
      );
    }
    return true;
  };
  return (req: IncomingMessage, res: ServerResponse) => {
    const hit = endpointOf(req.method, req.url);
    if (!hit) return next(req, res);
    const start = process.hrtime.bigint();
    answer(req, res, hit.endpoint, hit.name, start).then(
      (answered) => {
        if (!answered) next(req, res);
      },
      // the directory or the nonce store is unavailable: the app logs it and answers the 503 problem (or succeeds on its try)
      () => {
        if (!res.headersSent) next(req, res);
      },
    );
  };
}
