import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { directoryUrl } from "../../../src/ra/acme-admin.js";
import { freePort, startTestServer, type TestServer } from "../../helpers/server.js";

/**
 * SIGIL_ACME_URL: with Sigil terminating TLS itself, ACME links point at the
 * HTTPS listener (RFC 8555 §6.1) while the URLs signed into certificates
 * (CRL DP, AIA, OCSP) stay on SIGIL_PUBLIC_URL, plain http (RFC 5280
 * §4.2.1.13, RFC 6960), without a per-CA crl_base_url.
 */
describe("SIGIL_ACME_URL: ACME on https, relying-party URLs on http (issue 9 §1)", function () {
  this.timeout(60_000);
  let server: TestServer;
  let acmeUrl: string;
  let dir: string;
  let rootPem: string;

  before(async () => {
    const httpsPort = await freePort();
    acmeUrl = `https://localhost:${httpsPort}`;
    server = await startTestServer({ env: { SIGIL_HTTPS_PORT: String(httpsPort), SIGIL_ACME_URL: acmeUrl } });
    rootPem = await (await fetch(`${server.baseUrl}/ca/${server.bootstrap.rootCaId}.pem`)).text();
    dir = mkdtempSync(path.join(tmpdir(), "sigil-acme-url-"));
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function getOverHttps(url: string): Promise<string> {
    return new Promise((resolve, reject) => {
      https
        .get(url, { ca: rootPem }, (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve(body));
        })
        .on("error", reject);
    });
  }

  it("serves the directory over HTTPS with every link on the ACME URL (the listener certificate names its host)", async () => {
    const d = JSON.parse(await getOverHttps(`${acmeUrl}/acme/default/directory`)) as Record<string, string>;
    for (const k of ["newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"]) assert.ok(d[k]!.startsWith(`${acmeUrl}/acme/default/`), `${k}: ${d[k]}`);
  });

  it("writes the same https links when the directory is fetched over plain HTTP (links come from configuration, not the request)", async () => {
    const d = (await (await fetch(`${server.baseUrl}/acme/default/directory`)).json()) as Record<string, string>;
    assert.ok(d.newOrder!.startsWith(`${acmeUrl}/`), d.newOrder);
  });

  it("gives the admin plane the https directory URL", () => {
    assert.equal(directoryUrl(server.ra, "default"), `${acmeUrl}/acme/default/directory`);
  });

  it("keeps the CRL distribution point and AIA of issued certificates on the http public URL", () => {
    const pem = server.listenerCertificate.current().certPem.split(/(?<=-----END CERTIFICATE-----)/)[0]!;
    const file = path.join(dir, "listener.pem");
    writeFileSync(file, pem);
    const text = execFileSync("openssl", ["x509", "-in", file, "-noout", "-ext", "crlDistributionPoints,authorityInfoAccess"], { encoding: "utf8" });
    assert.match(text, new RegExp(`URI:${server.baseUrl.replace(/[.:/]/g, "\\$&")}/crl/`));
    assert.match(text, new RegExp(`CA Issuers - URI:${server.baseUrl.replace(/[.:/]/g, "\\$&")}/ca/`));
    assert.doesNotMatch(text, /https:/);
  });
});
