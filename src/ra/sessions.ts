import { createHash } from "node:crypto";
import type { User } from "../db/entities/index.js";
import { revokeLoginSessions } from "../db/store/sessions.js";
import type { Tx } from "./context.js";

/** Why a session ended (stored in sessions.revoked_reason). */
export type SessionRevocationReason =
  | "logout"
  | "invalidate_all"
  | "refresh_token_reuse"
  | "password_change"
  | "deactivation";

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
