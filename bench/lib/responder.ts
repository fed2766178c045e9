/**
 * The http-01 responder every benchmark client shares: one node http server
 * answering /.well-known/acme-challenge/{token} from an in-memory map.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Http01Responder {
  port: number;
  keyAuthorizations: Map<string, string>;
  /** performance.now() of the first validation request per published token (removed with the token) */
  firstHit: Map<string, number>;
  hits: number;
  misses: number;
  close(): Promise<void>;
}

const PREFIX = "/.well-known/acme-challenge/";

export async function startHttp01Responder(port = 0): Promise<Http01Responder> {
  const keyAuthorizations = new Map<string, string>();
  const firstHit = new Map<string, number>();
  const r = { keyAuthorizations, firstHit, hits: 0, misses: 0 } as Http01Responder;
  const server = http.createServer((req, res) => {
    const url = req.url ?? "";
    const token = url.startsWith(PREFIX) ? url.slice(PREFIX.length) : "";
    const ka = keyAuthorizations.get(token);
    if (ka === undefined) {
      r.misses++;
      res.writeHead(404).end();
      return;
    }
    r.hits++;
    if (!firstHit.has(token)) firstHit.set(token, performance.now());
    res.writeHead(200, { "content-type": "text/plain" }).end(ka);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  r.port = (server.address() as AddressInfo).port;
  r.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return r;
}
