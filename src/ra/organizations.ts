/**
 * Organizations (tenants) and their membership. Every operation runs the
 * permission rule (src/policy/permissions.ts) and writes its audit entry in
 * the same transaction as the change.
 */
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import type { Organization, User } from "../db/entities/index.js";
import {
  deleteOrganization as deleteOrganizationRow,
  findOrganization,
  insertOrganization,
  listOrganizations as listOrganizationRows,
  organizationExists,
  organizationHoldings,
  organizationNameTaken,
} from "../db/store/organizations.js";
import { findUser, listUsers, setUserOrganization } from "../db/store/users.js";
import { authorize, isSuperuser } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import { inTransaction, type RaContext } from "./context.js";
import { optionalText, requireId, requireName, uniquely } from "./input.js";
import { nextPageToken, type PageRequest } from "./paging.js";

export const ORGANIZATION_NOT_FOUND = "organization not found";
export const USER_NOT_FOUND = "user not found";
export const ONLY_SUPERUSER_MOVES_USERS = "only a superuser moves users between organizations";

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** Superuser only: members of the organization get PERMISSION_DENIED, everyone else NOT_FOUND. */
export function requireSuperuserFor(actor: Actor, organizationId: string | null, message = "only a superuser may do this"): void {
  if (isSuperuser(actor)) return;
  authorize(actor, organizationId, "read");
  throw SigilError.permissionDenied(message);
}

export async function createOrganization(ctx: RaContext, actor: Actor, input: { name: string; description: string }): Promise<Organization> {
  if (!isSuperuser(actor)) throw SigilError.permissionDenied("only a superuser creates organizations");
  const name = requireName(input.name, "name", 128);
  const description = optionalText(input.description, "description");
  return uniquely("name", "an organization with this name", () =>
    inTransaction(ctx, async (tx) => {
      if (await organizationNameTaken(tx, name)) throw SigilError.alreadyExists("an organization with this name already exists", "name");
      const org = insertOrganization(tx, { id: uuidv7(), name, description });
      tx.audit(actor, { action: "org_create", organizationId: org.id, resourceType: "organization", resourceId: org.id, detail: { name } });
      return org;
    }),
  );
}

export async function getOrganization(ctx: RaContext, actor: Actor, id: string): Promise<Organization> {
  const orgId = requireId(id, "id");
  authorize(actor, orgId, "read");
  const org = await findOrganization(ctx.store, orgId);
  if (!org) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
  return org;
}

/** All organizations for a superuser; the caller's own otherwise. Ordered by name. */
export async function listOrganizations(ctx: RaContext, actor: Actor, page: PageRequest): Promise<Page<Organization>> {
  let id: string | undefined;
  if (!isSuperuser(actor)) {
    const own = actor.kind === "system" ? null : actor.organizationId;
    if (!own) return { items: [], nextPageToken: "" };
    id = own;
  }
  const { items, total } = await listOrganizationRows(ctx.store, { id }, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

export async function updateOrganization(
  ctx: RaContext,
  actor: Actor,
  input: { id: string; name?: string; description?: string },
): Promise<Organization> {
  const orgId = requireId(input.id, "id");
  authorize(actor, orgId, "admin");
  const name = input.name === undefined ? undefined : requireName(input.name, "name", 128);
  const description = input.description === undefined ? undefined : optionalText(input.description, "description");
  return uniquely("name", "an organization with this name", () =>
    inTransaction(ctx, async (tx) => {
      const org = await findOrganization(tx, orgId, { lock: true });
      if (!org) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
      const changed: Record<string, unknown> = {};
      if (name !== undefined && name !== org.name) {
        if (await organizationNameTaken(tx, name, orgId)) {
          throw SigilError.alreadyExists("an organization with this name already exists", "name");
        }
        changed.name = { from: org.name, to: name };
        org.name = name;
      }
      if (description !== undefined && description !== org.description) {
        changed.description = true;
        org.description = description;
      }
      tx.audit(actor, { action: "org_update", organizationId: org.id, resourceType: "organization", resourceId: org.id, detail: { changed } });
      return org;
    }),
  );
}

/**
 * Deletes an organization. Superuser only. Refused (FAILED_PRECONDITION)
 * while anything still belongs to it: users (also deactivated ones), CAs,
 * certificates, ACME directories, accounts and EAB keys, service accounts.
 */
export async function deleteOrganization(ctx: RaContext, actor: Actor, id: string): Promise<void> {
  const orgId = requireId(id, "id");
  requireSuperuserFor(actor, orgId, "only a superuser deletes organizations");
  await inTransaction(ctx, async (tx) => {
    const org = await findOrganization(tx, orgId, { lock: true });
    if (!org) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
    const held = await organizationHoldings(tx, orgId);
    const owned: Array<[string, number]> = [
      ["users", held.users],
      ["certificate authorities", held.certificateAuthorities],
      ["certificates", held.certificates],
      ["ACME directories", held.acmeDirectories],
      ["ACME accounts", held.acmeAccounts],
      ["EAB keys", held.acmeEabKeys],
      ["service accounts", held.serviceAccounts],
    ];
    const left = owned.filter(([, n]) => n > 0).map(([what, n]) => `${n} ${what}`);
    if (left.length) throw SigilError.failedPrecondition(`the organization still has ${left.join(", ")}`);
    tx.audit(actor, { action: "org_delete", organizationId: org.id, resourceType: "organization", resourceId: org.id, detail: { name: org.name } });
    deleteOrganizationRow(tx, org);
  });
}

/** Puts an existing user into the organization (superuser only: it moves the user between organizations). */
export async function addOrganizationUser(ctx: RaContext, actor: Actor, input: { organizationId: string; userId: string }): Promise<User> {
  const orgId = requireId(input.organizationId, "organization_id");
  const userId = requireId(input.userId, "user_id");
  requireSuperuserFor(actor, orgId, ONLY_SUPERUSER_MOVES_USERS);
  return inTransaction(ctx, async (tx) => {
    if (!(await organizationExists(tx, orgId))) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
    const user = await findUser(tx, userId, { lock: true });
    if (!user) throw SigilError.notFound(USER_NOT_FOUND);
    const from = user.organization?.id ?? null;
    setUserOrganization(tx, user, orgId);
    tx.audit(actor, { action: "org_add_user", organizationId: orgId, resourceType: "user", resourceId: user.id, detail: { username: user.username, from } });
    return user;
  });
}

/** Takes a user out of the organization (superuser only); the user is left without one. */
export async function removeOrganizationUser(ctx: RaContext, actor: Actor, input: { organizationId: string; userId: string }): Promise<User> {
  const orgId = requireId(input.organizationId, "organization_id");
  const userId = requireId(input.userId, "user_id");
  requireSuperuserFor(actor, orgId, ONLY_SUPERUSER_MOVES_USERS);
  return inTransaction(ctx, async (tx) => {
    const user = await findUser(tx, userId, { lock: true });
    if (!user || user.organization?.id !== orgId) throw SigilError.notFound("user not found in this organization");
    setUserOrganization(tx, user, null);
    tx.audit(actor, { action: "org_remove_user", organizationId: orgId, resourceType: "user", resourceId: user.id, detail: { username: user.username } });
    return user;
  });
}

export async function listOrganizationUsers(
  ctx: RaContext,
  actor: Actor,
  input: { organizationId: string },
  page: PageRequest,
): Promise<Page<User>> {
  const orgId = requireId(input.organizationId, "organization_id");
  authorize(actor, orgId, "read");
  if (!(await organizationExists(ctx.store, orgId))) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
  const { items, total } = await listUsers(ctx.store, { organizationId: orgId }, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}
