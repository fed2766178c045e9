/**
 * ACME profile rules (src/policy/profiles.ts, draft-ietf-acme-profiles-00):
 * the presets, each field's refusal naming the admin API field, profile
 * selection for newOrder, the identifier rules, validity bounds; and the
 * lifetime arithmetic the order path uses (src/ra/acme/transitions.ts).
 */
import assert from "node:assert/strict";
import { isSigilError } from "../../../src/core/errors.js";
import type { ProfileFields } from "../../../src/db/store/acme-profiles.js";
import {
  checkProfileFields,
  checkProfileIdentifiers,
  checkProfileName,
  DEFAULT_DIRECTORY_PRESETS,
  directoryClassicProfile,
  KIND_EXTENDED_KEY_USAGES,
  PROFILE_PRESETS,
  presetForDirectory,
  profileBase,
  profileKeyUsages,
  profileValidityMs,
  selectProfile,
  type DirectoryProfiles,
} from "../../../src/policy/profiles.js";
import { pendingExpires, REUSE_MIN_REMAINING_MS, reuseValidAfter, VALID_AUTHZ_LIFETIME_MS } from "../../../src/ra/acme/transitions.js";

const HOUR = 3600;
const DAY = 24 * HOUR;

function refusedNaming(field: string) {
  return (e: unknown) => {
    assert.ok(isSigilError(e, "invalidArgument"), String(e));
    assert.equal((e as { field?: string }).field, field);
    return true;
  };
}

describe("ACME profile rules", () => {
  describe("presets", () => {
    it("ship classic, tlsserver, tlsclient and shortlived with the issue's lifetimes", () => {
      assert.deepEqual([...DEFAULT_DIRECTORY_PRESETS].sort(), Object.keys(PROFILE_PRESETS).sort());
      assert.equal(PROFILE_PRESETS.classic!.maxValiditySeconds, 200 * DAY);
      assert.equal(PROFILE_PRESETS.tlsserver!.maxValiditySeconds, 45 * DAY);
      assert.equal(PROFILE_PRESETS.shortlived!.maxValiditySeconds, 160 * HOUR);
      assert.equal(PROFILE_PRESETS.tlsclient!.certificateKind, "client");
      assert.deepEqual(KIND_EXTENDED_KEY_USAGES.client, ["clientAuth"]);
      assert.equal(PROFILE_PRESETS.classic!.includeCommonName, true, "classic keeps the CSR's CN, as before profiles");
      assert.equal(PROFILE_PRESETS.classic!.authorizationReuseSeconds, 30 * DAY);
      for (const p of Object.values(PROFILE_PRESETS)) assert.ok(p.description.length > 10, p.name);
    });

    it("hand out copies, clipped to the directory's max validity", () => {
      const a = profileBase("tlsserver");
      a.identifierTypes.push("ip");
      assert.deepEqual(PROFILE_PRESETS.tlsserver!.identifierTypes, ["dns", "ip"], "the preset is not changed through a copy");
      assert.equal(presetForDirectory("classic", { maxValidityDays: 90 })!.maxValiditySeconds, 90 * DAY);
      assert.equal(presetForDirectory("shortlived", { maxValidityDays: 90 })!.maxValiditySeconds, 160 * HOUR);
      assert.equal(presetForDirectory("nosuch", { maxValidityDays: 90 }), undefined);
      assert.throws(() => profileBase("__proto__"), refusedNaming("preset"));
    });

    it("make a directory's classic profile from its kind and validity (what it issued before profiles)", () => {
      const p = directoryClassicProfile({ certificateKind: "dual", maxValidityDays: 17 });
      assert.equal(p.name, "classic");
      assert.equal(p.certificateKind, "dual");
      assert.equal(p.maxValiditySeconds, 17 * DAY);
      assert.equal(p.includeCommonName, true);
      assert.deepEqual(p.identifierTypes, ["dns", "ip"]);
      assert.equal(p.orderLifetimeSeconds, 7 * DAY);
    });
  });

  describe("fields", () => {
    const base = PROFILE_PRESETS.classic!;
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["fail/kind", { certificateKind: "ca" }, "certificate_kind"],
      ["fail/validity-over-directory", { maxValiditySeconds: 91 * DAY }, "max_validity_seconds"],
      ["fail/validity-under-an-hour", { maxValiditySeconds: 59 * 60 }, "max_validity_seconds"],
      ["fail/validity-fraction", { maxValiditySeconds: 3600.5 }, "max_validity_seconds"],
      ["fail/key-usage-unknown", { keyUsages: ["keyCertSign"] }, "key_usages"],
      ["fail/key-usage-without-signature", { keyUsages: ["keyAgreement"] }, "key_usages"],
      ["fail/identifiers-over-100", { maxIdentifiers: 101 }, "max_identifiers"],
      ["fail/identifiers-negative", { maxIdentifiers: -2 }, "max_identifiers"],
      ["fail/identifier-type", { identifierTypes: ["email"] }, "identifier_types"],
      ["fail/reuse-over-30-days", { authorizationReuseSeconds: 30 * DAY + 1 }, "authorization_reuse_seconds"],
      ["fail/order-lifetime", { orderLifetimeSeconds: 299 }, "order_lifetime_seconds"],
      ["fail/pending-lifetime", { pendingAuthorizationLifetimeSeconds: 31 * DAY }, "pending_authorization_lifetime_seconds"],
      ["fail/description-control", { description: "a\u0007b" }, "description"],
      ["fail/description-long", { description: "x".repeat(513) }, "description"],
    ];
    for (const [name, input, field] of cases) {
      it(name, () => assert.throws(() => checkProfileFields("p", base, input, 90 * DAY, "dual"), refusedNaming(field)));
    }

    it("ok/zero-and-empty-keep-the-base", () => {
      const p = checkProfileFields("p", base, { maxValiditySeconds: 0, maxIdentifiers: 0, keyUsages: [], identifierTypes: [], orderLifetimeSeconds: 0 }, 365 * DAY, "dual");
      assert.deepEqual({ ...p, name: base.name }, base);
    });

    it("ok/normalized", () => {
      const p = checkProfileFields(
        "web",
        base,
        { description: "  Web  ", certificateKind: "dual", keyUsages: ["keyAgreement", "digitalSignature", "digitalSignature"], identifierTypes: ["ip", "dns"], includeCommonName: false },
        90 * DAY,
        "dual",
      );
      assert.equal(p.description, "Web");
      assert.equal(p.certificateKind, "dual");
      assert.deepEqual(p.keyUsages, ["digitalSignature", "keyAgreement"], "RFC 5280 bit order, no duplicates");
      assert.deepEqual(p.identifierTypes, ["dns", "ip"]);
      assert.equal(p.includeCommonName, false);
      assert.equal(p.maxValiditySeconds, 90 * DAY, "the base's 200 days clipped to the directory's 90");
    });

    it("names: lower case, URL-safe, at most 64", () => {
      for (const ok of ["classic", "a", "tls-server_2.0", "x".repeat(64)]) assert.equal(checkProfileName(ok), ok);
      for (const bad of ["", "Classic", "-a", "a b", "x".repeat(65), "é", 7]) assert.throws(() => checkProfileName(bad), refusedNaming("name"));
    });
  });

  describe("one order", () => {
    const p = (over: Partial<ProfileFields>): ProfileFields => ({ ...PROFILE_PRESETS.classic!, ...over });
    const profiles: DirectoryProfiles = { byName: new Map([["classic", p({})], ["one", p({ name: "one", maxIdentifiers: 1, identifierTypes: ["dns"] })]]), defaultName: "classic" };

    it("selects the named profile, the default, or reports unknown / none (§4)", () => {
      assert.deepEqual(selectProfile(profiles, "one"), { profile: profiles.byName.get("one"), explicit: true });
      assert.deepEqual(selectProfile(profiles, undefined), { profile: profiles.byName.get("classic"), explicit: false });
      assert.equal(selectProfile(profiles, "nosuch"), "unknown");
      assert.equal(selectProfile(profiles, "ONE"), "unknown", "names match exactly");
      assert.equal(selectProfile(undefined, undefined), "none");
      assert.equal(selectProfile(undefined, "classic"), "unknown");
      assert.equal(selectProfile({ byName: new Map(), defaultName: null }, undefined), "none");
    });

    it("checks the identifier count and types", () => {
      const one = profiles.byName.get("one")!;
      assert.equal(checkProfileIdentifiers(one, [{ type: "dns", value: "a.example" }]), undefined);
      const tooMany = checkProfileIdentifiers(one, [{ type: "dns", value: "a.example" }, { type: "dns", value: "b.example" }]);
      assert.ok(tooMany && "tooMany" in tooMany && /at most 1/.test(tooMany.tooMany));
      const wrong = checkProfileIdentifiers(one, [{ type: "ip", value: "192.0.2.1" }]);
      assert.ok(wrong && "wrongType" in wrong);
      assert.deepEqual(wrong.wrongType[0]!.identifier, { type: "ip", value: "192.0.2.1" });
    });

    it("bounds the validity by the directory's max_validity_days", () => {
      assert.equal(profileValidityMs({ maxValiditySeconds: 160 * HOUR }, 90), 160 * HOUR * 1000);
      assert.equal(profileValidityMs({ maxValiditySeconds: 200 * DAY }, 90), 90 * DAY * 1000);
      assert.equal(profileKeyUsages({ keyUsages: [] }), undefined, "the signer's default");
      assert.deepEqual(profileKeyUsages({ keyUsages: ["digitalSignature"] }), ["digitalSignature"]);
    });

    it("turns a reuse period into the earliest expires of a reusable authorization", () => {
      const now = new Date("2026-12-01T00:00:00Z");
      // classic: validated within 30 days, and valid at least a day longer
      assert.equal(reuseValidAfter(now).getTime(), now.getTime() + REUSE_MIN_REMAINING_MS);
      assert.equal(reuseValidAfter(now, VALID_AUTHZ_LIFETIME_MS).getTime(), now.getTime() + REUSE_MIN_REMAINING_MS);
      // 7 hours: validated at most 7 hours ago, so it expires at least 30 days - 7 hours from now
      assert.equal(reuseValidAfter(now, 7 * HOUR * 1000).getTime(), now.getTime() + VALID_AUTHZ_LIFETIME_MS - 7 * HOUR * 1000);
      // more than the authorization lifetime is capped by it
      assert.equal(reuseValidAfter(now, 90 * DAY * 1000).getTime(), now.getTime() + REUSE_MIN_REMAINING_MS);
      assert.equal(pendingExpires(now, 3600_000).getTime(), now.getTime() + 3600_000);
      assert.equal(pendingExpires(now).getTime(), now.getTime() + 7 * DAY * 1000);
    });
  });
});
