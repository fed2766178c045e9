import { Migration } from "@mikro-orm/migrations";

/**
 * Issue 13 item 5: operator sign-in with OpenID Connect (docs/sso.md).
 *
 * - identity_providers: an organization's OIDC providers (issuer, client id,
 *   the client secret encrypted under the master key, allowed email
 *   domains, claim-to-role rules, JIT provisioning, scopes).
 * - user_identities: a user linked to a provider's subject; (provider, sub)
 *   is unique (OIDC Core §2: iss + sub identify the end-user).
 * - oidc_logins: sign-ins in progress: state and binding hashes, nonce, the
 *   PKCE code verifier (RFC 7636 §4.1) encrypted; single use, 10 minutes,
 *   pruned by expiry (the expires_at index).
 */
export class Migration20261203140000IdentityProviders extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "identity_providers" ("id" uuid not null, "organization_id" uuid not null, "name" varchar(128) not null, "issuer" varchar(512) not null, "client_id" varchar(255) not null, "client_secret_encrypted" text null, "allowed_email_domains" jsonb not null default '[]', "role_mappings" jsonb not null default '[]', "default_role" varchar(16) null, "jit_provisioning" boolean not null default false, "scopes" jsonb not null default '[]', "enabled" boolean not null default true, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "identity_providers_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "identity_providers" add constraint "identity_providers_organization_id_name_unique" unique ("organization_id", "name");`);
    this.addSql(
      `create table "oidc_logins" ("id" uuid not null, "provider_id" uuid not null, "state_hash" varchar(64) not null, "binding_hash" varchar(64) not null, "nonce" varchar(64) not null, "code_verifier_encrypted" text not null, "redirect_uri" varchar(2048) not null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "used_at" timestamptz null, constraint "oidc_logins_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "oidc_logins_provider_id_index" on "oidc_logins" ("provider_id");`);
    this.addSql(`alter table "oidc_logins" add constraint "oidc_logins_state_hash_unique" unique ("state_hash");`);
    this.addSql(`create index "oidc_logins_expires_at_index" on "oidc_logins" ("expires_at");`);
    this.addSql(
      `create table "user_identities" ("id" uuid not null, "user_id" uuid not null, "provider_id" uuid not null, "subject" varchar(255) not null, "email" varchar(254) null, "created_at" timestamptz not null, "last_login_at" timestamptz null, constraint "user_identities_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "user_identities_user_id_index" on "user_identities" ("user_id");`);
    this.addSql(`alter table "user_identities" add constraint "user_identities_provider_id_subject_unique" unique ("provider_id", "subject");`);
    this.addSql(
      `alter table "identity_providers" add constraint "identity_providers_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "oidc_logins" add constraint "oidc_logins_provider_id_foreign" foreign key ("provider_id") references "identity_providers" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "user_identities" add constraint "user_identities_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "user_identities" add constraint "user_identities_provider_id_foreign" foreign key ("provider_id") references "identity_providers" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "user_identities" cascade;`);
    this.addSql(`drop table if exists "oidc_logins" cascade;`);
    this.addSql(`drop table if exists "identity_providers" cascade;`);
  }
}
