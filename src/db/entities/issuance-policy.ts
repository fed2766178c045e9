import { EntitySchema, type Opt } from "@mikro-orm/core";
import type { KeyAlgorithm, LeafType } from "../../core/types.js";
import { createdAtProperty, idProperty, updatedAtProperty } from "./common.js";
import { Organization } from "./organization.js";
import { ServiceAccount } from "./service-account.js";
import { User } from "./user.js";

/**
 * An issuance policy of the admin plane (src/ra/issuance-policies.ts,
 * docs/issuance-policies.md): what an organization's principals (no user
 * and no service account), one user, or one service account may request
 * through IssueCertificate / SignCsr / RenewCertificate. One policy per
 * subject. The lists are normalized by src/policy/issuance-policies.ts.
 * Read and written by src/db/store/issuance-policies.ts; the entity keeps
 * the ORM schema (and its diff test) in step.
 */
export class IssuancePolicy {
  id!: string;
  organization!: Organization;
  user?: User | null;
  serviceAccount?: ServiceAccount | null;
  /** DNS name patterns (src/policy/engine.ts syntax) */
  dnsNames: Opt<string[]> = [];
  /** email patterns */
  emails: Opt<string[]> = [];
  /** CIDR ranges */
  ipRanges: Opt<string[]> = [];
  /** CA ids of the organization; empty = any */
  caIds: Opt<string[]> = [];
  certificateKinds: Opt<LeafType[]> = [];
  /** 0 = no maximum beyond the organization's */
  maxValidityDays: Opt<number> = 0;
  keyTypes: Opt<KeyAlgorithm[]> = [];
  description: Opt<string> = "";
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const IssuancePolicySchema = new EntitySchema<IssuancePolicy>({
  class: IssuancePolicy,
  tableName: "issuance_policies",
  uniques: [
    { name: "issuance_policies_user_id_unique", properties: ["user"] },
    { name: "issuance_policies_service_account_id_unique", properties: ["serviceAccount"] },
  ],
  indexes: [
    // one organization-wide policy per organization (neither a user nor a service account)
    {
      name: "issuance_policies_organization_unique",
      expression: `create unique index "issuance_policies_organization_unique" on "issuance_policies" ("organization_id") where "user_id" is null and "service_account_id" is null`,
    },
  ],
  // a policy binds one subject: the organization, a user or a service account
  checks: [{ name: "issuance_policies_subject_check", expression: "(user_id IS NULL) OR (service_account_id IS NULL)" }],
  properties: {
    id: idProperty,
    organization: { kind: "m:1", entity: () => Organization, deleteRule: "cascade" },
    user: { kind: "m:1", entity: () => User, nullable: true, deleteRule: "cascade" },
    serviceAccount: { kind: "m:1", entity: () => ServiceAccount, nullable: true, deleteRule: "cascade" },
    dnsNames: { type: "json", default: "[]" },
    emails: { type: "json", default: "[]" },
    ipRanges: { type: "json", default: "[]" },
    caIds: { type: "json", default: "[]" },
    certificateKinds: { type: "json", default: "[]" },
    maxValidityDays: { type: "integer", default: 0 },
    keyTypes: { type: "json", default: "[]" },
    description: { type: "string", length: 512, default: "" },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});
