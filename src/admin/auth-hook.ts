/**
 * The authentication `before` hook of the admin server: every sigil.admin.v1
 * RPC except AuthService.Login and AuthService.Refresh needs
 * "authorization: Bearer <credential>" (RFC 6750 §2.1), where the credential
 * is an access token from Login/Refresh/ExchangeJwt, a service account API
 * key ("sigil_...") or a JWT a service account signed (RFC 7523, src/ra/jwt-bearer.ts).
 * The credential's scopes are checked for the RPC (authorizeRpc). Health
 * and reflection do not pass through here.
 */
import { SigilError } from "../core/errors.js";
import type { AuthManager, Authenticated } from "../ra/auth.js";
import { createContextKey, type CallContext } from "./grpc-adapter.js";
import { ACTOR_KEY } from "./principal.js";
import { authorizeRpc } from "../policy/permissions.js";

/** The full authentication result (credential kind, session id, principal). */
export const AUTH_KEY = createContextKey<Authenticated | undefined>(undefined, "sigil.auth");

/** Methods callable without credentials. */
export const UNAUTHENTICATED_METHODS: ReadonlySet<string> = new Set([
  "/sigil.admin.v1.AuthService/Login",
  "/sigil.admin.v1.AuthService/Refresh",
  "/sigil.admin.v1.AuthService/ExchangeJwt",
  // OpenID Connect sign-in (src/ra/oidc/login.ts): the caller has no credential yet
  "/sigil.admin.v1.AuthService/BeginSsoLogin",
  "/sigil.admin.v1.AuthService/CompleteSsoLogin",
]);

/** Builds the hook for `buildAdminGrpcServer({ before })`. */
export function authHook(auth: AuthManager): (ctx: CallContext) => Promise<void> {
  return async (ctx) => {
    if (UNAUTHENTICATED_METHODS.has(ctx.path)) return;
    const result = await auth.authenticate(bearerCredential(ctx));
    // issue 13 item 3: a scoped credential's scopes, checked for every RPC in one place
    authorizeRpc(result.actor, ctx.path);
    ctx.values.set(ACTOR_KEY, result.actor);
    ctx.values.set(AUTH_KEY, result);
  };
}

/** The credential of "authorization: Bearer <credential>", or UNAUTHENTICATED. */
export function bearerCredential(ctx: CallContext): string {
  const header = ctx.authorization;
  if (header === undefined || header === "") throw SigilError.unauthenticated();
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!m) throw SigilError.unauthenticated("the authorization metadata must be \"Bearer <token>\"");
  return m[1]!;
}

/** The authentication result of the call (set by the hook), or UNAUTHENTICATED. */
export function requireAuth(ctx: CallContext): Authenticated {
  const a = ctx.values.get(AUTH_KEY);
  if (!a) throw SigilError.unauthenticated();
  return a;
}
