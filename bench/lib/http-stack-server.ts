/**
 * The child of `npm run bench -- http --stack`: the HTTP app of src/http-app.ts
 * with the real ACME router (src/acme/router.ts) on an in-memory port (no
 * database: the directory is a constant, a nonce is random bytes, every
 * nonce is accepted and the account is the one the parent signs with), so
 * its CPU per request is the HTTP stack's own: node's HTTP, Koa, the
 * dispatch, the edge, the JWS chain, rendering, logging and metrics.
 * STACK_VARIANT=fast puts src/acme/fast-path.ts in front (when the tree has it).
 */
import http from "node:http";
import { randomBytes, createPublicKey, type JsonWebKey } from "node:crypto";
import { calculateJwkThumbprint } from "jose";
import { canonicalJwk } from "../../src/core/jwk.js";
import { Linker } from "../../src/acme/linker.js";
import type { AcmeRa, AccountInfo, DirectoryInfo } from "../../src/acme/ra-port.js";
import { buildAcmeRouter } from "../../src/acme/router.js";
import { buildHealthRouter } from "../../src/health/routes.js";
import { buildHttpApp } from "../../src/http-app.js";
import { createLogger } from "../../src/logger.js";
import { SigilMetrics } from "../../src/metrics/registry.js";

const port = Number(process.env.STACK_PORT);
const base = `http://127.0.0.1:${port}`;
const DIR: DirectoryInfo = {
  id: "00000000-0000-7000-8000-00000000d001",
  name: "default",
  organizationId: "00000000-0000-7000-8000-00000000e001",
  caId: "00000000-0000-7000-8000-00000000c001",
  eabRequired: false,
  allowedDnsSuffixes: [],
  allowedIpRanges: [],
  challengeTypes: ["http-01", "dns-01"],
  maxValidityDays: 90,
  certificateKind: "server",
  termsOfServiceUrl: null,
  websiteUrl: null,
  caaIdentities: [],
  validationAllowedNetworks: [],
  caaEnabled: false,
} as DirectoryInfo;

const jwk = canonicalJwk(createPublicKey({ key: JSON.parse(process.env.STACK_JWK!) as JsonWebKey, format: "jwk" }));
const account: AccountInfo = {
  id: process.env.STACK_ACCOUNT_ID!,
  directoryId: DIR.id,
  organizationId: DIR.organizationId,
  keyThumbprint: await calculateJwkThumbprint(jwk, "sha256"),
  jwk,
  status: "valid",
  contact: [],
  termsOfServiceAgreed: true,
  eabKeyId: null,
} as AccountInfo;

const used: Pick<AcmeRa, "directories" | "nonces" | "start" | "close"> = {
  directories: { get: async (name) => (name === DIR.name ? DIR : null) },
  nonces: {
    issue: async () => randomBytes(16).toString("base64url"),
    consume: async () => true,
    consumeWithAccount: async (_n, directoryId, accountId) => ({ nonceOk: true, account: directoryId === DIR.id && accountId === account.id ? account : null }),
  },
  start() {},
  async close() {},
};
const ra = new Proxy(used as AcmeRa, {
  get(target, prop, receiver) {
    if (prop in target) return Reflect.get(target, prop, receiver);
    if (typeof prop === "symbol" || prop === "then") return undefined;
    return () => {
      throw new Error(`bench stack: AcmeRa.${prop} is not faked`);
    };
  },
});

const logger = createLogger("warn");
const metrics = new SigilMetrics({}, { defaultMetrics: false });
const linker = new Linker(base);
const acme = buildAcmeRouter({ port: ra, linker, logger });
const app = buildHttpApp({ routers: [buildHealthRouter({ readiness: { draining: false } as never }), acme.router], logger, metrics, exposeMetrics: true, draining: () => false });
let handler: http.RequestListener = app.callback();
if (process.env.STACK_VARIANT === "fast") {
  const { withAcmeFastPath } = await import("../../src/acme/fast-path.js");
  handler = withAcmeFastPath({ directories: acme.directories, nonces: acme.nonces, linker, logger, metrics, draining: () => false }, handler);
}
http.createServer(handler).listen(port, "127.0.0.1", () => process.send?.("ready"));
process.on("disconnect", () => process.exit(0));
