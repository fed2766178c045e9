/**
 * Claim-to-role mapping of an identity provider (issue 13 item 5): which
 * role and capability flags a signed-in subject gets. Pure; no I/O.
 *
 * A rule matches when the claim equals its value (string, number or
 * boolean claims compared as strings) or, for an array claim such as
 * "groups", contains it. Matching rules combine: the highest role (admin
 * over user) and the union of their flags. No rule matching gives the
 * provider's default role with no flags, or no access when it has none.
 * Capabilities come from the mapping only, never from anything else the
 * provider asserts; a provider never grants superuser.
 */
import type { Capability } from "../../core/types.js";
import { CAPABILITIES } from "../../core/types.js";
import type { StoredRoleMapping } from "../../db/entities/index.js";

export type MappedRole = "admin" | "user";

export interface MappingOutcome {
  role: MappedRole;
  capabilities: Set<Capability>;
  /** indexes of the rules that matched (for the audit entry) */
  matched: number[];
}

function claimHas(claim: unknown, value: string): boolean {
  if (Array.isArray(claim)) return claim.some((c) => claimHas(c, value));
  if (typeof claim === "string") return claim === value;
  if (typeof claim === "number" || typeof claim === "boolean") return String(claim) === value;
  return false;
}

/** The role and flags `claims` map to, or null when no rule matches and there is no default role. */
export function mapClaims(claims: Record<string, unknown>, rules: readonly StoredRoleMapping[], defaultRole: MappedRole | null | undefined): MappingOutcome | null {
  const matched: number[] = [];
  let role: MappedRole | null = null;
  const capabilities = new Set<Capability>();
  rules.forEach((r, i) => {
    if (!Object.prototype.hasOwnProperty.call(claims, r.claim) || !claimHas(claims[r.claim], r.value)) return;
    matched.push(i);
    if (r.role === "admin" || role === null) role = r.role;
    for (const c of r.capabilities) if ((CAPABILITIES as readonly string[]).includes(c)) capabilities.add(c as Capability);
  });
  if (role === null) {
    if (!defaultRole) return null;
    return { role: defaultRole, capabilities: new Set(), matched };
  }
  return { role, capabilities, matched };
}
