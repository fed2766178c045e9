// The ceiling of any HTTP figure of `npm run bench -- http --bare`: a bare
// node:http handler (no Koa, no router, no database) giving the answers the
// ACME endpoints give, shape for shape: HEAD 200 / GET JSON of the directory's
// size / POST reading and parsing a JSON body, each with a fresh
// Replay-Nonce, Link rel="index", X-Request-Id and Content-Type. What sigil
// costs per request above this is what its own stack costs.
import http from "node:http";
import { randomBytes, randomUUID } from "node:crypto";

const base = process.env.BARE_BASE ?? "http://127.0.0.1";
const directory = JSON.stringify({
  newNonce: `${base}/acme/default/new-nonce`,
  newAccount: `${base}/acme/default/new-account`,
  newOrder: `${base}/acme/default/new-order`,
  revokeCert: `${base}/acme/default/revoke-cert`,
  keyChange: `${base}/acme/default/key-change`,
  renewalInfo: `${base}/acme/default/renewal-info`,
  meta: { externalAccountRequired: false, termsOfService: `${base}/tos` },
});

const server = http.createServer((req, res) => {
  const headers = {
    "X-Request-Id": randomUUID(),
    "Replay-Nonce": randomBytes(16).toString("base64url"),
    Link: `<${base}/acme/default/directory>;rel="index"`,
  };
  if (req.method === "HEAD") {
    // Content-Length: 0, else node closes the keep-alive connection after a HEAD answer
    res.writeHead(200, { ...headers, "Cache-Control": "no-store", "Content-Length": 0 });
    res.end();
    return;
  }
  if (req.method === "POST") {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      let parsed;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        parsed = {};
      }
      const body = JSON.stringify({ status: "valid", contact: [], orders: `${base}/acme/default/acct/x/orders`, got: Object.keys(parsed).length });
      res.writeHead(200, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    });
    return;
  }
  res.writeHead(200, { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(directory) });
  res.end(directory);
});
server.listen(Number(process.env.BARE_PORT), "127.0.0.1", () => process.send?.("ready"));
process.on("disconnect", () => process.exit(0));
