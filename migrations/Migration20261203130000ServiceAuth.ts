import { Migration } from "@mikro-orm/migrations";

/**
 * Service-account authentication, issue 13 items 3 and 4 (docs/service-auth.md):
 * - api_keys.scopes: the scopes a key is restricted to; keys created before
 *   scopes existed get ["*"] (the service account's full power, as before);
 * - service_account_public_keys: public keys for JWT-bearer authentication
 *   (RFC 7523 §2.1), by RFC 7638 thumbprint ("kid"), with their scopes;
 *   unique per service account, so a revoked key cannot be registered again;
 * - jwt_bearer_jtis: every accepted JWT's jti until its exp (RFC 7519
 *   §4.1.7: never accepted twice), inserted with ON CONFLICT DO NOTHING.
 */
export class Migration20261203130000ServiceAuth extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "api_keys" add column "scopes" jsonb not null default '["*"]';`);
    this.addSql(
      `create table "service_account_public_keys" ("id" uuid not null, "service_account_id" uuid not null, "kid" varchar(64) not null, "name" varchar(128) not null, "algorithm" varchar(16) not null, "jwk" jsonb not null, "scopes" jsonb not null default '["*"]', "created_by_id" uuid null, "created_at" timestamptz not null, "expires_at" timestamptz null, "last_used_at" timestamptz null, "revoked_at" timestamptz null, constraint "service_account_public_keys_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "service_account_public_keys" add constraint "service_account_public_keys_service_account_id_kid_unique" unique ("service_account_id", "kid");`,
    );
    this.addSql(
      `alter table "service_account_public_keys" add constraint "service_account_public_keys_service_account_id_foreign" foreign key ("service_account_id") references "service_accounts" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `create table "jwt_bearer_jtis" ("service_account_id" uuid not null, "jti" varchar(255) not null, "expires_at" timestamptz not null, constraint "jwt_bearer_jtis_pkey" primary key ("service_account_id", "jti"));`,
    );
    this.addSql(`create index "jwt_bearer_jtis_expires_at_index" on "jwt_bearer_jtis" ("expires_at");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "jwt_bearer_jtis" cascade;`);
    this.addSql(`drop table if exists "service_account_public_keys" cascade;`);
    this.addSql(`alter table "api_keys" drop column "scopes";`);
  }
}
