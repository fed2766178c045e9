import type { EntityManager } from "@mikro-orm/postgresql";
import { uuidv7 } from "../core/ids.js";
import type { AuditAction } from "../core/types.js";
import { AuditLog } from "../db/entities/index.js";
import { actorAuditFields, type Actor } from "./actor.js";

export interface AuditEntry {
  action: AuditAction;
  organizationId?: string | null;
  resourceType: string;
  resourceId?: string | null;
  /** never secrets: no keys, passwords, tokens or HMAC keys */
  detail?: Record<string, unknown>;
}

/** Listeners told about entries after their transaction commits (AuditService.Watch). */
export type AuditListener = (entry: AuditLog) => void;

/**
 * Writes audit entries inside the caller's transaction (`em` must be the
 * transactional fork), so a change and its entry commit or roll back
 * together. Subscribers hear of an entry only after the commit.
 */
export class AuditLogWriter {
  private readonly listeners = new Set<AuditListener>();

  record(em: EntityManager, actor: Actor, entry: AuditEntry): AuditLog {
    const row = em.create(AuditLog, {
      action: entry.action,
      ...actorAuditFields(actor),
      organizationId: entry.organizationId ?? null,
      resourceType: entry.resourceType,
      resourceId: entry.resourceId ?? null,
      detail: entry.detail ?? {},
    } as AuditLog);
    em.persist(row);
    return row;
  }

  /**
   * An entry as a plain row, for writers that insert it themselves with
   * AUDIT_INSERT (inside the transaction of the change) and call
   * `published` after the commit.
   */
  row(actor: Actor, entry: AuditEntry): AuditLog {
    return Object.assign(new AuditLog(), {
      id: uuidv7(),
      createdAt: new Date(),
      action: entry.action,
      ...actorAuditFields(actor),
      organizationId: entry.organizationId ?? null,
      resourceType: entry.resourceType,
      resourceId: entry.resourceId ?? null,
      detail: entry.detail ?? {},
    });
  }

  /** call after commit with the rows `record` returned */
  published(rows: readonly AuditLog[]): void {
    for (const row of rows) for (const l of this.listeners) l(row);
  }

  subscribe(listener: AuditListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * `insert into audit_log` of the rows in a jsonb array parameter (`$n`,
 * from auditRowsParam): any number of entries in one statement, usable as a
 * data-modifying CTE of a larger one.
 */
export function auditInsertSql(param: string): string {
  return `insert into audit_log (id, created_at, action, user_id, username, organization_id, resource_type, resource_id, detail)
    select id, created_at, action, user_id, username, organization_id, resource_type, resource_id, coalesce(detail, '{}'::jsonb)
      from jsonb_to_recordset(${param}::jsonb) as r(id uuid, created_at timestamptz, action text, user_id uuid, username text,
                                                    organization_id uuid, resource_type text, resource_id text, detail jsonb)`;
}

/** the jsonb parameter of auditInsertSql */
export function auditRowsParam(rows: readonly AuditLog[]): string {
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
