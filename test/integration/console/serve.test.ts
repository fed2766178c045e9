/**
 * How the console's bundle is served (src/console/serve.ts): on the HTTPS
 * listener only, with its Content-Security-Policy and cache headers, the SPA
 * fallback, and never on the plain HTTP listener.
 */
import assert from "node:assert/strict";
import https from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { gunzipSync } from "node:zlib";
import { startTestServer, type TestServer } from "../../helpers/server.js";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function get(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // the test server's listener certificate is issued by its own CA
    const req = https.request(url, { method, headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (d: Buffer) => chunks.push(d));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("console: the static bundle on the HTTPS listener", () => {
  let server: TestServer;
  let base: string;
  before(async () => {
    server = await startTestServer();
    base = `https://127.0.0.1:${server.httpsPort}`;
  });
  after(() => server?.stop());

  it("serves index.html with a strict CSP, nosniff, no framing and no-cache, and no inline script", async () => {
    const r = await get(`${base}/console/`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^text\/html/);
    const csp = String(r.headers["content-security-policy"]);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(r.headers["x-content-type-options"], "nosniff");
    assert.equal(r.headers["x-frame-options"], "DENY");
    assert.equal(r.headers["cache-control"], "no-cache");
    const html = r.body.toString();
    // every script is an external same-origin file: nothing inline for the CSP to refuse
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length >= 1);
    for (const [, attrs, inline] of scripts) {
      assert.match(attrs, /src="\/console\/assets\/[^"]+\.js"/);
      assert.equal(inline.trim(), "");
    }
    assert.doesNotMatch(html, /\sstyle=|<style/);
  });

  it("serves the hashed assets immutable (gzip when asked), revalidates with ETag, and 404s a missing one", async () => {
    const html = (await get(`${base}/console/`)).body.toString();
    const js = html.match(/src="(\/console\/assets\/[^"]+\.js)"/)![1];
    const plain = await get(`${base}${js}`);
    assert.equal(plain.status, 200);
    assert.match(String(plain.headers["content-type"]), /^text\/javascript/);
    assert.equal(plain.headers["cache-control"], "public, max-age=31536000, immutable");
    assert.equal(plain.headers["x-content-type-options"], "nosniff");
    const zipped = await get(`${base}${js}`, { "Accept-Encoding": "gzip" });
    assert.equal(zipped.headers["content-encoding"], "gzip");
    assert.ok(zipped.body.length < plain.body.length);
    assert.deepEqual(gunzipSync(zipped.body), plain.body);
    const again = await get(`${base}${js}`, { "If-None-Match": String(plain.headers.etag) });
    assert.equal(again.status, 304);
    const missing = await get(`${base}/console/assets/index-00000000.js`);
    assert.equal(missing.status, 404);
    assert.ok(missing.headers["content-security-policy"]);
  });

  it("answers index.html for the console's own routes and redirects /console to /console/", async () => {
    for (const p of ["/console/certificates", "/console/certificates/0193a3b2-0000-7000-8000-000000000000", "/console/audit"]) {
      const r = await get(`${base}${p}`);
      assert.equal(r.status, 200, p);
      assert.match(r.body.toString(), /<div id="app">/, p);
      assert.equal(r.headers["cache-control"], "no-cache", p);
    }
    const bare = await get(`${base}/console`);
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.location, "/console/");
    const head = await get(`${base}/console/`, {}, "HEAD");
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  it("is not on the plain HTTP listener", async () => {
    for (const p of ["/console/", "/console", "/console/assets/x.js"]) {
      const r = await fetch(`${server.baseUrl}${p}`);
      assert.equal(r.status, 404, p);
      assert.equal(r.headers.get("content-security-policy"), null);
    }
  });
});
