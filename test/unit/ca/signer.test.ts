import assert from "node:assert/strict";
import { isSigilError } from "../../../src/core/errors.js";
import { KEY_ALGORITHMS, type KeyAlgorithm } from "../../../src/core/types.js";
import { csrDerFromPem, parseCsr } from "../../../src/ca/csr.js";
import { generateKeyPair, type KeyPair } from "../../../src/ca/keys.js";
import { newSerial, serialToHex } from "../../../src/ca/serial.js";
import {
  createRootCa,
  crlToPem,
  issueLeaf,
  issueSubordinateCa,
  loadIssuer,
  signCrl,
  type Issuer,
  type LeafParams,
  type PublicUrls,
} from "../../../src/ca/signer.js";
import { openssl, opensslOk, TempDir } from "./openssl.js";
import { keyObjectSigningKey } from "../../../src/ca/key-store.js";

const DAY = 86_400_000;
const now = Date.now();
const tmp = new TempDir();
after(() => tmp.remove());

const urlsFor = (name: string): PublicUrls => ({
  crlUrl: `http://pki.example/crl/${name}.crl`,
  caIssuersUrl: `http://pki.example/ca/${name}.cer`,
  ocspUrl: "http://pki.example/ocsp",
});

interface Chain {
  rootFile: string;
  interFile: string;
  root: Issuer;
  inter: Issuer;
}

async function buildChain(alg: KeyAlgorithm): Promise<Chain> {
  const rootKeys = await generateKeyPair(alg);
  const root = await createRootCa({
    subject: { commonName: `Sigil Test Root ${alg}`, organization: "Sigil Test", country: "DE" },
    signingKey: keyObjectSigningKey(rootKeys.privateKey),
    serial: newSerial(),
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 3650 * DAY),
    pathLength: 1,
  });
  const rootIssuer = loadIssuer({ certificateDer: root.der, signingKey: keyObjectSigningKey(rootKeys.privateKey), urls: urlsFor(`root-${alg}`) });
  const interKeys = await generateKeyPair(alg);
  const inter = await issueSubordinateCa(rootIssuer, {
    subject: { commonName: `Sigil Test Intermediate ${alg}`, organization: "Sigil Test", organizationalUnit: "Issuing" },
    publicKey: interKeys.publicKey,
    serial: newSerial(),
    notBefore: new Date(now - DAY / 2),
    notAfter: new Date(now + 1825 * DAY),
    pathLength: 0,
  });
  return {
    rootFile: tmp.file(`root-${alg}.pem`, root.pem),
    interFile: tmp.file(`inter-${alg}.pem`, inter.pem),
    root: rootIssuer,
    inter: loadIssuer({ certificateDer: inter.der, signingKey: keyObjectSigningKey(interKeys.privateKey), urls: urlsFor(`inter-${alg}`) }),
  };
}

let ecLeafKey: KeyPair;
let rsaLeafKey: KeyPair;
before(async () => {
  ecLeafKey = await generateKeyPair("p256");
  rsaLeafKey = await generateKeyPair("rsa2048");
});

function leafParams(over: Partial<LeafParams> = {}): LeafParams {
  return {
    publicKey: ecLeafKey.publicKey,
    type: "server",
    commonName: "app.example",
    dnsNames: ["app.example", "www.app.example"],
    ipAddresses: ["192.0.2.10", "2001:db8::10"],
    emails: [],
    serial: newSerial(),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 90 * DAY),
    ...over,
  };
}

function verify(chain: Chain, leafPem: string, purpose: "sslserver" | "sslclient"): { ok: boolean; out: string } {
  const leafFile = tmp.file(`leaf-${Math.random().toString(36).slice(2)}.pem`, leafPem);
  const r = openssl(["verify", "-x509_strict", "-purpose", purpose, "-CAfile", chain.rootFile, "-untrusted", chain.interFile, leafFile]);
  return { ok: r.status === 0 && /: OK/.test(r.out), out: r.out };
}

function text(pem: string): string {
  return opensslOk(["x509", "-text", "-noout", "-in", tmp.file(`t-${Math.random().toString(36).slice(2)}.pem`, pem)]);
}

const invalid = (field: string) => (e: unknown): boolean => isSigilError(e, "invalidArgument") && (e as { field?: string }).field === field;

const SIG_NAMES: Record<KeyAlgorithm, string> = {
  p256: "ecdsa-with-SHA256",
  p384: "ecdsa-with-SHA384",
  rsa2048: "sha256WithRSAEncryption",
  rsa3072: "sha256WithRSAEncryption",
  rsa4096: "sha256WithRSAEncryption",
};

for (const alg of KEY_ALGORITHMS) {
  describe(`ca/signer with a ${alg} CA`, function () {
    this.timeout(60_000);
    let chain: Chain;
    before(async () => {
      chain = await buildChain(alg);
    });

    it("issues a server leaf that openssl verifies for sslserver through the intermediate", () => {
      const leaf = issueLeaf(chain.inter, leafParams());
      const r = verify(chain, leaf.pem, "sslserver");
      assert.ok(r.ok, r.out);
      assert.match(text(leaf.pem), new RegExp(`Signature Algorithm: ${SIG_NAMES[alg]}`));
    });

    it("issues a client leaf that passes sslclient and fails sslserver", () => {
      const leaf = issueLeaf(chain.inter, leafParams({ type: "client", emails: ["dev@app.example"] }));
      const client = verify(chain, leaf.pem, "sslclient");
      assert.ok(client.ok, client.out);
      const server = verify(chain, leaf.pem, "sslserver");
      assert.equal(server.ok, false);
      assert.match(server.out, /error 26 at 0 depth lookup: unsuitable certificate purpose/);
    });

    it("issues a dual leaf (RSA key) that passes sslserver and sslclient", () => {
      const leaf = issueLeaf(chain.inter, leafParams({ type: "dual", publicKey: rsaLeafKey.publicKey }));
      for (const purpose of ["sslserver", "sslclient"] as const) {
        const r = verify(chain, leaf.pem, purpose);
        assert.ok(r.ok, `${purpose}: ${r.out}`);
      }
    });

    it("signs a v2 CRL that openssl verifies, with CRL number, serials and reasons", () => {
      const serials = [newSerial(), newSerial(), Buffer.from([0x00, 0x80, 0x01])];
      const der = signCrl(chain.inter, {
        crlNumber: 4242n,
        thisUpdate: new Date(now - 60_000),
        nextUpdate: new Date(now + DAY),
        entries: [
          { serial: serials[0]!, revokedAt: new Date(now - 3600_000), reason: 1 },
          { serial: serials[1]!, revokedAt: new Date(now - 7200_000), reason: 0 },
          { serial: serials[2]!, revokedAt: new Date(now - 7200_000), reason: 4 },
        ],
      });
      const file = tmp.file(`crl-${alg}.pem`, crlToPem(der));
      const r = openssl(["crl", "-verify", "-CAfile", chain.interFile, "-in", file, "-noout"]);
      assert.match(r.out, /verify OK/);
      const t = opensslOk(["crl", "-text", "-noout", "-in", file]);
      assert.match(t, /Version 2 \(0x1\)/);
      assert.match(t, /X509v3 CRL Number: \n\s+4242/);
      assert.match(t, /X509v3 Authority Key Identifier: \n\s+([0-9A-F]{2}:){19}[0-9A-F]{2}/);
      for (const s of serials) assert.ok(t.includes(`Serial Number: ${serialToHex(s).toUpperCase()}`), serialToHex(s));
      assert.match(t, /Key Compromise/);
      assert.match(t, /Superseded/);
      assert.equal((t.match(/CRL Reason Code/g) ?? []).length, 2, "unspecified reason has no reasonCode extension");
    });
  });
}

describe("ca/signer certificate contents (openssl x509 -text)", function () {
  this.timeout(60_000);
  let chain: Chain;
  before(async () => {
    chain = await buildChain("p256");
  });

  it("gives the root critical CA:TRUE with pathlen, CA key usage and AKI = SKI", () => {
    const t = text(chain.root.pem);
    assert.match(t, /X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:1/);
    assert.match(t, /X509v3 Key Usage: critical\n\s+Digital Signature, Certificate Sign, CRL Sign/);
    const ski = /X509v3 Subject Key Identifier: \n\s+(\S+)/.exec(t)![1];
    const aki = /X509v3 Authority Key Identifier: \n\s+(?:keyid:)?(\S+)/.exec(t)![1];
    assert.equal(aki, ski);
    assert.match(t, /Subject: C = DE, O = Sigil Test, CN = Sigil Test Root p256/);
    assert.doesNotMatch(t, /CRL Distribution Points/);
  });

  it("gives the intermediate pathlen 0, AKI = root SKI, and the root's CRL DP and AIA", () => {
    const t = text(chain.inter.pem);
    assert.match(t, /X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0/);
    const aki = /X509v3 Authority Key Identifier: \n\s+(?:keyid:)?(\S+)/.exec(t)![1]!;
    assert.equal(aki.replace(/:/g, "").toLowerCase(), chain.root.subjectKeyIdentifier.toString("hex"));
    assert.match(t, /URI:http:\/\/pki\.example\/crl\/root-p256\.crl/);
    assert.match(t, /CA Issuers - URI:http:\/\/pki\.example\/ca\/root-p256\.cer/);
    assert.equal(chain.inter.pathLength, 0);
    assert.equal(chain.root.pathLength, 1);
  });

  it("writes an EC leaf with digitalSignature only, EKU, SANs, CRL DP, AIA, SKI and AKI", () => {
    const leaf = issueLeaf(chain.inter, leafParams({ type: "dual", emails: ["ops@app.example"] }));
    const t = text(leaf.pem);
    assert.match(t, /X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
    assert.match(t, /X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    assert.doesNotMatch(t, /Key Encipherment/);
    assert.match(t, /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(t, /X509v3 Subject Alternative Name: \n\s+DNS:app\.example, DNS:www\.app\.example, IP Address:192\.0\.2\.10, IP Address:2001:DB8:0:0:0:0:0:10, email:ops@app\.example/);
    assert.match(t, /X509v3 CRL Distribution Points: \n\s+Full Name:\n\s+URI:http:\/\/pki\.example\/crl\/inter-p256\.crl/);
    assert.match(t, /Authority Information Access: \n\s+OCSP - URI:http:\/\/pki\.example\/ocsp\n\s+CA Issuers - URI:http:\/\/pki\.example\/ca\/inter-p256\.cer/);
    assert.match(t, /X509v3 Subject Key Identifier: \n\s+([0-9A-F]{2}:){19}[0-9A-F]{2}/);
    const aki = /X509v3 Authority Key Identifier: \n\s+(?:keyid:)?(\S+)/.exec(t)![1]!;
    assert.equal(aki.replace(/:/g, "").toLowerCase(), chain.inter.subjectKeyIdentifier.toString("hex"));
    assert.match(t, /Subject: CN = app\.example/);
    assert.match(t, /Version: 3 \(0x2\)/);
  });

  it("adds keyEncipherment for an RSA leaf", () => {
    const t = text(issueLeaf(chain.inter, leafParams({ publicKey: rsaLeafKey.publicKey })).pem);
    assert.match(t, /X509v3 Key Usage: critical\n\s+Digital Signature, Key Encipherment/);
  });

  it("makes the SAN critical when there is no common name", () => {
    const leaf = issueLeaf(chain.inter, leafParams({ commonName: undefined }));
    const t = text(leaf.pem);
    assert.match(t, /X509v3 Subject Alternative Name: critical/);
    assert.match(t, /Subject: *\n/);
    const r = verify(chain, leaf.pem, "sslserver");
    assert.ok(r.ok, r.out);
  });

  it("clamps notAfter to the issuer's notAfter", () => {
    const leaf = issueLeaf(chain.inter, leafParams({ notAfter: new Date(now + 4000 * DAY) }));
    const end = opensslOk(["x509", "-noout", "-enddate", "-in", tmp.file("clamp.pem", leaf.pem)]);
    assert.equal(new Date(end.replace("notAfter=", "").trim()).getTime(), chain.inter.notAfter.getTime());
  });

  it("uses GeneralizedTime for dates in 2050 and later", async () => {
    const keys = await generateKeyPair("p256");
    const root = await createRootCa({ subject: { commonName: "Long" }, signingKey: keyObjectSigningKey(keys.privateKey), serial: newSerial(), notBefore: new Date(now - DAY), notAfter: new Date(Date.UTC(2051, 0, 1)) });
    const issuer = loadIssuer({ certificateDer: root.der, signingKey: keyObjectSigningKey(keys.privateKey) });
    assert.equal(issuer.notAfter.toISOString(), "2051-01-01T00:00:00.000Z");
    assert.ok(root.der.includes(Buffer.from([0x18, 0x0f, ...Buffer.from("20510101000000Z")])));
    assert.match(text(root.pem), /Not After : Jan  1 00:00:00 2051 GMT/);
  });

  it("issues a leaf from an openssl CSR end to end", () => {
    const keyFile = tmp.file("e2e.key");
    opensslOk(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", keyFile]);
    const csrFile = tmp.file("e2e.csr");
    opensslOk(["req", "-new", "-key", keyFile, "-subj", "/CN=e2e.example", "-addext", "subjectAltName=DNS:e2e.example,IP:10.1.2.3", "-out", csrFile]);
    const csr = parseCsr(csrDerFromPem(tmp.read("e2e.csr").toString()));
    const leaf = issueLeaf(chain.inter, leafParams({ publicKey: csr.publicKeySpki, commonName: csr.commonName, dnsNames: csr.dnsNames, ipAddresses: csr.ipAddresses }));
    const r = verify(chain, leaf.pem, "sslserver");
    assert.ok(r.ok, r.out);
    const mod = (args: string[]): string => opensslOk(args).trim();
    assert.equal(mod(["pkey", "-pubout", "-in", keyFile]), mod(["x509", "-pubkey", "-noout", "-in", tmp.file("e2e.pem", leaf.pem)]));
  });
});

describe("ca/signer refusals", function () {
  this.timeout(30_000);
  let chain: Chain;
  before(async () => {
    chain = await buildChain("p256");
  });

  it("refuses a subordinate whose path length is not below the parent's", async () => {
    const keys = await generateKeyPair("p256");
    const p = { subject: { commonName: "Sub" }, publicKey: keys.publicKey, serial: newSerial(), notBefore: new Date(now), notAfter: new Date(now + DAY) };
    await assert.rejects(issueSubordinateCa(chain.root, { ...p, pathLength: 1 }), invalid("pathLength"));
    await assert.rejects(issueSubordinateCa(chain.root, { ...p, pathLength: null }), invalid("pathLength"));
    await assert.rejects(issueSubordinateCa(chain.inter, { ...p, pathLength: 0 }), invalid("pathLength"));
  });

  it("refuses a subordinate whose validity exceeds the parent's", async () => {
    const keys = await generateKeyPair("p256");
    const p = { subject: { commonName: "Sub" }, publicKey: keys.publicKey, serial: newSerial(), pathLength: 0 };
    await assert.rejects(
      issueSubordinateCa(chain.root, { ...p, notBefore: new Date(now), notAfter: new Date(chain.root.notAfter.getTime() + 1000) }),
      invalid("notAfter"),
    );
    await assert.rejects(
      issueSubordinateCa(chain.root, { ...p, notBefore: new Date(chain.root.notBefore.getTime() - 1000), notAfter: new Date(now + DAY) }),
      invalid("notBefore"),
    );
  });

  it("refuses a leaf with no names, a bad IP, or an inverted validity", () => {
    assert.throws(() => issueLeaf(chain.inter, leafParams({ dnsNames: [], ipAddresses: [], emails: [] })), invalid("dnsNames"));
    assert.throws(() => issueLeaf(chain.inter, leafParams({ ipAddresses: ["300.1.1.1"] })), invalid("ipAddresses"));
    assert.throws(() => issueLeaf(chain.inter, leafParams({ dnsNames: ["bad name"] })), invalid("dnsNames"));
    assert.throws(() => issueLeaf(chain.inter, leafParams({ notBefore: new Date(now + 2 * DAY), notAfter: new Date(now + DAY) })), invalid("notAfter"));
    assert.throws(() => issueLeaf(chain.inter, leafParams({ commonName: "x".repeat(65) })), invalid("commonName"));
    assert.throws(() => issueLeaf(chain.inter, leafParams({ serial: Buffer.alloc(21, 1) })), invalid("serial"));
  });

  it("refuses weak leaf keys with badPublicKey", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const weak = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
    assert.throws(() => issueLeaf(chain.inter, leafParams({ publicKey: weak })), (e: unknown) => isSigilError(e, "badPublicKey"));
  });

  it("refuses to load a non-CA certificate or a key that does not match", async () => {
    const leaf = issueLeaf(chain.inter, leafParams());
    assert.throws(() => loadIssuer({ certificateDer: leaf.der, signingKey: keyObjectSigningKey(ecLeafKey.privateKey) }), invalid("certificateDer"));
    const other = await generateKeyPair("p256");
    assert.throws(() => loadIssuer({ certificateDer: chain.inter.certificateDer, signingKey: keyObjectSigningKey(other.privateKey) }), invalid("privateKey"));
    assert.throws(() => loadIssuer({ certificateDer: Buffer.from("junk"), signingKey: keyObjectSigningKey(other.privateKey) }), invalid("certificateDer"));
  });

  it("refuses a CRL whose nextUpdate is not after thisUpdate and signs an empty CRL without a revoked list", () => {
    assert.throws(() => signCrl(chain.inter, { crlNumber: 1n, thisUpdate: new Date(now), nextUpdate: new Date(now), entries: [] }), invalid("nextUpdate"));
    const der = signCrl(chain.inter, { crlNumber: 1n, thisUpdate: new Date(now), nextUpdate: new Date(now + DAY), entries: [] });
    const file = tmp.file("empty.crl.pem", crlToPem(der));
    assert.match(openssl(["crl", "-verify", "-CAfile", chain.interFile, "-in", file, "-noout"]).out, /verify OK/);
    assert.match(opensslOk(["crl", "-text", "-noout", "-in", file]), /No Revoked Certificates/);
  });
});
