/** sigil.admin.v1.AuditService: list with filters, and a live stream of new entries. */
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { AuditService } from "../../gen/sigil/admin/v1/audit_pb.js";
import { auditMatches, listAuditEvents, scopeAuditFilter, watchAuditEvents } from "../../ra/audit-query.js";
import { bearerCredential } from "../auth-hook.js";
import { parsePage } from "../../ra/paging.js";
import { requireActor } from "../principal.js";
import { auditToProto, dateOf } from "./convert.js";
import type { AdminServiceDeps } from "./index.js";

export function auditService({ ra, auth }: AdminServiceDeps): ServiceBinding {
  return bindService(AuditService, {
    async listAuditEvents(req, ctx) {
      const actor = requireActor(ctx);
      const page = await listAuditEvents(
        ra,
        actor,
        {
          action: req.action,
          userId: req.userId,
          organizationId: req.organizationId,
          resourceType: req.resourceType,
          resourceId: req.resourceId,
          startTime: dateOf(req.startTime, "start_time"),
          endTime: dateOf(req.endTime, "end_time"),
        },
        parsePage(req.pageSize, req.pageToken),
      );
      return { events: page.items.map(auditToProto), nextPageToken: page.nextPageToken };
    },
    // Server-streaming: runs until the client cancels (ctx.signal).
    // The stream outlives the credential check of its start: before each entry
    // goes out, the credential is checked again (a logout, revoked session or
    // API key, deactivation or password change ends the stream with
    // UNAUTHENTICATED) and the entry is re-scoped to what the caller may see
    // now (role or organization changes apply at once). The access token's
    // own 15-minute exp is judged as of the stream's start, so `sigil audit
    // watch` is not cut off (a stream cannot be resumed without a gap).
    async watchAuditEvents(req, ctx, send) {
      const actor = requireActor(ctx);
      const credential = bearerCredential(ctx);
      const startedAt = ra.clock.now();
      const filter = { action: req.action, userId: req.userId, organizationId: req.organizationId, resourceType: req.resourceType, resourceId: req.resourceId };
      await watchAuditEvents(ra, actor, filter, ctx.signal, async (row) => {
        const now = await auth.authenticate(credential, startedAt);
        if (!auditMatches(row, scopeAuditFilter(now.actor, filter))) return;
        await send({ event: auditToProto(row) });
      });
    },
  });
}
