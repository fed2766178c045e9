import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Identifier } from "../../../src/core/types.js";
import { dns01TxtValue } from "../../../src/validation/dns01.js";
import { base32Lower, dnsAccount01RecordName, dnsAccountLabel } from "../../../src/validation/dnsaccount01.js";
import { createHttpFetcher, createTlsDialer } from "../../../src/validation/network.js";
import type { ValidationErrorType } from "../../../src/validation/types.js";
import { createChallengeValidator } from "../../../src/validation/validator.js";
import { FakeResolver, keyAuthz, type FakeZone } from "./stubs.js";

const TOKEN = "dns-account-token";
const GOOD = dns01TxtValue(keyAuthz(TOKEN));
const ACCOUNT = "https://ca.test/acme/main/acct/8a7f0d1e-1111-4222-8333-944455556666";

/** RFC 4648 §6 base32, written independently of the module: via a bit string */
function base32Reference(bytes: Uint8Array): string {
  const bits = [...bytes].map((b) => b.toString(2).padStart(8, "0")).join("");
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let out = "";
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5).padEnd(5, "0"), 2)];
  return out;
}

const NAME = `_${base32Reference(createHash("sha256").update(ACCOUNT).digest().subarray(0, 10)).toLowerCase()}._acme-challenge.example.test`;

describe("validation/dns-account-01 label (draft-ietf-acme-dns-account-label)", () => {
  it("derives the draft's example label: https://example.com/acme/acct/ExampleAccount -> _ujmmovf2vn55tgye", () => {
    assert.equal(dnsAccountLabel("https://example.com/acme/acct/ExampleAccount"), "_ujmmovf2vn55tgye");
    assert.equal(dnsAccount01RecordName("example.org", "https://example.com/acme/acct/ExampleAccount"), "_ujmmovf2vn55tgye._acme-challenge.example.org");
  });

  it("is '_' + lower-case base32 of the first 10 octets of SHA-256(account URL): 16 characters, no padding", () => {
    for (const url of [ACCOUNT, "https://a.test/acct/1", "http://[::1]:8443/acme/x/acct/2"]) {
      const expected = `_${base32Reference(createHash("sha256").update(url).digest().subarray(0, 10)).toLowerCase()}`;
      const label = dnsAccountLabel(url);
      assert.equal(label, expected);
      assert.match(label, /^_[a-z2-7]{16}$/);
    }
  });

  it("base32 matches RFC 4648 §10 test vectors (lower case, unpadded)", () => {
    const vectors: Array<[string, string]> = [
      ["", ""],
      ["f", "my"],
      ["fo", "mzxq"],
      ["foo", "mzxw6"],
      ["foob", "mzxw6yq"],
      ["fooba", "mzxw6ytb"],
      ["foobar", "mzxw6ytboi"],
    ];
    for (const [input, out] of vectors) assert.equal(base32Lower(Buffer.from(input)), out, input);
  });

  it("a wildcard's record lives under the base name (RFC 8555 §7.1.3); a trailing dot is dropped", () => {
    assert.equal(dnsAccount01RecordName("*.example.test", ACCOUNT), NAME);
    assert.equal(dnsAccount01RecordName("example.test.", ACCOUNT), NAME);
  });

  it("different accounts get different names for the same domain", () => {
    assert.notEqual(dnsAccount01RecordName("example.test", `${ACCOUNT}0`), dnsAccount01RecordName("example.test", ACCOUNT));
  });
});

interface Case {
  name: string;
  identifier?: Identifier;
  /** the fake zone */
  zone: Record<string, FakeZone>;
  expect: "valid" | { type: ValidationErrorType; detail?: RegExp };
  queries?: string[];
}

const cases: Case[] = [
  { name: "ok/record at the account-labelled name", zone: { [NAME]: { txt: [[GOOD]] } }, expect: "valid" },
  { name: "ok/one of several records, split character-strings joined", zone: { [NAME]: { txt: [["old"], [GOOD.slice(0, 20), GOOD.slice(20)]] } }, expect: "valid" },
  { name: "ok/wildcard identifier looks up the base name", identifier: { type: "dns", value: "*.example.test" }, zone: { [NAME]: { txt: [[GOOD]] } }, expect: "valid" },
  {
    name: "fail/the dns-01 name is not enough (the record must carry the account label)",
    zone: { "_acme-challenge.example.test": { txt: [[GOOD]] } },
    expect: { type: "dns", detail: new RegExp(`^No TXT record found at ${NAME.replace(/\./g, "\\.")}$`) },
  },
  { name: "fail/wrong value is incorrectResponse", zone: { [NAME]: { txt: [["nope"]] } }, expect: { type: "incorrectResponse", detail: /Incorrect TXT record "nope" found at _[a-z2-7]{16}\._acme-challenge\.example\.test/ } },
  { name: "fail/SERVFAIL is a dns problem", zone: { [NAME]: { txt: "ESERVFAIL" } }, expect: { type: "dns", detail: /SERVFAIL/ } },
  { name: "fail/IP identifier is malformed without a lookup", identifier: { type: "ip", value: "192.0.2.1" }, zone: {}, expect: { type: "malformed", detail: /IP identifiers/ }, queries: [] },
];

describe("validation/dns-account-01 through the validator with a fake resolver", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const resolver = new FakeResolver(c.zone);
      const v = createChallengeValidator({
        resolver,
        fetcher: createHttpFetcher(),
        dialer: createTlsDialer(),
        httpPort: 80,
        tlsPort: 443,
        retry: { attempts: 1, delayMs: 0, deadlineMs: 1000 },
      });
      const out = await v.validate({
        type: "dns-account-01",
        identifier: c.identifier ?? { type: "dns", value: "example.test" },
        token: TOKEN,
        keyAuthorization: keyAuthz(TOKEN),
        accountUrl: ACCOUNT,
      });
      if (c.expect === "valid") assert.deepEqual(out, { status: "valid" });
      else {
        assert.equal(out.status, "invalid");
        if (out.status !== "invalid") return;
        assert.equal(out.error.type, c.expect.type, out.error.detail);
        if (c.expect.detail) assert.match(out.error.detail, c.expect.detail);
      }
      assert.deepEqual(resolver.queries, c.queries ?? [`TXT ${NAME}`]);
    });
  }

  it("without the account URL the validation is a serverInternal outcome, never a throw", async () => {
    const v = createChallengeValidator({ resolver: new FakeResolver(), fetcher: createHttpFetcher(), dialer: createTlsDialer(), httpPort: 80, tlsPort: 443, retry: { attempts: 1, delayMs: 0, deadlineMs: 1000 } });
    const out = await v.validate({ type: "dns-account-01", identifier: { type: "dns", value: "example.test" }, token: TOKEN, keyAuthorization: keyAuthz(TOKEN) });
    assert.equal(out.status, "invalid");
    if (out.status === "invalid") assert.equal(out.error.type, "serverInternal");
  });
});
