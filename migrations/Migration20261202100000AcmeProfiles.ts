import { Migration } from "@mikro-orm/migrations";

/**
 * ACME profiles (draft-ietf-acme-profiles-00): named issuance profiles per
 * directory, the directory's default profile, and the profile an order was
 * placed under.
 *
 * Every existing directory gets one profile, "classic", carrying its
 * current certificate_kind and max_validity_days with today's fixed rules
 * (CN from the CSR, dns and ip identifiers, at most 100, authorizations
 * reused for 30 days, orders and pending authorizations living 7 days),
 * and it becomes the directory's default: an existing directory issues
 * exactly as before. Identifier rules (allowed_dns_suffixes,
 * allowed_ip_ranges, challenge_types) stay on the directory as the outer
 * bound every profile narrows (docs/profiles.md).
 */
export class Migration20261202100000AcmeProfiles extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "acme_profiles" ("id" uuid not null, "directory_id" uuid not null, "name" varchar(64) not null, "description" varchar(512) not null default '', "certificate_kind" varchar(16) not null default 'server', "max_validity_seconds" int not null, "key_usages" jsonb not null default '[]', "include_common_name" boolean not null default true, "max_identifiers" int not null default 100, "identifier_types" jsonb not null default '["dns","ip"]', "authorization_reuse_seconds" int not null default 2592000, "order_lifetime_seconds" int not null default 604800, "pending_authorization_lifetime_seconds" int not null default 604800, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "acme_profiles_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "acme_profiles" add constraint "acme_profiles_directory_id_name_unique" unique ("directory_id", "name");`);
    this.addSql(
      `alter table "acme_profiles" add constraint "acme_profiles_directory_id_foreign" foreign key ("directory_id") references "acme_directories" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(`alter table "acme_directories" add column "default_profile" varchar(64) null;`);
    this.addSql(`alter table "acme_orders" add column "profile" varchar(64) null;`);
    // every existing directory: its policy becomes its default profile's
    this.addSql(
      `insert into "acme_profiles" ("id", "directory_id", "name", "description", "certificate_kind", "max_validity_seconds", "created_at", "updated_at")
       select gen_random_uuid(), d."id", 'classic', 'The directory''s certificates as before profiles: CN from the CSR, ' || d."max_validity_days" || ' days', d."certificate_kind", d."max_validity_days" * 86400, now(), now()
         from "acme_directories" d;`,
    );
    this.addSql(`update "acme_directories" set "default_profile" = 'classic';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "acme_orders" drop column "profile";`);
    this.addSql(`alter table "acme_directories" drop column "default_profile";`);
    this.addSql(`drop table if exists "acme_profiles" cascade;`);
  }
}
