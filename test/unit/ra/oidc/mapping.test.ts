/** Claim-to-role mapping of an identity provider (src/ra/oidc/mapping.ts): table-driven. */
import assert from "node:assert/strict";
import type { StoredRoleMapping } from "../../../../src/db/entities/index.js";
import { mapClaims } from "../../../../src/ra/oidc/mapping.js";

const RULES: StoredRoleMapping[] = [
  { claim: "groups", value: "pki-admins", role: "admin", capabilities: [] },
  { claim: "groups", value: "pki-issuers", role: "user", capabilities: ["create_cert", "revoke_cert"] },
  { claim: "hd", value: "example.com", role: "user", capabilities: ["create_cert"] },
  { claim: "level", value: "3", role: "user", capabilities: ["create_ca", "not_a_capability"] },
];

describe("ra/oidc/mapping", () => {
  const cases: Array<{ name: string; claims: Record<string, unknown>; dflt: "admin" | "user" | null; want: { role: string; caps: string[]; matched: number[] } | null }> = [
    { name: "ok/array-contains", claims: { groups: ["staff", "pki-admins"] }, dflt: null, want: { role: "admin", caps: [], matched: [0] } },
    { name: "ok/string-equals", claims: { hd: "example.com" }, dflt: null, want: { role: "user", caps: ["create_cert"], matched: [2] } },
    { name: "ok/number-as-text", claims: { level: 3 }, dflt: null, want: { role: "user", caps: ["create_ca"], matched: [3] } },
    { name: "ok/highest-role-union-of-flags", claims: { groups: ["pki-issuers", "pki-admins"], hd: "example.com" }, dflt: null, want: { role: "admin", caps: ["create_cert", "revoke_cert"], matched: [0, 1, 2] } },
    { name: "ok/default-role-without-flags", claims: { groups: ["staff"] }, dflt: "user", want: { role: "user", caps: [], matched: [] } },
    { name: "fail/no-match-no-default", claims: { groups: ["staff"] }, dflt: null, want: null },
    { name: "fail/case-matters", claims: { groups: ["PKI-ADMINS"] }, dflt: null, want: null },
    { name: "fail/substring-is-no-match", claims: { hd: "notexample.com" }, dflt: null, want: null },
    { name: "fail/inherited-property-ignored", claims: Object.create({ groups: ["pki-admins"] }) as Record<string, unknown>, dflt: null, want: null },
    { name: "fail/object-claim", claims: { groups: { name: "pki-admins" } }, dflt: null, want: null },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = mapClaims(c.claims, RULES, c.dflt);
      if (c.want === null) return assert.equal(got, null);
      assert.ok(got);
      assert.equal(got.role, c.want.role);
      assert.deepEqual([...got.capabilities].sort(), [...c.want.caps].sort());
      assert.deepEqual(got.matched, c.want.matched);
    });
  }
});
