import { bindPartialService, type ServiceBinding } from "../grpc-adapter.js";
import { UserService } from "../../gen/sigil/admin/v1/user_pb.js";
import type { AdminServiceDeps } from "./index.js";

/** sigil.admin.v1.UserService (work in progress). */
export function userService(_deps: AdminServiceDeps): ServiceBinding {
  return bindPartialService(UserService, {});
}
