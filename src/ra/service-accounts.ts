/**
 * Organization-scoped service accounts and their API keys. Managing them
 * needs an admin of the organization (or a superuser); members may read
 * them. An API key ("sigil_" + 256 random bits) is returned once and stored
 * as its SHA-256 hash with a short display prefix.
 */
import { SigilError } from "../core/errors.js";
import { uuidv7 } from "../core/ids.js";
import type { ApiKey, ServiceAccount } from "../db/entities/index.js";
import { organizationExists } from "../db/store/organizations.js";
import {
  deleteServiceAccount as deleteServiceAccountRow,
  findApiKey,
  findServiceAccount,
  insertApiKey,
  insertServiceAccount,
  listApiKeys as listApiKeyRows,
  listServiceAccounts as listServiceAccountRows,
  serviceAccountNameTaken,
} from "../db/store/service-accounts.js";
import { deleteServiceAccountPublicKeys } from "../db/store/service-account-keys.js";
import type { Session } from "../db/store/session.js";
import { authorize, isSuperuser } from "../policy/permissions.js";
import { normalizeScopes } from "../policy/scopes.js";
import type { Actor } from "./actor.js";
import { API_KEY_DISPLAY_CHARS, newApiKey } from "./auth.js";
import { inTransaction, type RaContext } from "./context.js";
import { optionalText, requireId, requireName, uniquely } from "./input.js";
import { ORGANIZATION_NOT_FOUND, type Page } from "./organizations.js";
import { nextPageToken, type PageRequest } from "./paging.js";
import { sha256Hex } from "./sessions.js";
import { applyFlags, type CapabilityFlags } from "./users.js";

export const SERVICE_ACCOUNT_NOT_FOUND = "service account not found";
export const API_KEY_NOT_FOUND = "API key not found";

async function loadServiceAccount(s: Session, id: string, lock = false): Promise<ServiceAccount> {
  const sa = await findServiceAccount(s, id, { lock });
  if (!sa) throw SigilError.notFound(SERVICE_ACCOUNT_NOT_FOUND);
  return sa;
}

export async function createServiceAccount(
  ctx: RaContext,
  actor: Actor,
  input: { organizationId: string; name: string; description: string; flags: CapabilityFlags },
): Promise<ServiceAccount> {
  const orgId = requireId(input.organizationId, "organization_id");
  authorize(actor, orgId, "admin");
  const name = requireName(input.name, "name", 128);
  const description = optionalText(input.description, "description");
  return uniquely("name", "a service account with this name in the organization", () =>
    inTransaction(ctx, async (tx) => {
      if (!(await organizationExists(tx, orgId))) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
      if (await serviceAccountNameTaken(tx, orgId, name)) {
        throw SigilError.alreadyExists("a service account with this name already exists in the organization", "name");
      }
      const sa = insertServiceAccount(tx, { id: uuidv7(), organizationId: orgId, name, description });
      const flags = applyFlags(sa, input.flags);
      tx.audit(actor, { action: "service_account_create", organizationId: orgId, resourceType: "service_account", resourceId: sa.id, detail: { name, flags } });
      return sa;
    }),
  );
}

export async function getServiceAccount(ctx: RaContext, actor: Actor, id: string): Promise<ServiceAccount> {
  const saId = requireId(id, "id");
  const sa = await loadServiceAccount(ctx.store, saId);
  authorize(actor, sa.organization.id, "read");
  return sa;
}

export async function listServiceAccounts(ctx: RaContext, actor: Actor, input: { organizationId: string }, page: PageRequest): Promise<Page<ServiceAccount>> {
  let organizationId: string | undefined;
  if (input.organizationId) {
    organizationId = requireId(input.organizationId, "organization_id");
    authorize(actor, organizationId, "read");
  } else if (!isSuperuser(actor)) {
    const own = actor.kind === "system" ? null : actor.organizationId;
    if (!own) return { items: [], nextPageToken: "" };
    organizationId = own;
  }
  const { items, total } = await listServiceAccountRows(ctx.store, { organizationId }, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

export async function updateServiceAccount(
  ctx: RaContext,
  actor: Actor,
  input: { id: string; name?: string; description?: string; isActive?: boolean; flags: CapabilityFlags },
): Promise<ServiceAccount> {
  const saId = requireId(input.id, "id");
  const name = input.name === undefined ? undefined : requireName(input.name, "name", 128);
  const description = input.description === undefined ? undefined : optionalText(input.description, "description");
  return uniquely("name", "a service account with this name in the organization", () =>
    inTransaction(ctx, async (tx) => {
      const sa = await loadServiceAccount(tx, saId, true);
      authorize(actor, sa.organization.id, "admin");
      const changed: string[] = [];
      if (name !== undefined && name !== sa.name) {
        if (await serviceAccountNameTaken(tx, sa.organization.id, name, sa.id)) {
          throw SigilError.alreadyExists("a service account with this name already exists in the organization", "name");
        }
        sa.name = name;
        changed.push("name");
      }
      if (description !== undefined && description !== sa.description) {
        sa.description = description;
        changed.push("description");
      }
      if (input.isActive !== undefined && input.isActive !== sa.isActive) {
        sa.isActive = input.isActive;
        changed.push("is_active");
      }
      changed.push(...applyFlags(sa, input.flags));
      tx.audit(actor, { action: "service_account_update", organizationId: sa.organization.id, resourceType: "service_account", resourceId: sa.id, detail: { name: sa.name, changed } });
      return sa;
    }),
  );
}

/** Deletes a service account; its API keys and public keys go with it (and stop working at once). */
export async function deleteServiceAccount(ctx: RaContext, actor: Actor, id: string): Promise<void> {
  const saId = requireId(id, "id");
  await inTransaction(ctx, async (tx) => {
    const sa = await loadServiceAccount(tx, saId, true);
    authorize(actor, sa.organization.id, "admin");
    const publicKeys = await deleteServiceAccountPublicKeys(tx, sa.id);
    const keys = await deleteServiceAccountRow(tx, sa);
    tx.audit(actor, {
      action: "service_account_delete",
      organizationId: sa.organization.id,
      resourceType: "service_account",
      resourceId: sa.id,
      detail: { name: sa.name, apiKeysRevoked: keys, publicKeysRevoked: publicKeys },
    });
  });
}

/** Creates an API key; the key itself is in the result only (stored hashed). */
export async function createApiKey(
  ctx: RaContext,
  actor: Actor,
  input: { serviceAccountId: string; name: string; expiresAt?: Date; scopes?: readonly string[] },
): Promise<{ apiKey: ApiKey; key: string }> {
  const saId = requireId(input.serviceAccountId, "service_account_id");
  const name = requireName(input.name, "name", 128);
  // issue 13 item 3: no scopes = "*" (the service account's full power)
  const scopes = normalizeScopes(input.scopes ?? []);
  if (input.expiresAt && input.expiresAt.getTime() <= ctx.clock.now().getTime()) {
    throw SigilError.invalidArgument("must be in the future", "expires_at");
  }
  return inTransaction(ctx, async (tx) => {
    const sa = await loadServiceAccount(tx, saId);
    authorize(actor, sa.organization.id, "admin");
    const key = newApiKey();
    const apiKey = insertApiKey(tx, {
      id: uuidv7(),
      serviceAccount: sa,
      name,
      keyPrefix: key.slice(0, API_KEY_DISPLAY_CHARS),
      keyHash: sha256Hex(key),
      createdById: actor.kind === "user" ? actor.id : null,
      createdAt: ctx.clock.now(),
      expiresAt: input.expiresAt ?? null,
      scopes,
    });
    tx.audit(actor, {
      action: "api_key_create",
      organizationId: sa.organization.id,
      resourceType: "api_key",
      resourceId: apiKey.id,
      detail: { serviceAccountId: sa.id, name, keyPrefix: apiKey.keyPrefix, expiresAt: apiKey.expiresAt?.toISOString() ?? null, scopes },
    });
    return { apiKey, key };
  });
}

export async function listApiKeys(
  ctx: RaContext,
  actor: Actor,
  input: { serviceAccountId: string; includeRevoked: boolean },
  page: PageRequest,
): Promise<Page<ApiKey>> {
  const saId = requireId(input.serviceAccountId, "service_account_id");
  const sa = await loadServiceAccount(ctx.store, saId);
  authorize(actor, sa.organization.id, "read");
  const { items, total } = await listApiKeyRows(ctx.store, { serviceAccountId: sa.id, includeRevoked: input.includeRevoked }, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

export async function revokeApiKey(ctx: RaContext, actor: Actor, id: string): Promise<ApiKey> {
  const keyId = requireId(id, "id");
  return inTransaction(ctx, async (tx) => {
    const apiKey = await findApiKey(tx, keyId, { lock: true });
    if (!apiKey) throw SigilError.notFound(API_KEY_NOT_FOUND);
    const sa = await loadServiceAccount(tx, apiKey.serviceAccount.id);
    authorize(actor, sa.organization.id, "admin");
    if (apiKey.revokedAt) throw SigilError.failedPrecondition("the API key is already revoked");
    apiKey.revokedAt = ctx.clock.now();
    tx.audit(actor, {
      action: "api_key_revoke",
      organizationId: sa.organization.id,
      resourceType: "api_key",
      resourceId: apiKey.id,
      detail: { serviceAccountId: sa.id, keyPrefix: apiKey.keyPrefix },
    });
    return apiKey;
  });
}
