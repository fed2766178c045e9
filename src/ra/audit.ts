import type { EntityManager } from "@mikro-orm/postgresql";
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

  /** call after commit with the rows `record` returned */
  published(rows: readonly AuditLog[]): void {
    for (const row of rows) for (const l of this.listeners) l(row);
  }

  subscribe(listener: AuditListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
