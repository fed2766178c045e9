import { bindPartialService, type ServiceBinding } from "../grpc-adapter.js";
import { ServiceAccountService } from "../../gen/sigil/admin/v1/service_account_pb.js";
import type { AdminServiceDeps } from "./index.js";

/** sigil.admin.v1.ServiceAccountService (work in progress). */
export function serviceAccountService(_deps: AdminServiceDeps): ServiceBinding {
  return bindPartialService(ServiceAccountService, {});
}
