/** Shared string-literal unions: statuses and kinds used across layers. */

export type KeyAlgorithm = "p256" | "p384" | "rsa2048" | "rsa3072" | "rsa4096";
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ["p256", "p384", "rsa2048", "rsa3072", "rsa4096"];

export type UserRole = "superuser" | "admin" | "user";
export type Capability = "create_ca" | "create_cert" | "revoke_cert" | "export_private_key" | "delete_ca";
export const CAPABILITIES: readonly Capability[] = ["create_ca", "create_cert", "revoke_cert", "export_private_key", "delete_ca"];

/**
 * "ocsp": a delegated OCSP signing certificate Sigil issued under a CA for its
 * own responder (src/ra/ocsp.ts). Recorded like every certificate a CA signs
 * (serials unique per issuer), but managed by the responder alone: the admin
 * API neither lists nor touches them.
 */
export type CertificateType = "server" | "client" | "dual" | "ca" | "ocsp";
/**
 * The kind of leaf a CA issues (RFC 5280 §4.2.1.12 extendedKeyUsage):
 * server (serverAuth), client (clientAuth) or dual (both). One type for the
 * admin plane's certificate type, the signer's profile and an ACME
 * directory's certificate kind.
 */
export type LeafType = "server" | "client" | "dual";
export const LEAF_TYPES: readonly LeafType[] = ["server", "client", "dual"];
export function isLeafType(value: unknown): value is LeafType {
  return typeof value === "string" && (LEAF_TYPES as readonly string[]).includes(value);
}
/** `value` as a LeafType, or undefined when it is not one */
export function parseLeafType(value: unknown): LeafType | undefined {
  return isLeafType(value) ? value : undefined;
}
export type CertificateStatus = "valid" | "revoked" | "expired";
/** "system": issued by Sigil for itself (OCSP signing certificates) */
export type CertificateSource = "admin" | "acme" | "system";
/** pending_activation: an intermediate with an external parent, its key and CSR made, its certificate not yet imported */
export type CaStatus = "active" | "revoked" | "expired" | "pending_activation";

/** RFC 5280 §5.3.1 CRLReason; 7 is unused and never accepted. */
export type RevocationReason = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 8 | 9 | 10;
export const REVOCATION_REASONS: readonly RevocationReason[] = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10];
export function isRevocationReason(n: unknown): n is RevocationReason {
  return typeof n === "number" && (REVOCATION_REASONS as readonly number[]).includes(n);
}

export type AcmeAccountStatus = "valid" | "deactivated" | "revoked";
export type AcmeOrderStatus = "pending" | "ready" | "processing" | "valid" | "invalid";
export type AcmeAuthzStatus = "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";
export type AcmeChallengeStatus = "pending" | "processing" | "valid" | "invalid";
/**
 * RFC 8555 §8.3 http-01, §8.4 dns-01, RFC 8737 tls-alpn-01; opt-in per directory:
 * draft-ietf-acme-dns-account-label dns-account-01, draft-ietf-acme-dns-persist-02 dns-persist-01
 */
export type AcmeChallengeType = "http-01" | "dns-01" | "tls-alpn-01" | "dns-account-01" | "dns-persist-01";
export type IdentifierType = "dns" | "ip";
export interface Identifier {
  type: IdentifierType;
  value: string;
}

export type AuditAction =
  | "ca_create" | "ca_update" | "ca_delete" | "ca_revoke" | "ca_export_private_key" | "ca_import"
  | "ca_activate" | "ca_crl_import"
  | "cert_create" | "cert_revoke" | "cert_renew" | "cert_export_private_key" | "cert_expire"
  | "login_success" | "login_failure" | "logout" | "sessions_invalidate" | "session_revoke"
  | "user_create" | "user_update" | "user_deactivate" | "user_unlock"
  | "org_create" | "org_update" | "org_delete" | "org_add_user" | "org_remove_user"
  | "acme_directory_create" | "acme_directory_update" | "acme_directory_delete"
  | "acme_profile_create" | "acme_profile_update" | "acme_profile_delete"
  | "acme_account_create" | "acme_account_update" | "acme_account_deactivate" | "acme_account_key_change"
  | "acme_order_create" | "acme_authz_deactivate" | "acme_challenge_validate" | "acme_order_finalize" | "acme_cert_revoke"
  | "eab_create" | "eab_revoke" | "eab_use"
  | "acme_rate_limit_override_set" | "acme_rate_limit_override_delete"
  | "service_account_create" | "service_account_update" | "service_account_delete"
  | "api_key_create" | "api_key_revoke"
  | "service_account_public_key_register" | "service_account_public_key_revoke" | "service_account_token_exchange"
  | "renewal_campaign_create" | "renewal_campaign_cancel"
  | "identity_provider_create" | "identity_provider_update" | "identity_provider_delete" | "sso_identity_link"
  | "issuance_policy_create" | "issuance_policy_update" | "issuance_policy_delete" | "cert_policy_denied"
  | "master_key_rotation_start" | "master_key_rotation_finish" | "data_key_rotate" | "data_key_destroy"
  | "system_bootstrap";
