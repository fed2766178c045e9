/** sigil.admin.v1.AuditService: list with filters, and a live stream of new entries. */
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { AuditService } from "../../gen/sigil/admin/v1/audit_pb.js";
import { listAuditEvents, watchAuditEvents } from "../../ra/audit-query.js";
import { parsePage } from "../../ra/paging.js";
import { requireActor } from "../principal.js";
import { auditToProto, dateOf } from "./convert.js";
import type { AdminServiceDeps } from "./index.js";

export function auditService({ ra }: AdminServiceDeps): ServiceBinding {
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
          startTime: dateOf(req.startTime),
          endTime: dateOf(req.endTime),
        },
        parsePage(req.pageSize, req.pageToken),
      );
      return { events: page.items.map(auditToProto), nextPageToken: page.nextPageToken };
    },
    // Server-streaming: runs until the client cancels (ctx.signal).
    async watchAuditEvents(req, ctx, send) {
      const actor = requireActor(ctx);
      await watchAuditEvents(
        ra,
        actor,
        { action: req.action, userId: req.userId, organizationId: req.organizationId, resourceType: req.resourceType, resourceId: req.resourceId },
        ctx.signal,
        (row) => send({ event: auditToProto(row) }),
      );
    },
  });
}
