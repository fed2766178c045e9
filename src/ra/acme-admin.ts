/**
 * ACME through the admin plane: directories (an organization's RFC 8555
 * endpoint bound to one issuing CA, with its policy), their External Account
 * Binding keys (RFC 8555 §7.3.4), and the accounts and orders created through
 * them.
 *
 * Permissions: a directory's policy, its EAB keys and its accounts are
 * organization configuration, so every write here needs an organization
 * admin ("admin" in src/policy/permissions.ts); members of the organization
 * may read. Creation of directories and EAB keys goes through the ACME
 * module's own functions (src/ra/acme/directories.ts), after the policy is
 * validated and the caller authorized here.
 */
import { LockMode } from "@mikro-orm/core";
import type { EntityManager } from "@mikro-orm/postgresql";
import { SigilError } from "../core/errors.js";
import type { AcmeAccountStatus, AcmeChallengeType, AcmeOrderStatus } from "../core/types.js";
import { AcmeAccount, AcmeDirectory, AcmeEabKey, AcmeOrder, CertificateAuthority, Organization } from "../db/entities/index.js";
import type { AcmeCertificateKind } from "../db/entities/acme.js";
import { parseCidr } from "../policy/identifiers.js";
import { authorize } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import { effectiveCaStatus, visibleOrganization, type Page } from "./certificate-authorities.js";
import { inTransaction, type RaContext } from "./context.js";
import { optionalId, requireId } from "./input.js";
import { nextPageToken, parsePage } from "./paging.js";
import { createDirectory as acmeCreateDirectory, createEabKey as acmeCreateEabKey } from "./acme/directories.js";

export const ACME_CHALLENGE_TYPES: readonly AcmeChallengeType[] = ["http-01", "dns-01", "tls-alpn-01"];
/** max_validity_days when a directory is created with 0 */
export const DEFAULT_ACME_MAX_VALIDITY_DAYS = 90;
export const MAX_ACME_VALIDITY_DAYS = 3650;
const DIRECTORY_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_POLICY_ENTRIES = 256;

/** The absolute directory URL (RFC 8555 §7.1.1). */
export function directoryUrl(ctx: RaContext, name: string): string {
  return `${ctx.publicUrl}/acme/${encodeURIComponent(name)}/directory`;
}

// ---------------------------------------------------------------------------
// policy validation

function checkList(values: string[], field: string): void {
  if (values.length > MAX_POLICY_ENTRIES) throw SigilError.invalidArgument(`at most ${MAX_POLICY_ENTRIES} entries`, field);
}

/** DNS suffixes: lower-cased, a leading "*." or "." dropped; one or more LDH labels (RFC 1035 §2.3.1). */
export function checkDnsSuffixes(values: string[], field = "allowed_dns_suffixes"): string[] {
  checkList(values, field);
  const out = values.map((raw) => {
    const v = raw.trim().toLowerCase().replace(/^\*?\./, "").replace(/\.$/, "");
    if (!v || v.length > 253 || !v.split(".").every((l) => LABEL.test(l))) {
      throw SigilError.invalidArgument(`"${raw}" is not a DNS name or suffix`, field);
    }
    return v;
  });
  return [...new Set(out)];
}

/** CIDR ranges (a bare address is a /32 or /128). */
export function checkIpRanges(values: string[], field = "allowed_ip_ranges"): string[] {
  checkList(values, field);
  const out = values.map((raw) => {
    const v = raw.trim();
    if (!parseCidr(v)) throw SigilError.invalidArgument(`"${raw}" is not an IP range in CIDR notation`, field);
    return v;
  });
  return [...new Set(out)];
}

/** Challenge types (RFC 8555 §8, RFC 8737); empty means all. */
export function checkChallengeTypes(values: AcmeChallengeType[]): AcmeChallengeType[] {
  if (values.length === 0) return [...ACME_CHALLENGE_TYPES];
  for (const v of values) if (!ACME_CHALLENGE_TYPES.includes(v)) throw SigilError.invalidArgument(`unknown challenge type ${String(v)}`, "challenge_types");
  return [...new Set(values)];
}

export function checkMaxValidityDays(days: number): number {
  if (days === 0) return DEFAULT_ACME_MAX_VALIDITY_DAYS;
  if (!Number.isInteger(days) || days < 1 || days > MAX_ACME_VALIDITY_DAYS) {
    throw SigilError.invalidArgument(`1 to ${MAX_ACME_VALIDITY_DAYS} (0 for ${DEFAULT_ACME_MAX_VALIDITY_DAYS})`, "max_validity_days");
  }
  return days;
}

function checkKind(kind: string): AcmeCertificateKind {
  if (kind === "server" || kind === "client" || kind === "dual") return kind;
  throw SigilError.invalidArgument("server, client or dual", "certificate_kind");
}

/** meta.termsOfService / meta.website (RFC 8555 §7.1.1): an absolute http(s) URL, or "" to omit. */
export function checkMetaUrl(value: string, field: string): string | null {
  const v = value.trim();
  if (!v) return null;
  let ok = false;
  try {
    ok = ["http:", "https:"].includes(new URL(v).protocol) && v.length <= 512;
  } catch {
    ok = false;
  }
  if (!ok) throw SigilError.invalidArgument("must be an absolute http(s) URL (at most 512 characters)", field);
  return v;
}

/** meta.caaIdentities: issuer domain names (RFC 8659 §4.2, RFC 8555 §7.1.1). */
export function checkCaaIdentities(values: string[]): string[] {
  return checkDnsSuffixes(values, "caa_identities");
}

/** The CA a directory issues from: same organization, active, unexpired, allowed to issue leaves. */
async function checkIssuingCa(ctx: RaContext, em: EntityManager, caId: string, organizationId: string): Promise<CertificateAuthority> {
  const ca = await em.findOne(CertificateAuthority, { id: caId, deletedAt: null });
  if (!ca || ca.organization.id !== organizationId) throw SigilError.notFound("certificate authority not found in this organization");
  const status = effectiveCaStatus(ca, ctx.clock.now());
  if (status !== "active") throw SigilError.failedPrecondition(`the CA is ${status}`);
  if (!ca.allowLeafCerts) throw SigilError.failedPrecondition("the CA does not issue leaf certificates (allow_leaf_certs is false)");
  return ca;
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
  if (!DIRECTORY_NAME.test(input.name)) {
    throw SigilError.invalidArgument("lower-case letters, digits, '.', '_' and '-', starting with a letter or digit (at most 64)", "name");
  }
  const caId = requireId(input.caId, "ca_id");
  const policy = {
    eabRequired: input.eabRequired,
    allowedDnsSuffixes: checkDnsSuffixes(input.allowedDnsSuffixes),
    allowedIpRanges: checkIpRanges(input.allowedIpRanges),
    challengeTypes: checkChallengeTypes(input.challengeTypes),
    maxValidityDays: checkMaxValidityDays(input.maxValidityDays),
    certificateKind: checkKind(input.certificateKind),
    termsOfServiceUrl: checkMetaUrl(input.termsOfServiceUrl, "terms_of_service_url") ?? undefined,
    websiteUrl: checkMetaUrl(input.websiteUrl, "website_url") ?? undefined,
    caaIdentities: checkCaaIdentities(input.caaIdentities),
  };
  const em = ctx.orm.em.fork() as EntityManager;
  if (!(await em.count(Organization, { id: organizationId }))) throw SigilError.notFound("organization not found");
  await checkIssuingCa(ctx, em, caId, organizationId);
  const created = await acmeCreateDirectory(ctx, actor, { name: input.name, ca: caId, organization: organizationId, ...policy });
  return em.findOneOrFail(AcmeDirectory, { id: created.id });
}

async function loadDirectory(em: EntityManager, id: string, lock = false): Promise<AcmeDirectory> {
  const dir = await em.findOne(AcmeDirectory, { id: requireId(id, "id") }, lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
  if (!dir) throw SigilError.notFound("ACME directory not found");
  return dir;
}

export async function getAcmeDirectory(ctx: RaContext, actor: Actor, id: string): Promise<AcmeDirectory> {
  const dir = await loadDirectory(ctx.orm.em.fork() as EntityManager, id);
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
  const em = ctx.orm.em.fork() as EntityManager;
  const where: Record<string, unknown> = {};
  if (org) where.organization = org;
  if (req.caId) {
    const ca = await em.findOne(CertificateAuthority, { id: requireId(req.caId, "ca_id"), deletedAt: null });
    if (!ca) throw SigilError.notFound("certificate authority not found");
    authorize(actor, ca.organization.id, "read");
    where.ca = ca.id;
  }
  const [items, total] = await em.findAndCount(AcmeDirectory, where, {
    orderBy: { createdAt: "asc", id: "asc" },
    limit: page.limit,
    offset: page.offset,
  });
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
}

/**
 * Changes the CA binding or the policy. New orders see the change at once
 * (the ACME front end caches a directory for a few seconds); existing orders
 * and authorizations keep what they were created with.
 */
export async function updateAcmeDirectory(ctx: RaContext, actor: Actor, id: string, input: UpdateAcmeDirectoryInput): Promise<AcmeDirectory> {
  const patch: Partial<AcmeDirectory> = {};
  if (input.eabRequired !== undefined) patch.eabRequired = input.eabRequired;
  if (input.allowedDnsSuffixes !== undefined) patch.allowedDnsSuffixes = checkDnsSuffixes(input.allowedDnsSuffixes);
  if (input.allowedIpRanges !== undefined) patch.allowedIpRanges = checkIpRanges(input.allowedIpRanges);
  if (input.challengeTypes !== undefined) patch.challengeTypes = checkChallengeTypes(input.challengeTypes);
  if (input.maxValidityDays !== undefined) patch.maxValidityDays = checkMaxValidityDays(input.maxValidityDays);
  if (input.certificateKind !== undefined) patch.certificateKind = checkKind(input.certificateKind);
  if (input.termsOfServiceUrl !== undefined) patch.termsOfServiceUrl = checkMetaUrl(input.termsOfServiceUrl, "terms_of_service_url");
  if (input.websiteUrl !== undefined) patch.websiteUrl = checkMetaUrl(input.websiteUrl, "website_url");
  if (input.caaIdentities !== undefined) patch.caaIdentities = checkCaaIdentities(input.caaIdentities);
  const newCaId = input.caId !== undefined ? requireId(input.caId, "ca_id") : undefined;
  return inTransaction(ctx, async (tx) => {
    const dir = await loadDirectory(tx.em, id, true);
    authorize(actor, dir.organization.id, "admin");
    const changed: Record<string, unknown> = {};
    if (newCaId !== undefined && newCaId !== dir.ca.id) {
      dir.ca = await checkIssuingCa(ctx, tx.em, newCaId, dir.organization.id);
      changed.caId = newCaId;
    }
    for (const [k, v] of Object.entries(patch) as Array<[keyof AcmeDirectory, unknown]>) {
      if (JSON.stringify(dir[k]) === JSON.stringify(v)) continue;
      (dir as unknown as Record<string, unknown>)[k] = v;
      changed[k] = v;
    }
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
    const dir = await loadDirectory(tx.em, id, true);
    authorize(actor, dir.organization.id, "admin");
    const accounts = await tx.em.count(AcmeAccount, { directory: dir.id });
    tx.audit(actor, {
      action: "acme_directory_delete",
      organizationId: dir.organization.id,
      resourceType: "acme_directory",
      resourceId: dir.id,
      detail: { name: dir.name, caId: dir.ca.id, accounts },
    });
    await tx.em.execute(`delete from acme_directories where id = ?`, [dir.id], "run");
    tx.em.getUnitOfWork().unsetIdentity(dir);
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
  const em = ctx.orm.em.fork() as EntityManager;
  const dir = await loadDirectory(em, requireId(input.directoryId, "directory_id"));
  authorize(actor, dir.organization.id, "admin");
  const created = await acmeCreateEabKey(ctx, actor, { directory: dir.name, description: input.description });
  const key = await em.findOneOrFail(AcmeEabKey, { id: created.kid });
  return { key, hmacKey: created.hmacKey };
}

/**
 * The filter of a list of directory-owned rows (EAB keys, accounts): the
 * caller's visible organizations, narrowed to one directory the caller may
 * read when `directoryId` is given; null when the caller sees nothing.
 */
async function directoryScopedFilter(
  em: EntityManager,
  actor: Actor,
  req: { directoryId?: string; organizationId?: string },
): Promise<Record<string, unknown> | null> {
  const org = visibleOrganization(actor, req.organizationId);
  if (org === "none") return null;
  const where: Record<string, unknown> = {};
  if (org) where.organization = org;
  const dirId = optionalId(req.directoryId, "directory_id");
  if (dirId) {
    const dir = await loadDirectory(em, dirId);
    authorize(actor, dir.organization.id, "read");
    where.directory = dir.id;
  }
  return where;
}

export async function listAcmeEabKeys(
  ctx: RaContext,
  actor: Actor,
  req: { directoryId?: string; organizationId?: string; includeRevoked: boolean; pageSize: number; pageToken: string },
): Promise<Page<AcmeEabKey>> {
  const page = parsePage(req.pageSize, req.pageToken);
  const em = ctx.orm.em.fork() as EntityManager;
  const where = await directoryScopedFilter(em, actor, req);
  if (!where) return { items: [], nextPageToken: "" };
  if (!req.includeRevoked) where.revokedAt = null;
  const [items, total] = await em.findAndCount(AcmeEabKey, where, {
    orderBy: { createdAt: "asc", id: "asc" },
    limit: page.limit,
    offset: page.offset,
  });
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** Revokes an EAB key: it binds no new account. Accounts it already bound are unaffected. */
export async function revokeAcmeEabKey(ctx: RaContext, actor: Actor, id: string): Promise<AcmeEabKey> {
  const keyId = requireId(id, "id");
  return inTransaction(ctx, async (tx) => {
    const key = await tx.em.findOne(AcmeEabKey, { id: keyId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!key) throw SigilError.notFound("EAB key not found");
    authorize(actor, key.organization.id, "admin");
    if (key.revokedAt) throw SigilError.failedPrecondition("the EAB key is already revoked");
    key.revokedAt = ctx.clock.now();
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
  const em = ctx.orm.em.fork() as EntityManager;
  const where = await directoryScopedFilter(em, actor, req);
  if (!where) return { items: [], nextPageToken: "" };
  if (req.status) where.status = req.status;
  const [items, total] = await em.findAndCount(AcmeAccount, where, {
    orderBy: { createdAt: "asc", id: "asc" },
    limit: page.limit,
    offset: page.offset,
  });
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/**
 * Deactivates an account (RFC 8555 §7.3.6, done by the operator): the server
 * then refuses every request signed by its key. Organization admins only.
 */
export async function deactivateAcmeAccount(ctx: RaContext, actor: Actor, id: string): Promise<AcmeAccount> {
  const accountId = requireId(id, "id");
  return inTransaction(ctx, async (tx) => {
    const account = await tx.em.findOne(AcmeAccount, { id: accountId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!account) throw SigilError.notFound("ACME account not found");
    authorize(actor, account.organization.id, "admin");
    if (account.status !== "valid") throw SigilError.failedPrecondition(`the account is ${account.status}`);
    account.status = "deactivated";
    tx.audit(actor, {
      action: "acme_account_deactivate",
      organizationId: account.organization.id,
      resourceType: "acme_account",
      resourceId: account.id,
      detail: { directoryId: account.directory.id, by: "operator" },
    });
    return account;
  });
}

export async function listAcmeOrders(
  ctx: RaContext,
  actor: Actor,
  req: { directoryId?: string; accountId?: string; status?: AcmeOrderStatus; pageSize: number; pageToken: string },
): Promise<Page<AcmeOrder>> {
  const page = parsePage(req.pageSize, req.pageToken);
  const em = ctx.orm.em.fork() as EntityManager;
  const where: Record<string, unknown> = {};
  const dirId = optionalId(req.directoryId, "directory_id");
  const accountId = optionalId(req.accountId, "account_id");
  if (dirId) {
    const dir = await loadDirectory(em, dirId);
    authorize(actor, dir.organization.id, "read");
    where.directory = dir.id;
  }
  if (accountId) {
    const account = await em.findOne(AcmeAccount, { id: accountId });
    if (!account) throw SigilError.notFound("ACME account not found");
    authorize(actor, account.organization.id, "read");
    where.account = account.id;
  }
  if (!dirId && !accountId) {
    const org = visibleOrganization(actor, undefined);
    if (org === "none") return { items: [], nextPageToken: "" };
    if (org) where.directory = { organization: org };
  }
  if (req.status) where.status = req.status;
  const [items, total] = await em.findAndCount(AcmeOrder, where, {
    orderBy: { createdAt: "asc", id: "asc" },
    limit: page.limit,
    offset: page.offset,
  });
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}
