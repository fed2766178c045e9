/**
 * ACME through the admin plane: directories (an organization's RFC 8555
 * endpoint bound to one issuing CA, with its policy), their External Account
 * Binding keys (RFC 8555 §7.3.4), and the accounts and orders created through
 * them.
 *
 * Permissions: a directory's policy, its EAB keys and its accounts are
 * organization configuration, so every write here needs an organization
 * admin ("admin" in src/policy/permissions.ts); members of the organization
 * may read. Creation of directories and EAB keys and account deactivation go
 * through the ACME module's own functions (src/ra/acme/), after the caller
 * is authorized here; the policy rules are src/policy/directory-policy.ts.
 */
import { SigilError } from "../core/errors.js";
import type { AcmeAccountStatus, AcmeChallengeType, AcmeOrderStatus } from "../core/types.js";
import type { AcmeAccount, AcmeDirectory, AcmeEabKey, AcmeOrder } from "../db/entities/index.js";
import { countDirectoryAccounts, getAccountEntity, listAccountEntities, lockAccount } from "../db/store/acme-accounts.js";
import { listOrderEntities } from "../db/store/acme-orders.js";
import { changeDirectory, deleteDirectory, findIssuingCaCandidates, getDirectoryEntity, listDirectoryEntities } from "../db/store/acme-directories.js";
import { getEabKeyEntity, listEabKeyEntities, markEabKeyRevoked } from "../db/store/acme-eab-keys.js";
import type { Session } from "../db/store/session.js";
import { checkCaaSettings, checkDirectoryName, checkDirectoryPolicyPatch } from "../policy/directory-policy.js";
import { authorize } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import { createDirectory as acmeCreateDirectory, createEabKey as acmeCreateEabKey } from "./acme/directories.js";
import { deactivateAccountInTx } from "./acme/accounts.js";
import { changeDefaultProfile } from "./acme/profiles.js";
import { checkDirectoryRateLimitsInput, type DirectoryRateLimitInput } from "./acme/rate-limits.js";
import { setDirectoryRateLimits } from "../db/store/rate-limits.js";
import { visibleOrganization, type Page } from "./certificate-authorities.js";
import { inTransaction, type RaContext } from "./context.js";
import { optionalId, requireId } from "./input.js";
import { nextPageToken, parsePage } from "./paging.js";

/** The absolute directory URL (RFC 8555 §7.1.1). */
export function directoryUrl(ctx: Pick<RaContext, "publicUrl" | "acmeUrl">, name: string): string {
  return `${ctx.acmeUrl ?? ctx.publicUrl}/acme/${encodeURIComponent(name)}/directory`;
}

/** The CA a directory issues from: same organization, active, unexpired, allowed to issue leaves. */
async function checkIssuingCa(ctx: RaContext, s: Session, caId: string, organizationId: string): Promise<void> {
  const [ca] = await findIssuingCaCandidates(s, { id: caId }, organizationId);
  if (!ca) throw SigilError.notFound("certificate authority not found in this organization");
  const status = ca.status === "active" && ca.notAfter <= ctx.clock.now() ? "expired" : ca.status;
  if (status !== "active") throw SigilError.failedPrecondition(`the CA is ${status}`);
  if (!ca.allowLeafCerts) throw SigilError.failedPrecondition("the CA does not issue leaf certificates (allow_leaf_certs is false)");
}

// ---------------------------------------------------------------------------
// directories

export interface DirectoryPolicyInput {
  eabRequired: boolean;
  allowedDnsSuffixes: string[];
  allowedIpRanges: string[];
  challengeTypes: AcmeChallengeType[];
  maxValidityDays: number;
  certificateKind: string;
  termsOfServiceUrl: string;
  websiteUrl: string;
  caaIdentities: string[];
  validationAllowedNetworks: string[];
  /** RFC 8659 CAA checking (default off) */
  caaEnabled?: boolean;
  /** rate-limit entries over SIGIL_RATE_LIMITS (src/ra/acme/rate-limits.ts); absent or empty: the server's */
  rateLimits?: DirectoryRateLimitInput[];
  /** draft-ietf-acme-profiles-00: classic (default) or a preset added with it as the default (ra/acme/profiles.ts) */
  defaultProfile?: string;
}

export interface CreateAcmeDirectoryInput extends DirectoryPolicyInput {
  name: string;
  organizationId: string;
  caId: string;
}

/** Creates a directory served at /acme/{name}/directory. Organization admins only. */
export async function createAcmeDirectory(ctx: RaContext, actor: Actor, input: CreateAcmeDirectoryInput): Promise<AcmeDirectory> {
  const organizationId = requireId(input.organizationId, "organization_id");
  authorize(actor, organizationId, "admin");
  checkDirectoryName(input.name);
  const caId = requireId(input.caId, "ca_id");
  // the policy is checked by createDirectory (the one set of rules for every entry point)
  return acmeCreateDirectory(ctx, actor, {
    name: input.name,
    ca: caId,
    organization: organizationId,
    eabRequired: input.eabRequired,
    allowedDnsSuffixes: input.allowedDnsSuffixes,
    allowedIpRanges: input.allowedIpRanges,
    challengeTypes: input.challengeTypes,
    maxValidityDays: input.maxValidityDays,
    certificateKind: input.certificateKind,
    termsOfServiceUrl: input.termsOfServiceUrl,
    websiteUrl: input.websiteUrl,
    caaIdentities: input.caaIdentities,
    validationAllowedNetworks: input.validationAllowedNetworks,
    caaEnabled: input.caaEnabled,
    rateLimits: input.rateLimits && checkDirectoryRateLimitsInput(input.rateLimits),
    defaultProfile: input.defaultProfile || undefined,
  });
}

async function loadDirectory(s: Session, id: string, lock = false): Promise<AcmeDirectory> {
  const dir = await getDirectoryEntity(s, requireId(id, "id"), { lock });
  if (!dir) throw SigilError.notFound("ACME directory not found");
  return dir;
}

export async function getAcmeDirectory(ctx: RaContext, actor: Actor, id: string): Promise<AcmeDirectory> {
  const dir = await loadDirectory(ctx.store, id);
  authorize(actor, dir.organization.id, "read");
  return dir;
}

export async function listAcmeDirectories(
  ctx: RaContext,
  actor: Actor,
  req: { organizationId?: string; caId?: string; pageSize: number; pageToken: string },
): Promise<Page<AcmeDirectory>> {
  const page = parsePage(req.pageSize, req.pageToken);
  const org = visibleOrganization(actor, req.organizationId);
  if (org === "none") return { items: [], nextPageToken: "" };
  let caId: string | undefined;
  if (req.caId) {
    const [ca] = await findIssuingCaCandidates(ctx.store, { id: requireId(req.caId, "ca_id") }, null);
    if (!ca) throw SigilError.notFound("certificate authority not found");
    authorize(actor, ca.organizationId, "read");
    caId = ca.id;
  }
  const { items, total } = await listDirectoryEntities(ctx.store, { organizationId: org ?? undefined, caId }, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** Absent fields stay unchanged; lists are replaced as a whole. */
export interface UpdateAcmeDirectoryInput {
  caId?: string;
  eabRequired?: boolean;
  allowedDnsSuffixes?: string[];
  allowedIpRanges?: string[];
  challengeTypes?: AcmeChallengeType[];
  maxValidityDays?: number;
  certificateKind?: string;
  termsOfServiceUrl?: string;
  websiteUrl?: string;
  caaIdentities?: string[];
  validationAllowedNetworks?: string[];
  caaEnabled?: boolean;
  /** replaces the directory's rate-limit entries as a whole (empty: the server's limits) */
  rateLimits?: DirectoryRateLimitInput[];
  /** draft-ietf-acme-profiles-00: one of the directory's profiles becomes its default */
  defaultProfile?: string;
}

/**
 * Changes the CA binding or the policy. New orders see the change at once
 * (the ACME front end caches a directory for a few seconds); existing orders
 * and authorizations keep what they were created with.
 */
export async function updateAcmeDirectory(ctx: RaContext, actor: Actor, id: string, input: UpdateAcmeDirectoryInput): Promise<AcmeDirectory> {
  const { caId, rateLimits: rateLimitsInput, defaultProfile, ...policyInput } = input;
  const patch = checkDirectoryPolicyPatch(policyInput);
  const rateLimits = rateLimitsInput && checkDirectoryRateLimitsInput(rateLimitsInput);
  const newCaId = caId !== undefined ? requireId(caId, "ca_id") : undefined;
  return inTransaction(ctx, async (tx) => {
    const dir = await loadDirectory(tx, id, true);
    authorize(actor, dir.organization.id, "admin");
    if (newCaId !== undefined && newCaId !== dir.ca.id) await checkIssuingCa(ctx, tx, newCaId, dir.organization.id);
    const changed = changeDirectory(tx, dir, { ...patch, caId: newCaId });
    if (rateLimits && setDirectoryRateLimits(dir, rateLimits)) changed.rateLimits = rateLimits;
    if (defaultProfile !== undefined && (await changeDefaultProfile(tx, dir, defaultProfile))) changed.defaultProfile = defaultProfile;
    // CAA on needs issuer domain names, whichever of the two this update changed (rolled back when refused)
    checkCaaSettings(dir.caaEnabled, dir.caaIdentities);
    tx.audit(actor, {
      action: "acme_directory_update",
      organizationId: dir.organization.id,
      resourceType: "acme_directory",
      resourceId: dir.id,
      detail: { name: dir.name, changed },
    });
    return dir;
  });
}

/**
 * Deletes a directory. Its accounts, their orders, authorizations and
 * challenges, and its EAB keys go with it (ON DELETE CASCADE); certificates
 * already issued through it stay (they belong to the CA).
 */
export async function deleteAcmeDirectory(ctx: RaContext, actor: Actor, id: string): Promise<void> {
  await inTransaction(ctx, async (tx) => {
    const dir = await loadDirectory(tx, id, true);
    authorize(actor, dir.organization.id, "admin");
    const accounts = await countDirectoryAccounts(tx, dir.id);
    tx.audit(actor, {
      action: "acme_directory_delete",
      organizationId: dir.organization.id,
      resourceType: "acme_directory",
      resourceId: dir.id,
      detail: { name: dir.name, caId: dir.ca.id, accounts },
    });
    await deleteDirectory(tx, dir);
  });
}

// ---------------------------------------------------------------------------
// EAB keys

/**
 * A new EAB key for a directory (RFC 8555 §7.3.4): the kid and the HMAC key
 * (base64url, returned only here). The HMAC key is stored encrypted under the
 * master key, bound to the key's id. Organization admins only.
 */
export async function createAcmeEabKey(
  ctx: RaContext,
  actor: Actor,
  input: { directoryId: string; description: string },
): Promise<{ key: AcmeEabKey; hmacKey: string }> {
  if (input.description.length > 1024) throw SigilError.invalidArgument("at most 1024 characters", "description");
  const dir = await loadDirectory(ctx.store, requireId(input.directoryId, "directory_id"));
  authorize(actor, dir.organization.id, "admin");
  const created = await acmeCreateEabKey(ctx, actor, { directory: dir.name, description: input.description });
  const key = await getEabKeyEntity(ctx.store, created.kid);
  if (!key) throw SigilError.internal("the EAB key just created cannot be read");
  return { key, hmacKey: created.hmacKey };
}

/**
 * The filter of a list of directory-owned rows (EAB keys, accounts): the
 * caller's visible organizations, narrowed to one directory the caller may
 * read when `directoryId` is given; null when the caller sees nothing.
 */
async function directoryScopedFilter(
  s: Session,
  actor: Actor,
  req: { directoryId?: string; organizationId?: string },
): Promise<{ organizationId?: string; directoryId?: string } | null> {
  const org = visibleOrganization(actor, req.organizationId);
  if (org === "none") return null;
  const where: { organizationId?: string; directoryId?: string } = {};
  if (org) where.organizationId = org;
  const dirId = optionalId(req.directoryId, "directory_id");
  if (dirId) {
    const dir = await loadDirectory(s, dirId);
    authorize(actor, dir.organization.id, "read");
    where.directoryId = dir.id;
  }
  return where;
}

export async function listAcmeEabKeys(
  ctx: RaContext,
  actor: Actor,
  req: { directoryId?: string; organizationId?: string; includeRevoked: boolean; pageSize: number; pageToken: string },
): Promise<Page<AcmeEabKey>> {
  const page = parsePage(req.pageSize, req.pageToken);
  const where = await directoryScopedFilter(ctx.store, actor, req);
  if (!where) return { items: [], nextPageToken: "" };
  const { items, total } = await listEabKeyEntities(ctx.store, { ...where, includeRevoked: req.includeRevoked }, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** Revokes an EAB key: it binds no new account. Accounts it already bound are unaffected. */
export async function revokeAcmeEabKey(ctx: RaContext, actor: Actor, id: string): Promise<AcmeEabKey> {
  const keyId = requireId(id, "id");
  return inTransaction(ctx, async (tx) => {
    const key = await getEabKeyEntity(tx, keyId, { lock: true });
    if (!key) throw SigilError.notFound("EAB key not found");
    authorize(actor, key.organization.id, "admin");
    if (key.revokedAt) throw SigilError.failedPrecondition("the EAB key is already revoked");
    markEabKeyRevoked(key, ctx.clock.now());
    tx.audit(actor, {
      action: "eab_revoke",
      organizationId: key.organization.id,
      resourceType: "acme_eab_key",
      resourceId: key.id,
      detail: { directoryId: key.directory.id, used: key.usedAt != null },
    });
    return key;
  });
}

// ---------------------------------------------------------------------------
// accounts and orders

export async function listAcmeAccounts(
  ctx: RaContext,
  actor: Actor,
  req: { directoryId?: string; organizationId?: string; status?: AcmeAccountStatus; pageSize: number; pageToken: string },
): Promise<Page<AcmeAccount>> {
  const page = parsePage(req.pageSize, req.pageToken);
  const where = await directoryScopedFilter(ctx.store, actor, req);
  if (!where) return { items: [], nextPageToken: "" };
  const { items, total } = await listAccountEntities(ctx.store, { ...where, status: req.status }, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/**
 * Deactivates an account (RFC 8555 §7.3.6, done by the operator): the server
 * then refuses every request signed by its key, and the account's pending
 * and valid authorizations are deactivated, exactly as when the client
 * deactivates itself (one rule: deactivateAccountInTx). Organization admins
 * only.
 */
export async function deactivateAcmeAccount(ctx: RaContext, actor: Actor, id: string): Promise<AcmeAccount> {
  const accountId = requireId(id, "id");
  await inTransaction(ctx, async (tx) => {
    const account = await lockAccount(tx, accountId);
    if (!account) throw SigilError.notFound("ACME account not found");
    authorize(actor, account.organizationId, "admin");
    if (account.status !== "valid") throw SigilError.failedPrecondition(`the account is ${account.status}`);
    await deactivateAccountInTx(tx, ctx, actor, account, "operator");
  });
  const after = await getAccountEntity(ctx.store, accountId);
  if (!after) throw SigilError.notFound("ACME account not found");
  return after;
}

export async function listAcmeOrders(
  ctx: RaContext,
  actor: Actor,
  req: { directoryId?: string; accountId?: string; status?: AcmeOrderStatus; pageSize: number; pageToken: string },
): Promise<Page<AcmeOrder>> {
  const page = parsePage(req.pageSize, req.pageToken);
  const dirId = optionalId(req.directoryId, "directory_id");
  const accountId = optionalId(req.accountId, "account_id");
  const where: { directoryId?: string; accountId?: string; organizationId?: string; status?: AcmeOrderStatus } = { status: req.status };
  if (dirId) {
    const dir = await loadDirectory(ctx.store, dirId);
    authorize(actor, dir.organization.id, "read");
    where.directoryId = dir.id;
  }
  if (accountId) {
    const account = await getAccountEntity(ctx.store, accountId);
    if (!account) throw SigilError.notFound("ACME account not found");
    authorize(actor, account.organization.id, "read");
    where.accountId = account.id;
  }
  if (!dirId && !accountId) {
    const org = visibleOrganization(actor, undefined);
    if (org === "none") return { items: [], nextPageToken: "" };
    if (org) where.organizationId = org;
  }
  const { items, total } = await listOrderEntities(ctx.store, where, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}
