import assert from "node:assert/strict";
import { ipToBytes, quoteShort, urlHost } from "../../../src/validation/common.js";
import { splitHostPort } from "../../../src/validation/network.js";

describe("validation/common helpers", () => {
  const ips: Array<[string, string | undefined]> = [
    ["127.0.0.1", "7f000001"],
    ["::1", "00000000000000000000000000000001"],
    ["2001:db8::567:89ab", "20010db80000000000000000056789ab"],
    ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201"],
    ["fe80::", "fe800000000000000000000000000000"],
    ["example.com", undefined],
  ];
  for (const [ip, hex] of ips) {
    it(`ipToBytes ${ip} (RFC 5280 §4.2.1.6 iPAddress octets)`, () => assert.equal(ipToBytes(ip)?.toString("hex"), hex));
  }

  const servers: Array<[string, { host: string; port: number | undefined }]> = [
    ["127.0.0.1", { host: "127.0.0.1", port: undefined }],
    ["127.0.0.1:8053", { host: "127.0.0.1", port: 8053 }],
    ["[::1]:53", { host: "::1", port: 53 }],
    ["::1", { host: "::1", port: undefined }],
    ["dns.internal:5353", { host: "dns.internal", port: 5353 }],
  ];
  for (const [entry, want] of servers) {
    it(`splitHostPort ${entry}`, () => assert.deepEqual(splitHostPort(entry), want));
  }

  it("quotes and cuts untrusted text", () => {
    assert.equal(quoteShort("a\u0000b"), '"a\\u0000b"');
    assert.equal(quoteShort("x".repeat(100)), `"${"x".repeat(64)}..."`);
  });

  it("brackets IPv6 hosts only", () => {
    assert.equal(urlHost("::1"), "[::1]");
    assert.equal(urlHost("127.0.0.1"), "127.0.0.1");
    assert.equal(urlHost("example.com"), "example.com");
  });
});
