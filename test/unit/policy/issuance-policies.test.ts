import assert from "node:assert/strict";
import { SigilError } from "../../../src/core/errors.js";
import {
  checkIssuancePolicyRules,
  defaultValidityUnder,
  evaluateIssuancePolicies,
  singleInputFields,
  type AppliedPolicy,
  type IssuancePolicyRules,
  type IssuanceRequest,
} from "../../../src/policy/issuance-policies.js";

const CA = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
const OTHER_CA = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";

function rules(r: Partial<IssuancePolicyRules>): IssuancePolicyRules {
  return { dnsNames: [], emails: [], ipRanges: [], caIds: [], certificateKinds: [], maxValidityDays: 0, keyTypes: [], ...r };
}

function req(r: Partial<IssuanceRequest>): IssuanceRequest {
  return { caId: CA, kind: "server", dnsNames: [], ipAddresses: [], emails: [], validityDays: 30, keyType: "p256", ...r };
}

const org: AppliedPolicy = { label: "organization's issuance policy", rules: rules({ dnsNames: ["*.example.com", ".corp.test"], ipRanges: ["10.0.0.0/8"], emails: ["*@example.com"], maxValidityDays: 90 }) };

describe("policy/issuance-policies", () => {
  describe("the decision", () => {
    const cases: Array<[string, AppliedPolicy[], Partial<IssuanceRequest>, string[]]> = [
      ["ok/no policy allows anything", [], { dnsNames: ["any.thing"], validityDays: 3650 }, []],
      ["ok/names, IPs and emails inside", [org], { kind: "dual", dnsNames: ["www.example.com", "a.b.corp.test"], ipAddresses: ["10.9.8.7"], emails: ["x@example.com"] }, []],
      ["fail/deny by default: a policy without IP ranges admits no IP", [{ label: "p", rules: rules({ dnsNames: ["*.example.com"] }) }], { dnsNames: ["a.example.com"], ipAddresses: ["10.0.0.1"] }, ["ip_addresses[0]"]],
      ["fail/each refused name by itself", [org], { dnsNames: ["www.example.com", "example.com", "a.b.example.com"], ipAddresses: ["10.0.0.1", "11.0.0.1"] }, ["dns_names[1]", "dns_names[2]", "ip_addresses[1]"]],
      ["fail/validity over the maximum", [org], { dnsNames: ["a.example.com"], validityDays: 91 }, ["validity_days"]],
      ["fail/CA not listed", [{ label: "p", rules: rules({ dnsNames: ["*.example.com"], caIds: [OTHER_CA] }) }], { dnsNames: ["a.example.com"] }, ["ca_id"]],
      ["fail/kind and key type", [{ label: "p", rules: rules({ dnsNames: ["*.example.com"], certificateKinds: ["server"], keyTypes: ["p256"] }) }], { kind: "dual", dnsNames: ["a.example.com"], keyType: "rsa2048" }, ["type", "key_algorithm"]],
      ["fail/an unknown key type when key types are listed", [{ label: "p", rules: rules({ dnsNames: ["*.example.com"], keyTypes: ["p256"] }) }], { dnsNames: ["a.example.com"], keyType: undefined }, ["key_algorithm"]],
      ["fail/a DNS-name common name outside", [org], { dnsNames: ["a.example.com"], commonName: "evil.test" }, ["common_name"]],
      ["fail/an IP common name outside", [org], { dnsNames: ["a.example.com"], commonName: "192.0.2.1" }, ["common_name"]],
      ["ok/a free-text common name", [org], { dnsNames: ["a.example.com"], commonName: "Web server" }, []],
      ["fail/a partial-wildcard common name (review R3)", [org], { ipAddresses: ["10.1.2.3"], commonName: "w*.victim.test" }, ["common_name"]],
      ["fail/a wildcard-suffix common name", [org], { ipAddresses: ["10.1.2.3"], commonName: "*w.victim.test" }, ["common_name"]],
      ["fail/a common name with two trailing dots", [org], { dnsNames: ["a.example.com"], commonName: "victim.test.." }, ["common_name"]],
      ["fail/a U-label common name", [org], { dnsNames: ["a.example.com"], commonName: "bücher.de" }, ["common_name"]],
      ["ok/a wildcard common name inside", [org], { dnsNames: ["a.example.com"], commonName: "*.example.com" }, []],
      ["fail/every policy must admit: the principal's own narrows", [org, { label: "own", rules: rules({ dnsNames: ["*.ci.corp.test", "*.wider.test"] }) }], { dnsNames: ["b.ci.corp.test", "db.corp.test", "x.wider.test"] }, ["dns_names[2]", "dns_names[1]"]],
    ];
    for (const [name, policies, r, want] of cases) {
      it(name, () => assert.deepEqual(evaluateIssuancePolicies(policies, req(r)).map((v) => v.field), want));
    }

    it("names the one input for SignCsr and renewals", () => {
      const v = evaluateIssuancePolicies([org], req({ dnsNames: ["evil.test"], validityDays: 100 }), singleInputFields("csr_pem"));
      assert.deepEqual(v.map((x) => x.field), ["validity_days", "csr_pem"]);
      assert.match(v[1]!.description, /"evil\.test" is not allowed by the organization's issuance policy/);
    });

    it("no validity asked: the default clipped to the tightest maximum", () => {
      assert.equal(defaultValidityUnder([], 365), 365);
      assert.equal(defaultValidityUnder([org, { label: "x", rules: rules({ maxValidityDays: 30 }) }], 365), 30);
      assert.equal(defaultValidityUnder([{ label: "x", rules: rules({ maxValidityDays: 0 }) }], 365), 365);
    });
  });

  describe("the rules' syntax", () => {
    it("normalizes patterns (lower case, A-labels) and drops duplicates", () => {
      const r = checkIssuancePolicyRules({ dnsNames: ["*.Example.COM", "*.example.com", "Bücher.example"], emails: ["*@Example.com"], ipRanges: [" 10.0.0.0/8 "], keyTypes: ["p256"], certificateKinds: ["client"], maxValidityDays: 30 });
      assert.deepEqual(r, {
        dnsNames: ["*.example.com", "xn--bcher-kva.example"],
        emails: ["*@example.com"],
        ipRanges: ["10.0.0.0/8"],
        caIds: [],
        certificateKinds: ["client"],
        maxValidityDays: 30,
        keyTypes: ["p256"],
      });
    });
    it("names every bad entry at once", () => {
      try {
        checkIssuancePolicyRules({ dnsNames: ["ok.test", "a.*.test"], ipRanges: ["10.0.0.0/"], caIds: ["nope"], certificateKinds: ["ca"], keyTypes: ["ed25519"], maxValidityDays: -1 });
        assert.fail("accepted");
      } catch (e) {
        assert.ok(e instanceof SigilError && e.kind === "invalidArgument");
        assert.deepEqual(
          e.violations.map((v) => v.field),
          ["rules.dns_names[1]", "rules.ip_ranges[0]", "rules.ca_ids[0]", "rules.certificate_types[0]", "rules.key_types[0]", "rules.max_validity_days"],
        );
      }
    });
    it("at most 256 entries per list", () => {
      assert.throws(() => checkIssuancePolicyRules({ dnsNames: Array.from({ length: 257 }, (_, i) => `h${i}.example.com`) }), /at most 256/);
    });
  });
});
