/**
 * The embedded default end to end: the server on PGlite (one connection,
 * so any query that escapes its transaction would deadlock), a real ACME
 * client getting a certificate over dns-01, revoking it, and the CRL served
 * from the embedded database listing it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import acme from "acme-client";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { startChallTestSrv, type ChallTestSrv } from "./helpers/challtestsrv.js";

describe("embedded database: issuance, revocation and CRL end to end", function () {
  this.timeout(180_000);
  let server: TestServer;
  let dns: ChallTestSrv;
  let work: string;

  before(async () => {
    dns = await startChallTestSrv();
    server = await startTestServer({ embedded: true, env: { SIGIL_DNS_SERVERS: dns.dnsServer } });
    assert.equal(server.db.kind, "embedded");
    work = mkdtempSync(path.join(tmpdir(), "sigil-embedded-"));
  });
  after(async () => {
    await server?.stop();
    await dns?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("acme-client gets a certificate over dns-01, revokes it, and the CRL lists it", async () => {
    const client = new acme.Client({
      directoryUrl: `${server.baseUrl}/acme/default/directory`,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
    });
    const [, csr] = await acme.crypto.createCsr({ commonName: "embedded.sigil.test", altNames: ["embedded.sigil.test"] });
    const chain = await client.auto({
      csr,
      challengePriority: ["dns-01"],
      termsOfServiceAgreed: true,
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, _ch, keyAuthorization) => {
        await dns.setTxt(`_acme-challenge.${authz.identifier.value}`, keyAuthorization);
      },
      challengeRemoveFn: async () => {},
    });
    const rootPem = (await (await fetch(`${server.baseUrl}/ca/${server.bootstrap.rootCaId}.pem`)).text());
    const certs = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g)!;
    writeFileSync(path.join(work, "root.pem"), rootPem);
    writeFileSync(path.join(work, "chain.pem"), certs.slice(1).join(""));
    writeFileSync(path.join(work, "leaf.pem"), certs[0]!);
    const ok = execFileSync("openssl", ["verify", "-CAfile", path.join(work, "root.pem"), "-untrusted", path.join(work, "chain.pem"), path.join(work, "leaf.pem")], { encoding: "utf8" });
    assert.match(ok, /leaf.pem: OK/);

    await client.revokeCertificate(certs[0]!, { reason: 4 });
    const serial = execFileSync("openssl", ["x509", "-noout", "-serial", "-in", path.join(work, "leaf.pem")], { encoding: "utf8" })
      .trim()
      .replace(/^serial=/, "");
    const crlUrl = `${server.baseUrl}/crl/${server.bootstrap.intermediateCaId}.crl`;
    let text = "";
    for (let i = 0; i < 50 && !text.includes(serial); i++) {
      await new Promise((r) => setTimeout(r, 200));
      const der = Buffer.from(await (await fetch(crlUrl)).arrayBuffer());
      writeFileSync(path.join(work, "crl.der"), der);
      text = execFileSync("openssl", ["crl", "-inform", "DER", "-in", path.join(work, "crl.der"), "-noout", "-text"], { encoding: "utf8" });
    }
    assert.ok(text.toUpperCase().includes(serial.toUpperCase()), "the revoked serial is on the CRL");
    assert.match(text, /Superseded/);
  });
});
