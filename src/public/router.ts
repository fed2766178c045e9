/**
 * Relying-party HTTP endpoints (plain HTTP, no authentication):
 *
 *   GET  /ca/{ca}.cer   DER  application/pkix-cert   (RFC 5280 §4.2.2.1 caIssuers; RFC 2585 §4.1)
 *   GET  /ca/{ca}.pem   PEM  application/x-pem-file
 *   GET  /crl/{ca}.crl  DER  application/pkix-crl    (RFC 5280 §4.2.1.13 CRL DP; RFC 2585 §4.2)
 *   GET  /crl/{ca}.pem  PEM  application/x-pem-file
 *   GET  /ocsp/{ca}/{url-encoded base64 OCSPRequest}  (RFC 6960 Appendix A.1)
 *   POST /ocsp/{ca}     application/ocsp-request -> application/ocsp-response
 *
 * `{ca}` is the CA id; an unknown CA is 404. This transport only parses and
 * renders: the CRL bytes come from storage through `crls`, OCSP answers from
 * the responder in ra/.
 */
import { createHash } from "node:crypto";
import Router from "@koa/router";
import type { Context } from "koa";
import type { Clock } from "../core/clock.js";
import type { Logger } from "../logger.js";
import type { PublishedCaCertificate } from "../ra/ca-certificates.js";
import type { PublishedCrl } from "../ra/crl.js";
import type { OcspAnswer } from "../ra/ocsp.js";
import { toPem } from "../ca/der.js";
import { countOcspResponse } from "../metrics/observe.js";

/** What the router reads; ra/ implements these (tests may pass fakes). */
export interface PublicRouterDeps {
  crls: { current(caId: string): Promise<PublishedCrl | undefined> };
  caCertificates: { get(caId: string): Promise<PublishedCaCertificate | undefined> };
  ocsp: { respond(caId: string, requestDer: Buffer): Promise<OcspAnswer | undefined> };
  clock: Clock;
  logger?: Logger;
  /** Cache-Control max-age cap for CRLs and OCSP responses, seconds (default 60: a revocation is visible within a minute even through caches) */
  maxAgeSeconds?: number;
}

/** RFC 6960 Appendix A.1: requests are small; anything bigger is refused before parsing */
export const MAX_OCSP_REQUEST_BYTES = 8 * 1024;

const CA_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function parseFile(file: string, exts: readonly string[]): { id: string; ext: string } | undefined {
  const dot = file.lastIndexOf(".");
  if (dot < 0) return undefined;
  const id = file.slice(0, dot).toLowerCase();
  const ext = file.slice(dot + 1).toLowerCase();
  if (!CA_ID.test(id) || !exts.includes(ext)) return undefined;
  return { id, ext };
}

function notFound(ctx: Context): void {
  ctx.status = 404;
  ctx.type = "text/plain";
  ctx.body = "not found\n";
}

export function buildPublicRouter(deps: PublicRouterDeps): Router {
  const router = new Router();
  const maxAgeCap = deps.maxAgeSeconds ?? 60;

  // one error edge: nothing internal reaches the client
  router.use(async (ctx, next) => {
    try {
      await next();
    } catch (e) {
      deps.logger?.error({ err: e, path: ctx.path }, "relying-party endpoint failed");
      ctx.status = 500;
      ctx.type = "text/plain";
      ctx.body = "internal error\n";
    }
  });

  const maxAge = (nextUpdate: Date): number =>
    Math.max(0, Math.min(maxAgeCap, Math.floor((nextUpdate.getTime() - deps.clock.now().getTime()) / 1000)));

  router.get("/ca/:file", async (ctx) => {
    const f = parseFile(ctx.params.file ?? "", ["cer", "pem"]);
    const cert = f && (await deps.caCertificates.get(f.id));
    if (!f || !cert) return notFound(ctx);
    ctx.status = 200;
    ctx.set("ETag", `"${createHash("sha256").update(cert.der).digest("hex").slice(0, 32)}"`);
    ctx.lastModified = cert.createdAt;
    ctx.set("Cache-Control", "public, max-age=86400");
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    if (f.ext === "cer") {
      ctx.type = "application/pkix-cert";
      ctx.body = cert.der;
    } else {
      ctx.type = "application/x-pem-file";
      ctx.body = cert.pem;
    }
  });

  router.get("/crl/:file", async (ctx) => {
    const f = parseFile(ctx.params.file ?? "", ["crl", "pem"]);
    const crl = f && (await deps.crls.current(f.id));
    if (!f || !crl) return notFound(ctx);
    ctx.status = 200;
    // the DER and PEM of one CRL are different representations: distinct strong ETags
    ctx.set("ETag", f.ext === "crl" ? crl.etag : crl.etag.replace(/"$/, '-pem"'));
    ctx.lastModified = crl.thisUpdate;
    ctx.set("Cache-Control", `public, max-age=${maxAge(crl.nextUpdate)}, must-revalidate`);
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    if (f.ext === "crl") {
      ctx.type = "application/pkix-crl";
      ctx.body = crl.der;
    } else {
      ctx.type = "application/x-pem-file";
      ctx.body = toPem(crl.der, "X509 CRL");
    }
  });

  const renderOcsp = (ctx: Context, answer: OcspAnswer, cacheable: boolean): void => {
    ctx.status = 200; // RFC 6960 Appendix A.2: error statuses travel inside a 200 response too
    ctx.type = "application/ocsp-response";
    if (cacheable && answer.thisUpdate && answer.nextUpdate) {
      // RFC 5019 §6.2: max-age below nextUpdate, Last-Modified = thisUpdate, ETag
      ctx.set("Cache-Control", `public, max-age=${maxAge(answer.nextUpdate)}, no-transform, must-revalidate`);
      ctx.lastModified = answer.thisUpdate;
      ctx.set("ETag", `"${createHash("sha256").update(answer.der).digest("hex").slice(0, 32)}"`);
      if (ctx.fresh) {
        ctx.status = 304;
        return;
      }
    } else {
      ctx.set("Cache-Control", "no-store");
    }
    ctx.body = answer.der;
  };

  router.get("/ocsp/:id/*req", async (ctx) => {
    const id = (ctx.params.id ?? "").toLowerCase();
    if (!CA_ID.test(id)) return notFound(ctx);
    const raw = ctx.params.req;
    const text = Array.isArray(raw) ? raw.join("/") : String(raw ?? "");
    // RFC 6960 Appendix A.1: {url-encoding of base-64 encoding of the DER OCSPRequest}; the router
    // has url-decoded it. Node's base64 decoder also accepts the URL-safe alphabet (RFC 4648 §5).
    const der = /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) ? Buffer.from(text, "base64") : Buffer.alloc(0);
    const answer = await deps.ocsp.respond(id, der.length > MAX_OCSP_REQUEST_BYTES ? Buffer.alloc(0) : der);
    if (!answer) return notFound(ctx);
    renderOcsp(ctx, answer, true);
    countOcspResponse(ctx.state, answer.status, ctx.status, answer.cached === true);
  });

  router.post("/ocsp/:id", async (ctx) => {
    const id = (ctx.params.id ?? "").toLowerCase();
    if (!CA_ID.test(id)) return notFound(ctx);
    if (!ctx.is("application/ocsp-request")) {
      ctx.status = 415;
      ctx.type = "text/plain";
      ctx.body = "Content-Type must be application/ocsp-request\n";
      return;
    }
    const body = await readBody(ctx, MAX_OCSP_REQUEST_BYTES);
    if (body === undefined) {
      ctx.status = 413;
      ctx.type = "text/plain";
      ctx.body = "request too large\n";
      return;
    }
    const answer = await deps.ocsp.respond(id, body);
    if (!answer) return notFound(ctx);
    renderOcsp(ctx, answer, false);
    countOcspResponse(ctx.state, answer.status, ctx.status, answer.cached === true);
  });

  return router;
}

/** the raw request body, or undefined when it exceeds `limit` bytes */
async function readBody(ctx: Context, limit: number): Promise<Buffer | undefined> {
  const declared = Number(ctx.get("Content-Length") || "0");
  if (declared > limit) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) return undefined;
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}
