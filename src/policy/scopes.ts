/**
 * Scopes of service-account credentials (issue 13 item 3, docs/service-auth.md).
 *
 * An API key or a registered public key (JWT bearer, RFC 7523) carries a
 * list of scopes; each admin RPC needs one scope (RPC_SCOPES). A scope only
 * further restricts what the service account may do: the permission rule
 * (src/policy/permissions.ts) still applies to whatever the scope lets
 * through, so a scope never grants anything the service account lacks.
 *
 * Scope syntax: "<resource>:<action>" from SCOPES, "<resource>:*" (every
 * action on that resource), or "*" (everything; the default of keys created
 * without scopes and of keys created before scopes existed).
 *
 * The check runs in one place, for every RPC: `requireScope`, called by
 * `authorizeRpc` (permissions.ts) from the admin authentication hook. An
 * RPC missing from RPC_SCOPES needs "*" (fails closed), and
 * test/unit/policy/scopes.test.ts fails for it.
 */
import { SigilError } from "../core/errors.js";

/** Every scope, with what it allows. The order is the documentation's. */
export const SCOPE_DESCRIPTIONS = {
  "organizations:read": "read organizations and their members",
  "organizations:write": "create, change and delete organizations; add and remove members",
  "users:read": "read users",
  "users:write": "create, change, deactivate and unlock users",
  "sessions:read": "list login sessions",
  "sessions:write": "revoke login sessions",
  "service-accounts:read": "read service accounts, their API keys and public keys",
  "service-accounts:write": "create, change and delete service accounts; create and revoke API keys; register and revoke public keys",
  "cas:read": "read certificate authorities and their chains",
  "cas:write": "create, import, change, revoke and delete certificate authorities",
  "cas:export": "export a certificate authority's private key",
  "certificates:read": "read certificates and their chains",
  "certificates:issue": "issue, sign (CSR) and renew certificates",
  "certificates:revoke": "revoke certificates",
  "certificates:export": "export a certificate's private key",
  "acme:read": "read ACME directories, EAB keys, accounts, orders, profiles and rate-limit overrides",
  "acme:admin": "change ACME directories, EAB keys, accounts, profiles and rate-limit overrides",
  "audit:read": "read and watch the audit log",
  "renewal:read": "read renewal campaigns",
  "renewal:write": "create and cancel renewal campaigns",
  "policies:read": "read issuance policies",
  "policies:write": "create, change and delete issuance policies",
  "keys:write": "rotate an organization's data key (KeyManagementService)",
  "identity-providers:read": "read an organization's OpenID Connect providers (never their client secrets)",
  "identity-providers:write": "create, change and delete OpenID Connect providers",
} as const satisfies Record<string, string>;

export type Scope = keyof typeof SCOPE_DESCRIPTIONS;

export const SCOPES = Object.keys(SCOPE_DESCRIPTIONS) as Scope[];

/** The resources of SCOPES ("certificates", "cas", ...): the "<resource>:*" wildcards. */
export const SCOPE_RESOURCES: readonly string[] = [...new Set(SCOPES.map((s) => s.slice(0, s.indexOf(":"))))];

/** The scope that grants everything. */
export const ALL_SCOPES = "*";

/** Most scopes one credential may list. */
export const MAX_SCOPES = 64;

/** What a credential needs for an RPC: a scope, or nothing ("none": any credential of the caller, e.g. WhoAmI). */
export type RpcScope = Scope | "none";

const A = "sigil.admin.v1.";

/**
 * The scope every admin RPC needs, by "<service>/<method>" (without the
 * package). Methods callable without credentials (Login, Refresh,
 * ExchangeJwt) are listed as "none": nothing is checked for them.
 */
export const RPC_SCOPES: Readonly<Record<string, RpcScope>> = {
  // AuthService
  "AuthService/Login": "none",
  "AuthService/Refresh": "none",
  "AuthService/ExchangeJwt": "none",
  "AuthService/BeginSsoLogin": "none",
  "AuthService/CompleteSsoLogin": "none",
  "AuthService/Logout": "none",
  "AuthService/WhoAmI": "none",
  "AuthService/InvalidateAllSessions": "sessions:write",
  "AuthService/ListSessions": "sessions:read",
  "AuthService/RevokeSession": "sessions:write",
  // OrganizationService
  "OrganizationService/CreateOrganization": "organizations:write",
  "OrganizationService/GetOrganization": "organizations:read",
  "OrganizationService/ListOrganizations": "organizations:read",
  "OrganizationService/UpdateOrganization": "organizations:write",
  "OrganizationService/DeleteOrganization": "organizations:write",
  "OrganizationService/AddOrganizationUser": "organizations:write",
  "OrganizationService/RemoveOrganizationUser": "organizations:write",
  "OrganizationService/ListOrganizationUsers": "organizations:read",
  // UserService
  "UserService/CreateUser": "users:write",
  "UserService/GetUser": "users:read",
  "UserService/ListUsers": "users:read",
  "UserService/UpdateUser": "users:write",
  "UserService/DeactivateUser": "users:write",
  "UserService/UnlockUser": "users:write",
  // ServiceAccountService
  "ServiceAccountService/CreateServiceAccount": "service-accounts:write",
  "ServiceAccountService/GetServiceAccount": "service-accounts:read",
  "ServiceAccountService/ListServiceAccounts": "service-accounts:read",
  "ServiceAccountService/UpdateServiceAccount": "service-accounts:write",
  "ServiceAccountService/DeleteServiceAccount": "service-accounts:write",
  "ServiceAccountService/CreateApiKey": "service-accounts:write",
  "ServiceAccountService/ListApiKeys": "service-accounts:read",
  "ServiceAccountService/RevokeApiKey": "service-accounts:write",
  "ServiceAccountService/RegisterServiceAccountPublicKey": "service-accounts:write",
  "ServiceAccountService/ListServiceAccountPublicKeys": "service-accounts:read",
  "ServiceAccountService/RevokeServiceAccountPublicKey": "service-accounts:write",
  // CertificateAuthorityService
  "CertificateAuthorityService/CreateRootCertificateAuthority": "cas:write",
  "CertificateAuthorityService/CreateIntermediateCertificateAuthority": "cas:write",
  "CertificateAuthorityService/ImportCertificateAuthority": "cas:write",
  "CertificateAuthorityService/GetCertificateAuthority": "cas:read",
  "CertificateAuthorityService/ListCertificateAuthorities": "cas:read",
  "CertificateAuthorityService/GetCertificateAuthorityChain": "cas:read",
  "CertificateAuthorityService/ListCertificateAuthorityChildren": "cas:read",
  "CertificateAuthorityService/UpdateCertificateAuthority": "cas:write",
  "CertificateAuthorityService/DeleteCertificateAuthority": "cas:write",
  "CertificateAuthorityService/RevokeCertificateAuthority": "cas:write",
  "CertificateAuthorityService/ExportCertificateAuthorityPrivateKey": "cas:export",
  "CertificateAuthorityService/ActivateIntermediateCertificateAuthority": "cas:write",
  "CertificateAuthorityService/ImportCertificateAuthorityCrl": "cas:write",
  // CertificateService
  "CertificateService/IssueCertificate": "certificates:issue",
  "CertificateService/SignCsr": "certificates:issue",
  "CertificateService/GetCertificate": "certificates:read",
  "CertificateService/ListCertificates": "certificates:read",
  "CertificateService/GetCertificateChain": "certificates:read",
  "CertificateService/RevokeCertificate": "certificates:revoke",
  "CertificateService/RenewCertificate": "certificates:issue",
  "CertificateService/ExportCertificatePrivateKey": "certificates:export",
  // AcmeService
  "AcmeService/CreateAcmeDirectory": "acme:admin",
  "AcmeService/GetAcmeDirectory": "acme:read",
  "AcmeService/ListAcmeDirectories": "acme:read",
  "AcmeService/UpdateAcmeDirectory": "acme:admin",
  "AcmeService/DeleteAcmeDirectory": "acme:admin",
  "AcmeService/CreateEabKey": "acme:admin",
  "AcmeService/ListEabKeys": "acme:read",
  "AcmeService/RevokeEabKey": "acme:admin",
  "AcmeService/ListAcmeAccounts": "acme:read",
  "AcmeService/DeactivateAcmeAccount": "acme:admin",
  "AcmeService/ListAcmeOrders": "acme:read",
  "AcmeService/SetAcmeRateLimitOverride": "acme:admin",
  "AcmeService/ListAcmeRateLimitOverrides": "acme:read",
  "AcmeService/DeleteAcmeRateLimitOverride": "acme:admin",
  "AcmeService/CreateAcmeProfile": "acme:admin",
  "AcmeService/GetAcmeProfile": "acme:read",
  "AcmeService/ListAcmeProfiles": "acme:read",
  "AcmeService/UpdateAcmeProfile": "acme:admin",
  "AcmeService/DeleteAcmeProfile": "acme:admin",
  // AuditService
  "AuditService/ListAuditEvents": "audit:read",
  "AuditService/WatchAuditEvents": "audit:read",
  // RenewalService
  "RenewalService/CreateRenewalCampaign": "renewal:write",
  "RenewalService/GetRenewalCampaign": "renewal:read",
  "RenewalService/ListRenewalCampaigns": "renewal:read",
  "RenewalService/CancelRenewalCampaign": "renewal:write",
  // IssuancePolicyService
  "IssuancePolicyService/CreateIssuancePolicy": "policies:write",
  "IssuancePolicyService/GetIssuancePolicy": "policies:read",
  "IssuancePolicyService/ListIssuancePolicies": "policies:read",
  "IssuancePolicyService/UpdateIssuancePolicy": "policies:write",
  "IssuancePolicyService/DeleteIssuancePolicy": "policies:write",
  // KeyManagementService
  "KeyManagementService/RotateOrganizationDataKey": "keys:write",
  // IdentityProviderService
  "IdentityProviderService/CreateIdentityProvider": "identity-providers:write",
  "IdentityProviderService/GetIdentityProvider": "identity-providers:read",
  "IdentityProviderService/ListIdentityProviders": "identity-providers:read",
  "IdentityProviderService/UpdateIdentityProvider": "identity-providers:write",
  "IdentityProviderService/DeleteIdentityProvider": "identity-providers:write",
};

/**
 * The scope an RPC needs, from its gRPC path "/sigil.admin.v1.X/Method";
 * undefined for a path missing from RPC_SCOPES (then only "*" passes).
 */
export function scopeOfRpc(path: string): RpcScope | undefined {
  const p = path.startsWith("/") ? path.slice(1) : path;
  if (!p.startsWith(A)) return undefined;
  return RPC_SCOPES[p.slice(A.length)];
}

/** Whether `granted` (a credential's scopes) covers `needed`. */
export function scopesAllow(granted: readonly string[], needed: Scope): boolean {
  const resource = needed.slice(0, needed.indexOf(":"));
  return granted.some((g) => g === ALL_SCOPES || g === needed || g === `${resource}:*`);
}

/** Message of the refusal: names the scope that is missing. */
export function missingScopeMessage(needed: Scope | typeof ALL_SCOPES): string {
  return `this credential lacks the scope "${needed}"`;
}

/**
 * The scope guard: a credential with `scopes` (undefined: unrestricted, a
 * user's) may call the RPC at `path` only when they cover its scope;
 * PERMISSION_DENIED naming the missing scope otherwise.
 */
export function requireScope(scopes: readonly string[] | undefined, path: string): void {
  if (scopes === undefined) return;
  const needed = scopeOfRpc(path);
  if (needed === "none") return;
  if (needed === undefined) {
    if (scopes.includes(ALL_SCOPES)) return;
    throw SigilError.permissionDenied(missingScopeMessage(ALL_SCOPES));
  }
  if (!scopesAllow(scopes, needed)) throw SigilError.permissionDenied(missingScopeMessage(needed));
}

/** Whether `s` is a scope a credential may carry: "*", "<resource>:*" or one of SCOPES. */
export function isValidScope(s: string): boolean {
  if (s === ALL_SCOPES) return true;
  if (s.endsWith(":*")) return SCOPE_RESOURCES.includes(s.slice(0, -2));
  return (SCOPES as readonly string[]).includes(s);
}

/**
 * The scopes of a new credential: empty means ["*"]; duplicates dropped,
 * order kept. Unknown scopes: INVALID_ARGUMENT on `field` (one field
 * violation per bad entry, "scopes[2]").
 */
export function normalizeScopes(input: readonly string[], field = "scopes"): string[] {
  if (input.length === 0) return [ALL_SCOPES];
  if (input.length > MAX_SCOPES) throw SigilError.invalidArgument(`at most ${MAX_SCOPES} scopes`, field);
  const bad = input.map((s, i) => ({ s, i })).filter(({ s }) => !isValidScope(s));
  if (bad.length > 0) {
    throw SigilError.invalidArguments(
      bad.map(({ s, i }) => ({
        field: `${field}[${i}]`,
        description: `unknown scope "${s.slice(0, 64)}": use "*", "<resource>:*" or one of ${SCOPES.join(", ")}`,
      })),
    );
  }
  return [...new Set(input)];
}
