/**
 * The streamed CRL read: RevokedRowsParser (src/db/store/crls.ts) over PostgreSQL's binary
 * COPY format, whatever the chunk boundaries, feeding RevokedCertificatesWriter
 * (src/ca/crl-entries.ts), must give exactly the entries the columnar input gives; signCrl
 * framing the writer's list in place must give the same TBSCertList as copying it.
 */
import assert from "node:assert/strict";
import { RevokedCertificatesWriter, writeEntryColumns, type CrlEntryColumns } from "../../../src/ca/crl-entries.js";
import { expectNode, rawOf, TAG } from "../../../src/ca/der.js";
import { generateKeyPair } from "../../../src/ca/keys.js";
import { keyObjectSigningKey } from "../../../src/ca/key-store.js";
import { newSerial } from "../../../src/ca/serial.js";
import { createRootCa, loadIssuer, signCrl, type Issuer } from "../../../src/ca/signer.js";
import { RevokedRowsParser } from "../../../src/db/store/crls.js";

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");

/** one binary COPY row (serial text, int8 seconds, int2 reason) */
function row(serial: string, seconds: number, reason: number): Buffer {
  const s = Buffer.from(serial, "latin1");
  const b = Buffer.alloc(2 + 4 + s.length + 12 + 6);
  let o = b.writeInt16BE(3, 0);
  o = b.writeInt32BE(s.length, o);
  o += s.copy(b, o);
  o = b.writeInt32BE(8, o);
  o = b.writeBigInt64BE(BigInt(seconds), o);
  o = b.writeInt32BE(2, o);
  b.writeInt16BE(reason, o);
  return b;
}

function stream(rows: Buffer[], headerExtension = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(headerExtension.length, 4);
  return Buffer.concat([SIGNATURE, head, headerExtension, ...rows, Buffer.from([0xff, 0xff])]);
}

const ENTRIES: Array<[string, number, number]> = [
  ["7f", 1_764_583_200, 0],
  ["80", 1_764_583_201, 1],
  ["ABCDEF0123456789", 2_524_607_999, 4], // 2049-12-31T23:59:59Z: the last UTCTime
  ["7f" + "ab".repeat(19), 2_524_608_000, 10], // 2050: GeneralizedTime
  ["00000101", -631_152_001, 9], // before 1950, negative seconds
  ["1abc", 1_800_000_000, 8],
];

function columns(entries: Array<[string, number, number]>): CrlEntryColumns {
  return {
    count: entries.length,
    serialsHex: entries.map((e) => e[0]).join(","),
    revokedAtSeconds: Float64Array.from(entries, (e) => e[1]),
    reasons: Uint8Array.from(entries, (e) => e[2]),
  };
}

function parse(chunks: Buffer[]): RevokedCertificatesWriter {
  const w = new RevokedCertificatesWriter();
  const p = new RevokedRowsParser((hex, from, to, seconds, reason) => w.addHex(hex, from, to, seconds * 1000, reason));
  // each chunk is handed over as a view into a buffer that is overwritten afterwards, as pg does
  for (const c of chunks) {
    const scratch = Buffer.from(c);
    p.push(scratch);
    scratch.fill(0xee);
  }
  assert.equal(p.finish(), w.count);
  return w;
}

describe("ca/crl-entries streamed from a binary COPY", function () {
  this.timeout(60_000);
  let issuer: Issuer;
  before(async () => {
    const keys = await generateKeyPair("p256");
    const now = Date.now();
    const root = await createRootCa({
      subject: { commonName: "CRL stream test" },
      signingKey: keyObjectSigningKey(keys.privateKey),
      serial: newSerial(),
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + 3650 * 86_400_000),
      pathLength: 0,
    });
    issuer = loadIssuer({ certificateDer: root.der, signingKey: keyObjectSigningKey(keys.privateKey) });
  });

  it("ok/boundaries: the same entries as the columns, split at every byte and in two at every offset", () => {
    const expected = writeEntryColumns(columns(ENTRIES)).bytes;
    const whole = stream(ENTRIES.map((e) => row(...e)), Buffer.from("ext!"));
    assert.deepEqual(parse([whole]).bytes, expected, "one chunk");
    const bytes: Buffer[] = [];
    for (let i = 0; i < whole.length; i++) bytes.push(whole.subarray(i, i + 1));
    assert.deepEqual(parse(bytes).bytes, expected, "one byte per chunk");
    for (let cut = 0; cut <= whole.length; cut++) {
      assert.deepEqual(parse([whole.subarray(0, cut), whole.subarray(cut)]).bytes, expected, `cut at ${cut}`);
    }
  });

  it("fail/stream: a truncated stream, a wrong signature, a null field or data after the trailer throw", () => {
    const whole = stream(ENTRIES.map((e) => row(...e)));
    const sink = () => undefined;
    const truncated = new RevokedRowsParser(sink);
    truncated.push(whole.subarray(0, whole.length - 1));
    assert.throws(() => truncated.finish(), /ended early/);
    assert.throws(() => new RevokedRowsParser(sink).push(Buffer.concat([Buffer.from("PGCOPX"), whole.subarray(6)])), /not a binary COPY/);
    const nullTime = row("01", 0, 0);
    nullTime.writeInt32BE(-1, 2 + 4 + 2);
    assert.throws(() => new RevokedRowsParser(sink).push(stream([nullTime, row("02", 0, 0), row("03", 0, 0)])), /null/);
    const after = new RevokedRowsParser(sink);
    after.push(whole);
    assert.throws(() => after.push(Buffer.from([0, 3])), /after the trailer/);
    assert.throws(() => new RevokedRowsParser(sink).push(Buffer.concat([whole, Buffer.from([0, 3])])), /after the trailer/);
  });

  it("fail/entries: a non-hex or zero serial and a non-reason from the stream are invalidArgument, with the entry's index", () => {
    for (const [bad, message] of [
      [["0g", 1_800_000_000, 0], /entries\[1\]\.serial is not hexadecimal/],
      [["000", 1_800_000_000, 0], /entries\[1\]\.serial must be positive/],
      [["01", 1_800_000_000, 7], /entries\[1\]\.reason 7 is not a CRLReason/],
    ] as const) {
      assert.throws(() => parse([stream([row("01", 1_800_000_000, 0), row(bad[0], bad[1], bad[2])])]), message);
    }
  });

  it("ok/framing: signCrl around the writer's buffer (in place) equals signCrl copying the list", () => {
    const many: Array<[string, number, number]> = [];
    for (let i = 0; i < 20_000; i++) many.push([(0x100000 + i * 7919).toString(16), 1_800_000_000 + i, [0, 1, 4, 5][i % 4]!]);
    const p = { crlNumber: 9n, thisUpdate: new Date("2026-12-01T12:00:00Z"), nextUpdate: new Date("2026-12-08T12:00:00Z") };
    // sized well: framed in place
    const sized = new RevokedCertificatesWriter(many.length);
    // grown from the smallest buffer, with slack: copied
    const grown = new RevokedCertificatesWriter();
    const parser = (w: RevokedCertificatesWriter) => new RevokedRowsParser((hex, from, to, s, r) => w.addHex(hex, from, to, s * 1000, r));
    const s = stream(many.map((e) => row(...e)));
    for (const w of [sized, grown]) {
      const q = parser(w);
      q.push(s);
      q.finish();
    }
    const tbs = (der: Buffer) => rawOf(der, expectNode(der, expectNode(der, 0, TAG.SEQUENCE).valueStart, TAG.SEQUENCE));
    const a = signCrl(issuer, { ...p, entries: sized });
    const b = signCrl(issuer, { ...p, entries: grown });
    const c = signCrl(issuer, { ...p, entries: columns(many) });
    assert.deepEqual(tbs(a), tbs(c));
    assert.deepEqual(tbs(b), tbs(c));
    // the in-place CRL is a view of the writer's buffer, the copied one is not
    assert.ok(a.buffer.byteLength < a.length * 1.2, "no large slack kept alive with the CRL");
  });
});
