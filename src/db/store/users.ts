/**
 * The users table (admin-plane principals). The admin plane stays on the
 * ORM: these functions return managed User entities, so a change made by
 * ra/ inside a transaction is flushed with its commit.
 */
import { LockMode, raw } from "@mikro-orm/core";
import type { UserRole } from "../../core/types.js";
import { Organization, User } from "../entities/index.js";
import { emOf, type Session, type TxSession } from "./session.js";

/** A user by id; `lock` takes a row lock (FOR UPDATE) for a change in the session's transaction. */
export async function findUser(s: Session, id: string, opts: { lock?: boolean } = {}): Promise<User | null> {
  return emOf(s).findOne(User, { id }, opts.lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
}

/**
 * Usernames and emails are compared case-insensitively: the unique indexes
 * users_username_lower_unique / users_email_lower_unique are on lower(...)
 * (migration 20261202160000), and these lookups use the same expression so
 * they are index scans.
 */
const LOWER_USERNAME = raw((alias) => `lower(${alias}.username)`);
const LOWER_EMAIL = raw((alias) => `lower(${alias}.email)`);

/** A user's password hash (a lazy property), or null when there is no such user. */
export async function findPasswordHash(s: Session, id: string): Promise<string | null> {
  const u = await emOf(s).findOne(User, { id }, { populate: ["passwordHash"] });
  return u?.passwordHash ?? null;
}

/** A user by username (any case) with its password hash (a lazy property, loaded only for login). */
export async function findUserForLogin(s: Session, username: string): Promise<User | null> {
  return emOf(s).findOne(User, { [LOWER_USERNAME]: username.toLowerCase() }, { populate: ["passwordHash"] });
}

/** Who already holds a name: the user's id and organization (null for a superuser above organizations). */
export interface NameHolder {
  id: string;
  organizationId: string | null;
}

function holderOf(u: User | null): NameHolder | null {
  return u ? { id: u.id, organizationId: u.organization?.id ?? null } : null;
}

/** The user holding this username in any case (also a deactivated one), or null. */
export async function usernameHolder(s: Session, username: string): Promise<NameHolder | null> {
  return holderOf(await emOf(s).findOne(User, { [LOWER_USERNAME]: username.toLowerCase() }));
}

/** The user other than `exceptUserId` holding this email in any case, or null. */
export async function emailHolder(s: Session, email: string, exceptUserId?: string): Promise<NameHolder | null> {
  const where = exceptUserId ? { [LOWER_EMAIL]: email.toLowerCase(), id: { $ne: exceptUserId } } : { [LOWER_EMAIL]: email.toLowerCase() };
  return holderOf(await emOf(s).findOne(User, where));
}

/** Whether any superuser exists (bootstrap creates one when none does). */
export async function superuserExists(s: Session): Promise<boolean> {
  return (await emOf(s).count(User, { role: "superuser" })) > 0;
}

/** What a new user needs; everything else takes the column defaults. */
export interface NewUser {
  id?: string;
  username: string;
  email?: string | null;
  passwordHash: string;
  role: UserRole;
  /** the organization's id, or null for a superuser standing above organizations */
  organizationId: string | null;
}

/** Creates a user in the transaction (written at its flush); the id is known at once. */
export function insertUser(tx: TxSession, u: NewUser): User {
  const em = emOf(tx);
  return em.create(User, {
    ...(u.id ? { id: u.id } : {}),
    username: u.username,
    email: u.email ?? null,
    passwordHash: u.passwordHash,
    role: u.role,
    organization: u.organizationId ? em.getReference(Organization, u.organizationId) : null,
  });
}

/** Puts a user into an organization (or none) in the transaction. */
export function setUserOrganization(tx: TxSession, user: User, organizationId: string | null): void {
  user.organization = organizationId ? emOf(tx).getReference(Organization, organizationId) : null;
}

/** Which users to list. */
export interface UserFilter {
  /** only this organization's users */
  organizationId?: string;
  /** only this user */
  id?: string;
  /** leave out deactivated users */
  activeOnly?: boolean;
}

/** A page of users matching the filter, by username, and how many match in all. */
export async function listUsers(s: Session, filter: UserFilter, window: { offset: number; limit: number }): Promise<{ items: User[]; total: number }> {
  const where: { organization?: string; id?: string; isActive?: boolean } = {};
  if (filter.organizationId) where.organization = filter.organizationId;
  if (filter.id) where.id = filter.id;
  if (filter.activeOnly) where.isActive = true;
  const [items, total] = await emOf(s).findAndCount(User, where, { orderBy: { username: "asc", id: "asc" }, offset: window.offset, limit: window.limit });
  return { items, total };
}
