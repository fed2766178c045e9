import { SigilError } from "../core/errors.js";
import type { Capability } from "../core/types.js";
import type { Actor } from "../ra/actor.js";
import { requireScope } from "./scopes.js";

/**
 * What an operation needs of its caller:
 * - "read": any member of the resource's organization;
 * - a Capability: admins of the organization, or users / service accounts holding that flag;
 * - "admin": admins of the organization only (user management, directory policy, ...).
 */
export type Need = "read" | Capability | "admin";

/** Message for callers outside the resource's organization: they learn nothing of it. */
export const NOT_FOUND_OUTSIDE_ORGANIZATION = "not found";

/**
 * The permission rule, the one function every operation uses:
 * 1. superuser: allow;
 * 2. resource with no organization: superuser only;
 * 3. caller outside the resource's organization: NOT_FOUND (the resource's
 *    existence is not revealed to other tenants; chosen over PERMISSION_DENIED
 *    and applied everywhere);
 * 4. admin of the organization: allow;
 * 5. user or service account: read allowed; anything else needs the matching
 *    capability flag (PERMISSION_DENIED).
 * ACME accounts and the system actor never pass through here.
 */
export function authorize(actor: Actor, resourceOrganizationId: string | null, need: Need): void {
  if (actor.kind === "system") return;
  if (actor.kind === "acmeAccount") throw SigilError.permissionDenied();
  if (actor.kind === "user" && actor.role === "superuser") return;
  if (resourceOrganizationId === null) throw SigilError.permissionDenied("only a superuser may do this");
  if (actor.organizationId !== resourceOrganizationId) throw SigilError.notFound(NOT_FOUND_OUTSIDE_ORGANIZATION);
  if (actor.kind === "user" && actor.role === "admin") return;
  if (need === "read") return;
  if (need === "admin") throw SigilError.permissionDenied("this needs an organization admin");
  if (actor.capabilities.has(need)) return;
  throw SigilError.permissionDenied(`this needs the ${need} capability`);
}

/**
 * The RPC-level part of the permission rule, for every admin RPC before its
 * handler (the authentication hook calls it): a service account acting
 * through a scoped credential (API key or public key, issue 13 item 3) may
 * call only the RPCs its scopes cover (src/policy/scopes.ts RPC_SCOPES);
 * PERMISSION_DENIED naming the missing scope otherwise. Scopes only
 * restrict: `authorize` still decides within the RPC.
 */
export function authorizeRpc(actor: Actor, rpcPath: string): void {
  if (actor.kind === "serviceAccount") requireScope(actor.scopes, rpcPath);
}

export function isSuperuser(actor: Actor): boolean {
  return actor.kind === "system" || (actor.kind === "user" && actor.role === "superuser");
}
