/**
 * The hand-written CRL encoder (src/ca/signer.ts signCrl) against pkijs's
 * encoding of the same TBSCertList, byte for byte, for the edge cases of
 * RFC 5280 §5.1: serials with the high bit set (a leading 0x00 octet), with
 * leading zero octets, of 20 octets; UTCTime up to 2049 and GeneralizedTime
 * from 2050 (§5.1.2.4, §5.1.2.6); every reasonCode (§5.3.1) and none for
 * unspecified; an empty list (§5.1.2.6: revokedCertificates absent). The
 * columnar input (what the store reads) must give the same bytes as the
 * object input, and openssl must verify the signed result.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { isSigilError } from "../../../src/core/errors.js";
import type { RevocationReason } from "../../../src/core/types.js";
import { expectNode, rawOf, TAG } from "../../../src/ca/der.js";
import { generateKeyPair } from "../../../src/ca/keys.js";
import { newSerial } from "../../../src/ca/serial.js";
import { createRootCa, crlToPem, loadIssuer, signCrl, type CrlEntry, type CrlEntryColumns, type Issuer } from "../../../src/ca/signer.js";
import { openssl, opensslOk, TempDir } from "./openssl.js";
import { keyObjectSigningKey } from "../../../src/ca/key-store.js";

const DAY = 86_400_000;
const tmp = new TempDir();
after(() => tmp.remove());

let issuer: Issuer;
let caFile: string;
before(async () => {
  const keys = await generateKeyPair("p256");
  const now = Date.now();
  const root = await createRootCa({
    subject: { commonName: "CRL encoding test" },
    signingKey: keyObjectSigningKey(keys.privateKey),
    serial: newSerial(),
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + 3650 * DAY),
    pathLength: 0,
  });
  issuer = loadIssuer({ certificateDer: root.der, signingKey: keyObjectSigningKey(keys.privateKey) });
  caFile = tmp.file("ca.pem", root.pem);
});

/** the TBSCertList bytes of a signed CertificateList (its first element), after pkijs parsed the whole */
function tbsOf(der: Buffer): Buffer {
  pkijs.CertificateRevocationList.fromBER(der);
  return rawOf(der, expectNode(der, expectNode(der, 0, TAG.SEQUENCE).valueStart, TAG.SEQUENCE));
}

/** pkijs's TBSCertList for the same content, built from the issuer's own fields */
function pkijsTbs(thisUpdate: Date, nextUpdate: Date, crlNumber: number, entries: CrlEntry[]): Buffer {
  const cert = pkijs.Certificate.fromBER(issuer.certificateDer);
  const crl = new pkijs.CertificateRevocationList();
  crl.version = 1;
  crl.signature = new pkijs.AlgorithmIdentifier({ algorithmId: "1.2.840.10045.4.3.2" });
  crl.issuer = cert.subject;
  crl.thisUpdate = new pkijs.Time({ type: thisUpdate.getUTCFullYear() >= 2050 ? 1 : 0, value: thisUpdate });
  crl.nextUpdate = new pkijs.Time({ type: nextUpdate.getUTCFullYear() >= 2050 ? 1 : 0, value: nextUpdate });
  if (entries.length) {
    crl.revokedCertificates = entries.map((e) => {
      let i = 0;
      while (i < e.serial.length - 1 && e.serial[i] === 0) i++;
      let mag = e.serial.subarray(i);
      if (mag[0]! & 0x80) mag = Buffer.concat([Buffer.from([0]), mag]);
      const year = e.revokedAt.getUTCFullYear();
      return new pkijs.RevokedCertificate({
        userCertificate: new asn1js.Integer({ valueHex: new Uint8Array(mag).buffer }),
        revocationDate: new pkijs.Time({ type: year >= 1950 && year < 2050 ? 0 : 1, value: e.revokedAt }),
        ...(e.reason
          ? {
              crlEntryExtensions: new pkijs.Extensions({
                extensions: [new pkijs.Extension({ extnID: "2.5.29.21", critical: false, extnValue: new asn1js.Enumerated({ value: e.reason }).toBER(false) })],
              }),
            }
          : {}),
      });
    });
  }
  crl.crlExtensions = new pkijs.Extensions({
    extensions: [
      new pkijs.Extension({
        extnID: "2.5.29.35",
        critical: false,
        extnValue: new asn1js.Sequence({ value: [new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: new Uint8Array(issuer.subjectKeyIdentifier).buffer })] }).toBER(false),
      }),
      new pkijs.Extension({ extnID: "2.5.29.20", critical: false, extnValue: new asn1js.Integer({ value: crlNumber }).toBER(false) }),
    ],
  });
  return Buffer.from((crl as unknown as { encodeTBS(): asn1js.Sequence }).encodeTBS().toBER(false));
}

/** what the store hands over for the same entries */
function columnsOf(entries: CrlEntry[], opts: { upper?: boolean; oddHex?: boolean } = {}): CrlEntryColumns {
  return {
    count: entries.length,
    serialsHex: entries
      .map((e) => {
        let h = e.serial.toString("hex");
        if (opts.oddHex && h.startsWith("0")) h = h.slice(1);
        return opts.upper ? h.toUpperCase() : h;
      })
      .join(","),
    revokedAtSeconds: Float64Array.from(entries, (e) => Math.floor(e.revokedAt.getTime() / 1000)),
    reasons: Uint8Array.from(entries, (e) => e.reason ?? 0),
  };
}

const REASONS: RevocationReason[] = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10];

function edgeEntries(): CrlEntry[] {
  const t = (iso: string) => new Date(iso);
  return [
    { serial: Buffer.from("7f", "hex"), revokedAt: t("2026-12-01T10:00:00Z") },
    { serial: Buffer.from("80", "hex"), revokedAt: t("2026-12-01T10:00:01Z"), reason: 1 }, // high bit: 02 02 00 80
    { serial: Buffer.from("ff".repeat(19), "hex"), revokedAt: t("2049-12-31T23:59:59Z"), reason: 4 }, // 19 octets + 0x00 = 20
    { serial: Buffer.from("7f" + "ab".repeat(19), "hex"), revokedAt: t("2050-01-01T00:00:00Z"), reason: 10 }, // 20 octets, GeneralizedTime
    { serial: Buffer.from("0000" + "01".repeat(8), "hex"), revokedAt: t("1950-01-01T00:00:00Z"), reason: 9 }, // leading zero octets dropped
    { serial: Buffer.from("0080", "hex"), revokedAt: t("1949-12-31T23:59:59Z"), reason: 8 }, // before 1950: GeneralizedTime
    ...REASONS.map((reason, i) => ({ serial: randomBytes(16).fill(0x40 + i, 0, 1), revokedAt: t("2027-03-04T05:06:07Z"), reason })),
  ];
}

describe("ca/signer CRL encoding (fast DER against pkijs)", function () {
  this.timeout(60_000);
  const thisUpdate = new Date("2026-12-01T12:00:00Z");
  const nextUpdate = new Date("2026-12-08T12:00:00Z");

  it("ok/edge-cases: equals pkijs's TBSCertList byte for byte, from objects and from columns", () => {
    const entries = edgeEntries();
    const expected = pkijsTbs(thisUpdate, nextUpdate, 77, entries);
    const fromObjects = signCrl(issuer, { crlNumber: 77n, thisUpdate, nextUpdate, entries });
    assert.deepEqual(tbsOf(fromObjects), expected);
    for (const opts of [{}, { upper: true }, { oddHex: true }]) {
      const fromColumns = signCrl(issuer, { crlNumber: 77n, thisUpdate, nextUpdate, entries: columnsOf(entries, opts) });
      assert.deepEqual(tbsOf(fromColumns), expected, JSON.stringify(opts));
    }
  });

  it("ok/openssl: verifies the columnar CRL and lists every serial, date and reason", () => {
    const entries = edgeEntries();
    const der = signCrl(issuer, { crlNumber: 78n, thisUpdate, nextUpdate, entries: columnsOf(entries) });
    const file = tmp.file("edge.crl.pem", crlToPem(der));
    assert.match(openssl(["crl", "-verify", "-CAfile", caFile, "-in", file, "-noout"]).out, /verify OK/);
    const text = opensslOk(["crl", "-text", "-noout", "-in", file]);
    assert.equal(text.match(/Serial Number:/g)?.length, entries.length);
    assert.match(text, /Serial Number: 80\n\s+Revocation Date: Dec  1 10:00:01 2026 GMT/);
    assert.match(text, /Revocation Date: Jan  1 00:00:00 2050 GMT/);
    assert.match(text, /Revocation Date: Dec 31 23:59:59 1949 GMT/);
    assert.match(text, /Serial Number: 0101010101010101\n/);
    for (const r of ["Key Compromise", "Superseded", "AA Compromise", "Remove From CRL", "Privilege Withdrawn", "CA Compromise", "Affiliation Changed", "Cessation Of Operation", "Certificate Hold"]) {
      assert.match(text, new RegExp(`CRL Reason Code:\\s*\\n\\s+${r}`), r);
    }
    assert.match(text, /X509v3 CRL Number: \n\s+78/);
  });

  it("ok/empty: no revokedCertificates field, same as pkijs, from objects and from columns", () => {
    const expected = pkijsTbs(thisUpdate, nextUpdate, 1, []);
    assert.deepEqual(tbsOf(signCrl(issuer, { crlNumber: 1n, thisUpdate, nextUpdate, entries: [] })), expected);
    const der = signCrl(issuer, { crlNumber: 1n, thisUpdate, nextUpdate, entries: { count: 0, serialsHex: "", revokedAtSeconds: new Float64Array(0), reasons: new Uint8Array(0) } });
    assert.deepEqual(tbsOf(der), expected);
    assert.match(opensslOk(["crl", "-text", "-noout", "-in", tmp.file("empty.crl.pem", crlToPem(der))]), /No Revoked Certificates/);
  });

  it("ok/large: 100k columnar entries equal the object encoding and verify", () => {
    const entries: CrlEntry[] = [];
    const base = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 100_000; i++) entries.push({ serial: randomBytes(16), revokedAt: new Date(base + i * 1000), reason: REASONS[i % REASONS.length]! });
    const a = signCrl(issuer, { crlNumber: 5n, thisUpdate, nextUpdate, entries });
    const b = signCrl(issuer, { crlNumber: 5n, thisUpdate, nextUpdate, entries: columnsOf(entries) });
    // (pkijs refuses lists this long: compare the TBSCertList bytes directly)
    const tbs = (der: Buffer) => rawOf(der, expectNode(der, expectNode(der, 0, TAG.SEQUENCE).valueStart, TAG.SEQUENCE));
    assert.deepEqual(tbs(a), tbs(b));
    assert.match(openssl(["crl", "-verify", "-CAfile", caFile, "-in", tmp.file("large.crl.pem", crlToPem(b)), "-noout"]).out, /verify OK/);
  });

  it("fail/bad-columns: a zero or 21-octet serial, non-hex digits, a non-reason or mismatched lengths are invalidArgument", () => {
    const one = (serialsHex: string, reason = 0): CrlEntryColumns => ({ count: 1, serialsHex, revokedAtSeconds: Float64Array.of(1_800_000_000), reasons: Uint8Array.of(reason) });
    const invalid = (e: unknown) => isSigilError(e, "invalidArgument");
    for (const c of [one("00"), one(""), one("80" + "00".repeat(19)), one("zz"), one("01", 7), one("01,02")]) {
      assert.throws(() => signCrl(issuer, { crlNumber: 1n, thisUpdate, nextUpdate, entries: c }), invalid, c.serialsHex);
    }
    assert.throws(() => signCrl(issuer, { crlNumber: 1n, thisUpdate, nextUpdate, entries: [{ serial: Buffer.from([0x80, ...Buffer.alloc(19)]), revokedAt: new Date() }] }), invalid);
    assert.throws(() => signCrl(issuer, { crlNumber: 1n, thisUpdate, nextUpdate, entries: { ...one("01"), reasons: new Uint8Array(2) } }));
  });
});
