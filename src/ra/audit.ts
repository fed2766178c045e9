import { uuidv7 } from "../core/ids.js";
import type { AuditAction } from "../core/types.js";
import type { AuditLog } from "../db/entities/index.js";
import { auditEntity } from "../db/store/audit.js";
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
 * Builds audit entries (the storage layer writes them inside the caller's
 * transaction, so a change and its entry commit or roll back together) and
 * tells subscribers of them only after the commit.
 */
export class AuditLogWriter {
  private readonly listeners = new Set<AuditListener>();

  /**
   * An entry as a plain row, for the storage layer to write inside the
   * transaction of the change; call `published` after the commit.
   */
  row(actor: Actor, entry: AuditEntry): AuditLog {
    return auditEntity({
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
