/**
 * A tiny DER (ITU-T X.690 §10) encoder and reader, just enough for the
 * certificate, CSR and CRL structures of RFC 5280 / RFC 2986. The signer builds
 * its hot-path structures from these bytes directly instead of from object
 * graphs, which is what makes leaf issuance and CRL signing fast.
 *
 * Only single-byte tags are supported (every tag used by X.509 is one).
 */

// ---------------------------------------------------------------- encoding

/** X.690 §8.1.3: definite length, short form below 128, else minimal long form */
export function encodeLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  if (len < 0x100) return Buffer.from([0x81, len]);
  if (len < 0x10000) return Buffer.from([0x82, len >> 8, len & 0xff]);
  if (len < 0x1000000) return Buffer.from([0x83, len >> 16, (len >> 8) & 0xff, len & 0xff]);
  return Buffer.from([0x84, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff]);
}

/** number of bytes the length octets of `len` take */
export function lengthOfLength(len: number): number {
  if (len < 0x80) return 1;
  if (len < 0x100) return 2;
  if (len < 0x10000) return 3;
  if (len < 0x1000000) return 4;
  return 5;
}

/** writes the length octets of `len` at `offset`; returns the new offset */
export function writeLength(buf: Buffer, offset: number, len: number): number {
  if (len < 0x80) {
    buf[offset] = len;
    return offset + 1;
  }
  const n = lengthOfLength(len) - 1;
  buf[offset++] = 0x80 | n;
  for (let i = n - 1; i >= 0; i--) buf[offset++] = (len >>> (8 * i)) & 0xff;
  return offset;
}

/** tag || length || concatenation of `parts`, in one allocation */
export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafe(1 + lengthOfLength(len) + len);
  out[0] = tag;
  let off = writeLength(out, 1, len);
  for (const p of parts) {
    p.copy(out, off);
    off += p.length;
  }
  return out;
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

export function seq(...parts: Buffer[]): Buffer {
  return tlv(TAG.SEQUENCE, ...parts);
}
export function set(...parts: Buffer[]): Buffer {
  return tlv(TAG.SET, ...parts);
}
/** [n] constructed (EXPLICIT tagging, or IMPLICIT over a constructed type) */
export function ctxCons(n: number, ...parts: Buffer[]): Buffer {
  return tlv(0xa0 | n, ...parts);
}
/** [n] primitive (IMPLICIT over a primitive type) */
export function ctxPrim(n: number, content: Buffer): Buffer {
  return tlv(0x80 | n, content);
}

const NULL_DER = Buffer.from([0x05, 0x00]);
const TRUE_DER = Buffer.from([0x01, 0x01, 0xff]);
const FALSE_DER = Buffer.from([0x01, 0x01, 0x00]);
export function derNull(): Buffer {
  return NULL_DER;
}
/** X.690 §11.1: DER encodes TRUE as 0xFF */
export function derBoolean(v: boolean): Buffer {
  return v ? TRUE_DER : FALSE_DER;
}
export function derOctetString(b: Buffer): Buffer {
  return tlv(TAG.OCTET_STRING, b);
}
export function derBitString(b: Buffer, unusedBits = 0): Buffer {
  return tlv(TAG.BIT_STRING, Buffer.from([unusedBits]), b);
}
export function derUtf8(s: string): Buffer {
  return tlv(TAG.UTF8_STRING, Buffer.from(s, "utf8"));
}
export function derPrintable(s: string): Buffer {
  return tlv(TAG.PRINTABLE_STRING, Buffer.from(s, "latin1"));
}
export function derIa5(s: string): Buffer {
  return tlv(TAG.IA5_STRING, Buffer.from(s, "latin1"));
}

/**
 * Minimal two's-complement content octets (X.690 §8.3.2) of the non-negative
 * integer whose big-endian unsigned magnitude is `magnitude`: leading zero
 * octets stripped, one 0x00 prepended when the top bit would read as a sign.
 */
export function integerContent(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  const m = i === 0 ? magnitude : magnitude.subarray(i);
  if (m.length === 0) return Buffer.from([0]);
  if ((m[0]! & 0x80) !== 0) {
    const out = Buffer.allocUnsafe(m.length + 1);
    out[0] = 0;
    m.copy(out, 1);
    return out;
  }
  return m;
}

/** INTEGER from an unsigned big-endian magnitude */
export function derUnsignedInteger(magnitude: Buffer): Buffer {
  return tlv(TAG.INTEGER, integerContent(magnitude));
}

export function bigintToMagnitude(n: bigint): Buffer {
  if (n < 0n) throw new RangeError("negative integer");
  let hex = n.toString(16);
  if (hex.length % 2) hex = "0" + hex;
  return Buffer.from(hex, "hex");
}

/** INTEGER from a small non-negative number or bigint */
export function derInteger(n: number | bigint): Buffer {
  return derUnsignedInteger(bigintToMagnitude(BigInt(n)));
}

const oidCache = new Map<string, Buffer>();
/** OBJECT IDENTIFIER (X.690 §8.19), cached by dotted string */
export function derOid(dotted: string): Buffer {
  const hit = oidCache.get(dotted);
  if (hit) return hit;
  const arcs = dotted.split(".").map((a) => BigInt(a));
  if (arcs.length < 2) throw new RangeError(`bad OID ${dotted}`);
  const bytes: number[] = [];
  const first = [arcs[0]! * 40n + arcs[1]!, ...arcs.slice(2)];
  for (const arc of first) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    let v = arc >> 7n;
    while (v > 0n) {
      chunk.unshift(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(...chunk);
  }
  const out = tlv(TAG.OID, Buffer.from(bytes));
  oidCache.set(dotted, out);
  return out;
}

/** encoded size of a Time (RFC 5280 §4.1.2.5): UTCTime before 2050, else GeneralizedTime */
export function timeSize(d: Date): number {
  const y = d.getUTCFullYear();
  return y >= 1950 && y < 2050 ? 15 : 17;
}

function put2(buf: Buffer, off: number, v: number): void {
  buf[off] = 0x30 + ((v / 10) | 0);
  buf[off + 1] = 0x30 + (v % 10);
}

/**
 * Writes a Time at `offset` and returns the new offset. RFC 5280 §4.1.2.5:
 * UTCTime YYMMDDHHMMSSZ for 1950..2049, GeneralizedTime YYYYMMDDHHMMSSZ
 * otherwise; always UTC ("Z"), seconds present, no fractional seconds.
 */
export function writeTime(buf: Buffer, offset: number, d: Date): number {
  const t = d.getTime();
  if (!Number.isFinite(t)) throw new RangeError("invalid date");
  const y = d.getUTCFullYear();
  let o = offset;
  if (y >= 1950 && y < 2050) {
    buf[o++] = TAG.UTC_TIME;
    buf[o++] = 13;
    put2(buf, o, y % 100);
    o += 2;
  } else {
    if (y < 0 || y > 9999) throw new RangeError("year out of range");
    buf[o++] = TAG.GENERALIZED_TIME;
    buf[o++] = 15;
    put2(buf, o, (y / 100) | 0);
    put2(buf, o + 2, y % 100);
    o += 4;
  }
  put2(buf, o, d.getUTCMonth() + 1);
  put2(buf, o + 2, d.getUTCDate());
  put2(buf, o + 4, d.getUTCHours());
  put2(buf, o + 6, d.getUTCMinutes());
  put2(buf, o + 8, d.getUTCSeconds());
  buf[o + 10] = 0x5a; // "Z"
  return o + 11;
}

export function derTime(d: Date): Buffer {
  const out = Buffer.allocUnsafe(timeSize(d));
  writeTime(out, 0, d);
  return out;
}

/** PEM (RFC 7468 §2): base64 in 64-character lines */
export function toPem(der: Buffer, label: string): string {
  const b64 = der.toString("base64");
  let body = "";
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + "\n";
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** the DER inside the first PEM block with `label` (RFC 7468), or undefined */
export function fromPem(pem: string, label: string): Buffer | undefined {
  const begin = `-----BEGIN ${label}-----`;
  const start = pem.indexOf(begin);
  if (start < 0) return undefined;
  const end = pem.indexOf(`-----END ${label}-----`, start + begin.length);
  if (end < 0) return undefined;
  const body = pem.slice(start + begin.length, end).replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return undefined;
  return Buffer.from(body, "base64");
}

// ---------------------------------------------------------------- reading

/** one TLV inside a buffer: [start, valueStart) is the header, [valueStart, end) the value */
export interface DerNode {
  tag: number;
  start: number;
  valueStart: number;
  end: number;
}

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DerError";
  }
}

/**
 * Reads the TLV at `offset`, which must end at or before `limit`. Rejects
 * indefinite lengths and multi-byte tags (neither occurs in DER X.509).
 */
export function readNode(buf: Buffer, offset: number, limit: number = buf.length): DerNode {
  if (offset + 2 > limit) throw new DerError("truncated DER");
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tags are not supported");
  let len = buf[offset + 1]!;
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError("indefinite length is not DER");
    if (n > 4) throw new DerError("length too large");
    if (p + n > limit) throw new DerError("truncated DER");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  const end = p + len;
  if (end > limit) throw new DerError("truncated DER");
  return { tag, start: offset, valueStart: p, end };
}

/** reads a node and checks its tag */
export function expectNode(buf: Buffer, offset: number, tag: number, limit: number = buf.length, what = "element"): DerNode {
  const n = readNode(buf, offset, limit);
  if (n.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${n.tag.toString(16)}`);
  return n;
}

/** the direct children of a constructed node */
export function children(buf: Buffer, node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  let p = node.valueStart;
  while (p < node.end) {
    const c = readNode(buf, p, node.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

export function valueOf(buf: Buffer, node: DerNode): Buffer {
  return buf.subarray(node.valueStart, node.end);
}

export function rawOf(buf: Buffer, node: DerNode): Buffer {
  return buf.subarray(node.start, node.end);
}

const oidTextCache = new Map<string, string>();
/** the dotted form of an OBJECT IDENTIFIER node */
export function readOid(buf: Buffer, node: DerNode): string {
  if (node.tag !== TAG.OID) throw new DerError("expected an OBJECT IDENTIFIER");
  const key = buf.toString("latin1", node.valueStart, node.end);
  const hit = oidTextCache.get(key);
  if (hit !== undefined) return hit;
  const arcs: string[] = [];
  let v = 0n;
  let first = true;
  for (let i = node.valueStart; i < node.end; i++) {
    const b = buf[i]!;
    v = (v << 7n) | BigInt(b & 0x7f);
    if ((b & 0x80) === 0) {
      if (first) {
        const a = v < 80n ? v / 40n : 2n;
        arcs.push(a.toString(), (v - a * 40n).toString());
        first = false;
      } else arcs.push(v.toString());
      v = 0n;
    }
  }
  if (first || (buf[node.end - 1]! & 0x80) !== 0) throw new DerError("malformed OBJECT IDENTIFIER");
  const text = arcs.join(".");
  if (oidTextCache.size < 1000) oidTextCache.set(key, text);
  return text;
}

/** the unsigned magnitude of a non-negative INTEGER node (leading zeros stripped) */
export function readUnsignedInteger(buf: Buffer, node: DerNode): Buffer {
  if (node.tag !== TAG.INTEGER) throw new DerError("expected an INTEGER");
  const v = valueOf(buf, node);
  if (v.length === 0) throw new DerError("empty INTEGER");
  if ((v[0]! & 0x80) !== 0) throw new DerError("negative INTEGER");
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  return v.subarray(i);
}

/** a Time (UTCTime or GeneralizedTime, RFC 5280 §4.1.2.5) node as a Date */
export function readTime(buf: Buffer, node: DerNode): Date {
  const s = buf.toString("latin1", node.valueStart, node.end);
  let m: RegExpExecArray | null;
  let year: number;
  let rest: string;
  if (node.tag === TAG.UTC_TIME && (m = /^(\d{2})(\d{10})Z$/.exec(s))) {
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = m[2]!;
  } else if (node.tag === TAG.GENERALIZED_TIME && (m = /^(\d{4})(\d{10})(?:\.\d+)?Z$/.exec(s))) {
    year = Number(m[1]);
    rest = m[2]!;
  } else throw new DerError(`malformed time "${s}"`);
  const n = (i: number): number => Number(rest.slice(i, i + 2));
  return new Date(Date.UTC(year, n(0) - 1, n(2), n(4), n(6), n(8)));
}
