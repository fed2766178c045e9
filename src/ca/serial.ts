/**
 * Certificate serial numbers (RFC 5280 §4.1.2.2): positive, unique per CA, at
 * most 20 octets, and (CA/Browser Forum BR §7.1) at least 64 bits from a CSPRNG.
 *
 * A serial is handled as a Buffer holding the big-endian unsigned magnitude of
 * the integer; the DER encoder adds the 0x00 sign octet when needed. Serials
 * we generate are always 16 octets with the top two bits 01, so they encode as
 * a 16-octet INTEGER with no sign octet, carry 126 random bits, and their hex
 * form is always 32 characters.
 */
import { randomBytes } from "node:crypto";
import { SigilError } from "../core/errors.js";

export const SERIAL_BYTES = 16;

// CSPRNG output fetched 4 KiB at a time: one randomBytes call per 256 serials
// instead of one per serial (a measurable share of leaf issuance time).
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;
function pooledRandom(n: number): Buffer {
  if (poolOffset + n > pool.length) {
    pool = randomBytes(Math.max(POOL_BYTES, n));
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

/** a new random serial; `random` is injectable for deterministic tests */
export function newSerial(random: (n: number) => Buffer = pooledRandom): Buffer {
  const b = Buffer.from(random(SERIAL_BYTES));
  if (b.length !== SERIAL_BYTES) throw SigilError.internal("serial random source returned the wrong length");
  // top bit clear => positive INTEGER without a 0x00 sign octet; next bit set
  // => first octet non-zero, so the encoding is already minimal (X.690 §8.3.2)
  b[0] = (b[0]! & 0x3f) | 0x40;
  return b;
}

/** strips leading zero octets; throws invalidArgument for zero or > 20 DER octets */
export function normalizeSerial(serial: Buffer, field = "serial"): Buffer {
  let i = 0;
  while (i < serial.length && serial[i] === 0) i++;
  if (i === serial.length) throw SigilError.invalidArgument("serial number must be positive", field);
  const m = serial.subarray(i);
  const derOctets = m.length + ((m[0]! & 0x80) !== 0 ? 1 : 0);
  // RFC 5280 §4.1.2.2: conforming CAs MUST NOT use serials longer than 20 octets
  if (derOctets > 20) throw SigilError.invalidArgument("serial number is longer than 20 octets", field);
  return m;
}

/**
 * The stored form: lower-case hex of the unsigned magnitude, leading zero
 * octets stripped, always an even number of digits (so it round-trips to the
 * same bytes). This is the number openssl prints, lower-cased and without colons.
 */
export function serialToHex(serial: Buffer): string {
  let i = 0;
  while (i < serial.length - 1 && serial[i] === 0) i++;
  return serial.toString("hex", i);
}

/** inverse of serialToHex; accepts upper case, optional colons and odd lengths */
export function serialFromHex(hex: string): Buffer {
  let h = hex.trim().replace(/:/g, "").toLowerCase();
  if (!/^[0-9a-f]+$/.test(h)) throw SigilError.invalidArgument("serial number must be hexadecimal", "serial");
  if (h.length % 2) h = "0" + h;
  return normalizeSerial(Buffer.from(h, "hex"));
}
