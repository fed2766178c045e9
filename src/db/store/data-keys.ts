/**
 * The data_keys table (envelope encryption, docs/key-custody.md): per scope
 * (an organization, or the system when organization_id is null) one active
 * data key that seals new secrets and any number of retired ones that only
 * open what they sealed until re-encryption moves it. The key material is
 * stored wrapped by the master key (an sgk1 blob); this module never sees it
 * unwrapped.
 */
import { statement } from "../sql.js";
import type { DataKeyStatus } from "../entities/index.js";
import { sqlOf, type Session } from "./session.js";

/** the columns every read returns */
export const DATA_KEY_COLUMNS = ["id", "organization_id", "wrapped_key", "status", "created_at", "retired_at"] as const;
const COLS = DATA_KEY_COLUMNS.join(", ");

export interface DataKeyRow {
  id: string;
  /** null: the system scope */
  organizationId: string | null;
  /** the key wrapped by a master key (sgk1 blob) */
  wrappedKey: string;
  status: DataKeyStatus;
  createdAt: Date;
  retiredAt: Date | null;
}

interface RawRow {
  id: string;
  organization_id: string | null;
  wrapped_key: string;
  status: DataKeyStatus;
  created_at: Date | string;
  retired_at: Date | string | null;
}

function row(r: RawRow): DataKeyRow {
  return {
    id: r.id,
    organizationId: r.organization_id,
    wrappedKey: r.wrapped_key,
    status: r.status,
    createdAt: new Date(r.created_at),
    retiredAt: r.retired_at === null ? null : new Date(r.retired_at),
  };
}

/**
 * A LATERAL subquery reading the active data key of organization
 * `organizationExpr` FOR SHARE (like findActiveDataKey), its columns
 * prefixed `dk_`, for a statement that needs the key with other rows (admin
 * issuance reads it with the locked CA row: one round trip less). Join it
 * with `left join lateral ... on true`; parse with dataKeyOfColumns.
 */
export function activeDataKeyLateral(organizationExpr: string): string {
  return `(select ${DATA_KEY_COLUMNS.map((c) => `d.${c} dk_${c}`).join(", ")} from data_keys d
            where d.organization_id = ${organizationExpr} and d.status = 'active' for share)`;
}

/** The columns of an activeDataKeyLateral join (all null when the scope has no active key). */
export interface DataKeyJoinColumns {
  dk_id: string | null;
  dk_organization_id: string | null;
  dk_wrapped_key: string | null;
  dk_status: DataKeyStatus | null;
  dk_created_at: Date | string | null;
  dk_retired_at: Date | string | null;
}

/** The data key of an activeDataKeyLateral join, or undefined when the scope has no active key. */
export function dataKeyOfColumns(r: DataKeyJoinColumns): DataKeyRow | undefined {
  if (r.dk_id === null) return undefined;
  return row({
    id: r.dk_id,
    organization_id: r.dk_organization_id,
    wrapped_key: r.dk_wrapped_key!,
    status: r.dk_status!,
    created_at: r.dk_created_at!,
    retired_at: r.dk_retired_at,
  });
}

// `organization_id is not distinct from $1`: one statement for both scopes (null = system)
const ACTIVE = statement(
  "sigil_data_keys_active_share",
  // FOR SHARE: a rotation retiring this key (FOR UPDATE) waits until the sealing transaction commits,
  // so every blob sealed with it is visible to the rotation's re-encryption batches
  `select ${COLS} from data_keys where organization_id is not distinct from $1 and status = 'active' for share`,
);
const ACTIVE_FOR_UPDATE = statement(
  "sigil_data_keys_active_update",
  `select ${COLS} from data_keys where organization_id is not distinct from $1 and status = 'active' for update`,
);
const BY_ID = statement("sigil_data_keys_by_id", `select ${COLS} from data_keys where id = $1`);
const INSERT_IF_NO_ACTIVE = statement(
  "sigil_data_keys_insert_if_no_active",
  `insert into data_keys (id, organization_id, wrapped_key, status, created_at) values ($1, $2, $3, 'active', $4) on conflict do nothing`,
);
const INSERT = statement(
  "sigil_data_keys_insert",
  `insert into data_keys (id, organization_id, wrapped_key, status, created_at) values ($1, $2, $3, 'active', $4)`,
);
const RETIRE = statement("sigil_data_keys_retire", `update data_keys set status = 'retired', retired_at = $2 where id = $1 and status = 'active' returning id`);
const OF_SCOPE = statement(
  "sigil_data_keys_of_scope",
  `select ${COLS} from data_keys where organization_id is not distinct from $1 order by created_at, id`,
);
const ALL = statement("sigil_data_keys_all", `select ${COLS} from data_keys order by created_at, id`);
const NOT_WRAPPED_BY = statement(
  "sigil_data_keys_not_wrapped_by",
  `select ${COLS} from data_keys where wrapped_key not like $1 order by id limit $2 for update`,
);
const REWRAP = statement("sigil_data_keys_rewrap", `update data_keys set wrapped_key = $3 where id = $1 and wrapped_key = $2 returning id`);
const DELETE_ONE = statement("sigil_data_keys_delete", `delete from data_keys where id = $1 and status = 'retired' returning id`);
const DELETE_OF_ORG = statement("sigil_data_keys_delete_of_organization", `delete from data_keys where organization_id = $1 returning id`);

/** The active data key of a scope (null: system), locked FOR SHARE in the session's transaction. */
export async function findActiveDataKey(s: Session, organizationId: string | null): Promise<DataKeyRow | undefined> {
  const [r] = await sqlOf(s).query<RawRow>(ACTIVE, [organizationId]);
  return r ? row(r) : undefined;
}

/** The active data key of a scope, locked FOR UPDATE (rotation). */
export async function lockActiveDataKey(s: Session, organizationId: string | null): Promise<DataKeyRow | undefined> {
  const [r] = await sqlOf(s).query<RawRow>(ACTIVE_FOR_UPDATE, [organizationId]);
  return r ? row(r) : undefined;
}

export async function findDataKey(s: Session, id: string): Promise<DataKeyRow | undefined> {
  const [r] = await sqlOf(s).query<RawRow>(BY_ID, [id]);
  return r ? row(r) : undefined;
}

export interface NewDataKey {
  id: string;
  organizationId: string | null;
  wrappedKey: string;
  createdAt: Date;
}

/**
 * Inserts an active data key unless the scope already has one (another
 * request or instance created it first: the partial unique index
 * data_keys_active_scope_unique decides); the caller reads back the winner.
 */
export async function insertDataKeyIfNoActive(s: Session, k: NewDataKey): Promise<void> {
  await sqlOf(s).query(INSERT_IF_NO_ACTIVE, [k.id, k.organizationId, k.wrappedKey, k.createdAt]);
}

/** Inserts an active data key (after retiring the scope's previous one in the same transaction). */
export async function insertDataKey(s: Session, k: NewDataKey): Promise<void> {
  await sqlOf(s).query(INSERT, [k.id, k.organizationId, k.wrappedKey, k.createdAt]);
}

/** Marks an active data key retired; false when it was not active. */
export async function retireDataKey(s: Session, id: string, now: Date): Promise<boolean> {
  return (await sqlOf(s).query(RETIRE, [id, now])).length === 1;
}

/** Every data key of a scope (null: system), oldest first. */
export async function listDataKeysOfScope(s: Session, organizationId: string | null): Promise<DataKeyRow[]> {
  return (await sqlOf(s).query<RawRow>(OF_SCOPE, [organizationId])).map(row);
}

/** Every data key (one or two per organization: a short list). */
export async function listDataKeys(s: Session): Promise<DataKeyRow[]> {
  return (await sqlOf(s).query<RawRow>(ALL, [])).map(row);
}

/** Up to `limit` data keys not wrapped by master key `masterKeyId`, locked FOR UPDATE (master-key rotation batches). */
export async function dataKeysNotWrappedBy(s: Session, masterKeyId: string, limit: number): Promise<DataKeyRow[]> {
  return (await sqlOf(s).query<RawRow>(NOT_WRAPPED_BY, [`sgk1.${masterKeyId}.%`, limit])).map(row);
}

/** Replaces a data key's wrapping if it is still `from`; false when it changed meanwhile. */
export async function rewrapDataKey(s: Session, id: string, from: string, to: string): Promise<boolean> {
  return (await sqlOf(s).query(REWRAP, [id, from, to])).length === 1;
}

/** Deletes a retired data key (nothing is sealed with it any more); false when it is not a retired key. */
export async function deleteRetiredDataKey(s: Session, id: string): Promise<boolean> {
  return (await sqlOf(s).query(DELETE_ONE, [id])).length === 1;
}

/** Deletes every data key of an organization (crypto-shredding); returns their ids. */
export async function deleteOrganizationDataKeys(s: Session, organizationId: string): Promise<string[]> {
  return (await sqlOf(s).query<{ id: string }>(DELETE_OF_ORG, [organizationId])).map((r) => r.id);
}
