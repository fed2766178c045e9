/**
 * Every column list a store module writes into its SQL text, in one place,
 * so test/integration/db/store-columns.test.ts can hold each against the ORM
 * metadata and the migrated schema: a column renamed, dropped or added in
 * one of the three and not the others fails there instead of at run time.
 *
 * A store module that writes SQL exports its column lists as `*_COLUMNS`
 * constants and adds them here. `insert: true` marks a list that is the
 * whole column list of an INSERT: it must then name every NOT NULL column
 * without a default (plus any column the statement writes as a literal,
 * listed in `literals`).
 */
import { ACME_ACCOUNT_COLUMNS, ACME_ACCOUNT_INSERT_COLUMNS } from "./acme-accounts.js";
import { ACME_AUTHORIZATION_COLUMNS, ACME_CHALLENGE_COLUMNS } from "./acme-authorizations.js";
import { ACME_DIRECTORY_COLUMNS } from "./acme-directories.js";
import { ACME_PROFILE_COLUMNS } from "./acme-profiles.js";
import {
  CLEANUP_AUTHORIZATION_COLUMNS,
  CLEANUP_CERTIFICATE_COLUMNS,
  CLEANUP_ORDER_AUTHORIZATION_COLUMNS,
  CLEANUP_ORDER_COLUMNS,
} from "./cleanup.js";
import { RATE_LIMIT_BUCKET_COLUMNS, RATE_LIMIT_OVERRIDE_COLUMNS } from "./rate-limits.js";
import { ORDER_COLUMNS } from "./acme-orders.js";
import { AUDIT_COLUMNS } from "./audit-sql.js";
import { CERTIFICATE_INSERT_COLUMNS } from "./certificates.js";
import { LISTENER_CERTIFICATE_COLUMNS } from "./listener-certificates.js";
import { ACME_NONCE_INSERT_COLUMNS } from "./nonces.js";
import { RENEWAL_INFO_CA_COLUMNS, RENEWAL_INFO_CERTIFICATE_COLUMNS } from "./renewal-info.js";
import { REPLACED_CERTIFICATE_COLUMNS } from "./acme-replacements.js";
import { RENEWAL_CAMPAIGN_COLUMNS, RENEWAL_CAMPAIGN_MEMBER_COLUMNS } from "./renewal-campaigns.js";
import { ORGANIZATION_HOLDING_TABLES } from "./organizations.js";
import { SYSTEM_SETTING_INSERT_COLUMNS } from "./system-settings.js";
import { ISSUANCE_POLICY_COLUMNS } from "./issuance-policies.js";
import { JWT_BEARER_JTI_COLUMNS } from "./jwt-replay.js";
import { ACCESS_SESSION_COLUMNS, ACCESS_USER_COLUMNS } from "./sessions.js";

export interface StoreColumnList {
  table: string;
  columns: readonly string[];
  /** the module that declares the list, for the failure message */
  module: string;
  /** the list is an INSERT's whole column list */
  insert?: boolean;
  /** columns the INSERT writes as literals in its text, not from the list */
  literals?: readonly string[];
}

export const STORE_COLUMN_LISTS: StoreColumnList[] = [
  { table: "sessions", columns: ACCESS_SESSION_COLUMNS, module: "src/db/store/sessions.ts" },
  { table: "users", columns: ACCESS_USER_COLUMNS, module: "src/db/store/sessions.ts" },
  { table: "acme_accounts", columns: ACME_ACCOUNT_COLUMNS, module: "src/db/store/acme-accounts.ts" },
  { table: "acme_accounts", columns: ACME_ACCOUNT_INSERT_COLUMNS, module: "src/db/store/acme-accounts.ts", insert: true },
  { table: "acme_directories", columns: ACME_DIRECTORY_COLUMNS, module: "src/db/store/acme-directories.ts" },
  { table: "rate_limit_buckets", columns: RATE_LIMIT_BUCKET_COLUMNS, module: "src/db/store/rate-limits.ts", insert: true },
  { table: "acme_rate_limit_overrides", columns: RATE_LIMIT_OVERRIDE_COLUMNS, module: "src/db/store/rate-limits.ts", insert: true },
  { table: "acme_orders", columns: ORDER_COLUMNS, module: "src/db/store/acme-orders.ts" },
  { table: "acme_profiles", columns: ACME_PROFILE_COLUMNS, module: "src/db/store/acme-profiles.ts", insert: true },
  { table: "acme_authorizations", columns: ACME_AUTHORIZATION_COLUMNS, module: "src/db/store/acme-authorizations.ts" },
  { table: "acme_challenges", columns: ACME_CHALLENGE_COLUMNS, module: "src/db/store/acme-authorizations.ts" },
  { table: "acme_nonces", columns: ACME_NONCE_INSERT_COLUMNS, module: "src/db/store/nonces.ts", insert: true },
  { table: "acme_orders", columns: CLEANUP_ORDER_COLUMNS, module: "src/db/store/cleanup.ts" },
  { table: "acme_authorizations", columns: CLEANUP_AUTHORIZATION_COLUMNS, module: "src/db/store/cleanup.ts" },
  { table: "acme_order_authorizations", columns: CLEANUP_ORDER_AUTHORIZATION_COLUMNS, module: "src/db/store/cleanup.ts" },
  { table: "certificates", columns: CLEANUP_CERTIFICATE_COLUMNS, module: "src/db/store/cleanup.ts" },
  { table: "audit_log", columns: AUDIT_COLUMNS, module: "src/db/store/audit-sql.ts", insert: true },
  // status is the literal 'valid' in certificateInsertSql
  { table: "certificates", columns: CERTIFICATE_INSERT_COLUMNS, module: "src/db/store/certificates.ts", insert: true, literals: ["status"] },
  { table: "certificates", columns: LISTENER_CERTIFICATE_COLUMNS, module: "src/db/store/listener-certificates.ts" },
  { table: "certificate_authorities", columns: RENEWAL_INFO_CA_COLUMNS, module: "src/db/store/renewal-info.ts" },
  { table: "certificates", columns: RENEWAL_INFO_CERTIFICATE_COLUMNS, module: "src/db/store/renewal-info.ts" },
  { table: "certificates", columns: REPLACED_CERTIFICATE_COLUMNS, module: "src/db/store/acme-replacements.ts" },
  { table: "renewal_campaigns", columns: RENEWAL_CAMPAIGN_COLUMNS, module: "src/db/store/renewal-campaigns.ts", insert: true },
  { table: "renewal_campaign_certificates", columns: RENEWAL_CAMPAIGN_MEMBER_COLUMNS, module: "src/db/store/renewal-campaigns.ts", insert: true },
  { table: "system_settings", columns: SYSTEM_SETTING_INSERT_COLUMNS, module: "src/db/store/system-settings.ts", insert: true },
  { table: "issuance_policies", columns: ISSUANCE_POLICY_COLUMNS, module: "src/db/store/issuance-policies.ts", insert: true },
  { table: "jwt_bearer_jtis", columns: JWT_BEARER_JTI_COLUMNS, module: "src/db/store/jwt-replay.ts", insert: true },
  // the holdings count reads organization_id of each table an organization owns rows in
  ...Object.values(ORGANIZATION_HOLDING_TABLES).map((table) => ({ table, columns: ["organization_id"], module: "src/db/store/organizations.ts" })),
];
