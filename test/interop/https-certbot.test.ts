/**
 * Interop over HTTPS (RFC 8555 §6.1): real certbot against Sigil's TLS
 * listener with its self-issued certificate, trusting the Sigil root through
 * REQUESTS_CA_BUNDLE (certbot's HTTP library, python-requests, reads it).
 * http-01 through certbot's standalone server on a free port
 * (SIGIL_VALIDATION_HTTP_PORT), names resolved by pebble-challtestsrv.
 * Without the bundle certbot refuses the server.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort, startTestServer, type TestServer } from "../helpers/server.js";
import { Certbot } from "./helpers/certbot.js";
import { startChallTestSrv, type ChallTestSrv } from "./helpers/challtestsrv.js";
import { dnsNamesOf, opensslVerify } from "./helpers/openssl.js";
import { requireTool } from "./helpers/tools.js";

describe("certbot over HTTPS (self-issued listener certificate, root via REQUESTS_CA_BUNDLE)", function () {
  this.timeout(180_000);
  let cts: ChallTestSrv;
  let server: TestServer;
  let http01Port: number;
  let tmp: string;
  let rootPem: string;
  const certbots: Certbot[] = [];
  const savedBundle = process.env.REQUESTS_CA_BUNDLE;

  const standalone = (names: string[]) => [
    "--standalone",
    "--preferred-challenges", "http",
    "--http-01-port", String(http01Port),
    "--http-01-address", "127.0.0.1",
    "--agree-tos", "-m", "test@example.org",
    ...names.flatMap((n) => ["-d", n]),
  ];

  before(async () => {
    requireTool("certbot", "install the Debian package certbot (.ci/run does)");
    requireTool("openssl");
    tmp = mkdtempSync(path.join(tmpdir(), "sigil-https-certbot-"));
    cts = await startChallTestSrv();
    http01Port = await freePort();
    const httpsPort = await freePort();
    server = await startTestServer({
      env: {
        SIGIL_HTTPS_PORT: String(httpsPort),
        // the listener certificate names localhost (a loopback public URL adds it); certbot connects by name
        SIGIL_PUBLIC_URL: `https://localhost:${httpsPort}`,
        SIGIL_DNS_SERVERS: cts.dnsServer,
        SIGIL_VALIDATION_HTTP_PORT: String(http01Port),
      },
    });
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/ca/${server.bootstrap.rootCaId}.pem`);
    assert.equal(res.status, 200);
    rootPem = path.join(tmp, "root.pem");
    writeFileSync(rootPem, await res.text());
  });
  after(async () => {
    if (savedBundle === undefined) delete process.env.REQUESTS_CA_BUNDLE;
    else process.env.REQUESTS_CA_BUNDLE = savedBundle;
    for (const c of certbots) c.cleanup();
    await server?.stop();
    await cts?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const newCertbot = () => {
    const c = new Certbot({ server: `https://localhost:${server.httpsPort}/acme/default/directory` });
    certbots.push(c);
    return c;
  };

  it("refuses the server without the root in its bundle", async () => {
    delete process.env.REQUESTS_CA_BUNDLE;
    const r = await newCertbot().run("register", ["--agree-tos", "-m", "test@example.org"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLError/i);
  });

  it("with REQUESTS_CA_BUNDLE=root: registers, obtains a certificate over http-01, and the chain verifies", async () => {
    process.env.REQUESTS_CA_BUNDLE = rootPem;
    const certbot = newCertbot();
    await certbot.register();
    await certbot.runOk("certonly", standalone(["tls.certbot.sigil.test"]));
    const l = certbot.lineage("tls.certbot.sigil.test");
    assert.deepEqual(dnsNamesOf(l.cert), ["tls.certbot.sigil.test"]);
    const v = await opensslVerify({ rootPem, chainPem: l.chain, certPem: l.cert, purpose: "sslserver" });
    assert.ok(v.ok, `openssl verify: ${v.stdout}${v.stderr}`);
    // the account URL certbot stored is on the HTTPS listener
    const accounts = path.join(certbot.root, "config", "accounts");
    const regs = readFileSync(findFile(accounts, "regr.json"), "utf8");
    assert.match(regs, new RegExp(`https://localhost:${server.httpsPort}/acme/default/acct/`));
  });
});

/** the first file named `name` under `dir` */
function findFile(dir: string, name: string): string {
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) {
      try {
        return findFile(p, name);
      } catch {
        continue;
      }
    }
    if (e === name) return p;
  }
  throw new Error(`${name} not found under ${dir}`);
}
