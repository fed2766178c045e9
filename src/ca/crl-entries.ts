/**
 * The revokedCertificates list of a CRL (RFC 5280 §5.1.2.6), encoded entry
 * by entry as the entries arrive: a store streaming a million revoked rows
 * hands each to `add` / `addHex` while the database is still producing the
 * next ones, so reading and encoding overlap, and signCrl (./signer.ts) only
 * wraps the finished bytes. Each entry is the fixed template
 *
 *   SEQUENCE { INTEGER userCertificate, Time revocationDate
 *              [, Extensions { reasonCode }] }
 *
 * written straight into one growing buffer (no object, Buffer or Date per
 * entry). Every check signCrl made before (positive serial of at most 20
 * octets, a CRLReason, a representable time) is made per entry, with the
 * entry's index in the message.
 */
import { SigilError } from "../core/errors.js";
import { TAG } from "./der.js";
import type { CrlEntry } from "./signer.js";

const REASON_EXT_PREFIX = Buffer.from([
  // Extensions SEQUENCE { Extension SEQUENCE { extnID reasonCode, extnValue OCTET STRING { ENUMERATED x } } }
  0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01,
]);
/** RFC 5280 §5.3.1 CRLReason values (7 is not assigned) */
const IS_REASON = (() => {
  const t = new Uint8Array(256);
  for (const r of [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]) t[r] = 1;
  return t;
})();
/** hex digit value by byte (either case), -1 for anything else (non-ASCII included) */
const HEX = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) t[0x61 + i] = t[0x41 + i] = 10 + i;
  return t;
})();

// RFC 5280 §4.1.2.5 (and §5.1.2.6 revocationDate): UTCTime from 1950 up to 2049, GeneralizedTime outside
const UTC_TIME_FROM_MS = Date.UTC(1950, 0, 1);
const UTC_TIME_UNTIL_MS = Date.UTC(2050, 0, 1);
// GeneralizedTime YYYY: years 0000..9999 (Date.UTC maps years below 100 to 19xx, so set the year explicitly)
const GENERALIZED_FROM_MS = new Date(0).setUTCFullYear(0, 0, 1);
const GENERALIZED_UNTIL_MS = Date.UTC(10000, 0, 1);
const DAY_MS = 86_400_000;
/** the longest entry: SEQUENCE header, INTEGER of 20 octets, GeneralizedTime, reasonCode */
const MAX_ENTRY = 2 + 2 + 20 + 17 + REASON_EXT_PREFIX.length + 1;

/**
 * Revoked certificates as columns, the shape a store reads a million of in
 * one row. Entry i is the i-th serial of `serialsHex`, `revokedAtSeconds[i]`
 * and `reasons[i]`.
 */
export interface CrlEntryColumns {
  count: number;
  /** the serials in hex (either case, odd lengths allowed), separated by "," */
  serialsHex: string;
  /** revocation times, whole seconds since 1970-01-01T00:00:00Z */
  revokedAtSeconds: Float64Array;
  /** RFC 5280 §5.3.1 CRLReason per entry; 0 (unspecified) means no reasonCode extension */
  reasons: Uint8Array;
}

/**
 * Bytes kept free in front of the entries: signCrl writes the TBSCertList's
 * header, version, signature algorithm, issuer and dates there, and the
 * CertificateList header before them, so the list is never copied.
 */
export const ENTRIES_HEAD_ROOM = 2048;
/** typical encoded entry (16-octet serial, UTCTime, half of them with a reasonCode) */
const TYPICAL_ENTRY = 48;

/** The encoded revokedCertificates entries (the list's content, without its SEQUENCE header). */
export class RevokedCertificatesWriter {
  private buf: Buffer;
  private o = ENTRIES_HEAD_ROOM;
  private n = 0;
  // the date part of the last time written (YYMMDD / YYYYMMDD): computed once per day, not per entry
  private day = NaN;
  private readonly date = Buffer.alloc(8);
  private dateLen = 0;
  private readonly d = new Date(0);

  /**
   * `expectedEntries`: how many entries are likely (the previous CRL's count), so a million
   * entries fill one allocation instead of growing through a dozen (each a fresh 46 MB
   * copy at the end); the buffer doubles when the guess is short.
   */
  constructor(expectedEntries = 0) {
    const guess = expectedEntries > 0 ? expectedEntries * TYPICAL_ENTRY + (expectedEntries >> 4) * TYPICAL_ENTRY : 0;
    this.buf = Buffer.allocUnsafe(ENTRIES_HEAD_ROOM + Math.max(guess, 64 * 1024));
  }

  /** entries written */
  get count(): number {
    return this.n;
  }

  /** the entries so far, concatenated (a view: valid until the next add) */
  get bytes(): Buffer {
    return this.buf.subarray(ENTRIES_HEAD_ROOM, this.o);
  }

  /**
   * The writer's buffer, the entries at [start, end), ENTRIES_HEAD_ROOM bytes free before
   * them and at least `tail` after (grown if needed), for a caller that frames the list in
   * place. Adding entries afterwards is not allowed (they would overwrite the frame).
   */
  frame(tail: number): { buf: Buffer; start: number; end: number } {
    if (this.o + tail > this.buf.length) this.grow(this.o + tail);
    return { buf: this.buf, start: ENTRIES_HEAD_ROOM, end: this.o };
  }

  /** bytes allocated beyond the entries (what framing in place would keep alive with the CRL) */
  get slack(): number {
    return this.buf.length - this.o;
  }

  /** one entry whose serial is the big-endian magnitude `serial[from, to)` (leading zero octets dropped) */
  add(serial: Uint8Array, from: number, to: number, revokedAtMs: number, reason: number): void {
    while (from < to && serial[from] === 0) from++;
    const mlen = to - from;
    const pad = mlen > 0 && (serial[from]! & 0x80) !== 0 ? 1 : 0;
    const o = this.begin(mlen, pad, revokedAtMs, reason);
    let w = o;
    for (let k = from; k < to; k++) this.buf[w++] = serial[k]!;
    this.finish(w, revokedAtMs, reason);
  }

  /** one entry whose serial is the hex digits (ASCII bytes, either case, any length) `hex[from, to)` */
  addHex(hex: Uint8Array, from: number, to: number, revokedAtMs: number, reason: number): void {
    while (from < to && hex[from] === 0x30) from++;
    const digits = to - from;
    const mlen = (digits + 1) >> 1;
    let first = 0;
    if (digits > 0) {
      // an odd count of digits starts with a lone nibble
      first = digits & 1 ? HEX[hex[from]!]! : (HEX[hex[from]!]! << 4) | HEX[hex[from + 1]!]!;
      if (first < 0) this.notHex();
    }
    const pad = (first & 0x80) !== 0 ? 1 : 0;
    const o = this.begin(mlen, pad, revokedAtMs, reason);
    const buf = this.buf;
    let w = o;
    let p = from;
    if (digits & 1) buf[w++] = HEX[hex[p++]!]!;
    for (; p < to; p += 2) {
      const hi = HEX[hex[p]!]!;
      const lo = HEX[hex[p + 1]!]!;
      if ((hi | lo) < 0) this.notHex();
      buf[w++] = (hi << 4) | lo;
    }
    this.finish(w, revokedAtMs, reason);
  }

  private notHex(): never {
    throw SigilError.invalidArgument(`entries[${this.n}].serial is not hexadecimal`, "entries");
  }

  /** checks the entry, makes room, writes up to the serial's content; returns where the magnitude goes */
  private begin(mlen: number, pad: number, ms: number, reason: number): number {
    const i = this.n;
    const intLen = mlen + pad;
    // RFC 5280 §4.1.2.2: serial numbers are positive integers of at most 20 octets
    if (mlen === 0 || intLen > 20) throw SigilError.invalidArgument(`entries[${i}].serial must be positive and at most 20 octets`, "entries");
    if (!(ms >= GENERALIZED_FROM_MS && ms < GENERALIZED_UNTIL_MS)) throw SigilError.invalidArgument(`entries[${i}].revokedAt is out of range`, "entries");
    if (IS_REASON[reason & 0xff] !== 1 || reason !== (reason & 0xff)) throw SigilError.invalidArgument(`entries[${i}].reason ${reason} is not a CRLReason`, "entries");
    if (this.o + MAX_ENTRY > this.buf.length) this.grow();
    const buf = this.buf;
    let o = this.o;
    const timeLen = ms >= UTC_TIME_FROM_MS && ms < UTC_TIME_UNTIL_MS ? 15 : 17;
    buf[o++] = TAG.SEQUENCE;
    buf[o++] = 2 + intLen + timeLen + (reason !== 0 ? REASON_EXT_PREFIX.length + 1 : 0); // always < 128
    buf[o++] = TAG.INTEGER;
    buf[o++] = intLen;
    if (pad) buf[o++] = 0; // X.690 §8.3.2: a leading 0 keeps a high-bit magnitude positive
    return o;
  }

  /** writes revocationDate and the reasonCode extension after the serial ending at `o` */
  private finish(o: number, ms: number, reason: number): void {
    const buf = this.buf;
    o = this.writeTime(buf, o, ms);
    if (reason !== 0) {
      for (let k = 0; k < REASON_EXT_PREFIX.length; k++) buf[o++] = REASON_EXT_PREFIX[k]!;
      buf[o++] = reason;
    }
    this.o = o;
    this.n++;
  }

  private grow(atLeast = 0): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, atLeast));
    this.buf.copy(next, 0, 0, this.o);
    this.buf = next;
  }

  /** a whole-second UTCTime / GeneralizedTime (RFC 5280 §4.1.2.5.1/.2; milliseconds are dropped) */
  private writeTime(buf: Buffer, o: number, ms: number): number {
    const day = Math.floor(ms / DAY_MS);
    if (day !== this.day) {
      this.d.setTime(day * DAY_MS);
      const y = this.d.getUTCFullYear();
      const digits = `${y >= 1950 && y < 2050 ? String(y % 100).padStart(2, "0") : String(y).padStart(4, "0")}${String(this.d.getUTCMonth() + 1).padStart(2, "0")}${String(this.d.getUTCDate()).padStart(2, "0")}`;
      this.dateLen = this.date.write(digits, 0, "latin1");
      this.day = day;
    }
    const utc = this.dateLen === 6;
    buf[o++] = utc ? TAG.UTC_TIME : TAG.GENERALIZED_TIME;
    buf[o++] = utc ? 13 : 15;
    for (let k = 0; k < this.dateLen; k++) buf[o++] = this.date[k]!;
    let sec = Math.floor((ms - day * DAY_MS) / 1000);
    const h = (sec / 3600) | 0;
    sec -= h * 3600;
    const m = (sec / 60) | 0;
    sec -= m * 60;
    buf[o++] = 0x30 + ((h / 10) | 0);
    buf[o++] = 0x30 + (h % 10);
    buf[o++] = 0x30 + ((m / 10) | 0);
    buf[o++] = 0x30 + (m % 10);
    buf[o++] = 0x30 + ((sec / 10) | 0);
    buf[o++] = 0x30 + (sec % 10);
    buf[o++] = 0x5a; // "Z"
    return o;
  }
}

/** the entries of objects (reason absent = unspecified) */
export function writeEntryObjects(entries: CrlEntry[]): RevokedCertificatesWriter {
  const w = new RevokedCertificatesWriter(entries.length);
  for (const e of entries) w.add(e.serial, 0, e.serial.length, e.revokedAt.getTime(), e.reason ?? 0);
  return w;
}

/** the entries of columns (CrlEntryColumns), the serials decoded in one pass over their bytes */
export function writeEntryColumns(c: CrlEntryColumns): RevokedCertificatesWriter {
  const n = c.count;
  if (c.revokedAtSeconds.length !== n || c.reasons.length !== n) throw SigilError.internal("CRL entry columns differ in length");
  // UTF-8: anything outside ASCII becomes bytes >= 0x80, which are no hex digits
  const text = Buffer.from(c.serialsHex, "utf8");
  const len = text.length;
  const w = new RevokedCertificatesWriter(n);
  let p = 0;
  for (let i = 0; i < n; i++) {
    let q = text.indexOf(0x2c, p);
    if (q < 0) q = len;
    w.addHex(text, p, q, c.revokedAtSeconds[i]! * 1000, c.reasons[i]!);
    p = q + 1;
  }
  if (p < len) throw SigilError.invalidArgument("more serials than entries", "entries");
  return w;
}
