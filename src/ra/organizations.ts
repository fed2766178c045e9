/**
 * Organizations (tenants) and their membership. Every operation runs the
 * permission rule (src/policy/permissions.ts) and writes its audit entry in
 * the same transaction as the change.
 */
import { LockMode } from "@mikro-orm/core";
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import {
  AcmeAccount,
  AcmeDirectory,
  AcmeEabKey,
  Certificate,
  CertificateAuthority,
  Organization,
  ServiceAccount,
  User,
} from "../db/entities/index.js";
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
      if (await tx.em.count(Organization, { name })) throw SigilError.alreadyExists("an organization with this name already exists", "name");
      const org = tx.em.create(Organization, { id: uuidv7(), name, description } as Organization);
      tx.audit(actor, { action: "org_create", organizationId: org.id, resourceType: "organization", resourceId: org.id, detail: { name } });
      return org;
    }),
  );
}

export async function getOrganization(ctx: RaContext, actor: Actor, id: string): Promise<Organization> {
  const orgId = requireId(id, "id");
  authorize(actor, orgId, "read");
  const org = await ctx.orm.em.fork().findOne(Organization, { id: orgId });
  if (!org) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
  return org;
}

/** All organizations for a superuser; the caller's own otherwise. Ordered by name. */
export async function listOrganizations(ctx: RaContext, actor: Actor, page: PageRequest): Promise<Page<Organization>> {
  const em = ctx.orm.em.fork();
  let where: Record<string, unknown> = {};
  if (!isSuperuser(actor)) {
    const own = actor.kind === "system" ? null : actor.organizationId;
    if (!own) return { items: [], nextPageToken: "" };
    where = { id: own };
  }
  const [items, total] = await em.findAndCount(Organization, where, { orderBy: { name: "asc", id: "asc" }, offset: page.offset, limit: page.limit });
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
      const org = await tx.em.findOne(Organization, { id: orgId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!org) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
      const changed: Record<string, unknown> = {};
      if (name !== undefined && name !== org.name) {
        if (await tx.em.count(Organization, { name, id: { $ne: orgId } })) {
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
    const org = await tx.em.findOne(Organization, { id: orgId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!org) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
    const owned: Array<[string, number]> = [
      ["users", await tx.em.count(User, { organization: orgId })],
      ["certificate authorities", await tx.em.count(CertificateAuthority, { organization: orgId })],
      ["certificates", await tx.em.count(Certificate, { organization: orgId })],
      ["ACME directories", await tx.em.count(AcmeDirectory, { organization: orgId })],
      ["ACME accounts", await tx.em.count(AcmeAccount, { organization: orgId })],
      ["EAB keys", await tx.em.count(AcmeEabKey, { organization: orgId })],
      ["service accounts", await tx.em.count(ServiceAccount, { organization: orgId })],
    ];
    const left = owned.filter(([, n]) => n > 0).map(([what, n]) => `${n} ${what}`);
    if (left.length) throw SigilError.failedPrecondition(`the organization still has ${left.join(", ")}`);
    tx.audit(actor, { action: "org_delete", organizationId: org.id, resourceType: "organization", resourceId: org.id, detail: { name: org.name } });
    tx.em.remove(org);
  });
}

/** Puts an existing user into the organization (superuser only: it moves the user between organizations). */
export async function addOrganizationUser(ctx: RaContext, actor: Actor, input: { organizationId: string; userId: string }): Promise<User> {
  const orgId = requireId(input.organizationId, "organization_id");
  const userId = requireId(input.userId, "user_id");
  requireSuperuserFor(actor, orgId, ONLY_SUPERUSER_MOVES_USERS);
  return inTransaction(ctx, async (tx) => {
    const org = await tx.em.findOne(Organization, { id: orgId });
    if (!org) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
    const user = await tx.em.findOne(User, { id: userId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!user) throw SigilError.notFound(USER_NOT_FOUND);
    const from = user.organization?.id ?? null;
    user.organization = org;
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
    const user = await tx.em.findOne(User, { id: userId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!user || user.organization?.id !== orgId) throw SigilError.notFound("user not found in this organization");
    user.organization = null;
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
  const em = ctx.orm.em.fork();
  if (!(await em.count(Organization, { id: orgId }))) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
  const [items, total] = await em.findAndCount(User, { organization: orgId }, { orderBy: { username: "asc" }, offset: page.offset, limit: page.limit });
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}
