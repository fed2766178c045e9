/**
 * Interop over HTTPS (RFC 8555 §6.1): the real `acme-client` npm package
 * talks to Sigil's TLS listener, whose certificate Sigil issued itself from
 * the default intermediate, trusting only the root fetched from the AIA
 * path of the plain listener. Real http-01 validation: a local responder on
 * SIGIL_VALIDATION_HTTP_PORT, names resolved by pebble-challtestsrv (every
 * name is 127.0.0.1). openssl verifies the issued chain against the root.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import acme from "acme-client";
import { freePort, startTestServer, type TestServer } from "../helpers/server.js";
import { startChallTestSrv, type ChallTestSrv } from "./helpers/challtestsrv.js";
import { opensslVerify, splitPem } from "./helpers/openssl.js";
import { requireTool } from "./helpers/tools.js";

describe("interop: acme-client over HTTPS against the self-issued listener certificate", function () {
  this.timeout(90_000);
  let cts: ChallTestSrv;
  let server: TestServer;
  let responder: http.Server;
  const tokens = new Map<string, string>();
  let work: string;
  let rootPem: string;
  let directoryUrl: string;
  const savedAgent = acme.axios.defaults.httpsAgent;

  before(async () => {
    requireTool("openssl");
    cts = await startChallTestSrv();
    // the http-01 responder (RFC 8555 §8.3): /.well-known/acme-challenge/<token> -> key authorization
    responder = http.createServer((req, res) => {
      const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(req.url ?? "")?.[1];
      const body = token && tokens.get(token);
      res.writeHead(body ? 200 : 404, { "Content-Type": "text/plain" }).end(body ?? "");
    });
    await new Promise<void>((r) => responder.listen(0, "127.0.0.1", r));
    const httpsPort = await freePort();
    server = await startTestServer({
      env: {
        SIGIL_HTTPS_PORT: String(httpsPort),
        SIGIL_PUBLIC_URL: `https://127.0.0.1:${httpsPort}`,
        SIGIL_DNS_SERVERS: cts.dnsServer,
        SIGIL_VALIDATION_HTTP_PORT: String((responder.address() as AddressInfo).port),
      },
    });
    directoryUrl = `https://127.0.0.1:${server.httpsPort}/acme/default/directory`;
    // the root as a relying party gets it: the AIA path, on the plain listener
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/ca/${server.bootstrap.rootCaId}.pem`);
    assert.equal(res.status, 200);
    rootPem = await res.text();
    work = mkdtempSync(path.join(tmpdir(), "sigil-https-acme-client-"));
    writeFileSync(path.join(work, "root.pem"), rootPem);
  });
  after(async () => {
    acme.axios.defaults.httpsAgent = savedAgent;
    await server?.stop();
    await cts?.stop();
    if (responder) await new Promise((r) => responder.close(r));
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("without the root a client refuses the listener (the certificate is not publicly trusted)", async () => {
    const err = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      https.get(directoryUrl, { agent: false }, () => reject(new Error("connected without trusting the root"))).on("error", resolve);
    });
    assert.match(String(err.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN/);
  });

  it("trusting the root: account, order, http-01, finalize and download over HTTPS; the chain verifies", async () => {
    acme.axios.defaults.httpsAgent = new https.Agent({ ca: rootPem, keepAlive: false });
    const client = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const [, csr] = await acme.crypto.createCsr({ commonName: "tls.sigil.test", altNames: ["tls.sigil.test", "www.tls.sigil.test"] });
    const chain = await client.auto({
      csr,
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, ch, keyAuthorization) => {
        tokens.set(ch.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, ch) => {
        tokens.delete(ch.token);
      },
    });
    const certs = splitPem(chain);
    assert.ok(certs.length >= 2, "leaf and intermediate");
    writeFileSync(path.join(work, "leaf.pem"), certs[0]!);
    writeFileSync(path.join(work, "chain.pem"), certs.slice(1).join(""));
    const v = await opensslVerify({ rootPem: path.join(work, "root.pem"), chainPem: path.join(work, "chain.pem"), certPem: path.join(work, "leaf.pem"), purpose: "sslserver" });
    assert.ok(v.ok, `openssl verify: ${v.stdout}${v.stderr}`);
    // every URL the client was given is on the HTTPS public URL
    assert.match(client.getAccountUrl(), new RegExp(`^https://127\\.0\\.0\\.1:${server.httpsPort}/acme/default/acct/`));
    const rows = await server.db.orm.em
      .getConnection()
      .execute<Array<{ source: string; n: string }>>(`select source, count(*) as n from certificates where type = 'server' group by source order by source`);
    assert.deepEqual(rows.map((r) => [r.source, Number(r.n)]), [["acme", 1], ["system", 1]], "one ACME certificate, one listener certificate");
  });
});
