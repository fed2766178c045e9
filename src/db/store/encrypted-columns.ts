/**
 * Every column that holds an encrypted secret, in one list: master-key
 * rotation re-encrypts what they hold, an organization's data-key rotation
 * moves its rows to the new data key, and the start-up proof counts which
 * master keys they still need (docs/key-custody.md).
 *
 * A new encrypted column is one entry here (and its code seals with
 * ctx.secrets.seal / opens with ctx.secrets.open using the same `aad`).
 * The `aad` functions must equal the ones the owning ra/ module passes
 * (test/unit/ca/encrypted-columns.test.ts checks them).
 */
import { createHash } from "node:crypto";
import { statement, type Statement } from "../sql.js";
import { sqlOf, type Session } from "./session.js";

export interface EncryptedColumn {
  /** "table.column" (logs, errors, audit details) */
  name: string;
  table: string;
  /** the row's key column */
  idColumn: string;
  /** the column holding the blob (text; null rows are skipped) */
  blobColumn: string;
  /** the additional authenticated data binding a blob to its row */
  aad(id: string): string;
  /** SQL over the row (alias t) giving the owning organization's id; "null" for the system scope */
  organizationSql: string;
  /** an extra filter over t (e.g. which system_settings keys) */
  where?: string;
  /**
   * sealed directly by the master key (sgk1) and kept so: the master-key
   * check value, which proves the master key itself. Rotation re-encrypts
   * it under the new master key; it never moves to a data key.
   */
  masterKeyOnly?: boolean;
}

/** system_settings key of the master-key check value (src/ra/bootstrap.ts) */
export const MASTER_KEY_CHECK_SETTING = "master_key_check";
/** system_settings key of the admin API's JWT signing key (src/ra/auth.ts) */
export const JWT_SIGNING_KEY_SETTING = "jwt_signing_key";

export const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  {
    name: "certificate_authorities.encrypted_private_key",
    table: "certificate_authorities",
    idColumn: "id",
    blobColumn: "encrypted_private_key",
    aad: (id) => `ca:${id}`,
    organizationSql: "t.organization_id",
  },
  {
    // held leaf keys (server-generated), including the HTTPS listener's own certificates
    name: "certificates.encrypted_private_key",
    table: "certificates",
    idColumn: "id",
    blobColumn: "encrypted_private_key",
    aad: (id) => `cert:${id}`,
    organizationSql: "t.organization_id",
  },
  {
    name: "ocsp_signers.encrypted_private_key",
    table: "ocsp_signers",
    idColumn: "id",
    blobColumn: "encrypted_private_key",
    aad: (id) => `ocsp-signer:${id}`,
    organizationSql: "(select c.organization_id from certificate_authorities c where c.id = t.ca_id)",
  },
  {
    name: "acme_eab_keys.encrypted_hmac_key",
    table: "acme_eab_keys",
    idColumn: "id",
    blobColumn: "encrypted_hmac_key",
    aad: (id) => `acme-eab:${id}`,
    organizationSql: "t.organization_id",
  },
  {
    // OpenID Connect client secrets (src/ra/oidc/providers.ts clientSecretAad)
    name: "identity_providers.client_secret_encrypted",
    table: "identity_providers",
    idColumn: "id",
    blobColumn: "client_secret_encrypted",
    aad: (id) => `identity_provider:${id}:client_secret`,
    organizationSql: "t.organization_id",
  },
  {
    // PKCE code verifiers of sign-ins in progress (src/ra/oidc/login.ts; rows live 10 minutes)
    name: "oidc_logins.code_verifier_encrypted",
    table: "oidc_logins",
    idColumn: "id",
    blobColumn: "code_verifier_encrypted",
    aad: (id) => `oidc_login:${id}:code_verifier`,
    organizationSql: "(select p.organization_id from identity_providers p where p.id = t.provider_id)",
  },
  {
    name: `system_settings.value[${JWT_SIGNING_KEY_SETTING}]`,
    table: "system_settings",
    idColumn: "key",
    blobColumn: "value",
    aad: (key) => key,
    organizationSql: "null",
    where: `t.key = '${JWT_SIGNING_KEY_SETTING}'`,
  },
  {
    name: `system_settings.value[${MASTER_KEY_CHECK_SETTING}]`,
    table: "system_settings",
    idColumn: "key",
    blobColumn: "value",
    aad: (key) => key,
    organizationSql: "null",
    where: `t.key = '${MASTER_KEY_CHECK_SETTING}'`,
    masterKeyOnly: true,
  },
];

/** A stored blob and what it belongs to. */
export interface EncryptedBlobRow {
  id: string;
  blob: string;
  /** the owning organization; null for the system scope */
  organizationId: string | null;
}

// statements are built once per column (prepared, named after the column)
const cache = new Map<string, Statement>();
function stmt(kind: string, c: EncryptedColumn, text: () => string): Statement {
  // PostgreSQL keeps 63 bytes of a prepared statement's name: the column's name as a short hash
  const name = `sigil_encrypted_${kind}_${createHash("sha256").update(c.name).digest("hex").slice(0, 12)}`;
  let s = cache.get(name);
  if (!s) {
    s = statement(name, text());
    cache.set(name, s);
  }
  return s;
}

function filter(c: EncryptedColumn): string {
  return c.where ? ` and ${c.where}` : "";
}

/**
 * How many blobs of a column are still sealed directly by each master key
 * (legacy sgk1 blobs, and the master-key check value). The predicate
 * `like 'sgk1.%'` is the certificates partial index's
 * (certificates_legacy_key_blob_index).
 */
export async function countMasterKeyBlobs(s: Session, c: EncryptedColumn): Promise<Array<{ masterKeyId: string; count: number }>> {
  const q = stmt("count_sgk1", c, () =>
    `select split_part(t.${c.blobColumn}, '.', 2) as key_id, count(*) as n from ${c.table} t
      where t.${c.blobColumn} like 'sgk1.%'${filter(c)} group by 1 order by 1`,
  );
  const rows = await sqlOf(s).query<{ key_id: string; n: string }>(q, []);
  return rows.map((r) => ({ masterKeyId: r.key_id, count: Number(r.n) }));
}

/**
 * Up to `limit` sgk1 blobs of a column not sealed by master key
 * `exceptMasterKeyId` (null: any sgk1 blob), locked FOR UPDATE: a batch of
 * master-key rotation. Rows leave the set as they are re-encrypted, so
 * a rotation resumes by asking again.
 */
export async function masterKeyBlobBatch(s: Session, c: EncryptedColumn, exceptMasterKeyId: string | null, limit: number): Promise<EncryptedBlobRow[]> {
  const q = stmt("sgk1_batch", c, () =>
    `select t.${c.idColumn}::text as id, t.${c.blobColumn} as blob, (${c.organizationSql})::text as organization_id from ${c.table} t
      where t.${c.blobColumn} like 'sgk1.%' and t.${c.blobColumn} not like $1${filter(c)}
      order by t.${c.idColumn} limit $2 for update of t`,
  );
  const rows = await sqlOf(s).query<{ id: string; blob: string; organization_id: string | null }>(q, [
    exceptMasterKeyId ? `sgk1.${exceptMasterKeyId}.%` : "sgk1.-%",
    limit,
  ]);
  return rows.map((r) => ({ id: r.id, blob: r.blob, organizationId: r.organization_id }));
}

/**
 * Up to `limit` blobs of one organization (null: system scope) that are not
 * sealed by data key `activeDataKeyId` (older data keys, legacy sgk1),
 * locked FOR UPDATE: a batch of a data-key rotation. Not for masterKeyOnly
 * columns.
 */
export async function organizationBlobBatch(
  s: Session,
  c: EncryptedColumn,
  organizationId: string | null,
  activeDataKeyId: string,
  limit: number,
): Promise<EncryptedBlobRow[]> {
  if (c.masterKeyOnly) return [];
  // "= $1" (index-backed on organization_id) for an organization; "is null" for the system scope
  const system = organizationId === null;
  if (system !== (c.organizationSql === "null")) return [];
  const q = stmt(system ? "system_batch" : "org_batch", c, () =>
    `select t.${c.idColumn}::text as id, t.${c.blobColumn} as blob, (${c.organizationSql})::text as organization_id from ${c.table} t
      where ${system ? "$1::uuid is null" : `(${c.organizationSql}) = $1::uuid`} and t.${c.blobColumn} is not null
        and t.${c.blobColumn} not like $2${filter(c)}
      order by t.${c.idColumn} limit $3 for update of t`,
  );
  const rows = await sqlOf(s).query<{ id: string; blob: string; organization_id: string | null }>(q, [organizationId, `sgk2.${activeDataKeyId}.%`, limit]);
  return rows.map((r) => ({ id: r.id, blob: r.blob, organizationId: r.organization_id }));
}

/** How many blobs of a column a data key sealed (any organization). */
export async function countDataKeyBlobs(s: Session, c: EncryptedColumn, dataKeyId: string): Promise<number> {
  const q = stmt("count_sgk2", c, () => `select count(*) as n from ${c.table} t where t.${c.blobColumn} like $1${filter(c)}`);
  const [r] = await sqlOf(s).query<{ n: string }>(q, [`sgk2.${dataKeyId}.%`]);
  return Number(r?.n ?? 0);
}

/** Replaces a blob if it is still `from` (compare-and-set); false when the row changed or is gone. */
export async function replaceBlob(s: Session, c: EncryptedColumn, id: string, from: string, to: string): Promise<boolean> {
  const q = stmt("replace", c, () =>
    `update ${c.table} t set ${c.blobColumn} = $3 where t.${c.idColumn} = $1 and t.${c.blobColumn} = $2${filter(c)} returning 1 as ok`,
  );
  return (await sqlOf(s).query(q, [id, from, to])).length === 1;
}
