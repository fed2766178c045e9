/**
 * audit_log's SQL: the column list and the jsonb-array insert that raw-SQL
 * transactions use (alone, or as a CTE of a larger statement). Kept apart
 * from audit.ts so the session module can write pending entries at COMMIT.
 */
import { AuditLog } from "../entities/index.js";
import { statement } from "../sql.js";

/** The columns of audit_log, in the order auditInsertSql writes them. */
export const AUDIT_COLUMNS = ["id", "created_at", "action", "user_id", "username", "organization_id", "resource_type", "resource_id", "detail"] as const;

/** An entry about to be written (the id and time are given by the writer). */
export type AuditRow = Pick<AuditLog, "id" | "createdAt" | "action" | "username" | "resourceType" | "detail"> &
  Partial<Pick<AuditLog, "userId" | "organizationId" | "resourceId">>;

/** a plain AuditLog object of a row (what watchers receive) */
export function auditEntity(row: AuditRow): AuditLog {
  return Object.assign(new AuditLog(), { userId: null, organizationId: null, resourceId: null, ...row });
}

/**
 * `insert into audit_log` of the rows in a jsonb array parameter (`$n`,
 * from auditRowsParam): any number of entries in one statement, usable as a
 * data-modifying CTE of a larger one.
 */
export function auditInsertSql(param: string): string {
  return `insert into audit_log (${AUDIT_COLUMNS.join(", ")})
    select ${AUDIT_COLUMNS.slice(0, -1).join(", ")}, coalesce(detail, '{}'::jsonb)
      from jsonb_to_recordset(${param}::jsonb) as r(id uuid, created_at timestamptz, action text, user_id uuid, username text,
                                                    organization_id uuid, resource_type text, resource_id text, detail jsonb)`;
}

/** the jsonb parameter of auditInsertSql */
export function auditRowsParam(rows: readonly AuditRow[]): string {
  return JSON.stringify(
    rows.map((r) => ({
      id: r.id,
      created_at: r.createdAt,
      action: r.action,
      user_id: r.userId ?? null,
      username: r.username,
      organization_id: r.organizationId ?? null,
      resource_type: r.resourceType,
      resource_id: r.resourceId ?? null,
      detail: r.detail,
    })),
  );
}

/** one statement inserting the rows of its $1 */
export const AUDIT_INSERT = statement("sigil_audit_insert", auditInsertSql("$1"));

