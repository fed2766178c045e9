import { EntitySchema, PrimaryKeyProp, type Opt } from "@mikro-orm/core";
import { createdAtProperty, idProperty, optionalTimestamp, timestamp } from "./common.js";
import { Organization } from "./organization.js";

/** What a renewal campaign reaches (src/ra/renewal-campaigns.ts). */
export type RenewalCampaignScope = "certificate" | "ca" | "directory" | "serials" | "drill";

/**
 * An operator's request that a set of certificates be renewed in a window:
 * RFC 9773 §4.2 renewalInfo of each member answers the window and the
 * explanationURL while the campaign is not cancelled.
 */
export class RenewalCampaign {
  id!: string;
  organization!: Organization;
  scope!: RenewalCampaignScope;
  /** the certificate, CA or directory id, or the serials (stored hex) */
  targets!: Opt<string[]>;
  windowStart!: Date;
  windowEnd!: Date;
  explanationUrl?: string | null;
  /** shown in the audit log */
  reason!: string;
  /** drill: the percentage of the directory's valid certificates sampled */
  drillPercent?: number | null;
  memberCount!: Opt<number>;
  /** members replaced so far (kept by the certificates trigger, migration CampaignProgress) */
  replacedCount!: Opt<number>;
  createdByName!: string;
  createdAt!: Opt<Date>;
  cancelledAt?: Date | null;
}

export const RenewalCampaignSchema = new EntitySchema<RenewalCampaign>({
  class: RenewalCampaign,
  tableName: "renewal_campaigns",
  indexes: [{ properties: ["organization", "createdAt"] }],
  properties: {
    id: idProperty,
    organization: { kind: "m:1", entity: () => Organization, deleteRule: "restrict" },
    scope: { type: "string", length: 16 },
    targets: { type: "json", default: "[]" },
    windowStart: timestamp,
    windowEnd: timestamp,
    explanationUrl: { type: "string", length: 2048, nullable: true },
    reason: { type: "text" },
    drillPercent: { type: "smallint", nullable: true },
    memberCount: { type: "integer", default: 0 },
    replacedCount: { type: "integer", default: 0 },
    createdByName: { type: "string", length: 255 },
    createdAt: createdAtProperty,
    cancelledAt: optionalTimestamp,
  },
});

/**
 * A certificate a campaign asks to be renewed (written by one insert ...
 * select from certificates). Plain ids, no foreign keys: certificates are
 * never deleted and campaigns are cancelled, not deleted, so the per-row
 * checks would guard nothing (migration RenewalCampaigns).
 */
export class RenewalCampaignCertificate {
  campaignId!: string;
  certificateId!: string;
  /** the member certificate's ACME account and names key (sigil_certificate_names_key), for the replaced trigger */
  acmeAccountId?: string | null;
  namesKey?: string | null;
  /** when a certificate replacing it was inserted (null: not yet) */
  replacedAt?: Date | null;
  [PrimaryKeyProp]?: ["campaignId", "certificateId"];
}

export const RenewalCampaignCertificateSchema = new EntitySchema<RenewalCampaignCertificate>({
  class: RenewalCampaignCertificate,
  tableName: "renewal_campaign_certificates",
  indexes: [
    { properties: ["certificateId"] },
    // the certificates insert trigger finds the members a new certificate replaces (migration CampaignProgress)
    {
      name: "renewal_campaign_certificates_pending_name_index",
      expression: `create index "renewal_campaign_certificates_pending_name_index" on "renewal_campaign_certificates" ("acme_account_id", "names_key") where "replaced_at" is null and "acme_account_id" is not null`,
    },
  ],
  properties: {
    campaignId: { type: "uuid", primary: true },
    certificateId: { type: "uuid", primary: true },
    acmeAccountId: { type: "uuid", nullable: true },
    namesKey: { type: "string", length: 32, nullable: true },
    replacedAt: optionalTimestamp,
  },
});
