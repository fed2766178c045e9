import { bindPartialService, type ServiceBinding } from "../grpc-adapter.js";
import { AuditService } from "../../gen/sigil/admin/v1/audit_pb.js";
import type { AdminServiceDeps } from "./index.js";

/** sigil.admin.v1.AuditService (work in progress). */
export function auditService(_deps: AdminServiceDeps): ServiceBinding {
  return bindPartialService(AuditService, {});
}
