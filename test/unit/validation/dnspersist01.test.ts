import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Identifier } from "../../../src/core/types.js";
import { FixedClock } from "../../../src/core/clock.js";
import {
  DNS_PERSIST_MAX_KEYS,
  DNS_PERSIST_MAX_RECORDS,
  dnsPersistHashedAccountUri,
  dnsPersistRecordName,
  evaluatePersistRecords,
  parseIssueValue,
  type HashedAccountUriFn,
} from "../../../src/validation/dnspersist01.js";
import { createHttpFetcher, createTlsDialer } from "../../../src/validation/network.js";
import type { DnsPersistParams, ValidationErrorType, ValidationOutcome } from "../../../src/validation/types.js";
import { createChallengeValidator } from "../../../src/validation/validator.js";
import { FakeResolver, type FakeZone } from "./stubs.js";

describe("validation/dns-persist-01 hashed account URI (draft-ietf-acme-dns-persist-02 §4.1, §10.2)", () => {
  const key = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
  const prefix = "https://ca.example/account-hash/";
  const account = "https://ca.example/acct/123";

  it("reproduces the §10.2 test vector for example.com", () => {
    assert.equal(dnsPersistHashedAccountUri(prefix, "example.com", key, account), "https://ca.example/account-hash/sha-256/5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kw");
  });

  it("reproduces the §10.2 domain-omitted opt-out vector (domain_name '*')", () => {
    assert.equal(dnsPersistHashedAccountUri(prefix, "*", key, account), "https://ca.example/account-hash/sha-256/NpDnSwUthQK8zCgFdefYxAdAVPnygMLbs9US6oO-5ug");
  });

  it("is SHA-256(one length octet || domain || 43-octet thumbprint || account URL), computed independently", () => {
    const domain = "www.example.test";
    const expected = createHash("sha256").update(Buffer.concat([Buffer.from([domain.length]), Buffer.from(domain), Buffer.from(key), Buffer.from(account)])).digest("base64url");
    assert.equal(dnsPersistHashedAccountUri(prefix, domain, key, account), `${prefix}sha-256/${expected}`);
  });

  it("names the record _validation-persist.<FQDN>, a wildcard's at its base name (§5)", () => {
    assert.equal(dnsPersistRecordName("example.com"), "_validation-persist.example.com");
    assert.equal(dnsPersistRecordName("*.example.com"), "_validation-persist.example.com");
  });
});

describe("validation/dns-persist-01 issue-value parsing (RFC 8659 §4.2)", () => {
  it("reads the issuer and the parameters with WSP around them, tags case-insensitively", () => {
    const r = parseIssueValue(" \tAuthority.Example\t ;  accounturi = https://x/y ;\tpolicy=WildCard ; PersistUntil=17 ;");
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.equal(r.value.issuer, "authority.example");
    assert.deepEqual([...r.value.params], [
      ["accounturi", "https://x/y"],
      ["policy", "WildCard"],
      ["persistuntil", "17"],
    ]);
  });

  it("accepts an issuer alone and an empty issuer", () => {
    const a = parseIssueValue("ca.test");
    assert.ok(a.ok && a.value.issuer === "ca.test" && a.value.params.size === 0);
    const b = parseIssueValue(";accounturi=x");
    assert.ok(b.ok && b.value.issuer === null && b.value.params.get("accounturi") === "x");
  });

  for (const [name, text, reason] of [
    ["duplicate parameter", "ca.test; accounturi=a; AccountURI=b", /appears twice/],
    ["parameter without =", "ca.test; accounturi", /no "="/],
    ["bad tag", "ca.test; -bad=1", /not a valid tag/],
    ["space inside a value", "ca.test; accounturi=a b", /outside/],
    ["issuer that is not a domain name", "ca_test; accounturi=a", /not a domain name/],
  ] as const) {
    it(`refuses ${name}`, () => {
      const r = parseIssueValue(text);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.reason, reason);
    });
  }
});

const DOMAIN = "example.test";
const NAME = `_validation-persist.${DOMAIN}`;
const ACCOUNT = "https://ca.test/acme/main/acct/6f1c0a52-7f55-4f37-9a0e-6a4d1c1f2b11";
const PREFIX = "https://ca.test/acme/main/account-hash/";
const KEY = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
const OLD_KEY = "Ty0pZ7J8w2tN0uF7m0d9tYkq8Nf0c3xE1sG4h5J6k7A";
const OTHER_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const NOW = new Date("2026-12-01T12:00:00Z");
const hashed = (key = KEY, domain = DOMAIN, account = ACCOUNT): string => dnsPersistHashedAccountUri(PREFIX, domain, key, account);
const GOOD = `ca.test; accounturi=${hashed()}`;

interface Case {
  name: string;
  /** TXT records at _validation-persist.example.test (undefined: NXDOMAIN) */
  txt?: FakeZone["txt"];
  identifier?: Identifier;
  wildcard?: boolean;
  issuers?: string[];
  keys?: string[];
  expect: "valid" | { notAfter: Date } | { type: ValidationErrorType; detail?: RegExp };
}

const t = (d: Date): number => Math.floor(d.getTime() / 1000);

const cases: Case[] = [
  { name: "ok/one record naming this CA and the account", txt: [[GOOD]], expect: "valid" },
  { name: "ok/issuer compared case-insensitively, trailing dot ignored", txt: [[`CA.Test.; accounturi=${hashed()}`]], expect: "valid" },
  { name: "ok/record split across character-strings (§9.1) is joined", txt: [["ca.test;", ` accounturi=${hashed().slice(0, 30)}`, hashed().slice(30)]], expect: "valid" },
  { name: "ok/unknown parameters are ignored (§4.1 item 1)", txt: [[`ca.test; future=1; accounturi=${hashed()}; x-y=z`]], expect: "valid" },
  { name: "ok/the domain-omitted opt-out form '*' (§4.1)", txt: [[`ca.test; accounturi=${hashed(KEY, "*")}`]], expect: "valid" },
  { name: "ok/a record computed with an earlier key of the account (§4.2 retention)", txt: [[`ca.test; accounturi=${hashed(OLD_KEY)}`]], keys: [KEY, OLD_KEY], expect: "valid" },
  { name: "ok/second issuer domain name of the CA (§3.1 any one of them)", txt: [[`ca2.test; accounturi=${hashed()}`]], issuers: ["ca.test", "ca2.test"], expect: "valid" },
  {
    name: "ok/multiple issuers: the other CA's record is ignored (§4.3.2)",
    txt: [[`other-ca.example; accounturi=https://other/x; policy=wildcard`], [GOOD], ["v=spf1 -all"]],
    expect: "valid",
  },
  { name: "ok/persistUntil in the future clamps the authorization (§4.1 item 5)", txt: [[`${GOOD}; persistUntil=${t(NOW) + 3600}`]], expect: { notAfter: new Date((t(NOW) + 3600) * 1000) } },
  {
    name: "ok/of two passing records the longer-lasting one counts",
    txt: [[`${GOOD}; persistUntil=${t(NOW) + 60}`], [`${GOOD}; persistUntil=${t(NOW) + 7200}`]],
    expect: { notAfter: new Date((t(NOW) + 7200) * 1000) },
  },
  { name: "ok/persistUntil exactly now is still valid (only after T it is not)", txt: [[`${GOOD}; persistUntil=${t(NOW)}`]], expect: { notAfter: new Date(t(NOW) * 1000) } },
  { name: "ok/wildcard with policy=wildcard (§5)", identifier: { type: "dns", value: DOMAIN }, wildcard: true, txt: [[`${GOOD}; policy=wildcard`]], expect: "valid" },
  { name: "ok/policy value compared case-insensitively (§4.1 item 4)", wildcard: true, txt: [[`${GOOD}; POLICY=WILDCARD`]], expect: "valid" },
  { name: "ok/a broken record beside a good one does not matter", txt: [["ca.test; accounturi=x; accounturi=y"], [GOOD]], expect: "valid" },
  { name: "fail/wildcard without policy=wildcard is unauthorized", wildcard: true, txt: [[GOOD]], expect: { type: "unauthorized", detail: /policy=wildcard/ } },
  { name: "fail/wildcard with another policy value is unauthorized", wildcard: true, txt: [[`${GOOD}; policy=subdomains`]], expect: { type: "unauthorized", detail: /policy=wildcard/ } },
  { name: "fail/expired persistUntil is unauthorized (§9.3.1)", txt: [[`${GOOD}; persistUntil=${t(NOW) - 1}`]], expect: { type: "unauthorized", detail: /persistUntil \d+ \(2026-12-01T11:59:59\.000Z\) has passed/ } },
  { name: "fail/persistUntil not a base-10 integer is malformed", txt: [[`${GOOD}; persistUntil=2026-12-31`]], expect: { type: "malformed", detail: /not a base-10 UNIX timestamp/ } },
  { name: "fail/persistUntil of 12 digits is malformed (at most 11)", txt: [[`${GOOD}; persistUntil=100000000000`]], expect: { type: "malformed", detail: /not a base-10 UNIX timestamp/ } },
  { name: "ok/persistUntil of 11 digits is a timestamp", txt: [[`${GOOD}; persistUntil=99999999999`]], expect: { notAfter: new Date(99999999999 * 1000) } },
  { name: "fail/negative persistUntil is malformed", txt: [[`${GOOD}; persistUntil=-5`]], expect: { type: "malformed" } },
  { name: "fail/another account's hashed URI is unauthorized (§9.3.1)", txt: [[`ca.test; accounturi=${hashed(KEY, DOMAIN, `${ACCOUNT}0`)}`]], expect: { type: "unauthorized", detail: /does not identify this account/ } },
  { name: "fail/a key not of the account is unauthorized", txt: [[`ca.test; accounturi=${hashed(OTHER_KEY)}`]], expect: { type: "unauthorized" } },
  { name: "fail/hashed URI of another domain is unauthorized", txt: [[`ca.test; accounturi=${hashed(KEY, "other.test")}`]], expect: { type: "unauthorized" } },
  { name: "fail/accounturi is compared without case folding (RFC 3986 §6.2.1)", txt: [[`ca.test; accounturi=${PREFIX}sha-256/${hashed().slice(-43).toUpperCase()}`]], expect: { type: "unauthorized" } },
  { name: "fail/the raw account URL (draft -01 form) is malformed", txt: [[`ca.test; accounturi=${ACCOUNT}`]], expect: { type: "malformed", detail: /accountHashPrefix/ } },
  { name: "fail/an algorithm other than sha-256 is malformed", txt: [[`ca.test; accounturi=${PREFIX}sha-512/${hashed().slice(-43)}`]], expect: { type: "malformed", detail: /hash algorithm "sha-512" is not accepted/ } },
  { name: "fail/a hash value of the wrong length is malformed", txt: [[`ca.test; accounturi=${PREFIX}sha-256/abc`]], expect: { type: "malformed", detail: /43 base64url/ } },
  { name: "fail/missing accounturi is malformed", txt: [["ca.test; policy=wildcard"]], expect: { type: "malformed", detail: /no accounturi/ } },
  { name: "fail/duplicate parameters are malformed", txt: [[`${GOOD}; accounturi=${hashed()}`]], expect: { type: "malformed", detail: /appears twice/ } },
  { name: "fail/records only for other issuers are unauthorized", txt: [[`other-ca.example; accounturi=${hashed()}`]], expect: { type: "unauthorized", detail: /names an issuer domain name of this CA \(ca\.test\)/ } },
  { name: "fail/an issuer that merely ends in the CA's name is another issuer", txt: [[`evilca.test; accounturi=${hashed()}`], [`x.ca.test; accounturi=${hashed()}`]], expect: { type: "unauthorized", detail: /and 1 more/ } },
  { name: "fail/several failing records report the first and count the rest", txt: [[`${GOOD}; persistUntil=1`], ["ca.test; nothing=1"]], expect: { type: "unauthorized", detail: /and 1 more record naming this CA failed too/ } },
  { name: "fail/NXDOMAIN is a dns problem", txt: undefined, expect: { type: "dns", detail: /^No TXT record found at _validation-persist\.example\.test$/ } },
  { name: "fail/SERVFAIL is a dns problem", txt: "ESERVFAIL", expect: { type: "dns", detail: /SERVFAIL/ } },
  { name: "fail/IP identifiers are malformed", identifier: { type: "ip", value: "192.0.2.7" }, txt: [[GOOD]], expect: { type: "malformed", detail: /IP identifiers/ } },
];

describe("validation/dns-persist-01 through the validator with a fake resolver", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const resolver = new FakeResolver(c.txt === undefined ? {} : { [NAME]: { txt: c.txt } });
      const v = createChallengeValidator({
        resolver,
        fetcher: createHttpFetcher(),
        dialer: createTlsDialer(),
        httpPort: 80,
        tlsPort: 443,
        clock: new FixedClock(NOW),
        retry: { attempts: 1, delayMs: 0, deadlineMs: 1000 },
      });
      const persist: DnsPersistParams = { issuerDomainNames: c.issuers ?? ["ca.test"], accountHashPrefix: PREFIX, keyThumbprints: c.keys ?? [KEY], wildcard: c.wildcard ?? false };
      const out: ValidationOutcome = await v.validate({
        type: "dns-persist-01",
        identifier: c.identifier ?? { type: "dns", value: DOMAIN },
        token: "unused-by-dns-persist-01",
        keyAuthorization: "unused",
        accountUrl: ACCOUNT,
        persist,
      });
      if (c.expect === "valid") assert.deepEqual(out, { status: "valid" });
      else if ("notAfter" in c.expect) assert.deepEqual(out, { status: "valid", notAfter: c.expect.notAfter });
      else {
        assert.equal(out.status, "invalid", JSON.stringify(out));
        if (out.status !== "invalid") return;
        assert.equal(out.error.type, c.expect.type, out.error.detail);
        if (c.expect.detail) assert.match(out.error.detail, c.expect.detail);
        assert.ok(out.error.detail.length < 400, "bounded detail");
      }
      assert.deepEqual(resolver.queries, c.identifier?.type === "ip" ? [] : [`TXT ${NAME}`]);
    });
  }
});

describe("validation/dns-persist-01 work per validation is bounded (records x keys)", () => {
  const base = { issuerDomainNames: ["ca.test"], accountHashPrefix: PREFIX, wildcard: false, domain: DOMAIN, accountUrl: ACCOUNT, now: NOW, name: NAME };
  const thumb = (i: number): string => createHash("sha256").update(`key-${i}`).digest("base64url");
  function counting(): { fn: HashedAccountUriFn; calls: () => number } {
    let n = 0;
    return {
      fn: (...a) => {
        n++;
        return dnsPersistHashedAccountUri(...a);
      },
      calls: () => n,
    };
  }
  const foreign = (i: number): string => `ca.test; accounturi=${PREFIX}sha-256/${thumb(1e6 + i)}`;

  it("450 records naming this CA x 2000 retained keys: the hashes of 16 keys computed once (32), not per record", () => {
    const h = counting();
    const keys = Array.from({ length: 2000 }, (_, i) => thumb(i));
    const records = Array.from({ length: 450 }, (_, i) => foreign(i));
    const r = evaluatePersistRecords(records, { ...base, keyThumbprints: keys }, h.fn);
    assert.equal(h.calls(), 2 * DNS_PERSIST_MAX_KEYS);
    assert.equal(DNS_PERSIST_MAX_KEYS, 16);
    assert.equal(r.outcome.status, "invalid");
    if (r.outcome.status === "invalid") {
      assert.equal(r.outcome.error.type, "unauthorized");
      assert.match(r.outcome.error.detail, /\(and 31 more records naming this CA failed too\); 418 more records naming this CA were not examined \(at most 32\)/);
    }
  });

  it("records that fail before the accounturi comparison compute no hash at all", () => {
    const h = counting();
    const r = evaluatePersistRecords(["ca.test; accounturi=x", "ca.test; persistUntil=1"], { ...base, keyThumbprints: [KEY] }, h.fn);
    assert.equal(h.calls(), 0);
    assert.equal(r.outcome.status, "invalid");
  });

  it(`only the first ${DNS_PERSIST_MAX_RECORDS} records naming this CA are examined (others' records are not counted)`, () => {
    const others = Array.from({ length: 100 }, (_, i) => `other-ca.example; accounturi=${i}`);
    const filler = Array.from({ length: DNS_PERSIST_MAX_RECORDS }, (_, i) => foreign(i));
    const ok = evaluatePersistRecords([...others, ...filler.slice(1), GOOD], { ...base, keyThumbprints: [KEY] });
    assert.deepEqual(ok.outcome, { status: "valid" }, "the 32nd record naming this CA is examined");
    const late = evaluatePersistRecords([...others, ...filler, GOOD], { ...base, keyThumbprints: [KEY] });
    assert.equal(late.outcome.status, "invalid", "the 33rd is not");
    if (late.outcome.status === "invalid") assert.match(late.outcome.error.detail, /1 more record naming this CA was not examined/);
  });

  it(`a key older than the ${DNS_PERSIST_MAX_KEYS} most recent ones no longer validates`, () => {
    const keys = Array.from({ length: DNS_PERSIST_MAX_KEYS + 1 }, (_, i) => thumb(i));
    const rec = (k: string): string => `ca.test; accounturi=${hashed(k)}`;
    assert.deepEqual(evaluatePersistRecords([rec(keys[DNS_PERSIST_MAX_KEYS - 1]!)], { ...base, keyThumbprints: keys }).outcome, { status: "valid" });
    const r = evaluatePersistRecords([rec(keys[DNS_PERSIST_MAX_KEYS]!)], { ...base, keyThumbprints: keys });
    assert.equal(r.outcome.status, "invalid");
    if (r.outcome.status === "invalid") assert.equal(r.outcome.error.type, "unauthorized");
  });

  it("the first passing record without persistUntil ends the search (later records are not parsed)", () => {
    const h = counting();
    // a later record naming this CA whose hash value would be compared if it were examined
    const r = evaluatePersistRecords([`${GOOD}; persistUntil=${t(NOW) + 60}`, GOOD, `${GOOD}; persistUntil=${t(NOW) + 9_999_999}`], { ...base, keyThumbprints: [KEY] }, h.fn);
    assert.deepEqual(r.outcome, { status: "valid" });
    assert.equal(h.calls(), 2, "one key: its FQDN and '*' hashes, once");
  });
});
