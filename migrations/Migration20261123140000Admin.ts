import { Migration } from "@mikro-orm/migrations";

/**
 * The admin plane: login sessions (refresh-token families) and their
 * single-use refresh tokens (stored as SHA-256 hashes), organization-scoped
 * service accounts and their API keys (stored as SHA-256 hashes), and the
 * start of a user's failed-login window (lockout).
 */
export class Migration20261123140000Admin extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "service_accounts" ("id" uuid not null, "organization_id" uuid not null, "name" varchar(128) not null, "description" text not null default '', "is_active" boolean not null default true, "can_create_ca" boolean not null default false, "can_create_cert" boolean not null default false, "can_revoke_cert" boolean not null default false, "can_export_private_key" boolean not null default false, "can_delete_ca" boolean not null default false, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "service_accounts_pkey" primary key ("id"));`);
    this.addSql(`alter table "service_accounts" add constraint "service_accounts_organization_id_name_unique" unique ("organization_id", "name");`);
    this.addSql(`create table "api_keys" ("id" uuid not null, "service_account_id" uuid not null, "name" varchar(128) not null, "key_prefix" varchar(16) not null, "key_hash" varchar(64) not null, "created_by_id" uuid null, "created_at" timestamptz not null, "expires_at" timestamptz null, "last_used_at" timestamptz null, "revoked_at" timestamptz null, constraint "api_keys_pkey" primary key ("id"));`);
    this.addSql(`create index "api_keys_service_account_id_index" on "api_keys" ("service_account_id");`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_key_hash_unique" unique ("key_hash");`);
    this.addSql(`create table "sessions" ("id" uuid not null, "user_id" uuid not null, "generation" int not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "last_refreshed_at" timestamptz null, "revoked_at" timestamptz null, "revoked_reason" varchar(32) null, "client_address" varchar(64) null, constraint "sessions_pkey" primary key ("id"));`);
    this.addSql(`create index "sessions_user_id_index" on "sessions" ("user_id");`);
    this.addSql(`create table "refresh_tokens" ("id" uuid not null, "session_id" uuid not null, "token_hash" varchar(64) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "refresh_tokens_pkey" primary key ("id"));`);
    this.addSql(`create index "refresh_tokens_session_id_index" on "refresh_tokens" ("session_id");`);
    this.addSql(`alter table "refresh_tokens" add constraint "refresh_tokens_token_hash_unique" unique ("token_hash");`);
    this.addSql(`alter table "service_accounts" add constraint "service_accounts_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_service_account_id_foreign" foreign key ("service_account_id") references "service_accounts" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "sessions" add constraint "sessions_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete restrict;`);
    this.addSql(`alter table "refresh_tokens" add constraint "refresh_tokens_session_id_foreign" foreign key ("session_id") references "sessions" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "users" add column "failed_login_window_start" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "users" drop column "failed_login_window_start";`);
    this.addSql(`drop table if exists "refresh_tokens" cascade;`);
    this.addSql(`drop table if exists "sessions" cascade;`);
    this.addSql(`drop table if exists "api_keys" cascade;`);
    this.addSql(`drop table if exists "service_accounts" cascade;`);
  }
}
