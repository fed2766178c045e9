/**
 * Every sigil.admin.v1 service the admin gRPC server serves, built from the
 * same dependencies. `startSigil` passes the result to
 * `buildAdminGrpcServer({ services: adminServices(deps), before: authHook })`.
 *
 * Adding a service: import its factory and append one line to the list.
 */
import type { ServiceBinding } from "../grpc-adapter.js";
import type { RaContext } from "../../ra/context.js";
import type { AuthManager } from "../../ra/auth.js";
import { acmeService } from "./acme.js";
import { auditService } from "./audit.js";
import { authService } from "./auth.js";
import { certificateService } from "./certificate.js";
import { certificateAuthorityService } from "./certificate-authority.js";
import { issuancePolicyService } from "./issuance-policy.js";
import { keyManagementService } from "./key-management.js";
import { organizationService } from "./organization.js";
import { renewalService } from "./renewal.js";
import { serviceAccountService } from "./service-account.js";
import { userService } from "./user.js";
import { identityProviderService } from "./identity-provider.js";

/** What the service implementations need; built once in startSigil. */
export interface AdminServiceDeps {
  /** the registration authority: the only place that changes state */
  ra: RaContext;
  /** tokens, sessions, API keys and login throttling (src/ra/auth.ts) */
  auth: AuthManager;
}

/** The bindings of every admin service, in the order they are registered. */
export function adminServices(deps: AdminServiceDeps): ServiceBinding[] {
  return [
    authService(deps),
    organizationService(deps),
    userService(deps),
    auditService(deps),
    serviceAccountService(deps),
    certificateAuthorityService(deps),
    certificateService(deps),
    acmeService(deps),
    renewalService(deps),
    identityProviderService(deps),
    issuancePolicyService(deps),
    keyManagementService(deps),
  ];
}
