/**
 * Review 2 (profiles): what finalize re-checks against the profile as it is
 * now (src/ra/acme/profiles.ts finalizeTerms), the directory kind as the
 * bound of its profiles' kinds (src/policy/profiles.ts kindWithin), and the
 * CN of at most 64 characters (RFC 5280 ub-common-name).
 */
import assert from "node:assert/strict";
import { isSigilError } from "../../../src/core/errors.js";
import { checkProfileFields, kindWithin, leafCommonName, MAX_COMMON_NAME_LENGTH, presetProfile } from "../../../src/policy/profiles.js";
import { AcmeError } from "../../../src/ra/acme/errors.js";
import { finalizeTerms, type OrderProfile } from "../../../src/ra/acme/profiles.js";

const DAY_MS = 86_400_000;
const now = new Date("2026-12-01T12:00:00Z");

const profile: OrderProfile = {
  name: "tlsserver",
  explicit: true,
  certificateKind: "server",
  validityMs: 45 * DAY_MS,
  includeCommonName: true,
  maxIdentifiers: 2,
  identifierTypes: ["dns"],
  orderLifetimeMs: 7 * DAY_MS,
  pendingAuthorizationLifetimeMs: 7 * DAY_MS,
  authorizationReuseMs: 7 * DAY_MS,
};
const dns = (value: string) => ({ type: "dns", value });

function acmeProblem(type: string, detail?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof AcmeError, String(e));
    assert.equal(e.acmeType, type);
    if (detail) assert.match(e.message, detail);
    return true;
  };
}

describe("finalize re-checks the order against its profile as it is now", () => {
  it("M7: more identifiers than the profile now allows: invalidProfile", () => {
    assert.throws(() => finalizeTerms(profile, { identifiers: [dns("a.example"), dns("b.example"), dns("c.example")] }, undefined, now), acmeProblem("invalidProfile", /at most 2 identifiers/));
  });

  it("M7: an identifier type the profile no longer issues for: invalidProfile with one subproblem per identifier", () => {
    try {
      finalizeTerms(profile, { identifiers: [dns("a.example"), { type: "ip", value: "192.0.2.1" }] }, undefined, now);
      assert.fail("issued");
    } catch (e) {
      acmeProblem("invalidProfile", /no longer allowed/)(e);
      const subs = (e as AcmeError).subproblems ?? [];
      assert.equal(subs.length, 1);
      assert.deepEqual(subs[0]!.identifier, { type: "ip", value: "192.0.2.1" });
    }
  });

  it("notBefore more than a day in the past at finalize: malformed, not clamped", () => {
    const notBefore = new Date(now.getTime() - DAY_MS - 1000);
    assert.throws(() => finalizeTerms(profile, { identifiers: [dns("a.example")], notBefore }, undefined, now), acmeProblem("malformed", /notBefore.*more than a day in the past/));
    // within a day: issued from that notBefore
    const ok = new Date(now.getTime() - DAY_MS + 1000);
    assert.equal(finalizeTerms(profile, { identifiers: [dns("a.example")], notBefore: ok }, undefined, now).notBefore.getTime(), ok.getTime());
  });

  it("notAfter past what a narrowed profile allows: invalidProfile naming the new validity; within it: kept", () => {
    const notAfter = new Date(now.getTime() + 60 * DAY_MS);
    assert.throws(() => finalizeTerms(profile, { identifiers: [dns("a.example")], notAfter }, undefined, now), acmeProblem("invalidProfile", /45 days/));
    const fine = new Date(now.getTime() + 30 * DAY_MS);
    const t = finalizeTerms(profile, { identifiers: [dns("a.example")], notAfter: fine }, undefined, now);
    assert.equal(t.notAfter.getTime(), fine.getTime());
    assert.equal(t.notBefore.getTime(), now.getTime() - 60_000, "a minute of backdating by default");
  });

  it("no notAfter requested: the profile's full validity from notBefore", () => {
    const t = finalizeTerms(profile, { identifiers: [dns("a.example")] }, undefined, now);
    assert.equal(t.notAfter.getTime() - t.notBefore.getTime(), 45 * DAY_MS);
  });

  it("CN: the CSR's lower-cased; over 64 characters left out; none when the profile omits it", () => {
    const long = `${"a".repeat(60)}.example`;
    assert.ok(long.length > MAX_COMMON_NAME_LENGTH);
    assert.equal(finalizeTerms(profile, { identifiers: [dns("a.example")] }, "A.Example", now).commonName, "a.example");
    assert.equal(finalizeTerms(profile, { identifiers: [dns(long)] }, long, now).commonName, undefined);
    assert.equal(leafCommonName(true, "x".repeat(64)), "x".repeat(64));
    assert.equal(leafCommonName(true, "x".repeat(65)), undefined);
    assert.equal(leafCommonName(false, "a.example"), undefined);
  });
});

describe("M6: a directory's certificate kind bounds its profiles' kinds", () => {
  it("kindWithin: dual allows all, server and client only themselves", () => {
    assert.deepEqual(
      (["server", "client", "dual"] as const).flatMap((d) => (["server", "client", "dual"] as const).filter((p) => kindWithin(d, p)).map((p) => `${d}>${p}`)),
      ["server>server", "client>client", "dual>server", "dual>client", "dual>dual"],
    );
  });

  it("a server directory refuses a client or dual profile (certificate_kind), a dual one takes it", () => {
    const base = presetProfile("tlsserver")!;
    for (const kind of ["client", "dual"]) {
      assert.throws(
        () => checkProfileFields("p", base, { certificateKind: kind }, 90 * 86_400, "server"),
        (e: unknown) => isSigilError(e, "invalidArgument") && /cannot have a/.test(String((e as Error).message)) || (console.error(e), false),
      );
    }
    assert.throws(() => checkProfileFields("p", presetProfile("tlsclient")!, {}, 90 * 86_400, "server"));
    assert.equal(checkProfileFields("p", presetProfile("tlsclient")!, {}, 90 * 86_400, "dual").certificateKind, "client");
  });
});
