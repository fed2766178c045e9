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
import { emailTaken, findUser, insertUser, listUsers as listUserRows, setUserOrganization, usernameTaken, type UserFilter } from "../db/store/users.js";
import { authorize, isSuperuser } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import { DEFAULT_BCRYPT_COST, inTransaction, type RaContext } from "./context.js";
import { requireEmail, requireId, requirePassword, requireUsername, uniquely } from "./input.js";
import { ONLY_SUPERUSER_MOVES_USERS, ORGANIZATION_NOT_FOUND, USER_NOT_FOUND, type Page } from "./organizations.js";
import { nextPageToken, type PageRequest } from "./paging.js";
import { endAllSessions } from "./sessions.js";

export const ONLY_SUPERUSER_GRANTS_SUPERUSER = "only a superuser grants the superuser role";
export const ONLY_SUPERUSER_CHANGES_SUPERUSER = "only a superuser changes another superuser";
export const SUPERUSER_CANNOT_DEMOTE_ITSELF = "a superuser cannot demote itself";
export const SUPERUSER_CANNOT_DEACTIVATE_ITSELF = "a superuser cannot deactivate itself";

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
  const username = requireUsername(input.username);
  const email = requireEmail(input.email);
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
  return uniquely("username", "a user with this username or email", () =>
    inTransaction(ctx, async (tx) => {
      if (orgId && !(await organizationExists(tx, orgId))) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
      if (await usernameTaken(tx, username)) throw SigilError.alreadyExists("a user with this username already exists", "username");
      if (await emailTaken(tx, email)) throw SigilError.alreadyExists("a user with this email already exists", "email");
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
    if (!user) throw SigilError.notFound(USER_NOT_FOUND);
    authorize(actor, user.organization?.id ?? null, "read");
  }
  if (!user) throw SigilError.notFound(USER_NOT_FOUND);
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

export async function updateUser(ctx: RaContext, actor: Actor, input: UpdateUserInput): Promise<User> {
  const userId = requireId(input.id, "id");
  const email = input.email === undefined ? undefined : requireEmail(input.email);
  const password = input.password === undefined ? undefined : requirePassword(input.password);
  if (input.role !== undefined && !input.role) throw SigilError.invalidArgument("must not be ROLE_UNSPECIFIED", "role");
  const newOrgId = input.organizationId === undefined ? undefined : input.organizationId ? requireId(input.organizationId, "organization_id") : "";
  const passwordHash = password === undefined ? undefined : await hashPassword(ctx, password);
  const selfService =
    input.role === undefined && input.isActive === undefined && newOrgId === undefined && Object.values(input.flags).every((v) => v === undefined);

  return uniquely("email", "a user with this email", () =>
    inTransaction(ctx, async (tx) => {
      const now = ctx.clock.now();
      const user = await findUser(tx, userId, { lock: true });
      if (!user) throw SigilError.notFound(USER_NOT_FOUND);
      checkUserChange(actor, user, { role: input.role, isActive: input.isActive, organizationId: newOrgId, flags: input.flags, selfService });

      const changed: string[] = [];
      let endSessions: "password_change" | "deactivation" | undefined;
      if (email !== undefined && email !== user.email) {
        if (await emailTaken(tx, email, user.id)) throw SigilError.alreadyExists("a user with this email already exists", "email");
        user.email = email;
        changed.push("email");
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
      tx.audit(actor, {
        action: "user_update",
        organizationId: user.organization?.id ?? null,
        resourceType: "user",
        resourceId: user.id,
        detail: { username: user.username, changed, ...(endSessions ? { revokedSessions } : {}) },
      });
      return user;
    }),
  );
}

/** Deactivates a user (never deleted) and ends its sessions. */
export async function deactivateUser(ctx: RaContext, actor: Actor, id: string): Promise<User> {
  const userId = requireId(id, "id");
  return inTransaction(ctx, async (tx) => {
    const user = await findUser(tx, userId, { lock: true });
    if (!user) throw SigilError.notFound(USER_NOT_FOUND);
    checkUserChange(actor, user, { isActive: false, flags: {}, selfService: false });
    user.isActive = false;
    const revokedSessions = await endAllSessions(tx, user, "deactivation", ctx.clock.now());
    tx.audit(actor, {
      action: "user_deactivate",
      organizationId: user.organization?.id ?? null,
      resourceType: "user",
      resourceId: user.id,
      detail: { username: user.username, revokedSessions },
    });
    return user;
  });
}
