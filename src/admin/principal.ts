import { SigilError } from "../core/errors.js";
import type { Actor } from "../ra/actor.js";
import { createContextKey, type CallContext } from "./grpc-adapter.js";

/**
 * The authenticated caller of an RPC, set by the authentication `before`
 * hook (a user's access token or a service account's API key) and read by
 * every service implementation.
 */
export const ACTOR_KEY = createContextKey<Actor | undefined>(undefined, "sigil.actor");

/** The caller, or UNAUTHENTICATED when the call carried no valid credential. */
export function requireActor(ctx: CallContext): Actor {
  const actor = ctx.values.get(ACTOR_KEY);
  if (!actor) throw SigilError.unauthenticated();
  return actor;
}
