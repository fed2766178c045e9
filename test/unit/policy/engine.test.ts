import assert from "node:assert/strict";
import {
  dnsNameAllowed,
  dnsPatternMatches,
  emailAllowed,
  formatDnsPattern,
  formatEmailPattern,
  idAllowed,
  ipInRanges,
  keyTypeAllowed,
  kindAllowed,
  kindWithin,
  parseDnsPattern,
  parseEmailPattern,
  suffixPatterns,
  tightestMaximum,
  validityWithin,
  type DnsPattern,
} from "../../../src/policy/engine.js";
import { dnsAllowed } from "../../../src/policy/identifiers.js";

function pattern(raw: string): DnsPattern {
  const p = parseDnsPattern(raw);
  assert.ok(p, `${raw} parses`);
  return p;
}

describe("policy/engine", () => {
  describe("DNS name patterns", () => {
    const cases: Array<[string, string, string, boolean]> = [
      ["ok/one-label glob", "*.example.com", "www.example.com", true],
      ["ok/one-label glob admits the wildcard name itself", "*.example.com", "*.example.com", true],
      ["fail/one-label glob: not the base itself", "*.example.com", "example.com", false],
      ["fail/one-label glob: one label only", "*.example.com", "a.b.example.com", false],
      ["fail/one-label glob: not a deeper wildcard", "*.example.com", "*.a.example.com", false],
      ["fail/one-label glob: not a substring", "*.example.com", "www.badexample.com", false],
      ["ok/exact", "www.example.com", "www.example.com", true],
      ["fail/exact: not a subdomain", "example.com", "www.example.com", false],
      ["fail/exact: not a wildcard", "example.com", "*.example.com", false],
      ["ok/subtree any depth", ".example.com", "a.b.c.example.com", true],
      ["ok/subtree admits wildcards below", ".example.com", "*.a.example.com", true],
      ["fail/subtree: not the base itself", ".example.com", "example.com", false],
      ["fail/subtree: not a substring", ".example.com", "evilexample.com", false],
      ["ok/case-insensitive name", "*.example.com", "WWW.Example.COM", true],
      ["ok/case-insensitive pattern", "*.EXAMPLE.com", "www.example.com", true],
      ["ok/trailing dot", "www.example.com.", "www.example.com", true],
      // IDNA (RFC 5891): a Unicode pattern is stored and matched as A-labels; A-labels compare case-insensitively
      ["ok/IDN pattern against its A-label", "*.bücher.example", "www.xn--bcher-kva.example", true],
      ["ok/IDN upper-case A-label", "*.BÜCHER.example", "WWW.XN--BCHER-KVA.EXAMPLE", true],
      ["fail/IDN other label", "*.bücher.example", "www.xn--bcher-kvb.example", false],
    ];
    for (const [name, raw, host, want] of cases) {
      it(name, () => assert.equal(dnsPatternMatches(pattern(raw), host), want));
    }

    it("normalizes what it stores (lower case, A-labels, no trailing dot)", () => {
      assert.equal(formatDnsPattern(pattern(" *.Bücher.Example. ")), "*.xn--bcher-kva.example");
      assert.equal(formatDnsPattern(pattern(".Example.COM")), ".example.com");
      assert.equal(formatDnsPattern(pattern("WWW.example.com")), "www.example.com");
    });

    it("refuses what is not a pattern", () => {
      for (const bad of ["", "*", "*.", "com", "*.com", "a.*.example.com", "**.example.com", "*example.com", "-a.example.com", "a_b.example.com", "..example.com", `${"a".repeat(64)}.com`, "exa mple.com"]) {
        assert.equal(parseDnsPattern(bad), undefined, JSON.stringify(bad));
      }
    });

    it("an ACME directory suffix is the name and its subtree (the directory's rule, unchanged)", () => {
      const p = suffixPatterns("example.com");
      assert.ok(dnsNameAllowed("example.com", p));
      assert.ok(dnsNameAllowed("a.b.example.com", p));
      assert.ok(!dnsNameAllowed("badexample.com", p));
      assert.ok(!dnsNameAllowed("example.com.evil", p));
      // identifiers.ts's dnsAllowed is the same function
      assert.ok(dnsAllowed("a.b.example.com", ["example.com"]));
      assert.ok(dnsAllowed("anything.test", []));
      assert.ok(!dnsAllowed("example.org", ["example.com"]));
    });
  });

  describe("email patterns", () => {
    it("any mailbox of a domain, an exact mailbox, a subtree of domains", () => {
      const any = parseEmailPattern("*@example.com")!;
      const alice = parseEmailPattern("alice@example.com")!;
      const below = parseEmailPattern("*@.corp.example")!;
      assert.ok(emailAllowed("bob@example.com", [any]));
      assert.ok(emailAllowed("bob@EXAMPLE.com", [any]), "the domain compares case-insensitively (RFC 5280 §7.5)");
      assert.ok(!emailAllowed("bob@sub.example.com", [any]));
      assert.ok(emailAllowed("alice@example.com", [alice]));
      assert.ok(!emailAllowed("Alice@example.com", [alice]), "the local part compares exactly (RFC 5321 §2.4)");
      assert.ok(!emailAllowed("bob@example.com", [alice]));
      assert.ok(emailAllowed("x@eu.corp.example", [below]));
      assert.ok(!emailAllowed("x@corp.example", [below]));
      assert.equal(formatEmailPattern(parseEmailPattern("*@Bücher.Example")!), "*@xn--bcher-kva.example");
    });
    it("refuses what is not an email pattern", () => {
      for (const bad of ["", "example.com", "@example.com", "a b@example.com", "alice@", "alice@com", "*@*"]) {
        assert.equal(parseEmailPattern(bad), undefined, JSON.stringify(bad));
      }
    });
  });

  describe("IP ranges", () => {
    it("IPv4 and IPv6 CIDRs, families kept apart", () => {
      assert.ok(ipInRanges("10.1.2.3", ["10.0.0.0/8"]));
      assert.ok(!ipInRanges("11.0.0.1", ["10.0.0.0/8"]));
      assert.ok(ipInRanges("192.0.2.130", ["192.0.2.128/25"]));
      assert.ok(!ipInRanges("192.0.2.127", ["192.0.2.128/25"]));
      assert.ok(ipInRanges("2001:db8:1::5", ["2001:db8::/32"]));
      assert.ok(!ipInRanges("2001:db9::5", ["2001:db8::/32"]));
      assert.ok(ipInRanges("2001:db8::1", ["2001:db8::1"]), "a bare address is a /128");
      assert.ok(!ipInRanges("2001:db8::2", ["2001:db8::1"]));
      assert.ok(!ipInRanges("::ffff:10.0.0.1", ["10.0.0.0/8"]), "a mapped address is not the IPv4 one");
      assert.ok(!ipInRanges("10.0.0.1", ["::/0"]));
      assert.ok(!ipInRanges("10.0.0.1", []));
    });
  });

  describe("kinds, validity, key types, ids", () => {
    it("dual covers server and client; server and client only themselves; empty allows any", () => {
      assert.ok(kindWithin("dual", "server"));
      assert.ok(kindWithin("dual", "client"));
      assert.ok(!kindWithin("server", "dual"));
      assert.ok(!kindWithin("server", "client"));
      assert.ok(kindAllowed("client", ["server", "client"]));
      assert.ok(!kindAllowed("dual", ["server", "client"]));
      assert.ok(kindAllowed("dual", []));
    });
    it("validity within a maximum (0 = none), the tightest of several", () => {
      assert.ok(validityWithin(90, 90));
      assert.ok(!validityWithin(91, 90));
      assert.ok(validityWithin(3650, 0));
      assert.ok(validityWithin(3650, undefined));
      assert.equal(tightestMaximum(0, 90, 30, undefined), 30);
      assert.equal(tightestMaximum(0, undefined), undefined);
    });
    it("key types and ids: empty allows any", () => {
      assert.ok(keyTypeAllowed("p256", []));
      assert.ok(keyTypeAllowed(undefined, []));
      assert.ok(keyTypeAllowed("p384", ["p256", "p384"]));
      assert.ok(!keyTypeAllowed("rsa2048", ["p256"]));
      assert.ok(!keyTypeAllowed(undefined, ["p256"]));
      assert.ok(idAllowed("a", []));
      assert.ok(idAllowed("a", ["a", "b"]));
      assert.ok(!idAllowed("c", ["a", "b"]));
    });
  });
});
