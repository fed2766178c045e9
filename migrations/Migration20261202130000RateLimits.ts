import { Migration } from "@mikro-orm/migrations";

/**
 * ACME rate limits held in the database (src/policy/rate-limits.ts, issue
 * 10): one GCRA bucket row per (limit, key) with its theoretical arrival
 * time, shared by every instance; a directory's own limit entries over
 * SIGIL_RATE_LIMITS (empty, the default: the server's); operators'
 * overrides for one account or for the account an EAB key creates.
 */
export class Migration20261202130000RateLimits extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "rate_limit_buckets" ("limit_name" varchar(64) not null, "bucket_key" text not null, "tat" timestamptz not null, constraint "rate_limit_buckets_pkey" primary key ("limit_name", "bucket_key"));`,
    );
    this.addSql(`create index "rate_limit_buckets_tat_index" on "rate_limit_buckets" ("tat");`);
    this.addSql(`alter table "acme_directories" add column "rate_limits" jsonb not null default '[]';`);
    this.addSql(
      `create table "acme_rate_limit_overrides" ("id" uuid not null, "directory_id" uuid not null, "organization_id" uuid not null, "account_id" uuid null, "eab_key_id" uuid null, "limit_name" varchar(64) not null, "unlimited" boolean not null default false, "count" int not null default 0, "period_ms" bigint not null default 0, "comment" varchar(512) not null default '', "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "acme_rate_limit_overrides_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "acme_rate_limit_overrides_directory_id_index" on "acme_rate_limit_overrides" ("directory_id");`);
    this.addSql(`alter table "acme_rate_limit_overrides" add constraint "acme_rate_limit_overrides_account_id_limit_name_unique" unique ("account_id", "limit_name");`);
    this.addSql(`alter table "acme_rate_limit_overrides" add constraint "acme_rate_limit_overrides_eab_key_id_limit_name_unique" unique ("eab_key_id", "limit_name");`);
    this.addSql(
      `alter table "acme_rate_limit_overrides" add constraint "acme_rate_limit_overrides_directory_id_foreign" foreign key ("directory_id") references "acme_directories" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "acme_rate_limit_overrides" add constraint "acme_rate_limit_overrides_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "acme_rate_limit_overrides" add constraint "acme_rate_limit_overrides_account_id_foreign" foreign key ("account_id") references "acme_accounts" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "acme_rate_limit_overrides" add constraint "acme_rate_limit_overrides_eab_key_id_foreign" foreign key ("eab_key_id") references "acme_eab_keys" ("id") on update cascade on delete cascade;`,
    );
    // exactly one subject: an account or an EAB key
    this.addSql(`alter table "acme_rate_limit_overrides" add constraint "acme_rate_limit_overrides_subject_check" check (("account_id" is null) <> ("eab_key_id" is null));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "acme_rate_limit_overrides" cascade;`);
    this.addSql(`alter table "acme_directories" drop column "rate_limits";`);
    this.addSql(`drop table if exists "rate_limit_buckets" cascade;`);
  }
}
