import assert from "node:assert/strict";
import { checkIdentifier, checkOrderIdentifiers, dnsAllowed, ipInRanges, parseCidr, type IdentifierPolicy } from "../../../src/policy/identifiers.js";

const any: IdentifierPolicy = { allowedDnsSuffixes: [], allowedIpRanges: ["10.0.0.0/8", "2001:db8::/32"], challengeTypes: ["http-01", "dns-01", "tls-alpn-01"] };

describe("policy/identifiers", () => {
  const cases: Array<[string, string, string, IdentifierPolicy, string]> = [
    ["ok/dns lower-cased", "dns", "WWW.Example.COM", any, "ok:www.example.com"],
    ["ok/wildcard only dns-01", "dns", "*.example.com", any, "ok:example.com:dns-01"],
    ["fail/wildcard in the middle", "dns", "a.*.example.com", any, "malformed"],
    ["fail/single label", "dns", "localhost", any, "malformed"],
    ["fail/ip as dns", "dns", "10.0.0.1", any, "malformed"],
    // URL parsers (WHATWG, so the http-01 fetch) read a name ending in a number as an IPv4 address
    ["fail/ipv4 shorthand as dns", "dns", "127.1", any, "malformed"],
    ["fail/hex ipv4 as dns", "dns", "0x7f.0x1", any, "malformed"],
    ["fail/wildcard of ipv4 shorthand", "dns", "*.10.1", any, "malformed"],
    ["fail/numeric last label", "dns", "host.123", any, "malformed"],
    ["ok/digits within the last label", "dns", "a.b9", any, "ok:a.b9"],
    ["fail/bad label", "dns", "-a.example.com", any, "malformed"],
    ["ok/ip in range", "ip", "10.1.2.3", any, "ok:10.1.2.3:http-01,tls-alpn-01"],
    ["ok/ipv6 in range", "ip", "2001:db8::1", any, "ok:2001:db8::1:http-01,tls-alpn-01"],
    ["fail/ipv6 not canonical", "ip", "2001:DB8:0::1", any, "malformed"],
    ["fail/ip out of range", "ip", "192.168.0.1", any, "rejectedIdentifier"],
    ["fail/unknown type", "email", "a@b.c", any, "unsupportedIdentifier"],
    ["fail/dns outside suffixes", "dns", "evil.com", { ...any, allowedDnsSuffixes: ["example.com"] }, "rejectedIdentifier"],
    ["ok/dns suffix itself", "dns", "example.com", { ...any, allowedDnsSuffixes: ["example.com"] }, "ok:example.com"],
    ["fail/suffix is not a substring match", "dns", "badexample.com", { ...any, allowedDnsSuffixes: ["example.com"] }, "rejectedIdentifier"],
    ["fail/wildcard without dns-01", "dns", "*.example.com", { ...any, challengeTypes: ["http-01"] }, "rejectedIdentifier"],
  ];
  for (const [name, type, value, policy, want] of cases) {
    it(name, () => {
      const r = checkIdentifier(type, value, policy);
      if ("problem" in r) assert.equal(r.problem.kind, want);
      else {
        const got = want.split(":").length > 2 || want.includes(",") || want.endsWith("dns-01")
          ? `ok:${r.authzValue}:${r.challengeTypes.join(",")}`
          : `ok:${r.authzValue}`;
        assert.equal(got, want);
      }
    });
  }

  it("reports one subproblem per bad identifier and refuses duplicates", () => {
    const r = checkOrderIdentifiers(
      [
        { type: "dns", value: "a.example.com" },
        { type: "dns", value: "A.example.com" },
        { type: "ip", value: "8.8.8.8" },
      ],
      any,
    );
    assert.equal(r.ok, false);
    if (!r.ok) assert.deepEqual(r.problems.map((p) => p.kind), ["malformed", "rejectedIdentifier"]);
  });

  it("matches CIDR ranges bitwise and suffixes by label", () => {
    assert.ok(ipInRanges("10.255.0.1", ["10.0.0.0/8"]));
    assert.ok(!ipInRanges("11.0.0.1", ["10.0.0.0/8"]));
    assert.ok(ipInRanges("192.168.1.130", ["192.168.1.128/25"]));
    assert.ok(!ipInRanges("192.168.1.127", ["192.168.1.128/25"]));
    assert.ok(!ipInRanges("::ffff:10.0.0.1", ["10.0.0.0/8"]));
    assert.ok(dnsAllowed("a.b.example.com", ["example.com"]));
    assert.ok(!dnsAllowed("example.com.evil", ["example.com"]));
  });

  it("refuses a CIDR prefix length that is not plain decimal digits (an empty one is not /0)", () => {
    for (const bad of ["10.0.0.0/", "10.0.0.0/ ", "10.0.0.0/0x8", "10.0.0.0/8.0", "10.0.0.0/1e1", "10.0.0.0/+8", "2001:db8::/"]) {
      assert.equal(parseCidr(bad), undefined, bad);
    }
    assert.ok(!ipInRanges("192.168.0.1", ["10.0.0.0/"]));
    assert.deepEqual(parseCidr("10.0.0.0/8")?.bits, 8);
    assert.deepEqual(parseCidr("2001:db8::/32")?.bits, 32);
    assert.deepEqual(parseCidr("10.0.0.1")?.bits, 32);
  });
});
