/**
 * The acme_profiles table (draft-ietf-acme-profiles-00): a directory's named
 * issuance profiles and its default (acme_directories.default_profile).
 * Prepared SQL throughout: the ACME front end reads a directory's profiles
 * with the directory (cached by ra/acme/directories.ts), the admin plane
 * creates, changes and deletes them inside its ORM transactions (the SQL
 * runs on the transaction's own connection after its pending changes).
 */
import type { IdentifierType, LeafType } from "../../core/types.js";
import type { AcmeDirectory } from "../entities/index.js";
import { statement } from "../sql.js";
import { emOf, sqlOf, type OrmTx, type Session } from "./session.js";

/** A profile's rules as stored (normalized by src/policy/profiles.ts). */
export interface ProfileFields {
  /** lower case; unique within the directory */
  name: string;
  /** draft-ietf-acme-profiles-00 §3: the meta.profiles value */
  description: string;
  certificateKind: LeafType;
  /** the longest certificate (also bounded by the directory's max_validity_days) */
  maxValiditySeconds: number;
  /** RFC 5280 §4.2.1.3 names; empty = digitalSignature (+ keyEncipherment for RSA keys) */
  keyUsages: string[];
  /** the subject CN (from the CSR) is written; otherwise the subject is empty */
  includeCommonName: boolean;
  maxIdentifiers: number;
  identifierTypes: IdentifierType[];
  /** how recently validated an authorization must be to be reused by this profile's orders */
  authorizationReuseSeconds: number;
  /** RFC 8555 §7.1.3 `expires` of a new order */
  orderLifetimeSeconds: number;
  /** `expires` of a new (pending) authorization */
  pendingAuthorizationLifetimeSeconds: number;
}

/** A stored profile. */
export interface ProfileRecord extends ProfileFields {
  id: string;
  directoryId: string;
  /** whether it is its directory's default profile */
  isDefault: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** the columns a profile read selects and a profile insert writes (table acme_profiles) */
export const ACME_PROFILE_COLUMNS = [
  "id",
  "directory_id",
  "name",
  "description",
  "certificate_kind",
  "max_validity_seconds",
  "key_usages",
  "include_common_name",
  "max_identifiers",
  "identifier_types",
  "authorization_reuse_seconds",
  "order_lifetime_seconds",
  "pending_authorization_lifetime_seconds",
  "created_at",
  "updated_at",
] as const;

interface ProfileSqlRow {
  id: string;
  directory_id: string;
  name: string;
  description: string;
  certificate_kind: LeafType;
  max_validity_seconds: number;
  key_usages: string[];
  include_common_name: boolean;
  max_identifiers: number;
  identifier_types: IdentifierType[];
  authorization_reuse_seconds: number;
  order_lifetime_seconds: number;
  pending_authorization_lifetime_seconds: number;
  created_at: Date | string;
  updated_at: Date | string;
  is_default: boolean;
}

function fromSql(r: ProfileSqlRow): ProfileRecord {
  return {
    id: r.id,
    directoryId: r.directory_id,
    name: r.name,
    description: r.description,
    certificateKind: r.certificate_kind,
    maxValiditySeconds: r.max_validity_seconds,
    keyUsages: r.key_usages,
    includeCommonName: r.include_common_name,
    maxIdentifiers: r.max_identifiers,
    identifierTypes: r.identifier_types,
    authorizationReuseSeconds: r.authorization_reuse_seconds,
    orderLifetimeSeconds: r.order_lifetime_seconds,
    pendingAuthorizationLifetimeSeconds: r.pending_authorization_lifetime_seconds,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    isDefault: r.is_default,
  };
}

const SELECT = `select ${ACME_PROFILE_COLUMNS.map((c) => `p.${c}`).join(", ")}, coalesce(d.default_profile = p.name, false) as is_default
  from acme_profiles p join acme_directories d on d.id = p.directory_id`;

const BY_DIRECTORY = statement("sigil_acme_profiles_by_directory", `${SELECT} where p.directory_id = $1 order by p.name`);
const BY_ID = statement("sigil_acme_profiles_by_id", `${SELECT} where p.id = $1`);
const BY_ID_LOCKED = statement("sigil_acme_profiles_by_id_locked", `${SELECT} where p.id = $1 for update of p`);
const INSERT = statement(
  "sigil_acme_profiles_insert",
  `insert into acme_profiles (${ACME_PROFILE_COLUMNS.join(", ")})
   select id, directory_id, name, description, certificate_kind, max_validity_seconds, key_usages, include_common_name, max_identifiers,
          identifier_types, authorization_reuse_seconds, order_lifetime_seconds, pending_authorization_lifetime_seconds, $2, $2
     from jsonb_to_recordset($1::jsonb) as r(id uuid, directory_id uuid, name varchar, description varchar, certificate_kind varchar,
          max_validity_seconds int, key_usages jsonb, include_common_name boolean, max_identifiers int, identifier_types jsonb,
          authorization_reuse_seconds int, order_lifetime_seconds int, pending_authorization_lifetime_seconds int)
   on conflict (directory_id, name) do nothing
   returning id`,
);
const UPDATE = statement(
  "sigil_acme_profiles_update",
  `update acme_profiles set description = $2, certificate_kind = $3, max_validity_seconds = $4, key_usages = $5::jsonb, include_common_name = $6,
          max_identifiers = $7, identifier_types = $8::jsonb, authorization_reuse_seconds = $9, order_lifetime_seconds = $10,
          pending_authorization_lifetime_seconds = $11, updated_at = $12
    where id = $1`,
);
const DELETE = statement("sigil_acme_profiles_delete", `delete from acme_profiles where id = $1`);

/** A directory's profiles, by name. */
export async function listDirectoryProfiles(s: Session, directoryId: string): Promise<ProfileRecord[]> {
  return (await sqlOf(s).query<ProfileSqlRow>(BY_DIRECTORY, [directoryId])).map(fromSql);
}

/** A profile by id (row-locked in a transaction when `lock`). */
export async function findProfile(s: Session, id: string, opts: { lock?: boolean } = {}): Promise<ProfileRecord | undefined> {
  const [r] = await sqlOf(s).query<ProfileSqlRow>(opts.lock ? BY_ID_LOCKED : BY_ID, [id]);
  return r && fromSql(r);
}

export interface NewProfile extends ProfileFields {
  id: string;
  directoryId: string;
}

/**
 * Writes new profiles (their directory may be a new entity of the same
 * transaction: its pending insert is flushed first). Returns the ids of
 * those written: a name the directory already has is skipped.
 */
export async function insertProfiles(tx: OrmTx, profiles: readonly NewProfile[], now: Date): Promise<string[]> {
  if (!profiles.length) return [];
  const rows = profiles.map((p) => ({
    id: p.id,
    directory_id: p.directoryId,
    name: p.name,
    description: p.description,
    certificate_kind: p.certificateKind,
    max_validity_seconds: p.maxValiditySeconds,
    key_usages: p.keyUsages,
    include_common_name: p.includeCommonName,
    max_identifiers: p.maxIdentifiers,
    identifier_types: p.identifierTypes,
    authorization_reuse_seconds: p.authorizationReuseSeconds,
    order_lifetime_seconds: p.orderLifetimeSeconds,
    pending_authorization_lifetime_seconds: p.pendingAuthorizationLifetimeSeconds,
  }));
  return (await sqlOf(tx).query<{ id: string }>(INSERT, [JSON.stringify(rows), now])).map((r) => r.id);
}

/** Writes a profile's rules (the name and directory never change). */
export async function updateProfile(tx: OrmTx, id: string, f: Omit<ProfileFields, "name">, now: Date): Promise<void> {
  await sqlOf(tx).query(UPDATE, [
    id,
    f.description,
    f.certificateKind,
    f.maxValiditySeconds,
    JSON.stringify(f.keyUsages),
    f.includeCommonName,
    f.maxIdentifiers,
    JSON.stringify(f.identifierTypes),
    f.authorizationReuseSeconds,
    f.orderLifetimeSeconds,
    f.pendingAuthorizationLifetimeSeconds,
    now,
  ]);
}

export async function deleteProfile(tx: OrmTx, id: string): Promise<void> {
  await sqlOf(tx).query(DELETE, [id]);
}

/**
 * Makes `name` the default profile of a directory loaded or created in this
 * transaction (written with the transaction's next flush).
 */
export function setDefaultProfile(tx: OrmTx, dir: AcmeDirectory, name: string): void {
  emOf(tx);
  dir.defaultProfile = name;
}
