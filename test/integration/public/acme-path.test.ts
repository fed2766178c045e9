/**
 * The ACME path end to end for relying parties: a certificate issued to
 * acme-client and revoked by it over ACME (RFC 8555 §7.6) is checked with
 * openssl through the CRL and OCSP URLs inside it.
 */
import assert from "node:assert/strict";
import acme from "acme-client";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "../acme/harness.js";
import { openssl, opensslOk, TempDir } from "../../unit/ca/openssl.js";
import { crlNumberOf, derToPem, eventually, fetchDer, opensslAsync, urlsOf } from "./helpers.js";

describe("relying parties check an ACME-issued certificate (acme-client + openssl)", function () {
  this.timeout(60_000);
  let server: AcmeTestServer;
  let tmp: TempDir;

  before(async () => {
    server = await startAcmeTestServer({ validator: new FakeValidator() });
    tmp = new TempDir();
  });
  after(async () => {
    await server?.stop();
    tmp?.remove();
  });

  it("passes CRL and OCSP checks, then after an ACME revocation fails them with the reason and a higher CRL number", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const [, csr] = await acme.crypto.createCsr({ commonName: "rp.example.com", altNames: ["rp.example.com"] });
    const chainPem = await client.auto({
      csr,
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      skipChallengeVerification: true,
      challengeCreateFn: async () => {},
      challengeRemoveFn: async () => {},
    });
    const leafPem = acme.crypto.splitPemChain(chainPem)[0]!;
    const urls = urlsOf(leafPem);
    assert.ok(urls.crl && urls.ocsp && urls.caIssuers, "CDP, AIA OCSP and caIssuers present");
    const interPem = derToPem(await fetchDer(urls.caIssuers), "CERTIFICATE");
    const rootPem = derToPem(await fetchDer(urlsOf(interPem).caIssuers!), "CERTIFICATE");
    const leaf = tmp.file("leaf.pem", leafPem);
    const inter = tmp.file("inter.pem", interPem);
    const chain = tmp.file("chain.pem", interPem + rootPem);

    const crl0 = tmp.file("crl0.pem", derToPem(await fetchDer(urls.crl), "X509 CRL"));
    const ok = openssl(["verify", "-crl_check", "-CRLfile", crl0, "-CAfile", chain, leaf]);
    assert.equal(ok.status, 0, ok.out);
    const good = await opensslAsync(["ocsp", "-issuer", inter, "-cert", leaf, "-url", urls.ocsp, "-CAfile", chain, "-nonce"]);
    assert.match(good.out, /: good/);
    assert.match(good.out, /Response verify OK/);
    assert.doesNotMatch(good.out, /WARNING: no nonce in response/);

    await client.revokeCertificate(leafPem, { reason: 1 });
    const serial = opensslOk(["x509", "-in", leaf, "-noout", "-serial"]).trim().split("=")[1]!;
    const crl1 = await eventually("the CRL to list the ACME-revoked certificate", async () => {
      const f = tmp.file("crl1.pem", derToPem(await fetchDer(urls.crl!), "X509 CRL"));
      return opensslOk(["crl", "-in", f, "-noout", "-text"]).toUpperCase().includes(serial.toUpperCase()) ? f : undefined;
    });
    const bad = openssl(["verify", "-crl_check", "-CRLfile", crl1, "-CAfile", chain, leaf]);
    assert.match(bad.out, /certificate revoked/);
    assert.match(opensslOk(["crl", "-in", crl1, "-noout", "-text"]), /Key Compromise/);
    assert.ok(crlNumberOf(crl1) > crlNumberOf(crl0));
    assert.match(openssl(["crl", "-in", crl1, "-noout", "-verify", "-CAfile", chain]).out, /verify OK/);
    const revoked = await opensslAsync(["ocsp", "-issuer", inter, "-cert", leaf, "-url", urls.ocsp, "-CAfile", chain, "-nonce"]);
    assert.match(revoked.out, /: revoked/);
    assert.match(revoked.out, /Reason: keyCompromise/);
  });
});
