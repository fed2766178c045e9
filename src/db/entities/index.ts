import { AuditLogSchema } from "./audit-log.js";
import { CertificateAuthoritySchema } from "./certificate-authority.js";
import { CertificateSchema } from "./certificate.js";
import { OrganizationSchema } from "./organization.js";
import { UserSchema } from "./user.js";
import { SystemSettingSchema } from "./system-setting.js";
import { LoginFailureSchema, RefreshTokenSchema, SessionSchema } from "./session.js";
import { ApiKeySchema, ServiceAccountSchema } from "./service-account.js";
import { JwtBearerJtiSchema, ServiceAccountPublicKeySchema } from "./service-account-key.js";
import { OcspSignerSchema, RevocationGenerationSchema, StoredCrlSchema } from "./crl.js";
import { RenewalCampaignCertificateSchema, RenewalCampaignSchema } from "./renewal-campaign.js";
import { AcmeProfileSchema } from "./acme-profile.js";
import { IssuancePolicySchema } from "./issuance-policy.js";
import { AcmeRateLimitOverrideSchema, RateLimitBucketSchema } from "./rate-limit.js";
import { IdentityProviderSchema, OidcLoginSchema, UserIdentitySchema } from "./identity-provider.js";
import { DataKeySchema } from "./data-key.js";
import {
  AcmeAccountSchema,
  AcmeAuthorizationSchema,
  AcmeChallengeSchema,
  AcmeDirectorySchema,
  AcmeEabKeySchema,
  AcmeNonceSchema,
  AcmeOrderAuthorizationSchema,
  AcmeOrderSchema,
} from "./acme.js";

export * from "./organization.js";
export * from "./user.js";
export * from "./certificate-authority.js";
export * from "./certificate.js";
export * from "./audit-log.js";
export * from "./acme.js";
export * from "./system-setting.js";
export * from "./session.js";
export * from "./service-account.js";
export * from "./service-account-key.js";
export * from "./crl.js";
export * from "./renewal-campaign.js";
export * from "./acme-profile.js";
export * from "./issuance-policy.js";
export * from "./rate-limit.js";
export * from "./identity-provider.js";
export * from "./data-key.js";

/** Every entity schema, for the ORM config. Add new ones here (and a migration). */
export const allEntities = [
  OrganizationSchema,
  UserSchema,
  CertificateAuthoritySchema,
  CertificateSchema,
  AuditLogSchema,
  AcmeDirectorySchema,
  AcmeEabKeySchema,
  AcmeAccountSchema,
  AcmeOrderSchema,
  AcmeOrderAuthorizationSchema,
  AcmeAuthorizationSchema,
  AcmeChallengeSchema,
  AcmeNonceSchema,
  SystemSettingSchema,
  SessionSchema,
  RefreshTokenSchema,
  LoginFailureSchema,
  ServiceAccountSchema,
  ApiKeySchema,
  ServiceAccountPublicKeySchema,
  JwtBearerJtiSchema,
  StoredCrlSchema,
  OcspSignerSchema,
  RevocationGenerationSchema,
  RenewalCampaignSchema,
  RenewalCampaignCertificateSchema,
  AcmeProfileSchema,
  RateLimitBucketSchema,
  AcmeRateLimitOverrideSchema,
  IdentityProviderSchema,
  UserIdentitySchema,
  OidcLoginSchema,
  DataKeySchema,
  IssuancePolicySchema,
];
