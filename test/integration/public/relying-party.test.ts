/**
 * Relying-party endpoints against the real server, checked with the real
 * openssl: every URL is read out of the certificates, as a relying party
 * would.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import type { RevocationReason } from "../../../src/core/types.js";
import { Certificate, CertificateAuthority } from "../../../src/db/entities/index.js";
import { systemActor } from "../../../src/ra/actor.js";
import { createIntermediateCa } from "../../../src/ra/certificate-authorities.js";
import { inTransaction } from "../../../src/ra/context.js";
import { revokeCertificateInTx } from "../../../src/ra/revocation.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { openssl, opensslOk, TempDir } from "../../unit/ca/openssl.js";
import { crlNumberOf, derToPem, eventually, fetchDer, fetchOk, opensslAsync, issueTestLeaf, urlsOf } from "./helpers.js";

const actor = systemActor("relying-party-test");

describe("relying-party endpoints (CRL, AIA, OCSP) with openssl", function () {
  this.timeout(60_000);
  let server: TestServer;
  let tmp: TempDir;

  before(async () => {
    server = await startTestServer();
    tmp = new TempDir();
  });
  after(async () => {
    await server?.stop();
    tmp?.remove();
  });

  function issueLeaf(caId: string, name: string): Promise<Certificate> {
    return issueTestLeaf(server.ra, actor, caId, name);
  }

  async function revoke(certId: string, reason: RevocationReason): Promise<void> {
    const ctx = server.ra;
    await inTransaction(ctx, (tx) => revokeCertificateInTx(ctx, tx, actor, certId, reason));
  }

  /** leaf, intermediate and root PEM files, the issuers fetched through AIA caIssuers */
  async function chainFor(leafPem: string, prefix: string) {
    const leaf = tmp.file(`${prefix}-leaf.pem`, leafPem);
    const interUrl = urlsOf(leafPem).caIssuers;
    assert.ok(interUrl, "the leaf names its issuer (AIA caIssuers)");
    const interPem = derToPem(await fetchDer(interUrl), "CERTIFICATE");
    const rootUrl = urlsOf(interPem).caIssuers;
    assert.ok(rootUrl, "the intermediate names its issuer");
    const rootPem = derToPem(await fetchDer(rootUrl), "CERTIFICATE");
    return {
      leaf,
      inter: tmp.file(`${prefix}-inter.pem`, interPem),
      root: tmp.file(`${prefix}-root.pem`, rootPem),
      chain: tmp.file(`${prefix}-chain.pem`, interPem + rootPem),
    };
  }

  async function fetchCrlPem(url: string, file: string): Promise<string> {
    return tmp.file(file, derToPem(await fetchDer(url), "X509 CRL"));
  }

  it("serves a CRL from the certificate's CDP that passes openssl verify -crl_check, then lists the revoked leaf with its reason and a higher CRL number", async () => {
    const cert = await issueLeaf(server.bootstrap.intermediateCaId, "crl.example");
    const urls = urlsOf(cert.certificatePem);
    assert.ok(urls.crl?.startsWith(server.baseUrl), `CDP ${urls.crl} resolves to the server`);
    const files = await chainFor(cert.certificatePem, "crl");

    const before = await fetchCrlPem(urls.crl!, "before.pem");
    const ok = openssl(["verify", "-crl_check", "-CRLfile", before, "-CAfile", files.chain, files.leaf]);
    assert.equal(ok.status, 0, ok.out);
    assert.match(ok.out, /OK/);
    const n0 = crlNumberOf(before);

    await revoke(cert.id, 1); // keyCompromise
    const after = await eventually("the CRL to list the revoked serial", async () => {
      const f = await fetchCrlPem(urls.crl!, "after.pem");
      const text = opensslOk(["crl", "-in", f, "-noout", "-text"]);
      return text.toUpperCase().includes(cert.serial.toUpperCase()) ? f : undefined;
    });
    const bad = openssl(["verify", "-crl_check", "-CRLfile", after, "-CAfile", files.chain, files.leaf]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.out, /certificate revoked/);
    const text = opensslOk(["crl", "-in", after, "-noout", "-text"]);
    assert.match(text, /Key Compromise/);
    assert.match(text, /Version 2/);
    assert.match(text, /Authority Key Identifier/);
    assert.ok(crlNumberOf(after) > n0, "the CRL number grew");
    const v = openssl(["crl", "-in", after, "-noout", "-verify", "-CAfile", files.chain]);
    assert.equal(v.status, 0, v.out);
    assert.match(v.out, /verify OK/);
  });

  it("answers openssl ocsp at the certificate's AIA OCSP URL: good, then revoked with time and reason, echoing the nonce", async () => {
    const cert = await issueLeaf(server.bootstrap.intermediateCaId, "ocsp.example");
    const { ocsp } = urlsOf(cert.certificatePem);
    assert.ok(ocsp?.startsWith(server.baseUrl), `AIA OCSP ${ocsp}`);
    const files = await chainFor(cert.certificatePem, "ocsp");
    const ask = () => opensslAsync(["ocsp", "-issuer", files.inter, "-cert", files.leaf, "-url", ocsp!, "-CAfile", files.chain, "-nonce"]);

    const good = await ask();
    assert.equal(good.status, 0, good.out);
    assert.match(good.out, /Response verify OK/);
    assert.match(good.out, /: good/);
    assert.doesNotMatch(good.out, /WARNING: no nonce in response/);
    assert.doesNotMatch(good.out, /nonce verify error/i);
    // the same request again is answered from the cache
    assert.match((await ask()).out, /: good/);

    await revoke(cert.id, 1);
    const revoked = await eventually("OCSP to report revoked", async () => {
      const r = await ask();
      return /: revoked/.test(r.out) ? r : undefined;
    }, 5_000);
    assert.match(revoked.out, /Response verify OK/);
    assert.match(revoked.out, /Reason: keyCompromise/);
    assert.match(revoked.out, /Revocation Time: /);
    assert.match(revoked.out, /This Update: /);
    assert.match(revoked.out, /Next Update: /);
    assert.doesNotMatch(revoked.out, /WARNING: no nonce in response/);
  });

  it("signs OCSP responses with a delegated responder certificate (id-kp-OCSPSigning, ocsp-nocheck) issued by the CA", async () => {
    const cert = await issueLeaf(server.bootstrap.intermediateCaId, "signer.example");
    const { ocsp } = urlsOf(cert.certificatePem);
    const files = await chainFor(cert.certificatePem, "signer");
    const respFile = tmp.file("resp.der");
    const r = await opensslAsync(["ocsp", "-issuer", files.inter, "-cert", files.leaf, "-url", ocsp!, "-CAfile", files.chain, "-respout", respFile, "-resp_text", "-nonce"]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /Responder Id: /);
    assert.match(r.out, /OCSP Signing/);
    assert.match(r.out, /OCSP No Check/);
    assert.match(r.out, /Response Extensions:\s+OCSP Nonce/, "the nonce is echoed in responseExtensions");
    assert.match(r.out, /Response verify OK/);
  });

  it("answers a garbage OCSP request with malformedRequest, another CA's CertID with unauthorized, an unknown CA with 404", async () => {
    const interId = server.bootstrap.intermediateCaId;
    const garbage = await fetchOk(`${server.baseUrl}/ocsp/${interId}`, {
      method: "POST",
      headers: { "content-type": "application/ocsp-request" },
      body: Buffer.from("this is not DER"),
    });
    assert.equal(garbage.headers.get("content-type"), "application/ocsp-response");
    const body = Buffer.from(await garbage.arrayBuffer());
    const f = tmp.file("malformed.der", body);
    assert.match(openssl(["ocsp", "-respin", f, "-resp_text", "-noverify"]).out, /malformedrequest/i);

    // a certificate issued by the intermediate, asked of the root's responder
    const cert = await issueLeaf(interId, "unauthorized.example");
    const files = await chainFor(cert.certificatePem, "unauth");
    const wrong = await opensslAsync(["ocsp", "-issuer", files.inter, "-cert", files.leaf, "-url", `${server.baseUrl}/ocsp/${server.bootstrap.rootCaId}`, "-CAfile", files.chain]);
    assert.match(wrong.out, /unauthorized/i);

    const unknown = "00000000-0000-7000-8000-000000000000";
    for (const path of [`/ca/${unknown}.cer`, `/crl/${unknown}.crl`, `/ocsp/${unknown}/MAA=`, `/crl/not-a-ca.crl`]) {
      assert.equal((await fetch(`${server.baseUrl}${path}`)).status, 404, path);
    }
  });

  it("serves CRLs and CA certificates with their media types, ETag, Last-Modified and Cache-Control, and answers 304 to a matching If-None-Match", async () => {
    const id = server.bootstrap.intermediateCaId;
    // a CRL regenerated in between (revocations of earlier tests) changes the ETag: retry until stable
    await eventually("a 304 for an unchanged CRL", async () => {
      const crl = await fetchOk(`${server.baseUrl}/crl/${id}.crl`);
      assert.equal(crl.headers.get("content-type"), "application/pkix-crl");
      const etag = crl.headers.get("etag");
      assert.ok(etag);
      assert.ok(crl.headers.get("last-modified"));
      assert.match(crl.headers.get("cache-control") ?? "", /max-age=\d+/);
      const again = await fetch(`${server.baseUrl}/crl/${id}.crl`, {
        // fetch adds "Cache-Control: no-cache" to conditional requests unless one is given (Fetch §4.5), which forbids a 304
        headers: { "if-none-match": etag, "cache-control": "max-age=0" },
      });
      return again.status === 304 ? true : undefined;
    });
    const pem = await (await fetchOk(`${server.baseUrl}/crl/${id}.pem`)).text();
    assert.match(pem, /^-----BEGIN X509 CRL-----/);

    const cer = await fetchOk(`${server.baseUrl}/ca/${id}.cer`);
    assert.equal(cer.headers.get("content-type"), "application/pkix-cert");
    const x = new X509Certificate(Buffer.from(await cer.arrayBuffer()));
    assert.ok(x.ca);
    const caPem = await (await fetchOk(`${server.baseUrl}/ca/${id}.pem`)).text();
    assert.equal(new X509Certificate(caPem).fingerprint256, x.fingerprint256);
  });

  it("answers OCSP over GET (RFC 6960 Appendix A.1) with cache headers", async () => {
    const cert = await issueLeaf(server.bootstrap.intermediateCaId, "get.example");
    const files = await chainFor(cert.certificatePem, "get");
    const reqFile = tmp.file("get-req.der");
    opensslOk(["ocsp", "-issuer", files.inter, "-cert", files.leaf, "-no_nonce", "-reqout", reqFile]);
    const b64 = encodeURIComponent(tmp.read("get-req.der").toString("base64"));
    const r = await fetchOk(`${urlsOf(cert.certificatePem).ocsp}/${b64}`);
    assert.equal(r.headers.get("content-type"), "application/ocsp-response");
    assert.match(r.headers.get("cache-control") ?? "", /max-age=\d+/);
    assert.ok(r.headers.get("last-modified"));
    const resp = tmp.file("get-resp.der", Buffer.from(await r.arrayBuffer()));
    const out = openssl(["ocsp", "-respin", resp, "-issuer", files.inter, "-cert", files.leaf, "-CAfile", files.chain]);
    assert.equal(out.status, 0, out.out);
    assert.match(out.out, /: good/);
  });

  it("lists a revoked intermediate on its root's CRL and in the root's OCSP answers", async () => {
    const inter = await createIntermediateCa(server.ra, actor, server.bootstrap.rootCaId, {
      organizationId: (await server.db.orm.em.fork().findOneOrFail(CertificateAuthority, { id: server.bootstrap.rootCaId })).organization.id,
      name: "revoked-intermediate",
      subject: { commonName: "Sigil Test Intermediate To Revoke" },
      keyAlgorithm: "p256",
      validityDays: 365,
      pathLength: 0,
    });
    const row = await server.db.orm.em.fork().findOneOrFail(Certificate, { type: "ca", serial: inter.serial, issuer: server.bootstrap.rootCaId });
    const interPem = tmp.file("inter2.pem", inter.certificatePem);
    const rootPem = tmp.file("root2.pem", derToPem(await fetchDer(`${server.baseUrl}/ca/${server.bootstrap.rootCaId}.cer`), "CERTIFICATE"));
    const rootCrl = urlsOf(inter.certificatePem).crl!;
    assert.ok(rootCrl.includes(server.bootstrap.rootCaId), "the intermediate's CDP is its root's CRL");

    await revoke(row.id, 4); // superseded
    await eventually("the root CRL to list the intermediate", async () => {
      const f = await fetchCrlPem(rootCrl, "root-crl.pem");
      return opensslOk(["crl", "-in", f, "-noout", "-text"]).toUpperCase().includes(inter.serial.toUpperCase()) ? f : undefined;
    });
    const f = tmp.file("root-crl.pem");
    const bad = openssl(["verify", "-crl_check", "-CRLfile", f, "-CAfile", rootPem, interPem]);
    assert.match(bad.out, /certificate revoked/);
    const o = await opensslAsync(["ocsp", "-issuer", rootPem, "-cert", interPem, "-url", urlsOf(inter.certificatePem).ocsp!, "-CAfile", rootPem]);
    assert.match(o.out, /: revoked/);
    assert.match(o.out, /Reason: superseded/);
    // the revoked CA's own CRL is still served
    assert.equal((await fetch(`${server.baseUrl}/crl/${inter.id}.crl`)).status, 200);
  });
});
