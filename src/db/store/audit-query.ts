/**
 * Reading the audit_log table (writing lives in audit.ts): filtered pages,
 * newest first. The (organization_id, created_at) and (created_at) indexes
 * back the usual filters.
 */
import { AuditLog } from "../entities/index.js";
import { emOf, type Session } from "./session.js";

/** Which entries to read: every field given must match. */
export interface AuditLogFilter {
  action?: string;
  userId?: string;
  organizationId?: string;
  resourceType?: string;
  resourceId?: string;
  /** at or after */
  startTime?: Date;
  /** before */
  endTime?: Date;
}

/** A page of entries matching the filter, newest first, and how many match in all. */
export async function listAuditLog(s: Session, filter: AuditLogFilter, window: { offset: number; limit: number }): Promise<{ items: AuditLog[]; total: number }> {
  // action is free text here: an action no entry has simply matches nothing
  const where: Record<string, unknown> = {};
  if (filter.action) where.action = filter.action;
  if (filter.userId) where.userId = filter.userId;
  if (filter.organizationId) where.organizationId = filter.organizationId;
  if (filter.resourceType) where.resourceType = filter.resourceType;
  if (filter.resourceId) where.resourceId = filter.resourceId;
  if (filter.startTime || filter.endTime) {
    where.createdAt = {
      ...(filter.startTime ? { $gte: filter.startTime } : {}),
      ...(filter.endTime ? { $lt: filter.endTime } : {}),
    };
  }
  const [items, total] = await emOf(s).findAndCount(AuditLog, where, { orderBy: { createdAt: "desc", id: "desc" }, offset: window.offset, limit: window.limit });
  return { items, total };
}
