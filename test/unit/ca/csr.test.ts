import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { isSigilError } from "../../../src/core/errors.js";
import { csrDerFromPem, parseCsr } from "../../../src/ca/csr.js";
import { checkLeafKeyPolicy, checkLeafKeyPolicySpki, generateKeyPair, keyAlgorithmOf, spkiOf, exportPrivateKeyPkcs8, importPrivateKeyPkcs8, privateKeyToPem } from "../../../src/ca/keys.js";
import { openssl, opensslOk, TempDir } from "./openssl.js";

const tmp = new TempDir();
after(() => tmp.remove());

/** a CSR made by `openssl req` (interop proof), PEM */
function opensslCsr(keyArgs: string[], name: string, opts: { subj?: string; addext?: string[]; digest?: string } = {}): { csrPem: string; keyFile: string } {
  const keyFile = tmp.file(`${name}.key`);
  opensslOk(["genpkey", ...keyArgs, "-out", keyFile]);
  const csrFile = tmp.file(`${name}.csr`);
  const args = ["req", "-new", "-key", keyFile, "-out", csrFile, "-subj", opts.subj ?? "/CN=a.example", `-${opts.digest ?? "sha256"}`];
  for (const e of opts.addext ?? []) args.push("-addext", e);
  opensslOk(args);
  return { csrPem: tmp.read(`${name}.csr`).toString("utf8"), keyFile };
}

const EC = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
const SAN = "subjectAltName=DNS:A.Example,DNS:www.a.example,IP:192.0.2.7,IP:2001:DB8:0:0:0:0:0:1,email:ops@a.example";

const badCsr = (msg?: RegExp) => (e: unknown): boolean => isSigilError(e, "badCsr") && (!msg || msg.test((e as Error).message));
const badKey = (msg: RegExp) => (e: unknown): boolean => isSigilError(e, "badPublicKey") && msg.test((e as Error).message);

describe("ca/csr parseCsr", () => {
  it("reads an openssl P-256 CSR with DNS, IP and email SANs", () => {
    const { csrPem, keyFile } = opensslCsr(EC, "ec", { addext: [SAN] });
    const csr = parseCsr(csrDerFromPem(csrPem));
    assert.equal(csr.commonName, "a.example");
    assert.deepEqual(csr.dnsNames, ["a.example", "www.a.example"]);
    assert.deepEqual(csr.ipAddresses, ["192.0.2.7", "2001:db8::1"]);
    assert.deepEqual(csr.emails, ["ops@a.example"]);
    assert.equal(csr.requestsCa, false);
    assert.equal(keyAlgorithmOf(csr.publicKey), "p256");
    const expected = spkiOf(createPrivateKey(tmp.read(keyFile.split("/").pop()!)));
    assert.deepEqual(csr.publicKeySpki, expected);
  });

  it("reads an openssl RSA CSR (PKCS#1 v1.5, SHA-384) and an RSASSA-PSS-signed one", () => {
    const rsa = opensslCsr(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "rsa", { addext: ["subjectAltName=DNS:r.example"], digest: "sha384" });
    const csr = parseCsr(csrDerFromPem(rsa.csrPem));
    assert.deepEqual(csr.dnsNames, ["r.example"]);
    assert.equal(keyAlgorithmOf(csr.publicKey), "rsa2048");
    assert.equal(csr.signatureAlgorithm, "1.2.840.113549.1.1.12");

    const pssFile = tmp.file("pss.csr");
    opensslOk(["req", "-new", "-key", rsa.keyFile, "-subj", "/CN=p.example", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-out", pssFile]);
    const pss = parseCsr(csrDerFromPem(tmp.read("pss.csr").toString()));
    assert.equal(pss.signatureAlgorithm, "1.2.840.113549.1.1.10");
    assert.equal(pss.commonName, "p.example");
  });

  it("reports a CSR asking for CA:TRUE as requestsCa", () => {
    const { csrPem } = opensslCsr(EC, "ca", { addext: ["basicConstraints=critical,CA:TRUE", "subjectAltName=DNS:c.example"] });
    assert.equal(parseCsr(csrDerFromPem(csrPem)).requestsCa, true);
    const { csrPem: notCa } = opensslCsr(EC, "notca", { addext: ["basicConstraints=CA:FALSE"] });
    assert.equal(parseCsr(csrDerFromPem(notCa)).requestsCa, false);
  });

  it("rejects a CSR whose signature was altered with badCsr", () => {
    const { csrPem } = opensslCsr(EC, "flip", { addext: [SAN] });
    const der = csrDerFromPem(csrPem);
    der[der.length - 5]! ^= 0x01; // inside the ECDSA signature's s value
    assert.throws(() => parseCsr(der), badCsr(/CSR signature is invalid/));
  });

  it("rejects a CSR whose signed content was altered with badCsr", () => {
    const { csrPem } = opensslCsr(EC, "alter", { subj: "/CN=aaaa.example" });
    const der = csrDerFromPem(csrPem);
    const i = der.indexOf(Buffer.from("aaaa.example"));
    der[i] = "b".charCodeAt(0);
    assert.throws(() => parseCsr(der), badCsr(/CSR signature is invalid/));
  });

  it("rejects garbage, truncation and trailing data as unparseable", () => {
    const { csrPem } = opensslCsr(EC, "trunc");
    const der = csrDerFromPem(csrPem);
    assert.throws(() => parseCsr(Buffer.from("hello")), badCsr(/not a valid PKCS#10/));
    assert.throws(() => parseCsr(der.subarray(0, der.length - 3)), badCsr(/not a valid PKCS#10/));
    assert.throws(() => parseCsr(Buffer.concat([der, Buffer.from([0])])), badCsr(/not a valid PKCS#10/));
    assert.throws(() => csrDerFromPem("nope"), badCsr());
  });

  it("rejects SHA-1 signed CSRs", () => {
    const { csrPem } = opensslCsr(EC, "sha1", { digest: "sha1" });
    assert.throws(() => parseCsr(csrDerFromPem(csrPem)), badCsr(/SHA-1/));
  });

  it("rejects SAN types it does not issue (URI)", () => {
    const { csrPem } = opensslCsr(EC, "uri", { addext: ["subjectAltName=DNS:u.example,URI:https://u.example/"] });
    assert.throws(() => parseCsr(csrDerFromPem(csrPem)), badCsr(/URI/));
  });

  it("parses an RSA 1024 CSR, which the key policy then refuses", () => {
    const { csrPem } = opensslCsr(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], "rsa1024", { addext: ["subjectAltName=DNS:w.example"] });
    const csr = parseCsr(csrDerFromPem(csrPem));
    assert.throws(() => checkLeafKeyPolicy(csr.publicKey), badKey(/1024 bits; at least 2048/));
    assert.throws(() => checkLeafKeyPolicySpki(csr.publicKeySpki), badKey(/1024 bits/));
  });
});

describe("ca/keys", () => {
  it("accepts P-256, P-384 and RSA 2048..8192 leaf keys", async () => {
    for (const alg of ["p256", "p384", "rsa2048"] as const) {
      const kp = await generateKeyPair(alg);
      assert.equal(keyAlgorithmOf(kp.publicKey), alg);
      assert.equal(keyAlgorithmOf(kp.privateKey), alg);
      checkLeafKeyPolicy(kp.publicKey);
    }
    const odd = generateKeyPairSync("rsa", { modulusLength: 2560 });
    checkLeafKeyPolicy(odd.publicKey);
    assert.equal(keyAlgorithmOf(odd.publicKey), undefined);
  });

  it("refuses other curves, other key types, small RSA and odd exponents with badPublicKey", () => {
    const cases: Array<[ReturnType<typeof generateKeyPairSync>["publicKey"], RegExp]> = [
      [generateKeyPairSync("ec", { namedCurve: "P-521" }).publicKey, /P-521 is not accepted/],
      [generateKeyPairSync("ec", { namedCurve: "secp256k1" }).publicKey, /secp256k1 is not accepted/],
      [generateKeyPairSync("ed25519").publicKey, /ed25519 is not accepted/i],
      [generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey, /1024 bits/],
      [generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 }).publicKey, /exponent must be 65537/],
      [generateKeyPairSync("rsa-pss", { modulusLength: 2048 }).publicKey, /rsa-pss is not accepted/i],
    ];
    for (const [key, msg] of cases) assert.throws(() => checkLeafKeyPolicy(key), badKey(msg), msg.source);
    assert.throws(() => checkLeafKeyPolicySpki(Buffer.from([0x30, 0x00])), badKey(/malformed/));
  });

  it("round-trips PKCS#8 DER and writes PKCS#8 PEM", async () => {
    const kp = await generateKeyPair("p384");
    const der = exportPrivateKeyPkcs8(kp.privateKey);
    const back = importPrivateKeyPkcs8(der);
    assert.deepEqual(spkiOf(back), spkiOf(kp.publicKey));
    assert.match(privateKeyToPem(kp.privateKey), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.deepEqual(spkiOf(createPublicKey(privateKeyToPem(back))), spkiOf(kp.publicKey));
    assert.throws(() => importPrivateKeyPkcs8(Buffer.from("junk")), (e: unknown) => isSigilError(e, "invalidArgument"));
  });
});

describe("ca/csr createCsr", () => {
  it("builds CSRs that openssl verifies and parseCsr reads back", async () => {
    const { createCsr } = await import("../../../src/ca/csr.js");
    for (const alg of ["p256", "p384", "rsa2048"] as const) {
      const kp = await generateKeyPair(alg);
      const csr = createCsr({ privateKey: kp.privateKey, commonName: "b.example", dnsNames: ["b.example"], ipAddresses: ["::1"], emails: ["x@b.example"], requestCa: true });
      const r = openssl(["req", "-verify", "-noout", "-in", tmp.file(`built-${alg}.csr`, csr.pem)]);
      assert.match(r.out, /self-signature verify OK/);
      assert.equal(r.status, 0);
      const parsed = parseCsr(csr.der);
      assert.deepEqual([parsed.commonName, parsed.dnsNames, parsed.ipAddresses, parsed.emails, parsed.requestsCa], ["b.example", ["b.example"], ["::1"], ["x@b.example"], true]);
      assert.equal(keyAlgorithmOf(parsed.publicKey), alg);
    }
  });
});
