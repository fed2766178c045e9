import { bindPartialService, type ServiceBinding } from "../grpc-adapter.js";
import { AuthService } from "../../gen/sigil/admin/v1/auth_pb.js";
import type { AdminServiceDeps } from "./index.js";

/** sigil.admin.v1.AuthService (work in progress). */
export function authService(_deps: AdminServiceDeps): ServiceBinding {
  return bindPartialService(AuthService, {});
}
