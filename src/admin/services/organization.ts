import { bindPartialService, type ServiceBinding } from "../grpc-adapter.js";
import { OrganizationService } from "../../gen/sigil/admin/v1/organization_pb.js";
import type { AdminServiceDeps } from "./index.js";

/** sigil.admin.v1.OrganizationService (work in progress). */
export function organizationService(_deps: AdminServiceDeps): ServiceBinding {
  return bindPartialService(OrganizationService, {});
}
