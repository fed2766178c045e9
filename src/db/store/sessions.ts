/**
 * The sessions and refresh_tokens tables: a login session is one
 * refresh-token family (RFC 9700 §4.14.2); its tokens are stored as SHA-256
 * hashes only. ORM entities, like the rest of the admin plane, except the
 * access-token check of every RPC (findAccessSession, prepared SQL).
 */
import { LockMode } from "@mikro-orm/core";
import { LoginFailure, Organization, RefreshToken, Session as LoginSession, User } from "../entities/index.js";
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

// ---------------------------------------------------------------------------
// the access-token check (every admin RPC): one prepared statement, no ORM

/** the sessions columns the access-token check reads */
export const ACCESS_SESSION_COLUMNS = ["id", "generation", "expires_at", "revoked_at", "last_used_at"] as const;
/** the users columns of the principal (all but password_hash, which the User entity loads lazily) */
export const ACCESS_USER_COLUMNS = [
  "id",
  "username",
  "email",
  "email_self_asserted",
  "role",
  "organization_id",
  "can_create_ca",
  "can_create_cert",
  "can_revoke_cert",
  "can_export_private_key",
  "can_delete_ca",
  "is_active",
  "session_generation",
  "failed_login_count",
  "failed_login_window_start",
  "locked_until",
  "last_login_at",
  "created_at",
  "updated_at",
] as const;

const ACCESS_SESSION = statement(
  "sigil_access_token_session",
  `select ${ACCESS_SESSION_COLUMNS.map((c) => `s.${c} s_${c}`).join(", ")}, ${ACCESS_USER_COLUMNS.map((c) => `u.${c} u_${c}`).join(", ")}
     from sessions s join users u on u.id = s.user_id where s.id = $1`,
);

type Timestamp = Date | string;
interface AccessSessionRaw {
  s_id: string;
  s_generation: number;
  s_expires_at: Timestamp;
  s_revoked_at: Timestamp | null;
  s_last_used_at: Timestamp | null;
  u_id: string;
  u_username: string;
  u_email: string | null;
  u_email_self_asserted: boolean;
  u_role: User["role"];
  u_organization_id: string | null;
  u_can_create_ca: boolean;
  u_can_create_cert: boolean;
  u_can_revoke_cert: boolean;
  u_can_export_private_key: boolean;
  u_can_delete_ca: boolean;
  u_is_active: boolean;
  u_session_generation: number;
  u_failed_login_count: number;
  u_failed_login_window_start: Timestamp | null;
  u_locked_until: Timestamp | null;
  u_last_login_at: Timestamp | null;
  u_created_at: Timestamp;
  u_updated_at: Timestamp;
}

/** What an access token is checked against: its session's state and the session's user. */
export interface AccessSession {
  id: string;
  generation: number;
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  /**
   * The user as the ORM would load it (password hash not loaded), detached:
   * no EntityManager tracks it, and its organization is a reference holding
   * only the id (as `populate: ["user"]` left it). A principal to read, never
   * to change: writes load the user in their transaction (findUser).
   */
  user: User;
}

function date(v: Timestamp): Date;
function date(v: Timestamp | null): Date | null;
function date(v: Timestamp | null): Date | null {
  return v === null ? null : v instanceof Date ? v : new Date(v);
}

function detachedUser(r: AccessSessionRaw): User {
  const user = new User();
  user.id = r.u_id;
  user.username = r.u_username;
  user.email = r.u_email;
  user.emailSelfAsserted = r.u_email_self_asserted;
  user.role = r.u_role;
  user.organization = r.u_organization_id === null ? null : Object.assign(new Organization(), { id: r.u_organization_id });
  user.canCreateCa = r.u_can_create_ca;
  user.canCreateCert = r.u_can_create_cert;
  user.canRevokeCert = r.u_can_revoke_cert;
  user.canExportPrivateKey = r.u_can_export_private_key;
  user.canDeleteCa = r.u_can_delete_ca;
  user.isActive = r.u_is_active;
  user.sessionGeneration = r.u_session_generation;
  user.failedLoginCount = r.u_failed_login_count;
  user.failedLoginWindowStart = date(r.u_failed_login_window_start);
  user.lockedUntil = date(r.u_locked_until);
  user.lastLoginAt = date(r.u_last_login_at);
  user.createdAt = date(r.u_created_at);
  user.updatedAt = date(r.u_updated_at);
  return user;
}

/**
 * A session by id with its user (what every access token is checked
 * against), in one prepared statement: this runs on every admin RPC, where
 * the ORM's query building and hydration cost more than the query.
 */
export async function findAccessSession(s: Session, id: string): Promise<AccessSession | null> {
  const [r] = await sqlOf(s).query<AccessSessionRaw>(ACCESS_SESSION, [id]);
  if (!r) return null;
  return {
    id: r.s_id,
    generation: r.s_generation,
    expiresAt: date(r.s_expires_at),
    revokedAt: date(r.s_revoked_at),
    lastUsedAt: date(r.s_last_used_at),
    user: detachedUser(r),
  };
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

const TOUCH_SESSION = statement("sigil_session_touch", `update sessions set last_used_at = $2 where id = $1`);

/** Records when a session was last used (outside any transaction; a lost update only loses a timestamp). */
export async function touchLoginSession(s: Session, id: string, at: Date): Promise<void> {
  await sqlOf(s).query(TOUCH_SESSION, [id, at]);
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
