/**
 * Review 2 LOW (cross-organization existence oracle): a resource of another
 * organization is refused by authorize() with NOT_FOUND "not found"
 * (src/policy/permissions.ts); a missing one must read exactly the same to
 * anyone who could not see it anyway. A superuser (who sees everything)
 * still gets the specific message.
 */
import { SigilError } from "../core/errors.js";
import { isSuperuser, NOT_FOUND_OUTSIDE_ORGANIZATION } from "../policy/permissions.js";
import type { Actor } from "./actor.js";

/** NOT_FOUND with `message` for a superuser, the message authorize() uses for everyone else. */
export function notFoundFor(actor: Actor, message: string): SigilError {
  return SigilError.notFound(isSuperuser(actor) ? message : NOT_FOUND_OUTSIDE_ORGANIZATION);
}
