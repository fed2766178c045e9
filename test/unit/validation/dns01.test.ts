import assert from "node:assert/strict";
import type { Identifier } from "../../../src/core/types.js";
import { dns01RecordName, dns01TxtValue } from "../../../src/validation/dns01.js";
import { createHttpFetcher, createTlsDialer } from "../../../src/validation/network.js";
import type { ValidationErrorType } from "../../../src/validation/types.js";
import { createChallengeValidator } from "../../../src/validation/validator.js";
import { FakeResolver, keyAuthz, type FakeZone } from "./stubs.js";

const TOKEN = "dns-token";
const GOOD = dns01TxtValue(keyAuthz(TOKEN));

interface Case {
  name: string;
  identifier?: Identifier;
  /** what the fake resolver has at _acme-challenge.example.test */
  record?: FakeZone["txt"];
  expect: "valid" | { type: ValidationErrorType; detail?: RegExp };
  /** how many TXT queries were made */
  queries?: number;
}

const cases: Case[] = [
  { name: "ok/dns-01 single record", record: [[GOOD]], expect: "valid" },
  { name: "ok/dns-01 one of several records", record: [["stale-value"], [GOOD], ["v=spf1 -all"]], expect: "valid" },
  { name: "ok/dns-01 record split into character-strings is joined", record: [[GOOD.slice(0, 10), GOOD.slice(10, 30), GOOD.slice(30)]], expect: "valid" },
  { name: "ok/dns-01 wildcard identifier looks up the base name", identifier: { type: "dns", value: "*.example.test" }, record: [[GOOD]], expect: "valid" },
  { name: "fail/dns-01 NXDOMAIN", record: undefined, expect: { type: "dns", detail: /^No TXT record found at _acme-challenge\.example\.test$/ } },
  { name: "fail/dns-01 NODATA", record: "ENODATA", expect: { type: "dns", detail: /^No TXT record found at _acme-challenge\.example\.test$/ } },
  { name: "fail/dns-01 empty answer", record: [], expect: { type: "dns", detail: /No TXT record found/ } },
  { name: "fail/dns-01 SERVFAIL", record: "ESERVFAIL", expect: { type: "dns", detail: /SERVFAIL looking up TXT for _acme-challenge\.example\.test/ } },
  { name: "fail/dns-01 resolver timeout", record: "ETIMEOUT", expect: { type: "dns", detail: /TIMEOUT/ } },
  { name: "fail/dns-01 mismatch", record: [["not-the-digest"]], expect: { type: "incorrectResponse", detail: /Incorrect TXT record "not-the-digest" found at _acme-challenge\.example\.test/ } },
  {
    name: "fail/dns-01 mismatch with a long record is not echoed in full",
    record: [["x".repeat(2000)], ["y"]],
    expect: { type: "incorrectResponse", detail: /^Incorrect TXT record "x{64}\.\.\." and 1 more found/ },
  },
  { name: "fail/dns-01 digest of the key authorization without hashing", record: [[keyAuthz(TOKEN)]], expect: { type: "incorrectResponse" } },
  {
    name: "fail/dns-01 IP identifier (RFC 8738 §7)",
    identifier: { type: "ip", value: "192.0.2.1" },
    record: [[GOOD]],
    expect: { type: "malformed", detail: /IP identifiers/ },
    queries: 0,
  },
];

describe("validation/dns-01 (RFC 8555 §8.4) with a fake resolver", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const resolver = new FakeResolver(c.record === undefined ? {} : { "_acme-challenge.example.test": { txt: c.record } });
      const v = createChallengeValidator({
        resolver,
        fetcher: createHttpFetcher(),
        dialer: createTlsDialer(),
        httpPort: 80,
        tlsPort: 443,
        retry: { attempts: 1, delayMs: 0, deadlineMs: 1000 },
      });
      const out = await v.validate({ type: "dns-01", identifier: c.identifier ?? { type: "dns", value: "example.test" }, token: TOKEN, keyAuthorization: keyAuthz(TOKEN) });
      if (c.expect === "valid") {
        assert.deepEqual(out, { status: "valid" });
      } else {
        assert.equal(out.status, "invalid");
        if (out.status !== "invalid") return;
        assert.equal(out.error.type, c.expect.type, out.error.detail);
        if (c.expect.detail) assert.match(out.error.detail, c.expect.detail);
        assert.ok(out.error.detail.length < 200, "short detail");
      }
      assert.equal(resolver.queries.length, c.queries ?? 1);
      if ((c.queries ?? 1) > 0) assert.deepEqual(resolver.queries, ["TXT _acme-challenge.example.test"]);
    });
  }

  it("computes base64url(SHA-256(keyAuthorization)) (RFC 8555 §8.4 example shape)", () => {
    const v = dns01TxtValue("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI");
    assert.match(v, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(dns01RecordName("www.example.org"), "_acme-challenge.www.example.org");
    assert.equal(dns01RecordName("*.example.org"), "_acme-challenge.example.org");
  });
});
