import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { FixedClock } from "../../../src/core/clock.js";
import { buildHttpApp } from "../../../src/http-app.js";
import { createLogger } from "../../../src/logger.js";
import { buildPublicRouter, MAX_OCSP_REQUEST_BYTES } from "../../../src/public/router.js";
import type { OcspAnswer } from "../../../src/ra/ocsp.js";
import type { PublishedCrl } from "../../../src/ra/crl.js";

const CA = "0190a1b2-c3d4-7e5f-8a9b-0123456789ab";
const now = new Date("2026-11-23T12:00:00Z");

describe("public router (fakes behind it)", () => {
  let server: http.Server;
  let base: string;
  const seen: Buffer[] = [];
  let fail = false;

  before(async () => {
    const crl: PublishedCrl = {
      caId: CA,
      crlNumber: 7n,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 7 * 86_400_000),
      der: Buffer.from([0x30, 0x00]),
      etag: '"7-abc"',
      entryCount: 0,
    };
    const router = buildPublicRouter({
      clock: new FixedClock(now),
      crls: {
        current: async (id) => {
          if (fail) throw new Error("database is down: secret detail");
          return id === CA ? crl : undefined;
        },
      },
      caCertificates: { get: async (id) => (id === CA ? { der: Buffer.from([0x30, 0x00]), pem: "PEM\n", createdAt: now } : undefined) },
      ocsp: {
        respond: async (id, der): Promise<OcspAnswer | undefined> => {
          if (id !== CA) return undefined;
          seen.push(der);
          return { status: "successful", der: Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x00]), thisUpdate: now, nextUpdate: new Date(now.getTime() + 3_600_000) };
        },
      },
    });
    server = http.createServer(buildHttpApp({ routers: [router], logger: createLogger("silent") }).callback());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const table: Array<[string, string, number, string?]> = [
    ["ok/crl-der", `/crl/${CA}.crl`, 200, "application/pkix-crl"],
    ["ok/crl-pem", `/crl/${CA}.pem`, 200, "application/x-pem-file"],
    ["ok/ca-der", `/ca/${CA}.cer`, 200, "application/pkix-cert"],
    ["ok/ca-pem", `/ca/${CA}.pem`, 200, "application/x-pem-file"],
    ["ok/upper-case-id", `/crl/${CA.toUpperCase()}.crl`, 200, "application/pkix-crl"],
    ["fail/unknown-ca", `/crl/0190a1b2-c3d4-7e5f-8a9b-000000000000.crl`, 404],
    ["fail/not-a-uuid", `/crl/default.crl`, 404],
    ["fail/wrong-extension", `/crl/${CA}.cer`, 404],
    ["fail/no-extension", `/ca/${CA}`, 404],
    ["fail/ocsp-unknown-ca", `/ocsp/0190a1b2-c3d4-7e5f-8a9b-000000000000/MAA=`, 404],
  ];
  for (const [name, path, status, type] of table) {
    it(`GET ${name} -> ${status}`, async () => {
      const r = await fetch(base + path);
      assert.equal(r.status, status);
      if (type) assert.equal(r.headers.get("content-type"), type);
    });
  }

  it("caps CRL Cache-Control max-age at 60 s and sets Last-Modified to thisUpdate", async () => {
    const r = await fetch(`${base}/crl/${CA}.crl`);
    assert.equal(r.headers.get("cache-control"), "public, max-age=60, must-revalidate");
    assert.equal(r.headers.get("last-modified"), now.toUTCString());
    assert.equal(r.headers.get("etag"), '"7-abc"');
  });

  it("decodes GET OCSP requests in standard, URL-encoded and URL-safe base64, including '/' in the path", async () => {
    const der = Buffer.from([0xfb, 0xff, 0xbf, 0x30, 0x01, 0x02]); // base64 "+/+/MAEC"
    seen.length = 0;
    for (const path of ["+/+/MAEC", encodeURIComponent("+/+/MAEC"), "-_-_MAEC"]) {
      const r = await fetch(`${base}/ocsp/${CA}/${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get("content-type"), "application/ocsp-response");
    }
    assert.deepEqual(seen, [der, der, der]);
  });

  it("refuses POST bodies of another content type (415) or larger than the limit (413)", async () => {
    const wrongType = await fetch(`${base}/ocsp/${CA}`, { method: "POST", body: "x", headers: { "content-type": "text/plain" } });
    assert.equal(wrongType.status, 415);
    const big = await fetch(`${base}/ocsp/${CA}`, {
      method: "POST",
      body: Buffer.alloc(MAX_OCSP_REQUEST_BYTES + 1),
      headers: { "content-type": "application/ocsp-request" },
    });
    assert.equal(big.status, 413);
  });

  it("marks POST OCSP responses no-store", async () => {
    const r = await fetch(`${base}/ocsp/${CA}`, { method: "POST", body: Buffer.from([0x30, 0x00]), headers: { "content-type": "application/ocsp-request" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("cache-control"), "no-store");
  });

  it("answers an internal failure with a generic 500 that leaks nothing", async () => {
    fail = true;
    try {
      const r = await fetch(`${base}/crl/${CA}.crl`);
      assert.equal(r.status, 500);
      assert.equal(await r.text(), "internal error\n");
    } finally {
      fail = false;
    }
  });
});
