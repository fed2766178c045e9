// Obtain a certificate from Sigil with node acme-client (npm package
// "acme-client", 5.x) over http-01. Run from a directory where acme-client
// is installed (`npm install acme-client`; in a Sigil checkout it is a
// devDependency):
//
//   ACME_DIRECTORY=http://localhost:8080/acme/default/directory \
//   ACME_NAME=app.example.test HTTP01_PORT=80 node docs/recipes/acme-client.mjs
//
// Over HTTPS, trust the Sigil root with NODE_EXTRA_CA_CERTS=/path/sigil-root.pem.
// EAB: set EAB_KID and EAB_HMAC_KEY (from `sigil acme eab create`).
// The HTTP-01 responder listens on HTTP01_PORT, which must be the port
// Sigil's validator connects to (SIGIL_VALIDATION_HTTP_PORT, default 80).
// Writes OUT_DIR/{privkey,fullchain}.pem (default ./acme-client-out).
import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import acme from "acme-client";

const directoryUrl = process.env.ACME_DIRECTORY ?? "http://localhost:8080/acme/default/directory";
const names = (process.env.ACME_NAME ?? "app.example.test").split(",");
const port = Number(process.env.HTTP01_PORT ?? 80);
const outDir = process.env.OUT_DIR ?? "acme-client-out";

// key authorizations by token, served at /.well-known/acme-challenge/<token>
const tokens = new Map();
const responder = http.createServer((req, res) => {
  const token = req.url?.startsWith("/.well-known/acme-challenge/") ? req.url.slice(28) : undefined;
  const body = token && tokens.get(token);
  res.writeHead(body ? 200 : 404, { "content-type": "text/plain" }).end(body ?? "");
});
await new Promise((resolve) => responder.listen(port, resolve));

const client = new acme.Client({
  directoryUrl,
  accountKey: await acme.crypto.createPrivateEcdsaKey(),
  ...(process.env.EAB_KID ? { externalAccountBinding: { kid: process.env.EAB_KID, hmacKey: process.env.EAB_HMAC_KEY } } : {}),
});
const [key, csr] = await acme.crypto.createCsr({ altNames: names }, await acme.crypto.createPrivateEcdsaKey());
try {
  const chain = await client.auto({
    csr,
    email: "ops@example.test",
    termsOfServiceAgreed: true,
    challengePriority: ["http-01"],
    // acme-client's own pre-check fetches http://NAME/ on port 80 through the system resolver;
    // Sigil validates anyway, and a test name or a non-80 port would make the pre-check hang
    skipChallengeVerification: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => void tokens.set(challenge.token, keyAuthorization),
    challengeRemoveFn: async (_authz, challenge) => void tokens.delete(challenge.token),
  });
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(outDir, "privkey.pem"), key, { mode: 0o600 });
  writeFileSync(path.join(outDir, "fullchain.pem"), chain);
  console.log(`issued for ${names.join(", ")}: ${path.join(outDir, "fullchain.pem")}`);
} finally {
  responder.close();
}
