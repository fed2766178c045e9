import assert from "node:assert/strict";
import { loadConfig } from "../../../src/config.js";
import { isSigilError } from "../../../src/core/errors.js";
import {
  checkDirectoryRateLimits,
  clientAddressKeys,
  DEFAULT_RATE_LIMITS,
  directoryRateLimits,
  effectiveLimit,
  formatRateLimitSet,
  gcra,
  parsePeriod,
  parseRateLimitsSpec,
  RateLimitSpecError,
  registeredDomain,
  registeredDomains,
  retryAfterMs,
  retryAfterSeconds,
} from "../../../src/policy/rate-limits.js";

const H = 3_600_000;

describe("policy: rate limits (SIGIL_RATE_LIMITS, GCRA, bucket keys)", () => {
  describe("SIGIL_RATE_LIMITS", () => {
    it("ok/unset and `default` are Let's Encrypt's values", () => {
      for (const v of [undefined, "", "default", " default "]) assert.deepEqual(parseRateLimitsSpec(v), DEFAULT_RATE_LIMITS);
      assert.deepEqual(DEFAULT_RATE_LIMITS["new-orders-per-account"], { count: 300, periodMs: 3 * H });
      assert.deepEqual(DEFAULT_RATE_LIMITS["new-accounts-per-ip"], { count: 10, periodMs: 3 * H });
      assert.deepEqual(DEFAULT_RATE_LIMITS["new-accounts-per-ipv6-range"], { count: 500, periodMs: 3 * H });
      assert.deepEqual(DEFAULT_RATE_LIMITS["certificates-per-registered-domain"], { count: 50, periodMs: 168 * H });
      assert.deepEqual(DEFAULT_RATE_LIMITS["failed-validations-per-account-identifier"], { count: 5, periodMs: H });
      assert.deepEqual(DEFAULT_RATE_LIMITS["pending-authorizations-per-account"], { count: 1000, periodMs: 0 });
    });

    it("ok/`off` is no limit at all", () => {
      assert.deepEqual(parseRateLimitsSpec("off"), {});
    });

    it("ok/a list changes the defaults; `off,` starts from none; name=off removes one", () => {
      const s = parseRateLimitsSpec("new-orders-per-account=20/1h, new-accounts-per-ip=off");
      assert.deepEqual(s["new-orders-per-account"], { count: 20, periodMs: H });
      assert.equal(s["new-accounts-per-ip"], undefined);
      assert.deepEqual(s["certificates-per-registered-domain"], DEFAULT_RATE_LIMITS["certificates-per-registered-domain"]);
      const only = parseRateLimitsSpec("off,pending-authorizations-per-account=7,certificates-per-registered-domain=2/1w");
      assert.deepEqual(only, { "pending-authorizations-per-account": { count: 7, periodMs: 0 }, "certificates-per-registered-domain": { count: 2, periodMs: 7 * 24 * H } });
    });

    it("ok/formatRateLimitSet parses back to the same set", () => {
      for (const spec of ["default", "off", "off,new-orders-per-account=3/90m", "new-accounts-per-ip=1/30s"]) {
        const set = parseRateLimitsSpec(spec);
        assert.deepEqual(parseRateLimitsSpec(formatRateLimitSet(set)), set);
      }
      assert.equal(formatRateLimitSet({ "new-orders-per-account": { count: 300, periodMs: 3 * H } }), "off,new-orders-per-account=300/3h");
    });

    const bad: Array<[string, RegExp]> = [
      ["new-orders=300/3h", /not a rate limit/],
      ["new-orders-per-account=300", /count\/period/],
      ["new-orders-per-account=0/3h", /count must be/],
      ["new-orders-per-account=300/3y", /not a period/],
      ["new-orders-per-account=300/0h", /above 0/],
      ["new-orders-per-account=300/400d", /366 days/],
      ["pending-authorizations-per-account=10/1h", /without a period/],
      ["new-orders-per-account=300/3h,,", /empty item/],
      ["new-orders-per-account=300/3h,off", /first item/],
      ["sometimes", /not name=count\/period/],
      ["new-orders-per-account=-1/3h", /whole number/],
    ];
    for (const [spec, msg] of bad) {
      it(`fail/${spec}`, () => {
        assert.throws(() => parseRateLimitsSpec(spec), (e: unknown) => e instanceof RateLimitSpecError && msg.test(e.message));
      });
    }

    it("ok/config: unset is `default` (the server default stays on); a bad value stops start-up naming the variable", () => {
      assert.deepEqual(loadConfig({}).rateLimits, DEFAULT_RATE_LIMITS);
      assert.deepEqual(loadConfig({ SIGIL_RATE_LIMITS: "off" }).rateLimits, {});
      assert.equal(loadConfig({ SIGIL_RATE_LIMITS_HELP_URL: "https://ca.example/limits" }).rateLimitsHelpUrl, "https://ca.example/limits");
      try {
        loadConfig({ SIGIL_RATE_LIMITS: "new-orders-per-account=lots" });
        assert.fail("loaded");
      } catch (e) {
        assert.equal(isSigilError(e) && e.kind, "config");
        assert.match((e as Error).message, /^SIGIL_RATE_LIMITS: /);
      }
      assert.throws(() => loadConfig({ SIGIL_RATE_LIMITS_HELP_URL: "ftp://x" }), /SIGIL_RATE_LIMITS_HELP_URL/);
    });

    it("ok/periods", () => {
      assert.equal(parsePeriod("30s"), 30_000);
      assert.equal(parsePeriod("90m"), 90 * 60_000);
      assert.equal(parsePeriod("7d"), 7 * 24 * H);
      assert.equal(parsePeriod("1w"), 7 * 24 * H);
    });
  });

  describe("directory entries and overrides", () => {
    it("ok/a directory entry replaces the server's value, turns it off, or sets one the server has off", () => {
      const entries = checkDirectoryRateLimits([
        { name: "new-orders-per-account", count: 5, periodMs: H },
        { name: "new-accounts-per-ip", disabled: true },
      ]);
      const set = directoryRateLimits(DEFAULT_RATE_LIMITS, entries);
      assert.deepEqual(set["new-orders-per-account"], { count: 5, periodMs: H });
      assert.equal(set["new-accounts-per-ip"], undefined);
      assert.deepEqual(directoryRateLimits({}, entries), { "new-orders-per-account": { count: 5, periodMs: H } });
      assert.equal(directoryRateLimits(DEFAULT_RATE_LIMITS, []), DEFAULT_RATE_LIMITS);
    });

    it("fail/directory entries: unknown name, twice, a period on a count limit, no count", () => {
      assert.throws(() => checkDirectoryRateLimits([{ name: "x", count: 1, periodMs: H }]), /not a rate limit/);
      assert.throws(() => checkDirectoryRateLimits([{ name: "new-orders-per-account", count: 1, periodMs: H }, { name: "new-orders-per-account", disabled: true }]), /twice/);
      assert.throws(() => checkDirectoryRateLimits([{ name: "pending-authorizations-per-account", count: 1, periodMs: H }]), /without a period/);
      assert.throws(() => checkDirectoryRateLimits([{ name: "new-orders-per-account", periodMs: H }]), /count must be/);
      assert.throws(() => checkDirectoryRateLimits([{ name: "new-orders-per-account", count: 3 }]), /period must be/);
    });

    it("ok/an override wins over the directory's value or exempts; where the limit is off it changes nothing", () => {
      const set = { "new-orders-per-account": { count: 300, periodMs: 3 * H } };
      assert.deepEqual(effectiveLimit(set, "new-orders-per-account", []), set["new-orders-per-account"]);
      assert.deepEqual(effectiveLimit(set, "new-orders-per-account", [{ name: "new-orders-per-account", unlimited: false, count: 3000, periodMs: 3 * H }]), { count: 3000, periodMs: 3 * H });
      assert.equal(effectiveLimit(set, "new-orders-per-account", [{ name: "new-orders-per-account", unlimited: true, count: 0, periodMs: 0 }]), undefined);
      assert.equal(effectiveLimit({}, "pending-authorizations-per-account", [{ name: "pending-authorizations-per-account", unlimited: false, count: 2, periodMs: 0 }]), undefined);
    });
  });

  describe("GCRA", () => {
    const limit = { count: 3, periodMs: 3 * H };
    it("ok/a full bucket admits `count` at once, then one per emission interval", () => {
      let tat: number | undefined;
      const now = 1_000_000;
      for (let i = 0; i < 3; i++) {
        const d = gcra(limit, tat, now);
        assert.equal(d.allowed, true, `request ${i}`);
        if (d.allowed) tat = d.newTatMs;
      }
      const refused = gcra(limit, tat, now);
      assert.deepEqual(refused, { allowed: false, retryAfterMs: H });
      assert.equal(retryAfterMs(limit, tat!, now), H);
      // one emission interval later exactly one more is admitted
      const later = gcra(limit, tat, now + H);
      assert.equal(later.allowed, true);
      if (later.allowed) assert.equal(gcra(limit, later.newTatMs, now + H).allowed, false);
    });

    it("ok/a TAT in the past is a full bucket", () => {
      assert.deepEqual(gcra(limit, 0, 10 * H), { allowed: true, newTatMs: 11 * H });
      assert.deepEqual(gcra(limit, undefined, 10 * H), { allowed: true, newTatMs: 11 * H });
    });

    it("ok/Retry-After is whole seconds rounded up, at least 1", () => {
      assert.equal(retryAfterSeconds(1), 1);
      assert.equal(retryAfterSeconds(1000), 1);
      assert.equal(retryAfterSeconds(1001), 2);
      assert.equal(retryAfterSeconds(0), 1);
    });
  });

  describe("bucket keys", () => {
    it("ok/client addresses: IPv4 itself (mapped too), IPv6 by /64 and /48", () => {
      assert.deepEqual(clientAddressKeys("192.0.2.7"), { ip: "192.0.2.7" });
      assert.deepEqual(clientAddressKeys("::ffff:192.0.2.7"), { ip: "192.0.2.7" });
      assert.deepEqual(clientAddressKeys("2001:db8:1:2:3:4:5:6"), { ip: "2001:db8:1:2::/64", ipv6Range: "2001:db8:1::/48" });
      assert.deepEqual(clientAddressKeys("2001:DB8:1:2::9"), clientAddressKeys("2001:db8:1:2:ffff::1"));
      assert.deepEqual(clientAddressKeys(""), { ip: "unknown" });
    });

    it("ok/registered domains by the Public Suffix List (private section too); wildcards and suffixes", () => {
      assert.equal(registeredDomain({ type: "dns", value: "www.example.com" }), "example.com");
      assert.equal(registeredDomain({ type: "dns", value: "new.blog.example.co.uk" }), "example.co.uk");
      assert.equal(registeredDomain({ type: "dns", value: "*.shop.example.com" }), "example.com");
      assert.equal(registeredDomain({ type: "dns", value: "alice.github.io" }), "alice.github.io");
      assert.equal(registeredDomain({ type: "dns", value: "co.uk" }), "co.uk");
      assert.equal(registeredDomain({ type: "dns", value: "host.internal" }), "host.internal");
      assert.equal(registeredDomain({ type: "ip", value: "192.0.2.1" }), "192.0.2.1");
      assert.deepEqual(registeredDomains([
        { type: "dns", value: "b.example.com" },
        { type: "dns", value: "a.example.com" },
        { type: "dns", value: "example.org" },
      ]), ["example.com", "example.org"]);
    });
  });
});
