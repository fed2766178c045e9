import type { MigrationObject } from "@mikro-orm/core";
import { Migration20261123120000Initial } from "./Migration20261123120000Initial.js";
import { Migration20261123140000Admin } from "./Migration20261123140000Admin.js";
import { Migration20261123150000CaDeletion } from "./Migration20261123150000CaDeletion.js";
import { Migration20261123130000Relying } from "./Migration20261123130000Relying.js";
import { Migration20261123160000AcmeIndexes } from "./Migration20261123160000AcmeIndexes.js";
import { Migration20261123170000RelyingIndexes } from "./Migration20261123170000RelyingIndexes.js";
import { Migration20261123171000RevocationGenerations } from "./Migration20261123171000RevocationGenerations.js";
import { Migration20261123172000OcspSignerCertificates } from "./Migration20261123172000OcspSignerCertificates.js";
import { Migration20261201140000DirectoryValidationNetworks } from "./Migration20261201140000DirectoryValidationNetworks.js";
import { Migration20261201100000AcmeOrderAuthz } from "./Migration20261201100000AcmeOrderAuthz.js";
import { Migration20261202100000AcmeProfiles } from "./Migration20261202100000AcmeProfiles.js";
import { Migration20261202110000RenewalCampaigns } from "./Migration20261202110000RenewalCampaigns.js";
import { Migration20261202120000AcmeCaa } from "./Migration20261202120000AcmeCaa.js";
import { Migration20261202130000RateLimits } from "./Migration20261202130000RateLimits.js";
import { Migration20261202150000AcmeCleanupIndexes } from "./Migration20261202150000AcmeCleanupIndexes.js";
import { Migration20261202160000CaseInsensitiveUsers } from "./Migration20261202160000CaseInsensitiveUsers.js";
import { Migration20261202170000OrganizationSlugSettings } from "./Migration20261202170000OrganizationSlugSettings.js";
import { Migration20261202171000SessionsLockout } from "./Migration20261202171000SessionsLockout.js";
import { Migration20261202180000CrlDerStorage } from "./Migration20261202180000CrlDerStorage.js";
import { Migration20261202185000AuditKeyChangeIndex } from "./Migration20261202185000AuditKeyChangeIndex.js";
import { Migration20261202190000CampaignProgress } from "./Migration20261202190000CampaignProgress.js";
import { Migration20261202190500ReplacementLimits } from "./Migration20261202190500ReplacementLimits.js";
import { Migration20261203100000CaKeyStorage } from "./Migration20261203100000CaKeyStorage.js";
import { Migration20261203110000OfflineRoot } from "./Migration20261203110000OfflineRoot.js";
import { Migration20261203120000DataKeys } from "./Migration20261203120000DataKeys.js";
import { Migration20261203130000ServiceAuth } from "./Migration20261203130000ServiceAuth.js";
import { Migration20261203140000IdentityProviders } from "./Migration20261203140000IdentityProviders.js";
import { Migration20261203150000IssuancePolicies } from "./Migration20261203150000IssuancePolicies.js";
import { Migration20261203170000UserEmailSelfAsserted } from "./Migration20261203170000UserEmailSelfAsserted.js";
import { Migration20261204100000CampaignTriggerEarlyExit } from "./Migration20261204100000CampaignTriggerEarlyExit.js";

/**
 * Every migration, in order. Listed explicitly (not globbed) so the same list
 * runs from TypeScript sources and from the compiled build, on PostgreSQL and
 * on embedded PGlite. Append new migrations at the end; never edit one that
 * has shipped. Write the SQL by hand (or from `getUpdateSchemaSQL`) and keep
 * test/integration/db/migrations.test.ts's "schema diff is empty" green.
 */
export const migrationsList: MigrationObject[] = [
  { name: "Migration20261123120000Initial", class: Migration20261123120000Initial },
  { name: "Migration20261123140000Admin", class: Migration20261123140000Admin },
  { name: "Migration20261123130000Relying", class: Migration20261123130000Relying },
  { name: "Migration20261123150000CaDeletion", class: Migration20261123150000CaDeletion },
  { name: "Migration20261123160000AcmeIndexes", class: Migration20261123160000AcmeIndexes },
  { name: "Migration20261123170000RelyingIndexes", class: Migration20261123170000RelyingIndexes },
  { name: "Migration20261123171000RevocationGenerations", class: Migration20261123171000RevocationGenerations },
  { name: "Migration20261123172000OcspSignerCertificates", class: Migration20261123172000OcspSignerCertificates },
  { name: "Migration20261201100000AcmeOrderAuthz", class: Migration20261201100000AcmeOrderAuthz },
  { name: "Migration20261201140000DirectoryValidationNetworks", class: Migration20261201140000DirectoryValidationNetworks },
  { name: "Migration20261202100000AcmeProfiles", class: Migration20261202100000AcmeProfiles },
  { name: "Migration20261202110000RenewalCampaigns", class: Migration20261202110000RenewalCampaigns },
  { name: "Migration20261202120000AcmeCaa", class: Migration20261202120000AcmeCaa },
  { name: "Migration20261202130000RateLimits", class: Migration20261202130000RateLimits },
  { name: "Migration20261202150000AcmeCleanupIndexes", class: Migration20261202150000AcmeCleanupIndexes },
  { name: "Migration20261202160000CaseInsensitiveUsers", class: Migration20261202160000CaseInsensitiveUsers },
  { name: "Migration20261202170000OrganizationSlugSettings", class: Migration20261202170000OrganizationSlugSettings },
  { name: "Migration20261202171000SessionsLockout", class: Migration20261202171000SessionsLockout },
  { name: "Migration20261202180000CrlDerStorage", class: Migration20261202180000CrlDerStorage },
  { name: "Migration20261202185000AuditKeyChangeIndex", class: Migration20261202185000AuditKeyChangeIndex },
  { name: "Migration20261202190000CampaignProgress", class: Migration20261202190000CampaignProgress },
  { name: "Migration20261202190500ReplacementLimits", class: Migration20261202190500ReplacementLimits },
  { name: "Migration20261203100000CaKeyStorage", class: Migration20261203100000CaKeyStorage },
  { name: "Migration20261203110000OfflineRoot", class: Migration20261203110000OfflineRoot },
  { name: "Migration20261203120000DataKeys", class: Migration20261203120000DataKeys },
  { name: "Migration20261203130000ServiceAuth", class: Migration20261203130000ServiceAuth },
  { name: "Migration20261203140000IdentityProviders", class: Migration20261203140000IdentityProviders },
  { name: "Migration20261203150000IssuancePolicies", class: Migration20261203150000IssuancePolicies },
  { name: "Migration20261203170000UserEmailSelfAsserted", class: Migration20261203170000UserEmailSelfAsserted },
  { name: "Migration20261204100000CampaignTriggerEarlyExit", class: Migration20261204100000CampaignTriggerEarlyExit },
];
