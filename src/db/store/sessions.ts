/**
 * The sessions and refresh_tokens tables: a login session is one
 * refresh-token family (RFC 9700 §4.14.2); its tokens are stored as SHA-256
 * hashes only. ORM entities, like the rest of the admin plane.
 */
import { LockMode } from "@mikro-orm/core";
import { RefreshToken, Session as LoginSession, User } from "../entities/index.js";
import { emOf, type Session, type TxSession } from "./session.js";

/** A new login session of `user` (written at the transaction's flush). */
export function insertLoginSession(
  tx: TxSession,
  row: { id: string; user: User; generation: number; createdAt: Date; expiresAt: Date; clientAddress: string | null },
): LoginSession {
  return emOf(tx).create(LoginSession, row);
}

/** A new refresh token of a session, by its hash (written at the transaction's flush). */
export function insertRefreshToken(tx: TxSession, row: { id: string; session: LoginSession; tokenHash: string; createdAt: Date; expiresAt: Date }): RefreshToken {
  return emOf(tx).create(RefreshToken, row);
}

/** A refresh token by hash, locked (FOR UPDATE) so two refreshes with one token serialize. */
export async function lockRefreshToken(tx: TxSession, tokenHash: string): Promise<RefreshToken | null> {
  return emOf(tx).findOne(RefreshToken, { tokenHash }, { lockMode: LockMode.PESSIMISTIC_WRITE });
}

/** A refresh token by hash with its session. */
export async function findRefreshToken(s: Session, tokenHash: string): Promise<RefreshToken | null> {
  return emOf(s).findOne(RefreshToken, { tokenHash }, { populate: ["session"] });
}

/** A session by id, locked (FOR UPDATE); it must exist (a refresh token references it). */
export async function lockLoginSession(tx: TxSession, id: string): Promise<LoginSession> {
  return emOf(tx).findOneOrFail(LoginSession, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
}

/** A session by id with its user (what every access token is checked against). */
export async function findLoginSessionWithUser(s: Session, id: string): Promise<LoginSession | null> {
  return emOf(s).findOne(LoginSession, { id }, { populate: ["user"] });
}

/**
 * Revokes the user's live sessions now (all of them, or only those in
 * `ids`); returns how many were revoked.
 */
export async function revokeLoginSessions(
  s: Session,
  where: { userId: string; ids?: readonly string[] },
  revokedAt: Date,
  revokedReason: string,
): Promise<number> {
  const filter = where.ids ? { id: { $in: [...where.ids] }, user: where.userId, revokedAt: null } : { user: where.userId, revokedAt: null };
  return emOf(s).nativeUpdate(LoginSession, filter, { revokedAt, revokedReason });
}
