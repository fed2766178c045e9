import assert from "node:assert/strict";
import { Linker } from "../../../src/acme/linker.js";
import { challengeJson, directoryJson } from "../../../src/acme/wire.js";
import { challengeTypeFromProto } from "../../../src/admin/services/convert-pki.js";
import { ChallengeType } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import type { DirectoryInfo } from "../../../src/acme/ra-port.js";
import { ACME_CHALLENGE_TYPES, checkChallengeTypes, KNOWN_CHALLENGE_TYPES } from "../../../src/policy/directory-policy.js";
import { acmeAccountUrl, dnsPersistAccountHashPrefix, dnsPersistIssuerDomainNames, normalizeIssuerDomainName } from "../../../src/policy/dns-challenges.js";
import { challengeTypesFor, checkIdentifier, type IdentifierPolicy } from "../../../src/policy/identifiers.js";
import { clampAuthzExpires } from "../../../src/ra/acme/dns-challenges.js";

describe("policy/dns-challenges: the values dns-account-01 and dns-persist-01 are bound to", () => {
  it("builds the account URL exactly as the Linker does (the ra/ may not import the transport)", () => {
    for (const base of ["https://acme.example.com", "https://acme.example.com/", "http://127.0.0.1:8080/prefix"]) {
      for (const dir of ["default", "a.b_c-d", "x y/é"]) {
        const id = "0b7f5a3e-3f4c-4d7e-9a51-6a0c2e1f9b11";
        assert.equal(acmeAccountUrl(base, dir, id), new Linker(base).account(dir, id));
        assert.equal(dnsPersistAccountHashPrefix(base, dir), `${new Linker(base).root(dir)}/account-hash/`);
      }
    }
  });

  it("normalizes issuer domain names to lower-case A-labels without a trailing dot (draft-ietf-acme-dns-persist-02 §3.1, §9.2)", () => {
    assert.equal(normalizeIssuerDomainName("EXAMPLE.com."), "example.com");
    // §9.2's example "üÑICODE-example.com." (folded there to "ünicode-example.com.") with its A-label as
    // Python's IDNA codec and the WHATWG URL standard both compute it; the draft prints
    // xn--nicode-example-9jb.com, which neither reproduces (docs/challenges.md)
    assert.equal(normalizeIssuerDomainName("üNICODE-example.com."), "xn--nicode-example-fsb.com");
    assert.equal(normalizeIssuerDomainName("ünicode-example.com"), "xn--nicode-example-fsb.com");
    assert.equal(normalizeIssuerDomainName(" "), undefined);
    assert.equal(normalizeIssuerDomainName(`${"a".repeat(250)}.com`), undefined);
  });

  it("takes the directory's caaIdentities (deduplicated, at most 10), else the ACME URL's host", () => {
    assert.deepEqual(dnsPersistIssuerDomainNames(["CA.Example", "ca.example.", "other.example"], "https://acme.test"), ["ca.example", "other.example"]);
    const many = Array.from({ length: 14 }, (_, i) => `ca${i}.example`);
    assert.equal(dnsPersistIssuerDomainNames(many, "https://acme.test").length, 10);
    assert.deepEqual(dnsPersistIssuerDomainNames([], "https://ACME.Sigil.test:8443/base"), ["acme.sigil.test"]);
    assert.deepEqual(dnsPersistIssuerDomainNames([], "http://[::1]:8080"), ["::1"]);
  });

  it("clamps a valid authorization's expiry to persistUntil, never extends it", () => {
    const usual = new Date("2026-12-31T00:00:00Z");
    assert.equal(clampAuthzExpires(usual, undefined), usual);
    assert.equal(clampAuthzExpires(usual, new Date("2026-12-10T00:00:00Z")).toISOString(), "2026-12-10T00:00:00.000Z");
    assert.equal(clampAuthzExpires(usual, new Date("2027-06-01T00:00:00Z")), usual);
  });
});

describe("policy: the two challenge types are opt-in and apply to DNS names only", () => {
  it("an empty challenge list keeps meaning the three default types; the new ones are accepted when listed", () => {
    assert.deepEqual(checkChallengeTypes([]), ["http-01", "dns-01", "tls-alpn-01"]);
    assert.deepEqual([...ACME_CHALLENGE_TYPES], ["http-01", "dns-01", "tls-alpn-01"]);
    assert.deepEqual(checkChallengeTypes(["dns-persist-01", "dns-account-01", "dns-persist-01"]), ["dns-persist-01", "dns-account-01"]);
    assert.deepEqual([...KNOWN_CHALLENGE_TYPES].sort(), ["dns-01", "dns-account-01", "dns-persist-01", "http-01", "tls-alpn-01"]);
    assert.throws(() => checkChallengeTypes(["dns-persist-02"]), /unknown challenge type "dns-persist-02" \(http-01, dns-01, tls-alpn-01, dns-account-01, dns-persist-01\)/);
  });

  it("IP identifiers never get them; wildcards get every DNS challenge (dns-persist-01 then needs policy=wildcard)", () => {
    const all = [...KNOWN_CHALLENGE_TYPES];
    assert.deepEqual(challengeTypesFor({ type: "ip", wildcard: false }, all), ["http-01", "tls-alpn-01"]);
    assert.deepEqual(challengeTypesFor({ type: "dns", wildcard: true }, all), ["dns-01", "dns-account-01", "dns-persist-01"]);
    assert.deepEqual(challengeTypesFor({ type: "dns", wildcard: false }, all), all);
    assert.deepEqual(challengeTypesFor({ type: "dns", wildcard: true }, ["http-01", "dns-persist-01"]), ["dns-persist-01"]);
  });

  it("a wildcard order is accepted by a directory offering only dns-persist-01, refused by one offering only http-01", () => {
    const policy = (challengeTypes: IdentifierPolicy["challengeTypes"]): IdentifierPolicy => ({ allowedDnsSuffixes: [], allowedIpRanges: [], challengeTypes });
    const ok = checkIdentifier("dns", "*.example.com", policy(["dns-persist-01"]));
    assert.ok("challengeTypes" in ok && ok.challengeTypes.join() === "dns-persist-01");
    const refused = checkIdentifier("dns", "*.example.com", policy(["http-01"]));
    assert.ok("problem" in refused && refused.problem.kind === "rejectedIdentifier" && /need a DNS challenge/.test(refused.problem.detail));
  });

  it("the admin API enum carries both types", () => {
    assert.equal(challengeTypeFromProto(ChallengeType.DNS_ACCOUNT_01), "dns-account-01");
    assert.equal(challengeTypeFromProto(ChallengeType.DNS_PERSIST_01), "dns-persist-01");
  });
});

describe("acme/wire: the challenge objects and directory meta (draft-ietf-acme-dns-persist-02 §3.1, §3.2)", () => {
  const l = new Linker("https://acme.test");
  const ch = (type: "dns-account-01" | "dns-persist-01") => ({ id: "c1", authorizationId: "a1", type, token: "tok", status: "pending" as const, validated: null, error: null });

  it("dns-persist-01 has issuerDomainNames and no token; dns-account-01 keeps its token", () => {
    assert.deepEqual(challengeJson(l, "d", ch("dns-persist-01"), { caaIdentities: ["CA.test"] }), {
      type: "dns-persist-01",
      url: "https://acme.test/acme/d/chall/c1",
      status: "pending",
      issuerDomainNames: ["ca.test"],
    });
    assert.deepEqual(challengeJson(l, "d", ch("dns-account-01")), { type: "dns-account-01", url: "https://acme.test/acme/d/chall/c1", status: "pending", token: "tok" });
  });

  it("the directory meta names issuerDomainNames and accountHashPrefix only when dns-persist-01 is offered", () => {
    const d = { name: "d", eabRequired: false, termsOfServiceUrl: null, websiteUrl: null, caaIdentities: [], challengeTypes: ["dns-01"] } as unknown as DirectoryInfo;
    const off = directoryJson(l, d).meta as Record<string, unknown>;
    assert.equal(off.issuerDomainNames, undefined);
    assert.equal(off.accountHashPrefix, undefined);
    const on = directoryJson(l, { ...d, challengeTypes: ["dns-persist-01"] }).meta as Record<string, unknown>;
    assert.deepEqual(on.issuerDomainNames, ["acme.test"]);
    assert.equal(on.accountHashPrefix, "https://acme.test/acme/d/account-hash/");
  });
});
