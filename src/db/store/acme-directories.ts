/**
 * The acme_directories table: an organization's ACME endpoint bound to one
 * issuing CA, with its policy. The front end reads a directory by name on
 * every request (prepared SQL, a named record); the admin plane creates,
 * lists, changes and deletes entities. Also the two reads a directory's
 * creation needs of its references: the organization by id or name, and the
 * candidate issuing CAs.
 */
import { LockMode } from "@mikro-orm/core";
import type { AcmeChallengeType, CaStatus, LeafType } from "../../core/types.js";
import { AcmeDirectory, CertificateAuthority, Organization } from "../entities/index.js";
import { statement } from "../sql.js";
import { emOf, sqlOf, type OrmTx, type Session } from "./session.js";

/** A directory as the ACME front end sees it: its identity and its policy. */
export interface DirectoryRecord extends DirectoryPolicyFields {
  id: string;
  name: string;
  organizationId: string;
  caId: string;
  /** the directory's rate-limit entries (src/policy/rate-limits.ts DirectoryRateLimit); empty or absent: the server's */
  rateLimits?: DirectoryRateLimitRow[];
}

/** one stored rate-limit entry of a directory (acme_directories.rate_limits) */
export interface DirectoryRateLimitRow {
  name: string;
  disabled: boolean;
  count: number;
  periodMs: number;
}

/** the columns a directory read selects (table acme_directories) */
export const ACME_DIRECTORY_COLUMNS = [
  "id",
  "name",
  "organization_id",
  "ca_id",
  "eab_required",
  "allowed_dns_suffixes",
  "allowed_ip_ranges",
  "challenge_types",
  "max_validity_days",
  "certificate_kind",
  "terms_of_service_url",
  "website_url",
  "caa_identities",
  "validation_allowed_networks",
  "caa_enabled",
  "rate_limits",
] as const;

interface DirectoryRow {
  id: string;
  name: string;
  organization_id: string;
  ca_id: string;
  eab_required: boolean;
  allowed_dns_suffixes: string[];
  allowed_ip_ranges: string[];
  challenge_types: AcmeChallengeType[];
  max_validity_days: number;
  certificate_kind: LeafType;
  terms_of_service_url: string | null;
  website_url: string | null;
  caa_identities: string[];
  validation_allowed_networks: string[];
  caa_enabled: boolean;
  rate_limits: DirectoryRateLimitRow[];
}

function directoryFromRow(r: DirectoryRow): DirectoryRecord {
  return {
    id: r.id,
    name: r.name,
    organizationId: r.organization_id,
    caId: r.ca_id,
    eabRequired: r.eab_required,
    allowedDnsSuffixes: r.allowed_dns_suffixes,
    allowedIpRanges: r.allowed_ip_ranges,
    challengeTypes: r.challenge_types,
    maxValidityDays: r.max_validity_days,
    certificateKind: r.certificate_kind,
    termsOfServiceUrl: r.terms_of_service_url,
    websiteUrl: r.website_url,
    caaIdentities: r.caa_identities,
    validationAllowedNetworks: r.validation_allowed_networks,
    caaEnabled: r.caa_enabled,
    rateLimits: r.rate_limits,
  };
}

const BY_NAME = statement("sigil_acme_directories_by_name", `select ${ACME_DIRECTORY_COLUMNS.join(", ")} from acme_directories where name = $1`);
const NAME_TAKEN = statement("sigil_acme_directories_name_taken", `select exists (select 1 from acme_directories where name = $1) as taken`);
const DELETE = statement("sigil_acme_directories_delete", `delete from acme_directories where id = $1`);
const ORGANIZATION = statement("sigil_acme_directories_organization", `select id from organizations where id = $1::uuid or name = $2`);
const ISSUING_CAS = statement(
  "sigil_acme_directories_issuing_cas",
  // by id, or by name (within the organization when one is given); deleted CAs issue nothing
  `select id, name, organization_id, allow_leaf_certs, status, not_after from certificate_authorities
    where deleted_at is null and (id = $1::uuid or name = $2) and ($3::uuid is null or organization_id = $3)`,
);

const VALIDATION_NETWORKS = statement(
  "sigil_acme_directories_validation_networks",
  `select validation_allowed_networks from acme_directories where id = $1`,
);

const CAA_SETTINGS = statement("sigil_acme_directories_caa", `select name, caa_enabled, caa_identities from acme_directories where id = $1`);

/** What a directory's CAA checks need (RFC 8659): its URL name (for the account URL), on or off, its issuer domain names. */
export interface DirectoryCaaSettings {
  name: string;
  caaEnabled: boolean;
  caaIdentities: string[];
}

/** A directory's CAA settings; undefined: no such directory. */
export async function findDirectoryCaaSettings(s: Session, id: string): Promise<DirectoryCaaSettings | undefined> {
  const [r] = await sqlOf(s).query<{ name: string; caa_enabled: boolean; caa_identities: string[] }>(CAA_SETTINGS, [id]);
  return r && { name: r.name, caaEnabled: r.caa_enabled, caaIdentities: r.caa_identities };
}

/** A directory's validation network override (empty: the server's setting; undefined: no such directory). */
export async function findDirectoryValidationNetworks(s: Session, id: string): Promise<string[] | undefined> {
  const [r] = await sqlOf(s).query<{ validation_allowed_networks: string[] }>(VALIDATION_NETWORKS, [id]);
  return r?.validation_allowed_networks;
}

/** A directory by its URL name. */
export async function findDirectoryByName(s: Session, name: string): Promise<DirectoryRecord | undefined> {
  const [r] = await sqlOf(s).query<DirectoryRow>(BY_NAME, [name]);
  return r && directoryFromRow(r);
}

export async function directoryNameTaken(s: Session, name: string): Promise<boolean> {
  const [r] = await sqlOf(s).query<{ taken: boolean }>(NAME_TAKEN, [name]);
  return r?.taken === true;
}

/** A reference by id or by name. */
export type IdOrName = { id: string } | { name: string };

const refParams = (ref: IdOrName): [string | null, string | null] => ("id" in ref ? [ref.id, null] : [null, ref.name]);

/** The organization with this id or name. */
export async function findOrganizationId(s: Session, ref: IdOrName): Promise<string | undefined> {
  return (await sqlOf(s).query<{ id: string }>(ORGANIZATION, refParams(ref)))[0]?.id;
}

/** What binding a directory to a CA needs to know of the CA. */
export interface IssuingCaCandidate {
  id: string;
  name: string;
  organizationId: string;
  allowLeafCerts: boolean;
  status: CaStatus;
  notAfter: Date;
}

/** The (not deleted) CAs with this id or name, within an organization when given. */
export async function findIssuingCaCandidates(s: Session, ref: IdOrName, organizationId: string | null): Promise<IssuingCaCandidate[]> {
  const rows = await sqlOf(s).query<{ id: string; name: string; organization_id: string; allow_leaf_certs: boolean; status: CaStatus; not_after: string }>(
    ISSUING_CAS,
    [...refParams(ref), organizationId],
  );
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    organizationId: r.organization_id,
    allowLeafCerts: r.allow_leaf_certs,
    status: r.status,
    notAfter: new Date(r.not_after),
  }));
}

/** A directory's policy as stored (normalized by src/policy/directory-policy.ts). */
export interface DirectoryPolicyFields {
  /** RFC 8555 §7.3.4: newAccount must carry externalAccountBinding */
  eabRequired: boolean;
  /** exact names or parent domains, lower case, deduplicated; empty = any name */
  allowedDnsSuffixes: string[];
  /** CIDR ranges; empty = no ip identifiers (RFC 8738) */
  allowedIpRanges: string[];
  /** never empty */
  challengeTypes: AcmeChallengeType[];
  maxValidityDays: number;
  certificateKind: LeafType;
  /** RFC 8555 §7.1.1 meta.termsOfService; null = none */
  termsOfServiceUrl: string | null;
  /** RFC 8555 §7.1.1 meta.website; null = none */
  websiteUrl: string | null;
  /** RFC 8555 §7.1.1 meta.caaIdentities (RFC 8659 §4.2 issuer domain names) */
  caaIdentities: string[];
  /** where validation may connect for this directory (narrowing the server's SIGIL_VALIDATION_ALLOWED_NETWORKS); empty = the server's */
  validationAllowedNetworks: string[];
  /** RFC 8659 CAA checked at validation and at finalize (with caaIdentities as this CA's issuer domain names) */
  caaEnabled: boolean;
}

export interface NewDirectory extends DirectoryPolicyFields {
  id: string;
  name: string;
  organizationId: string;
  caId: string;
}

/** A new directory (written with the transaction's flush; a taken name fails on the unique key). */
export function insertDirectory(tx: OrmTx, d: NewDirectory): AcmeDirectory {
  const em = emOf(tx);
  const dir = em.create(AcmeDirectory, {
    id: d.id,
    name: d.name,
    organization: em.getReference(Organization, d.organizationId),
    ca: em.getReference(CertificateAuthority, d.caId),
    eabRequired: d.eabRequired,
    allowedDnsSuffixes: d.allowedDnsSuffixes,
    allowedIpRanges: d.allowedIpRanges,
    challengeTypes: d.challengeTypes,
    maxValidityDays: d.maxValidityDays,
    certificateKind: d.certificateKind,
    termsOfServiceUrl: d.termsOfServiceUrl,
    websiteUrl: d.websiteUrl,
    caaIdentities: d.caaIdentities,
    validationAllowedNetworks: d.validationAllowedNetworks,
    caaEnabled: d.caaEnabled,
  });
  em.persist(dir);
  return dir;
}

/** A directory entity by id (row-locked in a transaction when `lock`). */
export async function getDirectoryEntity(s: Session, id: string, opts: { lock?: boolean } = {}): Promise<AcmeDirectory | null> {
  return emOf(s).findOne(AcmeDirectory, { id }, opts.lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
}

/**
 * Changes a directory loaded in this transaction: the CA binding and the
 * policy fields given (written with the flush). Returns the fields that
 * actually changed, for the audit entry.
 */
export function changeDirectory(tx: OrmTx, dir: AcmeDirectory, patch: Partial<DirectoryPolicyFields> & { caId?: string }): Record<string, unknown> {
  const em = emOf(tx);
  const changed: Record<string, unknown> = {};
  if (patch.caId !== undefined && patch.caId !== dir.ca.id) {
    dir.ca = em.getReference(CertificateAuthority, patch.caId);
    changed.caId = patch.caId;
  }
  const set = <K extends keyof DirectoryPolicyFields>(k: K): void => {
    const v = patch[k];
    if (v === undefined || JSON.stringify(dir[k]) === JSON.stringify(v)) return;
    (dir as Pick<AcmeDirectory, K>)[k] = v as AcmeDirectory[K];
    changed[k] = v;
  };
  for (const k of Object.keys(patch) as Array<keyof DirectoryPolicyFields | "caId">) if (k !== "caId") set(k);
  return changed;
}

/**
 * Deletes a directory. Its accounts, their orders, authorizations and
 * challenges, and its EAB keys go with it (ON DELETE CASCADE).
 */
export async function deleteDirectory(tx: OrmTx, dir: AcmeDirectory): Promise<void> {
  await sqlOf(tx).query(DELETE, [dir.id]);
  emOf(tx).getUnitOfWork().unsetIdentity(dir);
}

export interface DirectoryListFilter {
  organizationId?: string;
  caId?: string;
}

/** A page of directory entities, oldest first. */
export async function listDirectoryEntities(s: Session, f: DirectoryListFilter, page: { limit: number; offset: number }): Promise<{ items: AcmeDirectory[]; total: number }> {
  const where: { organization?: string; ca?: string } = {};
  if (f.organizationId) where.organization = f.organizationId;
  if (f.caId) where.ca = f.caId;
  const [items, total] = await emOf(s).findAndCount(AcmeDirectory, where, { orderBy: { createdAt: "asc", id: "asc" }, limit: page.limit, offset: page.offset });
  return { items, total };
}
