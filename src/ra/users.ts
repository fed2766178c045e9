/**
 * Human users. Never hard-deleted (deactivated instead). The rules on top of
 * the permission rule (src/policy/permissions.ts), from issue 4:
 * - only a superuser creates superusers, grants the superuser role, moves a
 *   user between organizations, or changes anything of another superuser;
 * - a superuser cannot demote or deactivate itself;
 * - an organization admin manages only its own organization's users;
 * - capability flags are set by a superuser or an admin of the same organization;
 * - users may change their own email and password.
 * A password change or deactivation ends all of the user's sessions.
 */
import bcrypt from "bcrypt";
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import type { Capability, UserRole } from "../core/types.js";
import type { User } from "../db/entities/index.js";
import { organizationExists } from "../db/store/organizations.js";
import { isUniqueViolation } from "../db/store/constraint-errors.js";
import { countLeaverApiKeys, leaverCertificates, revokeLeaverEabKeys } from "../db/store/leaver-certificates.js";
import { clearUserFailures } from "../db/store/sessions.js";
import { emailHolder, findUser, insertUser, listUsers as listUserRows, setUserOrganization, usernameHolder, type NameHolder, type UserFilter } from "../db/store/users.js";
import { authorize, isSuperuser } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import { DEFAULT_BCRYPT_COST, inTransaction, type RaContext } from "./context.js";
import { requireEmail, requireId, requirePassword, requireUsername } from "./input.js";
import { ONLY_SUPERUSER_MOVES_USERS, ORGANIZATION_NOT_FOUND, USER_NOT_FOUND, type Page } from "./organizations.js";
import { nextPageToken, type PageRequest } from "./paging.js";
import { endAllSessions } from "./sessions.js";
import { DEFAULT_ORGANIZATION_SETTINGS } from "./organization-settings.js";
import { organizationSettings } from "./organizations.js";
import { revokeCertificateInTx } from "./revocation.js";
import { verifyCurrentPassword } from "./auth.js";
import { notFoundFor } from "./not-found.js";
import type { Tx } from "./context.js";

export const ONLY_SUPERUSER_GRANTS_SUPERUSER = "only a superuser grants the superuser role";
export const ONLY_SUPERUSER_CHANGES_SUPERUSER = "only a superuser changes another superuser";
export const SUPERUSER_CANNOT_DEMOTE_ITSELF = "a superuser cannot demote itself";
export const SUPERUSER_CANNOT_DEACTIVATE_ITSELF = "a superuser cannot deactivate itself";

/**
 * Issue 13 item 8: usernames stay one global login name, compared
 * case-insensitively (so login needs no organization), and so do emails.
 * A name held by a user the caller cannot see (another organization's, or a
 * superuser's when the caller is not one) is answered exactly like an
 * invalid value: the same INVALID_ARGUMENT with the same message, so no
 * tenant learns whether a name exists elsewhere. A holder the caller can
 * see anyway (its own organization's users; every user for a superuser)
 * gets ALREADY_EXISTS. docs/tenancy.md.
 */
export const USERNAME_NOT_ACCEPTED = "not an acceptable username (1 to 64 letters, digits or . _ @ -, not in use)";
export const EMAIL_NOT_ACCEPTED = "not an acceptable email address (a valid address, not in use)";
export const USERNAME_EXISTS = "a user with this username already exists";
export const EMAIL_EXISTS = "a user with this email already exists";

/** A username as requireUsername checks it, every refusal but "required" with the one message. */
function acceptUsername(value: string): string {
  if (!value) throw SigilError.invalidArgument("required", "username");
  try {
    return requireUsername(value);
  } catch {
    throw SigilError.invalidArgument(USERNAME_NOT_ACCEPTED, "username");
  }
}

/** An email as requireEmail checks it, every refusal but "required" with the one message. */
function acceptEmail(value: string): string {
  if (!value.trim()) throw SigilError.invalidArgument("required", "email");
  try {
    return requireEmail(value);
  } catch {
    throw SigilError.invalidArgument(EMAIL_NOT_ACCEPTED, "email");
  }
}

/** Whether `actor` may see `holder` anyway (so naming the conflict reveals nothing). */
function canSee(actor: Actor, holder: NameHolder): boolean {
  if (isSuperuser(actor)) return true;
  const own = actor.kind === "user" || actor.kind === "serviceAccount" ? actor.organizationId : null;
  return own !== null && holder.organizationId === own;
}

/** The refusal of a name already held: ALREADY_EXISTS if the caller sees the holder, else the invalid-value answer. */
function nameConflict(actor: Actor, holder: NameHolder, field: "username" | "email"): SigilError {
  if (canSee(actor, holder)) return SigilError.alreadyExists(field === "username" ? USERNAME_EXISTS : EMAIL_EXISTS, field);
  return SigilError.invalidArgument(field === "username" ? USERNAME_NOT_ACCEPTED : EMAIL_NOT_ACCEPTED, field);
}

/**
 * Runs `fn`; a unique violation (a concurrent insert of the same name won
 * the race, so its holder is unknown here) answers like a hidden conflict
 * for everyone but a superuser.
 */
async function uniqueUser<T>(actor: Actor, field: "username" | "email", fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (!isUniqueViolation(e)) throw e;
    if (isSuperuser(actor)) throw SigilError.alreadyExists("a user with this username or email already exists", field);
    throw SigilError.invalidArgument(field === "username" ? USERNAME_NOT_ACCEPTED : EMAIL_NOT_ACCEPTED, field);
  }
}

/** The capability flags, as entity properties. */
export type CapabilityFlags = Partial<Record<Capability, boolean>>;

const FLAG_PROPERTY: Record<Capability, "canCreateCa" | "canCreateCert" | "canRevokeCert" | "canExportPrivateKey" | "canDeleteCa"> = {
  create_ca: "canCreateCa",
  create_cert: "canCreateCert",
  revoke_cert: "canRevokeCert",
  export_private_key: "canExportPrivateKey",
  delete_ca: "canDeleteCa",
};

/** Applies the given flags to a user or service account; returns the names of the flags that changed. */
export function applyFlags(
  target: Record<(typeof FLAG_PROPERTY)[Capability], boolean>,
  flags: CapabilityFlags,
): Capability[] {
  const changed: Capability[] = [];
  for (const [cap, value] of Object.entries(flags) as Array<[Capability, boolean | undefined]>) {
    if (value === undefined) continue;
    const prop = FLAG_PROPERTY[cap];
    if (target[prop] !== value) {
      target[prop] = value;
      changed.push(cap);
    }
  }
  return changed;
}

/** The bcrypt cost of new password hashes (SIGIL_BCRYPT_COST). */
export function bcryptCostOf(ctx: RaContext): number {
  return ctx.bcryptCost ?? DEFAULT_BCRYPT_COST;
}

/** A new password's bcrypt hash at the configured cost. */
export function hashPassword(ctx: RaContext, password: string): Promise<string> {
  return bcrypt.hash(password, bcryptCostOf(ctx));
}

export interface CreateUserInput {
  username: string;
  email: string;
  password: string;
  role: UserRole | undefined;
  /** required unless role is superuser */
  organizationId: string;
  flags: CapabilityFlags;
}

export async function createUser(ctx: RaContext, actor: Actor, input: CreateUserInput): Promise<User> {
  const username = acceptUsername(input.username);
  const email = acceptEmail(input.email);
  const password = requirePassword(input.password);
  if (!input.role) throw SigilError.invalidArgument("required", "role");
  const role = input.role;
  const orgId = input.organizationId ? requireId(input.organizationId, "organization_id") : null;
  if (role !== "superuser" && !orgId) throw SigilError.invalidArgument("required unless role is ROLE_SUPERUSER", "organization_id");
  if (role === "superuser") {
    if (!isSuperuser(actor)) {
      if (orgId) authorize(actor, orgId, "admin");
      throw SigilError.permissionDenied(ONLY_SUPERUSER_GRANTS_SUPERUSER);
    }
  } else {
    authorize(actor, orgId, "admin");
  }
  const passwordHash = await hashPassword(ctx, password);
  return uniqueUser(actor, "username", () =>
    inTransaction(ctx, async (tx) => {
      if (orgId && !(await organizationExists(tx, orgId))) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
      const byName = await usernameHolder(tx, username);
      if (byName) throw nameConflict(actor, byName, "username");
      const byEmail = await emailHolder(tx, email);
      if (byEmail) throw nameConflict(actor, byEmail, "email");
      const user = insertUser(tx, { id: uuidv7(), username, email, passwordHash, role, organizationId: orgId });
      applyFlags(user, input.flags);
      tx.audit(actor, {
        action: "user_create",
        organizationId: orgId,
        resourceType: "user",
        resourceId: user.id,
        detail: { username, role, flags: Object.keys(input.flags).filter((k) => input.flags[k as Capability]) },
      });
      return user;
    }),
  );
}

/** Members of the organization may read its users; everyone may read itself. */
export async function getUser(ctx: RaContext, actor: Actor, id: string): Promise<User> {
  const userId = requireId(id, "id");
  const user = await findUser(ctx.store, userId);
  if (!(actor.kind === "user" && actor.id === userId)) {
    if (!user) throw notFoundFor(actor, USER_NOT_FOUND);
    authorize(actor, user.organization?.id ?? null, "read");
  }
  if (!user) throw notFoundFor(actor, USER_NOT_FOUND);
  return user;
}

/** Users visible to the caller: all for a superuser; its own organization's otherwise. */
export async function listUsers(
  ctx: RaContext,
  actor: Actor,
  input: { organizationId: string; includeInactive: boolean },
  page: PageRequest,
): Promise<Page<User>> {
  const filter: UserFilter = { activeOnly: !input.includeInactive };
  if (input.organizationId) {
    const orgId = requireId(input.organizationId, "organization_id");
    authorize(actor, orgId, "read");
    filter.organizationId = orgId;
  } else if (!isSuperuser(actor)) {
    const own = actor.kind === "system" ? null : actor.organizationId;
    if (!own) {
      // a user outside every organization (and not a superuser) sees only itself
      if (actor.kind !== "user") return { items: [], nextPageToken: "" };
      filter.id = actor.id;
    } else {
      filter.organizationId = own;
    }
  }
  const { items, total } = await listUserRows(ctx.store, filter, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

export interface UpdateUserInput {
  id: string;
  email?: string;
  password?: string;
  /** the caller's current password: required when users change their own password or email */
  currentPassword?: string;
  /** the caller's address (grpc-js peer form): a wrong current password counts as a login failure from it */
  peer?: string;
  role?: UserRole;
  isActive?: boolean;
  /** "" removes the organization */
  organizationId?: string;
  flags: CapabilityFlags;
}

/** Which changes `actor` may make to `target`; throws the first refusal. */
function checkUserChange(actor: Actor, target: User, change: Omit<UpdateUserInput, "id" | "email" | "password"> & { selfService: boolean }): void {
  const self = actor.kind === "user" && actor.id === target.id;
  const targetOrg = target.organization?.id ?? null;
  if (isSuperuser(actor)) {
    if (self && change.role !== undefined && change.role !== "superuser") throw SigilError.permissionDenied(SUPERUSER_CANNOT_DEMOTE_ITSELF);
    if (self && change.isActive === false) throw SigilError.permissionDenied(SUPERUSER_CANNOT_DEACTIVATE_ITSELF);
    return;
  }
  if (self && change.selfService) return; // own email / password only
  authorize(actor, targetOrg, "admin");
  if (target.role === "superuser") throw SigilError.permissionDenied(ONLY_SUPERUSER_CHANGES_SUPERUSER);
  if (change.role === "superuser") throw SigilError.permissionDenied(ONLY_SUPERUSER_GRANTS_SUPERUSER);
  if (change.organizationId !== undefined && change.organizationId !== (targetOrg ?? "")) {
    throw SigilError.permissionDenied(ONLY_SUPERUSER_MOVES_USERS);
  }
}

export const CURRENT_PASSWORD_REQUIRED = "required to change your own password";
export const CURRENT_PASSWORD_REQUIRED_EMAIL = "required to change your own email";
export const CURRENT_PASSWORD_WRONG = "does not match your current password";

/** Whether `actor` may revoke certificates of organization `orgId` (authorize without throwing). */
function mayRevokeIn(actor: Actor, orgId: string): boolean {
  try {
    authorize(actor, orgId, "revoke_cert");
    return true;
  } catch (e) {
    if (e instanceof SigilError) return false;
    throw e;
  }
}

/**
 * Issue 13 item 2, review 2 H2/M5: revokes, with reason affiliationChanged,
 * every valid leaf certificate the user requested or that names its email
 * (db/store/leaver-certificates.ts), but only those of organizations where
 * the deactivating actor may revoke (an organization admin never touches
 * another organization's certificates, even of a user who moved in), and
 * each only when its own organization's revoke_certificates_on_deactivation
 * says so (not the user's current organization's). Each revocation has its
 * own audit entry and bumps its CA's revocation generation, so the CRLs and
 * OCSP follow. The unused EAB keys the user created in those organizations
 * are revoked too (always: nothing depends on an unused key, and the user
 * saw its HMAC key). Live API keys the user created are only counted (the
 * deactivation's audit entry names them; services run on them, rotate them
 * by hand). All inside the deactivation's transaction. docs/tenancy.md.
 */
async function revokeLeaverCredentials(ctx: RaContext, tx: Tx, actor: Actor, user: User): Promise<{ certificates: number; eabKeys: number; liveApiKeys: number }> {
  const now = ctx.clock.now();
  const orgId = user.organization?.id ?? null;
  const candidates = await leaverCertificates(tx, { userId: user.id, email: user.email ?? null, organizationId: orgId, now });
  const revokeIn = new Map<string, boolean>();
  for (const c of candidates) {
    if (revokeIn.has(c.organizationId)) continue;
    revokeIn.set(c.organizationId, mayRevokeIn(actor, c.organizationId) && (await organizationSettings(tx, c.organizationId)).revokeCertificatesOnDeactivation);
  }
  let certificates = 0;
  for (const c of candidates) {
    if (!revokeIn.get(c.organizationId)) continue;
    try {
      await revokeCertificateInTx(ctx, tx, actor, c.id, AFFILIATION_CHANGED, { cause: "user_deactivated", userId: user.id });
      certificates += 1;
    } catch (e) {
      // revoked concurrently since the query: nothing left to do for that one
      if (e instanceof SigilError && e.kind === "alreadyRevoked") continue;
      throw e;
    }
  }
  const own = actor.kind === "user" || actor.kind === "serviceAccount" ? actor.organizationId : null;
  const eab = isSuperuser(actor) ? await revokeLeaverEabKeys(tx, user.id, null, now) : own && mayRevokeIn(actor, own) ? await revokeLeaverEabKeys(tx, user.id, [own], now) : [];
  for (const k of eab) {
    tx.audit(actor, { action: "eab_revoke", organizationId: k.organizationId, resourceType: "acme_eab_key", resourceId: k.id, detail: { cause: "user_deactivated", userId: user.id } });
  }
  return { certificates, eabKeys: eab.length, liveApiKeys: await countLeaverApiKeys(tx, user.id, now) };
}

/** RFC 5280 §5.3.1 CRLReason affiliationChanged */
const AFFILIATION_CHANGED = 3;

export async function updateUser(ctx: RaContext, actor: Actor, input: UpdateUserInput): Promise<User> {
  return (await updateUserWithOutcome(ctx, actor, input)).user;
}

/** updateUser, also saying how many certificates a deactivation revoked. */
export async function updateUserWithOutcome(ctx: RaContext, actor: Actor, input: UpdateUserInput): Promise<{ user: User; revokedCertificates: number }> {
  const userId = requireId(input.id, "id");
  const email = input.email === undefined ? undefined : acceptEmail(input.email);
  const password = input.password === undefined ? undefined : requirePassword(input.password);
  if (input.role !== undefined && !input.role) throw SigilError.invalidArgument("must not be ROLE_UNSPECIFIED", "role");
  const newOrgId = input.organizationId === undefined ? undefined : input.organizationId ? requireId(input.organizationId, "organization_id") : "";
  if ((password !== undefined || email !== undefined) && actor.kind === "user" && actor.id === userId) {
    // a stolen access token alone must not be enough to take the account over: a new password, or a new
    // email (where a reset would go, and whose certificates the user's departure revokes), needs the current one
    const stored = await findUser(ctx.store, userId);
    if (password !== undefined || (stored && email !== stored.email)) {
      if (!input.currentPassword) throw SigilError.invalidArgument(password !== undefined ? CURRENT_PASSWORD_REQUIRED : CURRENT_PASSWORD_REQUIRED_EMAIL, "current_password");
      // review 2 M4: throttled and counted like a login (src/ra/auth.ts)
      await verifyCurrentPassword(ctx, actor, userId, input.currentPassword, input.peer ?? "unknown", CURRENT_PASSWORD_WRONG);
    }
  }
  const passwordHash = password === undefined ? undefined : await hashPassword(ctx, password);
  const selfService =
    input.role === undefined && input.isActive === undefined && newOrgId === undefined && Object.values(input.flags).every((v) => v === undefined);

  return uniqueUser(actor, "email", () =>
    inTransaction(ctx, async (tx) => {
      const now = ctx.clock.now();
      const user = await findUser(tx, userId, { lock: true });
      if (!user) throw notFoundFor(actor, USER_NOT_FOUND);
      checkUserChange(actor, user, { role: input.role, isActive: input.isActive, organizationId: newOrgId, flags: input.flags, selfService });

      const changed: string[] = [];
      let endSessions: "password_change" | "deactivation" | undefined;
      if (email !== undefined && email !== user.email) {
        const holder = await emailHolder(tx, email, user.id);
        if (holder) throw nameConflict(actor, holder, "email");
        user.email = email;
        // SSO links an existing account by email only when an administrator set it (src/ra/oidc/login.ts)
        user.emailSelfAsserted = actor.kind === "user" && actor.id === user.id;
        changed.push("email");
      } else if (email !== undefined && user.emailSelfAsserted && !(actor.kind === "user" && actor.id === user.id)) {
        // an administrator giving the same email confirms it
        user.emailSelfAsserted = false;
        changed.push("email_confirmed");
      }
      if (passwordHash !== undefined) {
        user.passwordHash = passwordHash;
        changed.push("password");
        endSessions = "password_change";
      }
      if (newOrgId !== undefined && newOrgId !== (user.organization?.id ?? "")) {
        if (newOrgId && !(await organizationExists(tx, newOrgId))) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
        setUserOrganization(tx, user, newOrgId || null);
        changed.push("organization");
      }
      if (input.role !== undefined && input.role !== user.role) {
        user.role = input.role;
        changed.push("role");
      }
      if (user.role !== "superuser" && !user.organization) {
        throw SigilError.invalidArgument("required unless role is ROLE_SUPERUSER", "organization_id");
      }
      if (input.isActive !== undefined && input.isActive !== user.isActive) {
        user.isActive = input.isActive;
        changed.push("is_active");
        if (!input.isActive) endSessions = "deactivation";
      }
      changed.push(...applyFlags(user, input.flags));
      let revokedSessions = 0;
      if (endSessions) revokedSessions = await endAllSessions(tx, user, endSessions, now);
      const leaver = endSessions === "deactivation" ? await revokeLeaverCredentials(ctx, tx, actor, user) : undefined;
      const revokedCertificates = leaver?.certificates ?? 0;
      tx.audit(actor, {
        action: "user_update",
        organizationId: user.organization?.id ?? null,
        resourceType: "user",
        resourceId: user.id,
        detail: {
          username: user.username,
          changed,
          ...(endSessions ? { revokedSessions } : {}),
          ...(revokedCertificates ? { revokedCertificates } : {}),
          ...(leaver?.eabKeys ? { revokedEabKeys: leaver.eabKeys } : {}),
          ...(leaver?.liveApiKeys ? { liveApiKeysCreated: leaver.liveApiKeys } : {}),
        },
      });
      return { user, revokedCertificates };
    }),
  );
}

/**
 * Deactivates a user (never deleted), ends its sessions and, when its
 * organization says so, revokes its certificates (revokeLeaverCredentials),
 * all in one transaction. Deactivating an inactive user changes nothing but
 * still revokes what is left (a certificate issued to the email since).
 */
export async function deactivateUser(ctx: RaContext, actor: Actor, id: string): Promise<{ user: User; revokedCertificates: number }> {
  const userId = requireId(id, "id");
  return inTransaction(ctx, async (tx) => {
    const user = await findUser(tx, userId, { lock: true });
    if (!user) throw notFoundFor(actor, USER_NOT_FOUND);
    checkUserChange(actor, user, { isActive: false, flags: {}, selfService: false });
    user.isActive = false;
    const revokedSessions = await endAllSessions(tx, user, "deactivation", ctx.clock.now());
    const leaver = await revokeLeaverCredentials(ctx, tx, actor, user);
    tx.audit(actor, {
      action: "user_deactivate",
      organizationId: user.organization?.id ?? null,
      resourceType: "user",
      resourceId: user.id,
      detail: {
        username: user.username,
        revokedSessions,
        revokedCertificates: leaver.certificates,
        ...(leaver.eabKeys ? { revokedEabKeys: leaver.eabKeys } : {}),
        ...(leaver.liveApiKeys ? { liveApiKeysCreated: leaver.liveApiKeys } : {}),
      },
    });
    return { user, revokedCertificates: leaver.certificates };
  });
}

/**
 * Lifts a login lockout (issue 13 item 6): the account-wide lock and every
 * address's lock of this account; its counted failures are forgotten.
 * Organization admins for their users (not superusers); superusers for all.
 * Audited as "user_unlock".
 */
export async function unlockUser(ctx: RaContext, actor: Actor, id: string): Promise<User> {
  const userId = requireId(id, "id");
  return inTransaction(ctx, async (tx) => {
    const user = await findUser(tx, userId, { lock: true });
    if (!user) throw notFoundFor(actor, USER_NOT_FOUND);
    if (!isSuperuser(actor)) {
      authorize(actor, user.organization?.id ?? null, "admin");
      if (user.role === "superuser") throw SigilError.permissionDenied(ONLY_SUPERUSER_CHANGES_SUPERUSER);
    }
    const wasLockedUntil = user.lockedUntil ?? null;
    user.lockedUntil = null;
    user.failedLoginCount = 0;
    user.failedLoginWindowStart = null;
    const clearedFailures = await clearUserFailures(tx, user.id);
    tx.audit(actor, {
      action: "user_unlock",
      organizationId: user.organization?.id ?? null,
      resourceType: "user",
      resourceId: user.id,
      detail: { username: user.username, clearedFailures, ...(wasLockedUntil ? { wasLockedUntil: wasLockedUntil.toISOString() } : {}) },
    });
    return user;
  });
}
