import { createHash } from "node:crypto";
import { SigilError } from "../core/errors.js";
import type { Session as LoginSession, User } from "../db/entities/index.js";
import { organizationExists } from "../db/store/organizations.js";
import { listLoginSessions, lockLoginSessionWithUser, revokeLoginSessions, type SessionFilter } from "../db/store/sessions.js";
import { findUser } from "../db/store/users.js";
import { authorize, isSuperuser } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import { inTransaction, type RaContext, type Tx } from "./context.js";
import { requireId } from "./input.js";
import { notFoundFor } from "./not-found.js";
import { nextPageToken, type PageRequest } from "./paging.js";

/** Why a session ended (stored in sessions.revoked_reason). */
export type SessionRevocationReason =
  | "logout"
  | "invalidate_all"
  | "refresh_token_reuse"
  | "password_change"
  | "deactivation"
  | "revoked";

/** Hex SHA-256: how refresh tokens and API keys are stored (never in the clear). */
export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/**
 * Ends every live session (refresh-token family) of a user inside the
 * caller's transaction; their refresh tokens stop working at once and so do
 * access tokens, which are checked against their session on every call.
 * Returns the number of sessions revoked.
 */
export async function revokeUserSessions(tx: Tx, userId: string, reason: SessionRevocationReason, now: Date): Promise<number> {
  return revokeLoginSessions(tx, { userId }, now, reason);
}

/**
 * A password change, deactivation or invalidate-all: bump the user's
 * sessionGeneration (every access token carries the generation it was issued
 * under) and revoke its refresh-token families.
 */
export async function endAllSessions(tx: Tx, user: User, reason: SessionRevocationReason, now: Date): Promise<number> {
  user.sessionGeneration += 1;
  return revokeUserSessions(tx, user.id, reason, now);
}

// ---------------------------------------------------------------------------
// Sessions you can see (issue 13 item 6)

/** A session as ListSessions shows it. */
export interface SessionView {
  id: string;
  userId: string;
  username: string;
  client: string | null;
  clientAddress: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date;
  revokedAt: Date | null;
  revokedReason: string | null;
  /** the session of the calling access token */
  current: boolean;
}

export const SERVICE_ACCOUNTS_HAVE_NO_SESSIONS = "service accounts have no sessions; their API keys are listed with ListApiKeys";
export const ONLY_SUPERUSER_SUPERUSER_SESSIONS = "only a superuser may act on a superuser's sessions";
export const SESSION_NOT_FOUND = "session not found";

/**
 * Another user's sessions need an admin of its organization (or a
 * superuser); a superuser's only another superuser. Outside the
 * organization: NOT_FOUND, as everywhere (src/policy/permissions.ts).
 */
function authorizeSessionsOf(actor: Actor, user: Pick<User, "id" | "role" | "organization">): void {
  if (actor.kind === "user" && actor.id === user.id) return;
  authorize(actor, user.organization?.id ?? null, "admin");
  if (user.role === "superuser" && !isSuperuser(actor)) throw SigilError.permissionDenied(ONLY_SUPERUSER_SUPERUSER_SESSIONS);
}

function viewOf(s: LoginSession, currentSessionId: string | undefined): SessionView {
  return {
    id: s.id,
    userId: s.user.id,
    username: s.user.username,
    client: s.client ?? null,
    clientAddress: s.clientAddress ?? null,
    createdAt: s.createdAt,
    lastUsedAt: s.lastUsedAt ?? s.lastRefreshedAt ?? null,
    expiresAt: s.expiresAt,
    revokedAt: s.revokedAt ?? null,
    revokedReason: s.revokedReason ?? null,
    current: s.id === currentSessionId,
  };
}

/**
 * ListSessions: the caller's own (no user, no organization), one user's, or
 * every user's of an organization; newest first; only live ones unless
 * `includeEnded`.
 */
export async function listSessions(
  ctx: RaContext,
  actor: Actor,
  currentSessionId: string | undefined,
  input: { userId: string; organizationId: string; includeEnded: boolean },
  page: PageRequest,
): Promise<{ items: SessionView[]; nextPageToken: string }> {
  const filter: SessionFilter = input.includeEnded ? {} : { liveAt: ctx.clock.now() };
  if (input.organizationId) {
    const orgId = requireId(input.organizationId, "organization_id");
    authorize(actor, orgId, "admin");
    if (!(await organizationExists(ctx.store, orgId))) throw SigilError.notFound("organization not found");
    filter.organizationId = orgId;
  }
  if (input.userId) {
    const userId = requireId(input.userId, "user_id");
    const user = await findUser(ctx.store, userId);
    if (!user) throw notFoundFor(actor, "user not found");
    authorizeSessionsOf(actor, user);
    filter.userId = userId;
  }
  if (!filter.userId && !filter.organizationId) {
    if (actor.kind !== "user") throw SigilError.failedPrecondition(SERVICE_ACCOUNTS_HAVE_NO_SESSIONS);
    filter.userId = actor.id;
  }
  // an organization admin listing the organization sees no superuser's sessions (superusers stand above it);
  // filtered in the query (review 2 LOW: filtering the page afterwards gave short pages and a total counting them)
  if (filter.organizationId && !isSuperuser(actor)) filter.excludeSuperusers = true;
  const { items, total } = await listLoginSessions(ctx.store, filter, page);
  return { items: items.map((s) => viewOf(s, currentSessionId)), nextPageToken: nextPageToken(page, items.length, total) };
}

/**
 * RevokeSession: ends one session at once (its refresh tokens and access
 * tokens, which are checked against it on every call). Revoking an ended
 * session changes nothing. Audited as "session_revoke".
 */
export async function revokeSession(ctx: RaContext, actor: Actor, sessionId: string): Promise<void> {
  const id = requireId(sessionId, "session_id");
  await inTransaction(ctx, async (tx) => {
    const session = await lockLoginSessionWithUser(tx, id);
    if (!session) throw notFoundFor(actor, SESSION_NOT_FOUND);
    authorizeSessionsOf(actor, session.user);
    const now = ctx.clock.now();
    const wasLive = !session.revokedAt;
    if (wasLive) {
      session.revokedAt = now;
      session.revokedReason = "revoked";
    }
    tx.audit(actor, {
      action: "session_revoke",
      organizationId: session.user.organization?.id ?? null,
      resourceType: "session",
      resourceId: session.id,
      detail: { userId: session.user.id, username: session.user.username, ...(wasLive ? {} : { alreadyEnded: true }) },
    });
  });
}
