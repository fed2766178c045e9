/**
 * The issuance_policies table (src/ra/issuance-policies.ts): one row per
 * subject (an organization when user_id and service_account_id are null,
 * else that user or service account). Prepared SQL; the admin plane's
 * issuance reads the policies that apply FOR SHARE inside its transaction,
 * so a policy change waits for issuances in flight and they for it.
 */
import type { KeyAlgorithm, LeafType } from "../../core/types.js";
import { statement } from "../sql.js";
import { sqlOf, type OrmTx, type Session } from "./session.js";

export type IssuancePolicySubjectType = "organization" | "user" | "serviceAccount";

/** A policy's rules as stored (normalized by src/policy/issuance-policies.ts). */
export interface IssuancePolicyRuleColumns {
  dnsNames: string[];
  emails: string[];
  ipRanges: string[];
  caIds: string[];
  certificateKinds: LeafType[];
  maxValidityDays: number;
  keyTypes: KeyAlgorithm[];
}

export interface IssuancePolicyRecord {
  id: string;
  organizationId: string;
  subjectType: IssuancePolicySubjectType;
  /** the organization, user or service account id */
  subjectId: string;
  rules: IssuancePolicyRuleColumns;
  description: string;
  createdAt: Date;
  updatedAt: Date;
}

/** the columns a policy read selects and the insert writes, in this order (table issuance_policies) */
export const ISSUANCE_POLICY_COLUMNS = [
  "id",
  "organization_id",
  "user_id",
  "service_account_id",
  "dns_names",
  "emails",
  "ip_ranges",
  "ca_ids",
  "certificate_kinds",
  "max_validity_days",
  "key_types",
  "description",
  "created_at",
  "updated_at",
] as const;

interface PolicySqlRow {
  id: string;
  organization_id: string;
  user_id: string | null;
  service_account_id: string | null;
  dns_names: string[];
  emails: string[];
  ip_ranges: string[];
  ca_ids: string[];
  certificate_kinds: LeafType[];
  max_validity_days: number;
  key_types: KeyAlgorithm[];
  description: string;
  created_at: Date | string;
  updated_at: Date | string;
  total?: string | number;
}

function fromSql(r: PolicySqlRow): IssuancePolicyRecord {
  const subjectType: IssuancePolicySubjectType = r.user_id ? "user" : r.service_account_id ? "serviceAccount" : "organization";
  return {
    id: r.id,
    organizationId: r.organization_id,
    subjectType,
    subjectId: r.user_id ?? r.service_account_id ?? r.organization_id,
    rules: {
      dnsNames: r.dns_names,
      emails: r.emails,
      ipRanges: r.ip_ranges,
      caIds: r.ca_ids,
      certificateKinds: r.certificate_kinds,
      maxValidityDays: r.max_validity_days,
      keyTypes: r.key_types,
    },
    description: r.description,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

const COLS = ISSUANCE_POLICY_COLUMNS.join(", ");
const BY_ID = statement("sigil_issuance_policies_by_id", `select ${COLS} from issuance_policies where id = $1`);
const BY_ID_LOCKED = statement("sigil_issuance_policies_by_id_locked", `select ${COLS} from issuance_policies where id = $1 for update`);
const BY_SUBJECT = statement(
  "sigil_issuance_policies_by_subject",
  `select ${COLS} from issuance_policies
    where organization_id = $1 and user_id is not distinct from $2::uuid and service_account_id is not distinct from $3::uuid`,
);
// the organization's policy and the principal's own, each by its unique index
const APPLYING = statement(
  "sigil_issuance_policies_applying",
  `select ${COLS} from issuance_policies
    where (organization_id = $1 and user_id is null and service_account_id is null)
       or user_id = $2::uuid or service_account_id = $3::uuid
    order by (user_id is null and service_account_id is null) desc
    for share`,
);
const LIST = statement(
  "sigil_issuance_policies_list",
  `select ${COLS}, count(*) over () as total from issuance_policies
    where ($1::uuid is null or organization_id = $1::uuid)
    order by created_at, id limit $2 offset $3`,
);
const INSERT = statement(
  "sigil_issuance_policies_insert",
  `insert into issuance_policies (${COLS})
   values ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11::jsonb, $12, $13, $13)
   returning ${COLS}`,
);
const UPDATE = statement(
  "sigil_issuance_policies_update",
  `update issuance_policies set dns_names = $2::jsonb, emails = $3::jsonb, ip_ranges = $4::jsonb, ca_ids = $5::jsonb, certificate_kinds = $6::jsonb,
          max_validity_days = $7, key_types = $8::jsonb, description = $9, updated_at = $10
    where id = $1
   returning ${COLS}`,
);
const DELETE = statement("sigil_issuance_policies_delete", `delete from issuance_policies where id = $1`);

/** The statement every admin issuance runs (for the EXPLAIN test): $1 organization, $2 user, $3 service account. */
export const ISSUANCE_POLICY_STATEMENTS = { applying: APPLYING } as const;

/** A policy by id (row-locked in a transaction when `lock`). */
export async function findIssuancePolicy(s: Session, id: string, opts: { lock?: boolean } = {}): Promise<IssuancePolicyRecord | undefined> {
  const [r] = await sqlOf(s).query<PolicySqlRow>(opts.lock ? BY_ID_LOCKED : BY_ID, [id]);
  return r && fromSql(r);
}

export interface PolicySubject {
  organizationId: string;
  userId?: string | null;
  serviceAccountId?: string | null;
}

/** The policy of one subject, if it has one. */
export async function findIssuancePolicyOfSubject(s: Session, subject: PolicySubject): Promise<IssuancePolicyRecord | undefined> {
  const [r] = await sqlOf(s).query<PolicySqlRow>(BY_SUBJECT, [subject.organizationId, subject.userId ?? null, subject.serviceAccountId ?? null]);
  return r && fromSql(r);
}

/**
 * The policies that apply to a principal issuing from an organization's CA:
 * the organization's (first) and the principal's own, locked FOR SHARE
 * until the issuing transaction ends.
 */
export async function applyingIssuancePolicies(s: Session, subject: PolicySubject): Promise<IssuancePolicyRecord[]> {
  return (await sqlOf(s).query<PolicySqlRow>(APPLYING, [subject.organizationId, subject.userId ?? null, subject.serviceAccountId ?? null])).map(fromSql);
}

/** Policies (of one organization, or all), oldest first, with the total. */
export async function listIssuancePolicies(
  s: Session,
  q: { organizationId?: string; limit: number; offset: number },
): Promise<{ items: IssuancePolicyRecord[]; total: number }> {
  const rows = await sqlOf(s).query<PolicySqlRow>(LIST, [q.organizationId ?? null, q.limit, q.offset]);
  return { items: rows.map(fromSql), total: rows.length ? Number(rows[0]!.total) : 0 };
}

export interface NewIssuancePolicy extends PolicySubject {
  id: string;
  rules: IssuancePolicyRuleColumns;
  description: string;
}

export async function insertIssuancePolicy(tx: OrmTx, p: NewIssuancePolicy, now: Date): Promise<IssuancePolicyRecord> {
  const r = p.rules;
  const [row] = await sqlOf(tx).query<PolicySqlRow>(INSERT, [
    p.id,
    p.organizationId,
    p.userId ?? null,
    p.serviceAccountId ?? null,
    JSON.stringify(r.dnsNames),
    JSON.stringify(r.emails),
    JSON.stringify(r.ipRanges),
    JSON.stringify(r.caIds),
    JSON.stringify(r.certificateKinds),
    r.maxValidityDays,
    JSON.stringify(r.keyTypes),
    p.description,
    now,
  ]);
  return fromSql(row!);
}

export async function updateIssuancePolicy(tx: OrmTx, id: string, r: IssuancePolicyRuleColumns, description: string, now: Date): Promise<IssuancePolicyRecord> {
  const [row] = await sqlOf(tx).query<PolicySqlRow>(UPDATE, [
    id,
    JSON.stringify(r.dnsNames),
    JSON.stringify(r.emails),
    JSON.stringify(r.ipRanges),
    JSON.stringify(r.caIds),
    JSON.stringify(r.certificateKinds),
    r.maxValidityDays,
    JSON.stringify(r.keyTypes),
    description,
    now,
  ]);
  return fromSql(row!);
}

export async function deleteIssuancePolicy(tx: OrmTx, id: string): Promise<void> {
  await sqlOf(tx).query(DELETE, [id]);
}
