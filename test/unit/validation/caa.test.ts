/**
 * CAA evaluation (RFC 8659, RFC 8657) against a fake resolver: each rule
 * names the section it comes from.
 */
import assert from "node:assert/strict";
import { caaClimb, checkCaa, checkCaaWithRetry, parseIssueValue, type CaaCheckRequest } from "../../../src/validation/caa.js";
import { createChallengeValidator } from "../../../src/validation/validator.js";
import type { CaaRecord } from "../../../src/validation/network.js";
import { FakeResolver } from "./stubs.js";

const ACCOUNT = "https://acme.example.test/acme/default/acct/0190a0a0-0000-7000-8000-000000000001";
const req = (over: Partial<CaaCheckRequest> = {}): CaaCheckRequest => ({
  name: "www.example.test",
  wildcard: false,
  accountUri: ACCOUNT,
  method: "http-01",
  issuerDomains: ["sigil.example"],
  ...over,
});
const issue = (value: string, flags = 0): CaaRecord => ({ flags, tag: "issue", value });
const issuewild = (value: string, flags = 0): CaaRecord => ({ flags, tag: "issuewild", value });

async function outcome(zone: ConstructorParameters<typeof FakeResolver>[0], r: CaaCheckRequest = req()) {
  const resolver = new FakeResolver(zone);
  return { result: await checkCaa(r, resolver), queries: resolver.queries };
}

describe("CAA (RFC 8659, RFC 8657)", () => {
  describe("RFC 8659 §3 relevant RRset and tree climbing", () => {
    it("ok/no-records: no CAA record up to the TLD allows issuance, after querying every level but the root", async () => {
      const { result, queries } = await outcome({ "www.example.test": { a: ["192.0.2.1"] } });
      assert.deepEqual(result, { status: "valid" });
      assert.deepEqual(queries, ["CAA www.example.test", "CAA example.test", "CAA test"]);
    });

    it("fail/climb: NXDOMAIN and NODATA below climb to the parent's CAA RRset, which applies", async () => {
      const { result, queries } = await outcome({ "www.example.test": { a: ["192.0.2.1"] }, "example.test": { caa: [issue("other-ca.example")] } });
      assert.equal(result.status, "invalid");
      assert.equal(result.status === "invalid" && result.error.type, "caa");
      assert.match(result.status === "invalid" ? result.error.detail : "", /CAA record for example\.test prevents issuance/);
      assert.deepEqual(queries, ["CAA www.example.test", "CAA example.test"]);
    });

    it("ok/climb-stops: the first non-empty RRset is the relevant one; the parents are not consulted", async () => {
      const { result, queries } = await outcome({
        "www.example.test": { caa: [issue("sigil.example")] },
        "example.test": { caa: [issue(";")] },
      });
      assert.deepEqual(result, { status: "valid", relevantName: "www.example.test" });
      assert.deepEqual(queries, ["CAA www.example.test"]);
    });

    it("ok/cname: a CNAME is followed by the resolver and the target's records apply (RFC 8659 §3)", async () => {
      const { result, queries } = await outcome({
        "www.example.test": { cname: "cdn.provider.test" },
        "cdn.provider.test": { caa: [issue("sigil.example")] },
      });
      assert.deepEqual(result, { status: "valid", relevantName: "www.example.test" });
      assert.deepEqual(queries, ["CNAME www.example.test", "CAA cdn.provider.test"]);
    });

    it("fail/cname: a CNAME target forbidding issuance refuses", async () => {
      const { result } = await outcome({ "www.example.test": { cname: "cdn.provider.test" }, "cdn.provider.test": { caa: [issue("other.example")] } });
      assert.equal(result.status === "invalid" && result.error.type, "caa");
    });

    it("fail/servfail: a SERVFAIL is not a pass; it refuses with dns, transient, and the climb stops (BR §3.2.2.8)", async () => {
      const { result, queries } = await outcome({ "www.example.test": { caa: "ESERVFAIL" }, "example.test": { caa: [issue("sigil.example")] } });
      assert.deepEqual(result, {
        status: "invalid",
        error: { type: "dns", detail: "DNS problem: SERVFAIL looking up CAA for www.example.test; a failed CAA lookup does not permit issuance" },
        transient: true,
      });
      assert.deepEqual(queries, ["CAA www.example.test"]);
    });

    it("fail/timeout: a timeout at a parent refuses too (RFC 8659 §3, BR §3.2.2.8)", async () => {
      const { result } = await outcome({ "example.test": { caa: "ETIMEOUT" } });
      assert.equal(result.status === "invalid" && result.error.type, "dns");
      assert.match(result.status === "invalid" ? result.error.detail : "", /TIMEOUT looking up CAA for example\.test/);
    });

    it("caaClimb lists the name, its parents and the TLD, never the root", () => {
      assert.deepEqual(caaClimb("a.b.example.test."), ["a.b.example.test", "b.example.test", "example.test", "test"]);
      assert.deepEqual(caaClimb("*.Example.Test"), ["example.test", "test"]);
    });
  });

  describe("RFC 8659 §4.2 issue", () => {
    it("ok/issue: an issue property naming one of the directory's caaIdentities allows (case-insensitive, trailing dot)", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue("other.example"), issue(" Sigil.Example ")] } }, req({ issuerDomains: ["sigil.example."] }));
      assert.equal(result.status, "valid");
    });

    it("fail/issue: issue properties naming only other CAs refuse with caa", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue("other.example")] } });
      assert.equal(result.status, "invalid");
      assert.equal(result.status === "invalid" && result.transient, false);
      assert.match(result.status === "invalid" ? result.error.detail : "", /no issue property names this CA \(sigil\.example\)/);
    });

    it('fail/empty-issuer: `0 issue ";"` authorizes nobody', async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue(";")] } });
      assert.equal(result.status === "invalid" && result.error.type, "caa");
      assert.match(result.status === "invalid" ? result.error.detail : "", /authorizes no issuer/);
    });

    it("ok/iodef-only: a relevant RRset with no issue property does not restrict issuance", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [{ flags: 0, tag: "iodef", value: "mailto:pki@example.test" }] } });
      assert.equal(result.status, "valid");
    });

    it("fail/malformed: an issue value that does not parse authorizes nobody", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue("sigil.example; not a parameter")] } });
      assert.equal(result.status === "invalid" && result.error.type, "caa");
      assert.match(result.status === "invalid" ? result.error.detail : "", /cannot be parsed/);
    });

    it("parses issue values per the §4.2 ABNF", () => {
      assert.deepEqual(parseIssueValue("ca.example"), { issuerDomain: "ca.example", parameters: new Map() });
      assert.deepEqual(parseIssueValue("  ;  "), { issuerDomain: "", parameters: new Map() });
      assert.deepEqual(parseIssueValue("CA.example; accounturi=https://a.test/acct/1; validationmethods = dns-01,http-01"), {
        issuerDomain: "ca.example",
        parameters: new Map([
          ["accounturi", "https://a.test/acct/1"],
          ["validationmethods", "dns-01,http-01"],
        ]),
      });
      assert.equal(parseIssueValue("ca..example"), undefined);
      assert.equal(parseIssueValue("-ca.example"), undefined);
      assert.equal(parseIssueValue("ca.example.."), undefined, "one trailing dot only");
    });

    it("ok/an issuer-domain-name with a trailing dot (absolute name) names the same issuer", async () => {
      assert.deepEqual(parseIssueValue("CA.Example.; accounturi=x"), { issuerDomain: "ca.example", parameters: new Map([["accounturi", "x"]]) });
      const { result } = await outcome({ "example.test": { caa: [issue("sigil.example.")] } }, req({ name: "example.test" }));
      assert.equal(result.status, "valid");
      assert.equal(parseIssueValue("ca.example; a=b; a=c"), undefined, "a parameter given twice");
      assert.equal(parseIssueValue("ca.example; a=b c"), undefined, "a space inside a value");
    });
  });

  describe("RFC 8659 §4.3 issuewild", () => {
    const zone = { "example.test": { caa: [issue("sigil.example"), issuewild("other.example")] } };
    it("fail/issuewild-precedence: for a wildcard, issuewild replaces issue", async () => {
      const { result } = await outcome(zone, req({ name: "example.test", wildcard: true }));
      assert.equal(result.status === "invalid" && result.error.type, "caa");
      assert.match(result.status === "invalid" ? result.error.detail : "", /\*\.example\.test: no issuewild property names this CA/);
    });

    it("ok/issuewild-ignored: for a non-wildcard name, issuewild is ignored", async () => {
      const { result } = await outcome(zone, req({ name: "example.test" }));
      assert.equal(result.status, "valid");
    });

    it("ok/issuewild: an issuewild naming this CA allows a wildcard even when issue names another", async () => {
      const { result } = await outcome({ "example.test": { caa: [issue("other.example"), issuewild("sigil.example")] } }, req({ name: "example.test", wildcard: true }));
      assert.equal(result.status, "valid");
    });

    it("ok/wildcard-falls-back-to-issue: with no issuewild, a wildcard uses the issue properties", async () => {
      const { result } = await outcome({ "example.test": { caa: [issue("sigil.example")] } }, req({ name: "example.test", wildcard: true }));
      assert.equal(result.status, "valid");
    });

    it('fail/issuewild-empty: `0 issuewild ";"` forbids wildcards but not the name itself', async () => {
      const z = { "example.test": { caa: [issue("sigil.example"), issuewild(";")] } };
      assert.equal((await outcome(z, req({ name: "example.test", wildcard: true }))).result.status, "invalid");
      assert.equal((await outcome(z, req({ name: "example.test" }))).result.status, "valid");
    });
  });

  describe("RFC 8659 §4.1 tags and the Issuer Critical Flag", () => {
    it("ok/tag-case: tags are case-insensitive", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [{ flags: 0, tag: "IsSuE", value: "other.example" }] } });
      assert.equal(result.status, "invalid", "an ISSUE record naming another CA applies");
    });

    it("fail/critical-unknown: an unknown tag with the critical flag (128) refuses", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue("sigil.example"), { flags: 128, tag: "tbs", value: "x" }] } });
      assert.equal(result.status === "invalid" && result.error.type, "caa");
      assert.match(result.status === "invalid" ? result.error.detail : "", /critical property "tbs" is not understood/);
    });

    it("ok/noncritical-unknown: an unknown tag without the critical flag is ignored", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue("sigil.example"), { flags: 0, tag: "tbs", value: "x" }] } });
      assert.equal(result.status, "valid");
    });

    it("ok/critical-known: the critical flag on a tag Sigil understands is no refusal", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue("sigil.example", 128), { flags: 128, tag: "iodef", value: "mailto:x@example.test" }] } });
      assert.equal(result.status, "valid");
    });
  });

  describe("RFC 8657 §3 accounturi", () => {
    it("ok/accounturi-match: the record applies to this account", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue(`sigil.example; accounturi=${ACCOUNT}`)] } });
      assert.equal(result.status, "valid");
    });

    it("fail/accounturi-mismatch: a record bound to another account does not authorize this one", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue("sigil.example; accounturi=https://acme.example.test/acme/default/acct/other")] } });
      assert.equal(result.status === "invalid" && result.error.type, "caa");
      assert.match(result.status === "invalid" ? result.error.detail : "", /names another ACME account \(RFC 8657 §3 accounturi\)/);
    });

    it("ok/accounturi-one-of-several: another record for this account still authorizes", async () => {
      const { result } = await outcome({
        "www.example.test": { caa: [issue("sigil.example; accounturi=https://other.test/acct/1"), issue(`sigil.example; accounturi=${ACCOUNT}`)] },
      });
      assert.equal(result.status, "valid");
    });
  });

  describe("RFC 8657 §4 validationmethods", () => {
    it("ok/validationmethods-match: the method that validated is listed", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue("sigil.example; validationmethods=dns-01,http-01")] } });
      assert.equal(result.status, "valid");
    });

    it("fail/validationmethods-mismatch: a method not listed does not authorize", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue("sigil.example; validationmethods=dns-01")] } }, req({ method: "tls-alpn-01" }));
      assert.equal(result.status === "invalid" && result.error.type, "caa");
      assert.match(result.status === "invalid" ? result.error.detail : "", /does not allow the tls-alpn-01 validation method/);
    });

    it("fail/both-parameters: accounturi and validationmethods must both match", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue(`sigil.example; accounturi=${ACCOUNT}; validationmethods=dns-01`)] } });
      assert.equal(result.status, "invalid");
    });

    it("ok/unknown-parameter: unknown parameters are ignored", async () => {
      const { result } = await outcome({ "www.example.test": { caa: [issue("sigil.example; policy=ev")] } });
      assert.equal(result.status, "valid");
    });
  });

  describe("retries (BR §3.2.2.8) and the validator's checkCaa", () => {
    it("a lookup failure is tried again; a later success passes", async () => {
      let calls = 0;
      const resolver = new FakeResolver({});
      resolver.resolveCaa = async (name: string) => {
        resolver.queries.push(`CAA ${name}`);
        if (calls++ === 0) throw Object.assign(new Error("servfail"), { code: "ESERVFAIL" });
        return [issue("sigil.example")];
      };
      const slept: number[] = [];
      const result = await checkCaaWithRetry(req(), resolver, { attempts: 3, delayMs: 7, sleep: async (ms) => void slept.push(ms) });
      assert.equal(result.status, "valid");
      assert.deepEqual(slept, [7]);
    });

    it("a refusal by the records is not retried", async () => {
      const resolver = new FakeResolver({ "www.example.test": { caa: [issue(";")] } });
      const result = await checkCaaWithRetry(req(), resolver, { attempts: 3, delayMs: 1, sleep: async () => undefined });
      assert.equal(result.status, "invalid");
      assert.deepEqual(resolver.queries, ["CAA www.example.test"]);
    });

    it("the validator's checkCaa uses its resolver and retry policy: a persistent SERVFAIL refuses after every attempt", async () => {
      const resolver = new FakeResolver({ "www.example.test": { caa: "ESERVFAIL" } });
      const validator = createChallengeValidator({
        resolver,
        fetcher: { get: () => Promise.reject(new Error("not used")) },
        dialer: { dial: () => Promise.reject(new Error("not used")) },
        httpPort: 80,
        tlsPort: 443,
        retry: { attempts: 2, delayMs: 1, deadlineMs: 5_000 },
        sleep: async () => undefined,
      });
      const result = await validator.checkCaa!(req());
      assert.equal(result.status === "invalid" && result.error.type, "dns");
      assert.deepEqual(resolver.queries, ["CAA www.example.test", "CAA www.example.test"]);
    });
  });
});
