/**
 * The floor of an HTTP figure on this machine: a bare node:http listener in
 * its own process that answers every request with the same status, headers
 * and body (an OCSP answer Sigil rendered, passed in BARE_HEADERS /
 * BARE_BODY), with the same `writeHead` + `end` the OCSP fast path makes.
 * What Sigil's fast path costs above this is Sigil's own work.
 *
 * Run by bench/ocsp.ts: `node --import tsx bench/lib/bare-http-listener.ts`;
 * it prints `listening <port>` once bound (BARE_PORT, default an ephemeral port).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

const headers = JSON.parse(process.env.BARE_HEADERS ?? "{}") as Record<string, string>;
const body = Buffer.from(process.env.BARE_BODY ?? "", "base64");
headers["Content-Length"] = String(body.length);

const server = http.createServer((req, res) => {
  // a POST body is read before answering, as any server must
  if (req.method !== "GET") req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.BARE_PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
