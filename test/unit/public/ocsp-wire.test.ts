import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ctxCons, derOctetString, derOid, derUnsignedInteger, seq } from "../../../src/ca/der.js";
import { generateKeyPair } from "../../../src/ca/keys.js";
import {
  certIdMatches,
  encodeSingleResponse,
  issueOcspResponderCertificate,
  issuerHashes,
  MalformedOcspRequest,
  ocspErrorResponse,
  ocspSigningKey,
  parseOcspRequest,
  signOcspResponse,
} from "../../../src/ca/ocsp.js";
import { newSerial, serialToHex } from "../../../src/ca/serial.js";
import { createRootCa, issueLeaf, loadIssuer, type Issuer } from "../../../src/ca/signer.js";
import { openssl, opensslOk, TempDir } from "../../unit/ca/openssl.js";
import { keyObjectSigningKey } from "../../../src/ca/key-store.js";

const DAY = 86_400_000;

function certId(nameHash: Buffer, keyHash: Buffer, serial: Buffer, hashOid = "1.3.14.3.2.26"): Buffer {
  return seq(seq(derOid(hashOid), Buffer.from([0x05, 0x00])), derOctetString(nameHash), derOctetString(keyHash), derUnsignedInteger(serial));
}

function request(ids: Buffer[], nonceExtnValue?: Buffer): Buffer {
  const parts = [seq(...ids.map((id) => seq(id)))];
  if (nonceExtnValue) parts.push(ctxCons(2, seq(seq(derOid("1.3.6.1.5.5.7.48.1.2"), derOctetString(nonceExtnValue)))));
  return seq(seq(...parts));
}

describe("OCSP wire format (src/ca/ocsp.ts)", () => {
  let tmp: TempDir;
  let issuer: Issuer;
  let caPem: string;
  let leafPem: string;
  let leafSerial: Buffer;

  before(async () => {
    tmp = new TempDir();
    const keys = await generateKeyPair("p256");
    const now = Date.now();
    const root = await createRootCa({ subject: { commonName: "OCSP Unit CA" }, signingKey: keyObjectSigningKey(keys.privateKey), serial: newSerial(), notBefore: new Date(now - DAY), notAfter: new Date(now + 365 * DAY) });
    issuer = loadIssuer({ certificateDer: root.der, signingKey: keyObjectSigningKey(keys.privateKey), urls: { ocspUrl: "http://127.0.0.1/ocsp/x" } });
    caPem = tmp.file("ca.pem", root.pem);
    leafSerial = newSerial();
    const leafKey = await generateKeyPair("p256");
    leafPem = tmp.file(
      "leaf.pem",
      issueLeaf(issuer, { publicKey: leafKey.publicKey, type: "server", dnsNames: ["a.example"], ipAddresses: [], emails: [], serial: leafSerial, notBefore: new Date(now - DAY), notAfter: new Date(now + 30 * DAY) }).pem,
    );
  });
  after(() => tmp.remove());

  it("parses an openssl OCSP request: CertID matching the issuer, the serial, and the nonce", () => {
    const req = tmp.file("req.der");
    opensslOk(["ocsp", "-issuer", caPem, "-cert", leafPem, "-reqout", req]);
    const parsed = parseOcspRequest(tmp.read("req.der"));
    assert.equal(parsed.certIds.length, 1);
    const id = parsed.certIds[0]!;
    assert.equal(id.hash, "sha1");
    assert.ok(certIdMatches(id, issuerHashes(issuer)));
    assert.equal(serialToHex(id.serial), serialToHex(leafSerial));
    assert.ok(parsed.nonce, "openssl sends a nonce by default");
  });

  it("parses a SHA-256 CertID (openssl -sha256)", () => {
    const req = tmp.file("req256.der");
    opensslOk(["ocsp", "-sha256", "-issuer", caPem, "-cert", leafPem, "-no_nonce", "-reqout", req]);
    const parsed = parseOcspRequest(tmp.read("req256.der"));
    assert.equal(parsed.certIds[0]!.hash, "sha256");
    assert.ok(certIdMatches(parsed.certIds[0]!, issuerHashes(issuer)));
    assert.equal(parsed.nonce, undefined);
  });

  const h = () => issuerHashes(issuer).sha1;
  const cases: Array<[string, () => Buffer]> = [
    ["fail/garbage", () => Buffer.from("not DER at all")],
    ["fail/empty", () => Buffer.alloc(0)],
    ["fail/truncated", () => request([certId(h().name, h().key, leafSerial)]).subarray(0, 20)],
    ["fail/trailing-bytes", () => Buffer.concat([request([certId(h().name, h().key, leafSerial)]), Buffer.from([0])])],
    ["fail/empty-request-list", () => seq(seq(seq()))],
    ["fail/unknown-hash-algorithm", () => request([certId(h().name, h().key, leafSerial, "1.2.840.113549.2.5")])],
    ["fail/hash-of-wrong-length", () => request([certId(h().name.subarray(0, 10), h().key, leafSerial)])],
    ["fail/nonce-longer-than-32-octets (RFC 8954)", () => request([certId(h().name, h().key, leafSerial)], derOctetString(randomBytes(33)))],
    ["fail/empty-nonce", () => request([certId(h().name, h().key, leafSerial)], derOctetString(Buffer.alloc(0)))],
    ["fail/too-many-cert-ids", () => request(Array.from({ length: 17 }, () => certId(h().name, h().key, newSerial())))],
  ];
  for (const [name, build] of cases) {
    it(`rejects a malformed request: ${name}`, () => {
      assert.throws(() => parseOcspRequest(build()), MalformedOcspRequest);
    });
  }

  it("accepts a 32-octet nonce and a raw (un-wrapped) nonce, keeping the extnValue verbatim", () => {
    const wrapped = derOctetString(randomBytes(32));
    assert.deepEqual(parseOcspRequest(request([certId(h().name, h().key, leafSerial)], wrapped)).nonce, wrapped);
    const raw = randomBytes(16);
    raw[0] = 0x01; // not an OCTET STRING tag
    assert.deepEqual(parseOcspRequest(request([certId(h().name, h().key, leafSerial)], raw)).nonce, raw);
  });

  it("encodes error responses openssl reads (RFC 6960 §4.2.1)", () => {
    const f = tmp.file("err.der", ocspErrorResponse("malformedRequest"));
    assert.match(openssl(["ocsp", "-respin", f, "-resp_text", "-noverify"]).out, /malformedrequest \(1\)/i);
    const u = tmp.file("unauth.der", ocspErrorResponse("unauthorized"));
    assert.match(openssl(["ocsp", "-respin", u, "-resp_text", "-noverify"]).out, /unauthorized \(6\)/i);
  });

  it("signs responses with a delegated responder certificate that openssl verifies: good, and revoked with reason", async () => {
    const signerKeys = await generateKeyPair("p256");
    const now = new Date();
    const signerCert = issueOcspResponderCertificate(issuer, { publicKey: signerKeys.publicKey, serial: newSerial(), notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + 30 * DAY), commonName: "OCSP test" });
    const text = opensslOk(["x509", "-in", tmp.file("signer.pem", signerCert.pem), "-noout", "-text"]);
    assert.match(text, /OCSP Signing/);
    assert.match(text, /OCSP No Check/);
    assert.match(text, /CA:FALSE/);
    assert.match(text, /Digital Signature/);
    const signer = ocspSigningKey(keyObjectSigningKey(signerKeys.privateKey), signerCert.der);

    const reqFile = tmp.file("req2.der");
    opensslOk(["ocsp", "-issuer", caPem, "-cert", leafPem, "-reqout", reqFile]);
    const parsed = parseOcspRequest(tmp.read("req2.der"));
    const id = parsed.certIds[0]!;
    const next = new Date(now.getTime() + DAY);
    for (const [status, expect] of [
      [{ status: "good" } as const, /: good/],
      [{ status: "revoked", revokedAt: new Date(now.getTime() - 60_000), reason: 1 } as const, /Reason: keyCompromise/],
      [{ status: "unknown" } as const, /: unknown/],
    ] as const) {
      const der = signOcspResponse({ signer, producedAt: now, responses: [encodeSingleResponse(id.der, status, now, next)], nonce: parsed.nonce });
      const f = tmp.file(`resp-${status.status}.der`, der);
      // -no_nonce: openssl would compare with a fresh nonce of its own (the echo is checked end to end in the integration test)
      const r = openssl(["ocsp", "-respin", f, "-issuer", caPem, "-cert", leafPem, "-CAfile", caPem, "-resp_text", "-no_nonce"]);
      assert.match(r.out, /Response verify OK/, r.out);
      assert.match(r.out, expect);
      assert.match(r.out, /OCSP Nonce/);
    }
  });
});
