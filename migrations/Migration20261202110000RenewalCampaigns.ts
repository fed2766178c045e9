import { Migration } from "@mikro-orm/migrations";

/**
 * RFC 9773 ACME Renewal Information, the parts beyond the GET:
 *
 * - §5 `replaces` in newOrder: the order records the certID the client sent
 *   (echoed in the order object) and the certificate it names. A partial
 *   unique index lets one order that is not invalid replace a certificate
 *   at a time (§5: "has not already been marked as replaced by a different
 *   order that is not invalid"); an invalid replacing order frees it.
 * - operator renewal campaigns: a campaign row and its member certificates,
 *   filled by one insert ... select at creation. ARI answers a member's
 *   campaign window; the (certificate_id) index finds a certificate's
 *   campaigns, the renewed_from index counts replacements.
 */
export class Migration20261202110000RenewalCampaigns extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "acme_orders" add column "replaces" varchar(255) null, add column "replaces_certificate_id" uuid null;`);
    this.addSql(
      `create unique index "acme_orders_replaces_certificate_unique" on "acme_orders" ("replaces_certificate_id") where "replaces_certificate_id" is not null and "status" <> 'invalid';`,
    );
    this.addSql(`create index "certificates_renewed_from_index" on "certificates" ("renewed_from_id") where "renewed_from_id" is not null;`);
    this.addSql(
      `create table "renewal_campaigns" ("id" uuid not null, "organization_id" uuid not null, "scope" varchar(16) not null, "targets" jsonb not null default '[]', "window_start" timestamptz not null, "window_end" timestamptz not null, "explanation_url" varchar(2048) null, "reason" text not null, "drill_percent" smallint null, "member_count" int not null default 0, "created_by_name" varchar(255) not null, "created_at" timestamptz not null, "cancelled_at" timestamptz null, constraint "renewal_campaigns_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "renewal_campaigns_organization_id_created_at_index" on "renewal_campaigns" ("organization_id", "created_at");`);
    this.addSql(
      `alter table "renewal_campaigns" add constraint "renewal_campaigns_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`,
    );
    this.addSql(
      `create table "renewal_campaign_certificates" ("campaign_id" uuid not null, "certificate_id" uuid not null, constraint "renewal_campaign_certificates_pkey" primary key ("campaign_id", "certificate_id"));`,
    );
    // no foreign keys on the members: they are written only by the insert ... select that reads the
    // certificates, certificates are never deleted (a trigger refuses it) and campaigns are cancelled,
    // not deleted; the two per-row FK checks were 40 % of creating a campaign of 200 000 certificates
    this.addSql(`create index "renewal_campaign_certificates_certificate_id_index" on "renewal_campaign_certificates" ("certificate_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table "renewal_campaign_certificates";`);
    this.addSql(`drop table "renewal_campaigns";`);
    this.addSql(`drop index "certificates_renewed_from_index";`);
    this.addSql(`drop index "acme_orders_replaces_certificate_unique";`);
    this.addSql(`alter table "acme_orders" drop column "replaces", drop column "replaces_certificate_id";`);
  }
}
