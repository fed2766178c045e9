import { Migration } from "@mikro-orm/migrations";

/**
 * Issuance policies of the admin plane (issue 13 item 7,
 * docs/issuance-policies.md): one row per subject (an organization, a
 * user or a service account) with the names, IP ranges, CAs, kinds,
 * maximum validity and key types it may request.
 */
export class Migration20261203150000IssuancePolicies extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "issuance_policies" ("id" uuid not null, "organization_id" uuid not null, "user_id" uuid null, "service_account_id" uuid null, "dns_names" jsonb not null default '[]', "emails" jsonb not null default '[]', "ip_ranges" jsonb not null default '[]', "ca_ids" jsonb not null default '[]', "certificate_kinds" jsonb not null default '[]', "max_validity_days" int not null default 0, "key_types" jsonb not null default '[]', "description" varchar(512) not null default '', "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "issuance_policies_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "issuance_policies" add constraint "issuance_policies_user_id_unique" unique ("user_id");`);
    this.addSql(`alter table "issuance_policies" add constraint "issuance_policies_service_account_id_unique" unique ("service_account_id");`);
    this.addSql(
      `create unique index "issuance_policies_organization_unique" on "issuance_policies" ("organization_id") where "user_id" is null and "service_account_id" is null;`,
    );
    this.addSql(
      `alter table "issuance_policies" add constraint "issuance_policies_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "issuance_policies" add constraint "issuance_policies_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "issuance_policies" add constraint "issuance_policies_service_account_id_foreign" foreign key ("service_account_id") references "service_accounts" ("id") on update cascade on delete cascade;`,
    );
    // a policy binds one subject: the organization, a user or a service account
    this.addSql(`alter table "issuance_policies" add constraint "issuance_policies_subject_check" check (("user_id" is null) or ("service_account_id" is null));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "issuance_policies" cascade;`);
  }
}
