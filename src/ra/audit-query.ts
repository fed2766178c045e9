/**
 * Reading the audit log: List with filters and Watch (entries published by
 * AuditLogWriter after their transaction committed). A superuser sees every
 * entry; anyone else only its own organization's slice (asking for another
 * organization is NOT_FOUND, as everywhere).
 */
import { SigilError } from "../core/errors.js";
import type { AuditLog } from "../db/entities/index.js";
import { listAuditLog } from "../db/store/audit-query.js";
import { authorize, isSuperuser } from "../policy/permissions.js";
import type { Actor } from "./actor.js";
import type { RaContext } from "./context.js";
import { requireId } from "./input.js";
import type { Page } from "./organizations.js";
import { nextPageToken, type PageRequest } from "./paging.js";

export interface AuditFilter {
  action?: string;
  userId?: string;
  organizationId?: string;
  resourceType?: string;
  resourceId?: string;
}

export interface AuditListFilter extends AuditFilter {
  /** at or after */
  startTime?: Date;
  /** before */
  endTime?: Date;
}

/** Validates the filter and narrows it to what the caller may see. */
export function scopeAuditFilter(actor: Actor, filter: AuditFilter): AuditFilter {
  const out: AuditFilter = { ...filter };
  if (out.userId) out.userId = requireId(out.userId, "user_id");
  if (out.organizationId) {
    out.organizationId = requireId(out.organizationId, "organization_id");
    authorize(actor, out.organizationId, "read");
  } else if (!isSuperuser(actor)) {
    const own = actor.kind === "system" ? null : actor.organizationId;
    // no organization: only a superuser may read global entries
    if (!own) throw SigilError.permissionDenied("only a superuser may read the global audit log");
    authorize(actor, own, "read");
    out.organizationId = own;
  }
  return out;
}

/** Entries matching the filter, newest first. */
export async function listAuditEvents(ctx: RaContext, actor: Actor, filter: AuditListFilter, page: PageRequest): Promise<Page<AuditLog>> {
  if (filter.startTime && filter.endTime && filter.startTime.getTime() >= filter.endTime.getTime()) {
    throw SigilError.invalidArgument("must be after start_time", "end_time");
  }
  const scoped = { ...filter, ...scopeAuditFilter(actor, filter) };
  const { items, total } = await listAuditLog(ctx.store, scoped, page);
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** Whether an entry matches an (already scoped) filter. */
export function auditMatches(row: AuditLog, filter: AuditFilter): boolean {
  return (
    (!filter.action || row.action === filter.action) &&
    (!filter.userId || row.userId === filter.userId) &&
    (!filter.organizationId || row.organizationId === filter.organizationId) &&
    (!filter.resourceType || row.resourceType === filter.resourceType) &&
    (!filter.resourceId || row.resourceId === filter.resourceId)
  );
}

/**
 * Entries one watcher may have waiting: a consumer that falls this far behind
 * (or stops reading while keeping the call open) is ended with
 * RESOURCE_EXHAUSTED instead of holding an ever-growing queue in memory.
 */
export const WATCH_BACKLOG_LIMIT = 10_000;
export const WATCH_BACKLOG_EXCEEDED = "the watcher fell too far behind; list the missed entries and watch again";

/**
 * Calls `onEntry` for every entry committed after this call that matches the
 * filter (scoped to what the actor may see), until `signal` aborts. Resolves
 * when it does. Entries are delivered in commit order through a queue, so a
 * slow consumer does not lose any, up to WATCH_BACKLOG_LIMIT waiting entries
 * (then RESOURCE_EXHAUSTED).
 */
export async function watchAuditEvents(
  ctx: RaContext,
  actor: Actor,
  filter: AuditFilter,
  signal: AbortSignal,
  onEntry: (row: AuditLog) => Promise<void>,
): Promise<void> {
  const scoped = scopeAuditFilter(actor, filter);
  const queue: AuditLog[] = [];
  let overflow = false;
  let wake: (() => void) | undefined;
  const unsubscribe = ctx.audit.subscribe((row) => {
    if (overflow || !auditMatches(row, scoped)) return;
    if (queue.length >= WATCH_BACKLOG_LIMIT) {
      overflow = true;
      queue.length = 0;
    } else {
      queue.push(row);
    }
    wake?.();
  });
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (!signal.aborted) {
      if (overflow) throw SigilError.resourceExhausted(WATCH_BACKLOG_EXCEEDED);
      const row = queue.shift();
      if (row) {
        await onEntry(row);
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (signal.aborted || queue.length || overflow) resolve();
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}
