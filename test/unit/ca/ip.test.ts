import assert from "node:assert/strict";
import { canonicalIp, ipFromText, ipToText } from "../../../src/ca/ip.js";

describe("ca/ip", () => {
  it("renders IPv6 in RFC 5952 form", () => {
    assert.equal(canonicalIp("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
    assert.equal(canonicalIp("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");
    assert.equal(canonicalIp("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");
    assert.equal(canonicalIp("::"), "::");
    assert.equal(canonicalIp("::1"), "::1");
    assert.equal(canonicalIp("fe80::"), "fe80::");
    assert.equal(canonicalIp("::ffff:192.0.2.1"), "::ffff:c000:201");
  });
  it("parses IPv4 and refuses junk and zones", () => {
    assert.deepEqual(ipFromText("192.0.2.1"), Buffer.from([192, 0, 2, 1]));
    assert.equal(ipToText(Buffer.from([10, 0, 0, 1])), "10.0.0.1");
    for (const bad of ["", "1.2.3", "256.0.0.1", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", "example.com"]) {
      assert.equal(ipFromText(bad), undefined, bad);
    }
  });
});
