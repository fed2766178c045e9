/**
 * The sessions and refresh_tokens tables: a login session is one
 * refresh-token family (RFC 9700 §4.14.2); its tokens are stored as SHA-256
 * hashes only. ORM entities, like the rest of the admin plane.
 */
import { LockMode } from "@mikro-orm/core";
import { LoginFailure, RefreshToken, Session as LoginSession, User } from "../entities/index.js";
import { statement } from "../sql.js";
import { emOf, sqlOf, type Session, type TxSession } from "./session.js";

/** A new login session of `user` (written at the transaction's flush). */
export function insertLoginSession(
  tx: TxSession,
  row: { id: string; user: User; generation: number; createdAt: Date; expiresAt: Date; clientAddress: string | null; client: string | null; lastUsedAt: Date },
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

/** Records when a session was last used (outside any transaction; a lost update only loses a timestamp). */
export async function touchLoginSession(s: Session, id: string, at: Date): Promise<void> {
  await emOf(s).nativeUpdate(LoginSession, { id }, { lastUsedAt: at });
}

/** Which sessions to list. */
export interface SessionFilter {
  /** one user's */
  userId?: string;
  /** every user's of this organization */
  organizationId?: string;
  /** only live ones (not revoked, not past expiresAt) as of `now` */
  liveAt?: Date;
  /** none of a superuser's (filtered in the query, so pages are full and the total is right) */
  excludeSuperusers?: boolean;
}

/** A page of sessions with their users, newest first, and how many match in all. */
export async function listLoginSessions(
  s: Session,
  filter: SessionFilter,
  window: { offset: number; limit: number },
): Promise<{ items: LoginSession[]; total: number }> {
  const where: Record<string, unknown> = {};
  if (filter.userId) where.user = filter.userId;
  if (filter.organizationId || filter.excludeSuperusers) {
    where.user = {
      ...(filter.userId ? { id: filter.userId } : {}),
      ...(filter.organizationId ? { organization: filter.organizationId } : {}),
      ...(filter.excludeSuperusers ? { role: { $ne: "superuser" } } : {}),
    };
  }
  if (filter.liveAt) {
    where.revokedAt = null;
    where.expiresAt = { $gt: filter.liveAt };
  }
  const [items, total] = await emOf(s).findAndCount(LoginSession, where, {
    populate: ["user"],
    orderBy: { createdAt: "desc", id: "desc" },
    offset: window.offset,
    limit: window.limit,
  });
  return { items, total };
}

/** A session by id with its user, locked (FOR UPDATE), or null. */
export async function lockLoginSessionWithUser(tx: TxSession, id: string): Promise<LoginSession | null> {
  return emOf(tx).findOne(LoginSession, { id }, { lockMode: LockMode.PESSIMISTIC_WRITE, populate: ["user"] });
}

// ---------------------------------------------------------------------------
// login failures (sliding-window lockout, src/ra/auth.ts)

/** How many counted failures `address` had since `since` (any accounts). */
export async function countAddressFailures(s: Session, address: string, since: Date): Promise<number> {
  return emOf(s).count(LoginFailure, { address, failedAt: { $gt: since } });
}

/**
 * How many counted failures the addresses whose key starts with `prefix` had
 * since `since` (an IPv6 /48: its /64 keys share the prefix). The window's
 * rows only (pruneLoginFailures keeps the table to the windows).
 */
export async function countAddressPrefixFailures(s: Session, prefix: string, since: Date): Promise<number> {
  return emOf(s).count(LoginFailure, { address: { $like: `${prefix.replace(/[\\%_]/g, "\\$&")}%` }, failedAt: { $gt: since } });
}

/** pg_advisory_xact_lock namespace of login addresses ("SIGL" as an int4); the key is hashtext(address key) */
const LOGIN_ADDRESS_LOCK = statement("sigil_login_address_lock", `select pg_advisory_xact_lock(1397311308, hashtext($1::text))`);

/**
 * Serializes the login failures of one address key until the transaction
 * ends, so the per-address count read after it cannot be raced past by
 * concurrent guesses (review 2 LOW: check-then-act).
 */
export async function lockLoginAddress(tx: TxSession, key: string): Promise<void> {
  await sqlOf(tx).query(LOGIN_ADDRESS_LOCK, [key]);
}

/** The client addresses of the user's sessions started since `since`, newest first (at most 100). */
export async function recentSessionAddresses(s: Session, userId: string, since: Date): Promise<string[]> {
  const rows = await emOf(s).find(LoginSession, { user: userId, createdAt: { $gt: since }, clientAddress: { $ne: null } }, { fields: ["clientAddress"], orderBy: { createdAt: "desc" }, limit: 100 });
  return rows.map((r) => r.clientAddress!).filter(Boolean);
}

/** How many counted failures the user had since `since`: from `address` only, or from anywhere. */
export async function countUserFailures(s: Session, userId: string, since: Date, address?: string): Promise<number> {
  return emOf(s).count(LoginFailure, address ? { user: userId, address, failedAt: { $gt: since } } : { user: userId, failedAt: { $gt: since } });
}

/** Until when `address` is locked out of the user's account (the latest locks_until still ahead), or null. */
export async function addressLockedUntil(s: Session, userId: string, address: string, now: Date): Promise<Date | null> {
  const row = await emOf(s).findOne(LoginFailure, { user: userId, address, locksUntil: { $gt: now } }, { orderBy: { locksUntil: "desc" } });
  return row?.locksUntil ?? null;
}

/** Records a counted failure (written at the transaction's flush). */
export function insertLoginFailure(tx: TxSession, row: { id: string; userId: string | null; address: string; failedAt: Date; locksUntil: Date | null }): LoginFailure {
  const em = emOf(tx);
  return em.create(LoginFailure, {
    id: row.id,
    user: row.userId ? em.getReference(User, row.userId) : null,
    address: row.address,
    failedAt: row.failedAt,
    locksUntil: row.locksUntil,
  });
}

/** Deletes failures older than `before` that lock nothing any more. */
export async function pruneLoginFailures(tx: TxSession, before: Date, now: Date): Promise<void> {
  await emOf(tx).nativeDelete(LoginFailure, { failedAt: { $lt: before }, $or: [{ locksUntil: null }, { locksUntil: { $lte: now } }] });
}

/** Forgets the user's failures: all of them, or those from `address` (a successful login from it). */
export async function clearUserFailures(tx: TxSession, userId: string, address?: string): Promise<number> {
  return emOf(tx).nativeDelete(LoginFailure, address ? { user: userId, address } : { user: userId });
}
