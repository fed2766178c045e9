/**
 * An ACME directory's name and policy rules (src/policy/directory-policy.ts),
 * the one set every entry point uses: table-driven, each refusal naming the
 * admin API field.
 */
import assert from "node:assert/strict";
import { isSigilError } from "../../../src/core/errors.js";
import {
  ACME_CHALLENGE_TYPES,
  checkDirectoryName,
  checkDirectoryPolicy,
  checkDirectoryPolicyPatch,
  DEFAULT_ACME_MAX_VALIDITY_DAYS,
  MAX_POLICY_ENTRIES,
  type DirectoryPolicyInput,
} from "../../../src/policy/directory-policy.js";

function refusedNaming(field: string) {
  return (e: unknown) => {
    assert.ok(isSigilError(e, "invalidArgument"), String(e));
    assert.equal(e.field, field);
    return true;
  };
}

describe("directory policy", () => {
  it("ok/defaults: no EAB, any name, no IPs, every challenge type, 90 days, server, no meta", () => {
    assert.deepEqual(checkDirectoryPolicy({}), {
      eabRequired: false,
      allowedDnsSuffixes: [],
      allowedIpRanges: [],
      challengeTypes: [...ACME_CHALLENGE_TYPES],
      maxValidityDays: DEFAULT_ACME_MAX_VALIDITY_DAYS,
      certificateKind: "server",
      termsOfServiceUrl: null,
      websiteUrl: null,
      caaIdentities: [],
      validationAllowedNetworks: [],
      caaEnabled: false,
    });
  });

  it("ok/caa-on-with-identities, fail/caa-on-without-identities (RFC 8659 §4.2 needs this CA's issuer domain names)", () => {
    assert.equal(checkDirectoryPolicy({ caaEnabled: true, caaIdentities: ["CA.example.test"] }).caaEnabled, true);
    assert.throws(
      () => checkDirectoryPolicy({ caaEnabled: true }),
      refusedNaming("caa_enabled"),
    );
    assert.deepEqual(checkDirectoryPolicyPatch({ caaEnabled: true }), { caaEnabled: true }, "a patch is checked with the stored fields (ra/acme-admin.ts)");
  });

  const ok: Array<{ name: string; input: DirectoryPolicyInput; expect: Partial<ReturnType<typeof checkDirectoryPolicy>> }> = [
    { name: "ok/dns-suffixes-normalized", input: { allowedDnsSuffixes: ["*.Example.TEST", ".corp.example.", "example.test"] }, expect: { allowedDnsSuffixes: ["example.test", "corp.example"] } },
    { name: "ok/single-label-suffix", input: { allowedDnsSuffixes: ["internal"] }, expect: { allowedDnsSuffixes: ["internal"] } },
    { name: "ok/ip-ranges-trimmed-deduplicated", input: { allowedIpRanges: [" 10.0.0.0/8", "10.0.0.0/8", "2001:db8::/32", "192.0.2.1"] }, expect: { allowedIpRanges: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"] } },
    { name: "ok/empty-challenge-list-means-all", input: { challengeTypes: [] }, expect: { challengeTypes: [...ACME_CHALLENGE_TYPES] } },
    { name: "ok/challenge-subset-deduplicated", input: { challengeTypes: ["dns-01", "http-01", "dns-01"] }, expect: { challengeTypes: ["dns-01", "http-01"] } },
    { name: "ok/zero-days-is-default", input: { maxValidityDays: 0 }, expect: { maxValidityDays: 90 } },
    { name: "ok/max-days", input: { maxValidityDays: 3650 }, expect: { maxValidityDays: 3650 } },
    { name: "ok/kind-client", input: { certificateKind: "client" }, expect: { certificateKind: "client" } },
    { name: "ok/kind-dual", input: { certificateKind: "dual" }, expect: { certificateKind: "dual" } },
    { name: "ok/meta-urls", input: { termsOfServiceUrl: " https://example.test/tos ", websiteUrl: "" }, expect: { termsOfServiceUrl: "https://example.test/tos", websiteUrl: null } },
    { name: "ok/caa-identities", input: { caaIdentities: ["CA.example.test"] }, expect: { caaIdentities: ["ca.example.test"] } },
    { name: "ok/validation-networks-normalized", input: { validationAllowedNetworks: ["PUBLIC", " 10.0.0.0/8"] }, expect: { validationAllowedNetworks: ["public", "10.0.0.0/8"] } },
  ];
  for (const c of ok) {
    it(c.name, () => {
      const p = checkDirectoryPolicy(c.input);
      for (const [k, v] of Object.entries(c.expect)) assert.deepEqual(p[k as keyof typeof p], v, k);
    });
  }

  const fail: Array<{ name: string; input: DirectoryPolicyInput; field: string }> = [
    { name: "fail/dns-underscore", input: { allowedDnsSuffixes: ["bad_suffix.test"] }, field: "allowed_dns_suffixes" },
    { name: "fail/dns-empty", input: { allowedDnsSuffixes: [""] }, field: "allowed_dns_suffixes" },
    { name: "fail/dns-space", input: { allowedDnsSuffixes: ["a b.test"] }, field: "allowed_dns_suffixes" },
    { name: "fail/dns-too-many", input: { allowedDnsSuffixes: Array.from({ length: MAX_POLICY_ENTRIES + 1 }, (_, i) => `n${i}.test`) }, field: "allowed_dns_suffixes" },
    { name: "fail/ip-prefix-33", input: { allowedIpRanges: ["10.0.0.0/33"] }, field: "allowed_ip_ranges" },
    { name: "fail/ip-empty-prefix", input: { allowedIpRanges: ["10.0.0.0/"] }, field: "allowed_ip_ranges" },
    { name: "fail/ip-not-an-address", input: { allowedIpRanges: ["example.test"] }, field: "allowed_ip_ranges" },
    { name: "fail/challenge-unknown", input: { challengeTypes: ["http-02"] }, field: "challenge_types" },
    { name: "fail/days-too-many", input: { maxValidityDays: 3651 }, field: "max_validity_days" },
    { name: "fail/days-negative", input: { maxValidityDays: -1 }, field: "max_validity_days" },
    { name: "fail/days-fraction", input: { maxValidityDays: 1.5 }, field: "max_validity_days" },
    { name: "fail/kind-unknown", input: { certificateKind: "ca" }, field: "certificate_kind" },
    { name: "fail/kind-empty", input: { certificateKind: "" }, field: "certificate_kind" },
    { name: "fail/tos-javascript", input: { termsOfServiceUrl: "javascript:alert(1)" }, field: "terms_of_service_url" },
    { name: "fail/tos-relative", input: { termsOfServiceUrl: "/tos" }, field: "terms_of_service_url" },
    { name: "fail/website-space", input: { websiteUrl: "https://example.test/a b" }, field: "website_url" },
    { name: "fail/website-too-long", input: { websiteUrl: `https://example.test/${"a".repeat(600)}` }, field: "website_url" },
    { name: "fail/caa-not-a-name", input: { caaIdentities: ["not a name"] }, field: "caa_identities" },
    { name: "fail/validation-networks-prefix-33", input: { validationAllowedNetworks: ["10.0.0.0/33"] }, field: "validation_allowed_networks" },
    { name: "fail/validation-networks-word", input: { validationAllowedNetworks: ["everything"] }, field: "validation_allowed_networks" },
  ];
  for (const c of fail) {
    it(`${c.name} is refused naming ${c.field}`, () => {
      assert.throws(() => checkDirectoryPolicy(c.input), refusedNaming(c.field));
      assert.throws(() => checkDirectoryPolicyPatch(c.input), refusedNaming(c.field), "the same rule on update");
    });
  }

  it("a patch holds only the fields given", () => {
    assert.deepEqual(checkDirectoryPolicyPatch({}), {});
    assert.deepEqual(checkDirectoryPolicyPatch({ maxValidityDays: 7, allowedDnsSuffixes: [] }), { maxValidityDays: 7, allowedDnsSuffixes: [] });
  });

  for (const [name, ok] of [
    ["default", true],
    ["a.b_c-d", true],
    ["0", true],
    ["Bad", false],
    ["-x", false],
    ["", false],
    ["a/b", false],
    ["x".repeat(65), false],
  ] as const) {
    it(`${ok ? "ok" : "fail"}/name ${JSON.stringify(name.length > 20 ? name.slice(0, 8) + "…" : name)}`, () => {
      if (ok) assert.equal(checkDirectoryName(name), name);
      else assert.throws(() => checkDirectoryName(name), refusedNaming("name"));
    });
  }
});
