import { EntitySchema, PrimaryKeyProp, type Opt } from "@mikro-orm/core";
import { AcmeAccount, AcmeDirectory, AcmeEabKey } from "./acme.js";
import { createdAtProperty, idProperty, timestamp, updatedAtProperty } from "./common.js";
import { Organization } from "./organization.js";

/**
 * One GCRA bucket of an ACME rate limit (src/policy/rate-limits.ts): the
 * limit's name, the key it counts (a client address, an account, a
 * registered domain, ...) and its theoretical arrival time. A TAT in the
 * past is the same as no row. Read and written only by
 * src/db/store/rate-limits.ts (one statement checks and spends); the entity
 * keeps the ORM schema (and its diff test) in step.
 */
export class RateLimitBucket {
  [PrimaryKeyProp]?: ["limitName", "bucketKey"];
  limitName!: string;
  bucketKey!: string;
  tat!: Date;
}

export const RateLimitBucketSchema = new EntitySchema<RateLimitBucket>({
  class: RateLimitBucket,
  tableName: "rate_limit_buckets",
  // the clean-up of spent buckets (deleteExpiredRateLimitBuckets) looks by TAT
  indexes: [{ properties: ["tat"] }],
  properties: {
    limitName: { type: "string", length: 64, primary: true },
    bucketKey: { type: "text", primary: true },
    tat: timestamp,
  },
});

/**
 * An operator's override of one rate limit for one ACME account, or for
 * the account an EAB key creates (exactly one of the two): its own value,
 * or exempt (`unlimited`).
 */
export class AcmeRateLimitOverride {
  id!: string;
  directory!: AcmeDirectory;
  organization!: Organization;
  account?: AcmeAccount | null;
  eabKey?: AcmeEabKey | null;
  limitName!: string;
  unlimited: Opt<boolean> = false;
  count: Opt<number> = 0;
  /** the window in milliseconds; 0 for a count limit or when unlimited */
  periodMs: Opt<string> = "0";
  comment: Opt<string> = "";
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const AcmeRateLimitOverrideSchema = new EntitySchema<AcmeRateLimitOverride>({
  class: AcmeRateLimitOverride,
  tableName: "acme_rate_limit_overrides",
  uniques: [
    { name: "acme_rate_limit_overrides_account_id_limit_name_unique", properties: ["account", "limitName"] },
    { name: "acme_rate_limit_overrides_eab_key_id_limit_name_unique", properties: ["eabKey", "limitName"] },
  ],
  indexes: [{ properties: ["directory"] }],
  // exactly one subject: an account or an EAB key
  checks: [{ name: "acme_rate_limit_overrides_subject_check", expression: "(account_id IS NULL) <> (eab_key_id IS NULL)" }],
  properties: {
    id: idProperty,
    directory: { kind: "m:1", entity: () => AcmeDirectory, deleteRule: "cascade" },
    organization: { kind: "m:1", entity: () => Organization, deleteRule: "cascade" },
    account: { kind: "m:1", entity: () => AcmeAccount, nullable: true, deleteRule: "cascade" },
    eabKey: { kind: "m:1", entity: () => AcmeEabKey, nullable: true, deleteRule: "cascade" },
    limitName: { type: "string", length: 64 },
    unlimited: { type: "boolean", default: false },
    count: { type: "integer", default: 0 },
    periodMs: { type: "bigint", default: 0 },
    comment: { type: "string", length: 512, default: "" },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});
