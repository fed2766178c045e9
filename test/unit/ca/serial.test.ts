import assert from "node:assert/strict";
import { isSigilError } from "../../../src/core/errors.js";
import { normalizeSerial, newSerial, serialFromHex, serialToHex } from "../../../src/ca/serial.js";
import { derUnsignedInteger } from "../../../src/ca/der.js";

describe("ca/serial", () => {
  it("makes 16-octet positive serials whose DER INTEGER is minimal", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const s = newSerial();
      assert.equal(s.length, 16);
      assert.ok(s[0]! >= 0x40 && s[0]! <= 0x7f);
      const der = derUnsignedInteger(s);
      assert.deepEqual(der.subarray(0, 2), Buffer.from([0x02, 16]));
      seen.add(serialToHex(s));
    }
    assert.equal(seen.size, 200);
  });

  it("uses the injected random source", () => {
    assert.equal(serialToHex(newSerial((n) => Buffer.alloc(n, 0xff))), "7f" + "ff".repeat(15));
    assert.equal(serialToHex(newSerial((n) => Buffer.alloc(n, 0))), "40" + "00".repeat(15));
  });

  it("round-trips hex, stripping leading zero octets", () => {
    const s = newSerial();
    assert.deepEqual(serialFromHex(serialToHex(s)), s);
    assert.equal(serialToHex(Buffer.from([0, 0, 0x80, 1])), "8001");
    assert.deepEqual(serialFromHex("0A:Bc"), Buffer.from([0x0a, 0xbc]));
    assert.deepEqual(serialFromHex("abc"), Buffer.from([0x0a, 0xbc]));
  });

  it("encodes a serial with the top bit set with a sign octet", () => {
    assert.deepEqual(derUnsignedInteger(Buffer.from([0x80, 1])), Buffer.from([0x02, 0x03, 0x00, 0x80, 0x01]));
  });

  it("refuses zero and serials longer than 20 DER octets", () => {
    const bad = (e: unknown): boolean => isSigilError(e, "invalidArgument");
    assert.throws(() => normalizeSerial(Buffer.from([0, 0])), bad);
    assert.throws(() => normalizeSerial(Buffer.alloc(21, 1)), bad);
    assert.throws(() => normalizeSerial(Buffer.alloc(20, 0x80)), bad);
    assert.equal(normalizeSerial(Buffer.alloc(20, 0x7f)).length, 20);
    assert.throws(() => serialFromHex("xyz"), bad);
  });
});
