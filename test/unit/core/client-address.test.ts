/**
 * Review 2 H4 / H3: the client address behind trusted proxies is the
 * rightmost X-Forwarded-For entry not written by a client, and login
 * failures are counted per IPv6 /64.
 */
import assert from "node:assert/strict";
import { forwardedClientAddress, forwardedPeer, parseTrustProxy, throttleKey, throttleKey48Prefix } from "../../../src/core/client-address.js";
import { clientAddress } from "../../../src/ra/auth.js";

describe("core/client-address", () => {
  it("parses SIGIL_TRUST_PROXY: booleans, hop counts, CIDR lists; refuses the rest", () => {
    assert.equal(parseTrustProxy(undefined), false);
    assert.equal(parseTrustProxy("false"), false);
    assert.equal(parseTrustProxy("0"), false);
    assert.deepEqual(parseTrustProxy("true"), { hops: 1 });
    assert.deepEqual(parseTrustProxy("2"), { hops: 2 });
    const r = parseTrustProxy("10.0.0.0/8, fd00::/8, 192.0.2.7");
    assert.ok(r && "cidrs" in r && r.cidrs.length === 3);
    assert.throws(() => parseTrustProxy("17"), /hop count/);
    assert.throws(() => parseTrustProxy("maybe"), /not an address/);
    assert.throws(() => parseTrustProxy("10.0.0.0/33"), /prefix length/);
  });

  it("A-1: one trusted hop takes the rightmost entry (what the proxy saw), never the client-typed leftmost", () => {
    assert.equal(forwardedClientAddress("10.0.0.2", "203.0.113.77, 198.51.100.9", true), "198.51.100.9");
    assert.equal(forwardedClientAddress("10.0.0.2", ["203.0.113.77", "198.51.100.9"], { hops: 1 }), "198.51.100.9");
    assert.equal(forwardedPeer("10.0.0.2", 5555, "203.0.113.77, 198.51.100.9", true), "198.51.100.9:0");
    // no header: the peer, with its port
    assert.equal(forwardedPeer("10.0.0.2", 5555, undefined, true), "10.0.0.2:5555");
    // off: the header is ignored
    assert.equal(forwardedClientAddress("10.0.0.2", "203.0.113.77", false), "10.0.0.2");
  });

  it("hop counts pick the n-th entry from the right (the leftmost when the list is shorter)", () => {
    assert.equal(forwardedClientAddress("10.0.0.3", "1.1.1.1, 198.51.100.9, 10.0.0.2", { hops: 2 }), "198.51.100.9");
    assert.equal(forwardedClientAddress("10.0.0.3", "198.51.100.9", { hops: 3 }), "198.51.100.9");
    // a malformed entry where the client should be: the peer, not a client-chosen string
    assert.equal(forwardedClientAddress("10.0.0.2", "1.1.1.1, bogus", { hops: 1 }), "10.0.0.2");
    // ports and brackets are stripped
    assert.equal(forwardedClientAddress("10.0.0.2", "[2001:db8::5]:443", true), "2001:db8::5");
  });

  it("a CIDR list trusts the header only from listed peers and skips listed hops from the right", () => {
    const rule = parseTrustProxy("10.0.0.0/8, fd00::/8");
    assert.equal(forwardedClientAddress("203.0.113.5", "1.2.3.4", rule), "203.0.113.5", "a direct client cannot forge it");
    assert.equal(forwardedClientAddress("10.0.0.2", "6.6.6.6, 198.51.100.9, 10.1.2.3", rule), "198.51.100.9");
    assert.equal(forwardedClientAddress("::ffff:10.0.0.2", "198.51.100.9", rule), "198.51.100.9", "IPv4-mapped peer");
    assert.equal(forwardedClientAddress("fd00::1", "10.9.9.9, 10.8.8.8", rule), "10.9.9.9", "all trusted: the leftmost");
    assert.equal(forwardedClientAddress("10.0.0.2", "6.6.6.6, junk, 10.1.2.3", rule), "10.1.2.3", "a malformed entry ends the walk at the last trusted hop");
  });

  it("A-2: IPv6 addresses of one /64 share one throttle key; /48 prefix; IPv4 exact", () => {
    assert.equal(throttleKey(clientAddress("[2001:db8:1:2::1]:1")), throttleKey(clientAddress("[2001:db8:1:2::dead:beef]:1")));
    assert.equal(throttleKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
    assert.notEqual(throttleKey("2001:db8:1:3::1"), throttleKey("2001:db8:1:2::1"));
    assert.equal(throttleKey48Prefix(throttleKey("2001:db8:1:2::1")), "2001:db8:1:");
    assert.equal(throttleKey48Prefix("2001:db8:10:2::1"), "2001:db8:10:");
    assert.equal(throttleKey("192.0.2.1"), "192.0.2.1");
    assert.equal(throttleKey("::ffff:192.0.2.1"), "192.0.2.1");
    assert.equal(throttleKey48Prefix("192.0.2.1"), undefined);
    assert.equal(throttleKey("unknown"), "unknown");
  });
});

describe("admin/connect peerOf (review 2 A-1)", () => {
  it("takes the rightmost X-Forwarded-For entry behind one trusted proxy", async () => {
    const { peerOf } = await import("../../../src/admin/connect.js");
    const req = { headers: { "x-forwarded-for": "203.0.113.77, 198.51.100.9" }, socket: { remoteAddress: "10.0.0.2", remotePort: 5555 } } as never;
    assert.equal(clientAddress(peerOf(req, true)), "198.51.100.9");
    assert.equal(peerOf(req, false), "10.0.0.2:5555");
  });
});
