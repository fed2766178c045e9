/**
 * Organizations (tenants) and their membership. Every operation runs the
 * permission rule (src/policy/permissions.ts) and writes its audit entry in
 * the same transaction as the change.
 */
import { randomBytes } from "node:crypto";
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
  organizationSlugTaken,
} from "../db/store/organizations.js";
import { isSlug, SLUG_RULE, slugFromName, slugWithIdSuffix } from "../core/slug.js";
import { applySettingsUpdate, DEFAULT_ORGANIZATION_SETTINGS, settingsDiff, settingsOf, storedSettings, type OrganizationSettings, type SettingsUpdate } from "./organization-settings.js";
import { findUser, listUsers, setUserOrganization } from "../db/store/users.js";
import { authorize, isSuperuser } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import { inTransaction, type RaContext, type Tx } from "./context.js";
import { enabledIdentityProviders } from "../db/store/identity-providers.js";
import { optionalText, requireId, requireName, uniquely } from "./input.js";
import { shredOrganizationDataKeys } from "./key-rotation.js";
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

export const ONLY_SUPERUSER_CHANGES_SLUG = "only a superuser changes an organization's slug";

/** A given slug: well-formed (any case accepted, stored lower case). */
function requireSlug(value: string, field = "slug"): string {
  const v = value.trim().toLowerCase();
  if (!isSlug(v)) throw SigilError.invalidArgument(SLUG_RULE, field);
  return v;
}

export async function createOrganization(
  ctx: RaContext,
  actor: Actor,
  input: { name: string; description: string; slug?: string; settings?: SettingsUpdate },
): Promise<Organization> {
  if (!isSuperuser(actor)) throw SigilError.permissionDenied("only a superuser creates organizations");
  const name = requireName(input.name, "name", 128);
  const description = optionalText(input.description, "description");
  const givenSlug = input.slug ? requireSlug(input.slug) : undefined;
  const settings = applySettingsUpdate({ ...DEFAULT_ORGANIZATION_SETTINGS, allowedKeyTypes: [] }, input.settings ?? {});
  await checkLoginMethod(settings);
  const id = uuidv7();
  return uniquely(givenSlug ? "slug" : "name", givenSlug ? "an organization with this name or slug" : "an organization with this name", () =>
    inTransaction(ctx, async (tx) => {
      if (await organizationNameTaken(tx, name)) throw SigilError.alreadyExists("an organization with this name already exists", "name");
      let slug = givenSlug;
      if (slug) {
        if (await organizationSlugTaken(tx, slug)) throw SigilError.alreadyExists("an organization with this slug already exists", "slug");
      } else {
        // derived from the name; a taken one gets the id's last digits (as the migration's backfill)
        slug = slugFromName(name);
        if (await organizationSlugTaken(tx, slug)) {
          // the suffixed slug may be taken too (someone chose it): re-check, then longer suffixes, then random ones
          // (review 2 LOW); a slug taken concurrently still fails on the unique index
          const candidates = [8, 12, 16].map((n) => slugWithIdSuffix(slug!, id, n));
          let free: string | undefined;
          for (const c of candidates) if (!(await organizationSlugTaken(tx, c))) { free = c; break; }
          for (let i = 0; !free && i < 5; i++) {
            const c = slugWithIdSuffix(slug, randomBytes(8).toString("hex"), 16);
            if (!(await organizationSlugTaken(tx, c))) free = c;
          }
          if (!free) throw SigilError.alreadyExists("no free slug derived from this name; give a slug", "slug");
          slug = free;
        }
      }
      const org = insertOrganization(tx, { id, name, description, slug, settings: storedSettings(settings) });
      tx.audit(actor, {
        action: "org_create",
        organizationId: org.id,
        resourceType: "organization",
        resourceId: org.id,
        detail: { name, slug, settings: storedSettings(settings) },
      });
      return org;
    }),
  );
}

/**
 * SSO needs an enabled OpenID Connect provider of the organization
 * (src/ra/oidc/providers.ts): without one "sso" would lock every member
 * out. A new organization has none yet.
 */
async function checkLoginMethod(s: OrganizationSettings, tx?: Tx, organizationId?: string): Promise<void> {
  if (s.requiredLoginMethod !== "sso") return;
  if (tx && organizationId && (await enabledIdentityProviders(tx, organizationId)).length > 0) return;
  throw SigilError.failedPrecondition("settings.required_login_method: SSO needs an enabled identity provider of the organization, and none is configured");
}

/** The organization's settings, defaults filled in (the organization must exist). */
export async function organizationSettings(s: Parameters<typeof findOrganization>[0], organizationId: string): Promise<OrganizationSettings> {
  const org = await findOrganization(s, organizationId);
  if (!org) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
  return settingsOf(org);
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
  input: { id: string; name?: string; description?: string; slug?: string; settings?: SettingsUpdate },
): Promise<Organization> {
  const orgId = requireId(input.id, "id");
  authorize(actor, orgId, "admin");
  const name = input.name === undefined ? undefined : requireName(input.name, "name", 128);
  const description = input.description === undefined ? undefined : optionalText(input.description, "description");
  const slug = input.slug === undefined ? undefined : requireSlug(input.slug);
  return uniquely(slug === undefined ? "name" : "slug", "an organization with this name or slug", () =>
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
      if (slug !== undefined && slug !== org.slug) {
        if (!isSuperuser(actor)) throw SigilError.permissionDenied(ONLY_SUPERUSER_CHANGES_SLUG);
        if (await organizationSlugTaken(tx, slug, orgId)) throw SigilError.alreadyExists("an organization with this slug already exists", "slug");
        changed.slug = { from: org.slug, to: slug };
        org.slug = slug;
      }
      if (input.settings && Object.values(input.settings).some((v) => v !== undefined)) {
        const before = settingsOf(org);
        const after = applySettingsUpdate(before, input.settings);
        if (after.requiredLoginMethod !== before.requiredLoginMethod) await checkLoginMethod(after, tx, orgId);
        const diff = settingsDiff(before, after);
        if (Object.keys(diff).length) {
          // the audit entry carries every changed setting's old and new value
          changed.settings = diff;
          org.settings = storedSettings(after);
        }
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
    if (left.length) throw SigilError.failedPrecondition(`the organization still has ${left.join(", ")}`, { type: "ORGANIZATION_NOT_EMPTY", subject: `organizations/${org.id}` });
    // crypto-shredding (docs/key-custody.md): the organization's data keys are destroyed with it
    const shredded = await shredOrganizationDataKeys(ctx, tx, org.id);
    tx.audit(actor, { action: "org_delete", organizationId: org.id, resourceType: "organization", resourceId: org.id, detail: { name: org.name, dataKeysDestroyed: shredded.length } });
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
