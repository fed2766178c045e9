/**
 * GET /ocsp/{ca}/{request} answered in front of Koa (src/public/ocsp-fast-path.ts)
 * on the real server: the answer openssl verifies, the RFC 5019 §6.2 headers the
 * Koa route renders (its 304 for the same ETag proves the validators agree), the
 * request id, metrics, revocation reaching cached answers, and every request it
 * must leave to the app (bad base64, an unknown CA, a query string, POST).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { children, expectNode, rawOf, seq, tlv } from "../../../src/ca/der.js";
import { systemActor } from "../../../src/ra/actor.js";
import { inTransaction } from "../../../src/ra/context.js";
import { revokeCertificateInTx } from "../../../src/ra/revocation.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { openssl, opensslOk, TempDir } from "../../unit/ca/openssl.js";
import { derToPem, eventually, fetchDer, issueTestLeaf, urlsOf } from "./helpers.js";

const actor = systemActor("ocsp-fast-path-test");

describe("OCSP GET fast path (RFC 6960 Appendix A.1, RFC 5019 §6)", function () {
  this.timeout(60_000);
  let server: TestServer;
  let tmp: TempDir;
  let files: { leaf: string; inter: string; chain: string };
  let getUrl: string;
  let certId: string;

  before(async () => {
    server = await startTestServer();
    tmp = new TempDir();
    const cert = await issueTestLeaf(server.ra, actor, server.bootstrap.intermediateCaId, "fast.example");
    certId = cert.id;
    const interPem = derToPem(await fetchDer(urlsOf(cert.certificatePem).caIssuers!), "CERTIFICATE");
    const rootPem = derToPem(await fetchDer(urlsOf(interPem).caIssuers!), "CERTIFICATE");
    files = { leaf: tmp.file("leaf.pem", cert.certificatePem), inter: tmp.file("inter.pem", interPem), chain: tmp.file("chain.pem", interPem + rootPem) };
    opensslOk(["ocsp", "-issuer", files.inter, "-cert", files.leaf, "-no_nonce", "-reqout", tmp.file("req.der")]);
    getUrl = `${urlsOf(cert.certificatePem).ocsp}/${encodeURIComponent(tmp.read("req.der").toString("base64"))}`;
  });
  after(async () => {
    await server?.stop();
    tmp?.remove();
  });

  function statusOf(body: Buffer, name: string): string {
    const out = openssl(["ocsp", "-respin", tmp.file(name, body), "-issuer", files.inter, "-cert", files.leaf, "-CAfile", files.chain]);
    assert.equal(out.status, 0, out.out);
    return out.out;
  }

  it("ok/cached: the same verified answer twice, with the caching headers, length and echoed request id", async () => {
    const bodies: Buffer[] = [];
    const etags: string[] = [];
    for (const id of ["fast-1", "fast-2"]) {
      const r = await fetch(getUrl, { headers: { "X-Request-Id": id } });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get("content-type"), "application/ocsp-response");
      assert.equal(r.headers.get("x-request-id"), id);
      assert.match(r.headers.get("cache-control") ?? "", /^public, max-age=([1-9]\d*), no-transform, must-revalidate$/);
      assert.ok(!Number.isNaN(Date.parse(r.headers.get("last-modified") ?? "")));
      const body = Buffer.from(await r.arrayBuffer());
      assert.equal(Number(r.headers.get("content-length")), body.length);
      etags.push(r.headers.get("etag") ?? "");
      bodies.push(body);
    }
    assert.deepEqual(bodies[0], bodies[1], "the second answer comes from the responder's cache");
    assert.equal(etags[0], etags[1]);
    assert.match(etags[0]!, /^"[0-9a-f]{32}"$/);
    assert.match(statusOf(bodies[0]!, "good.der"), /: good/);

    // a conditional GET goes to the Koa route, whose 304 proves it computes the same validator
    // (fetch adds "Cache-Control: no-cache" to conditional requests unless one is given, Fetch §4.5, which forbids a 304)
    const cond = await fetch(getUrl, { headers: { "If-None-Match": etags[0]!, "Cache-Control": "max-age=0" } });
    assert.equal(cond.status, 304);
    assert.ok(cond.headers.get("x-request-id"));
  });

  it("ok/metrics: counted under the router's route template and as an OCSP cache hit", async () => {
    await fetch(getUrl).then((r) => r.arrayBuffer());
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    assert.match(text, /sigil_http_requests_total\{route="\/ocsp\/:id\/\*req",method="GET",status="200"\} [1-9]/);
    assert.match(text, /sigil_ocsp_responses_total\{status="successful",cache="hit"\} [1-9]/);
  });

  it("fail/not-for-the-fast-path: bad base64, a query string, an unknown CA and POST get the app's answers", async () => {
    const caId = server.bootstrap.intermediateCaId;
    const garbage = await fetch(`${server.baseUrl}/ocsp/${caId}/not*base64`);
    assert.equal(garbage.status, 200); // RFC 6960 Appendix A.2: malformedRequest inside a 200
    assert.deepEqual(Buffer.from(await garbage.arrayBuffer()), Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01]));
    assert.equal(garbage.headers.get("cache-control"), "no-store");

    const withQuery = await fetch(`${getUrl}?x=1`);
    assert.equal(withQuery.status, 200);
    assert.equal(withQuery.headers.get("content-type"), "application/ocsp-response");
    await withQuery.arrayBuffer();

    const unknown = await fetch(`${server.baseUrl}/ocsp/${randomUUID()}/${getUrl.slice(getUrl.lastIndexOf("/") + 1)}`);
    assert.equal(unknown.status, 404);
    assert.ok(unknown.headers.get("x-request-id"), "the app answered it");
    await unknown.arrayBuffer();

    const post = await fetch(`${server.baseUrl}/ocsp/${caId}`, { method: "POST", headers: { "Content-Type": "application/ocsp-request" }, body: tmp.read("req.der") });
    assert.equal(post.status, 200);
    assert.equal(post.headers.get("cache-control"), "no-store");
    assert.match(statusOf(Buffer.from(await post.arrayBuffer()), "post.der"), /: good/);
  });

  it("ok/cachedAnswer: request bytes are answered from the cache only once respond() built them, never with a nonce, dropped with the CA's cache", async () => {
    const ocsp = server.relyingParty.ocsp;
    const caId = server.bootstrap.intermediateCaId;
    const leaf = await issueTestLeaf(server.ra, actor, caId, "cached-answer.example");
    const leafFile = tmp.file("leaf2.pem", leaf.certificatePem);
    opensslOk(["ocsp", "-issuer", files.inter, "-cert", leafFile, "-no_nonce", "-reqout", tmp.file("req2.der")]);
    opensslOk(["ocsp", "-issuer", files.inter, "-cert", leafFile, "-nonce", "-reqout", tmp.file("req2-nonce.der")]);
    const req = tmp.read("req2.der");
    const withNonce = tmp.read("req2-nonce.der");

    assert.equal(ocsp.cachedAnswer(caId, req), undefined, "nothing before the first answer");
    const built = await ocsp.respond(caId, req);
    assert.equal(built?.status, "successful");
    assert.notEqual(built?.cached, true);
    const hit = ocsp.cachedAnswer(caId, req);
    assert.ok(hit, "the second time from the cache");
    assert.equal(hit.cached, true);
    assert.deepEqual(hit.der, built!.der);
    assert.deepEqual(await ocsp.respond(caId, req), hit, "respond() returns the same cached answer");
    assert.equal(ocsp.cachedAnswer(randomUUID(), req), undefined, "keyed by CA too");
    assert.equal(ocsp.cachedAnswer(caId, Buffer.concat([req, Buffer.from([0])])), undefined, "keyed by the exact bytes");

    await ocsp.respond(caId, withNonce);
    await ocsp.respond(caId, withNonce);
    assert.equal(ocsp.cachedAnswer(caId, withNonce), undefined, "a nonce answer is signed per request (RFC 6960 §4.4.1)");
    // the root's responder is not authoritative for the intermediate's certificates (RFC 6960 §2.3)
    const rootId = server.bootstrap.rootCaId;
    assert.equal((await ocsp.respond(rootId, req))?.status, "unauthorized");
    assert.equal(ocsp.cachedAnswer(rootId, req), undefined);

    ocsp.invalidate(caId);
    assert.equal(ocsp.cachedAnswer(caId, req), undefined, "a status change drops it");
    const again = await fetch(`${urlsOf(leaf.certificatePem).ocsp}/${encodeURIComponent(req.toString("base64"))}`);
    const verified = openssl(["ocsp", "-respin", tmp.file("again.der", Buffer.from(await again.arrayBuffer())), "-issuer", files.inter, "-cert", leafFile, "-CAfile", files.chain]);
    assert.equal(verified.status, 0, verified.out);
    assert.match(verified.out, /: good/);
    assert.ok(ocsp.cachedAnswer(caId, req), "and the next GET fills it again");
  });

  it("ok/cachedAnswer: requests padded with fields the parser ignores are answered but not remembered (review F1: memory)", async () => {
    const ocsp = server.relyingParty.ocsp;
    const caId = server.bootstrap.intermediateCaId;
    const leaf = await issueTestLeaf(server.ra, actor, caId, "padded-request.example");
    opensslOk(["ocsp", "-issuer", files.inter, "-cert", tmp.file("leaf3.pem", leaf.certificatePem), "-no_nonce", "-reqout", tmp.file("req3.der")]);
    const plain = tmp.read("req3.der");
    const requestList = rawOf(plain, children(plain, children(plain, expectNode(plain, 0, 0x30))[0]!)[0]!);
    // RFC 6960 §4.1.1 TBSRequest with requestorName [1] EXPLICIT GeneralName (dNSName [2]), distinct per i
    const padded = (i: number) => seq(seq(tlv(0xa1, tlv(0x82, Buffer.from(`${i}`.padEnd(2000, "a")))), Buffer.from(requestList)));
    await ocsp.respond(caId, plain);
    assert.ok(ocsp.cachedAnswer(caId, plain), "the plain request is remembered");
    const sizeOf = () => (ocsp as unknown as { requests: Map<string, string> }).requests.size;
    const before = sizeOf();
    for (let i = 0; i < 50; i++) {
      const a = await ocsp.respond(caId, padded(i));
      assert.equal(a?.status, "successful");
      assert.deepEqual(a.der, ocsp.cachedAnswer(caId, plain)!.der, "the same cached response");
    }
    assert.equal(ocsp.cachedAnswer(caId, padded(1)), undefined);
    assert.equal(sizeOf(), before, "no entry per padded variant");
  });

  it("ok/revoked: a revocation replaces the cached good answer", async () => {
    await inTransaction(server.ra, (tx) => revokeCertificateInTx(server.ra, tx, actor, certId, 1));
    await eventually("the fast path to answer revoked", async () => {
      const r = await fetch(getUrl);
      const body = Buffer.from(await r.arrayBuffer());
      const out = statusOf(body, "revoked.der");
      return /: revoked/.test(out) ? out : undefined;
    });
  });
});
