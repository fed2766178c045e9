import { Migration } from "@mikro-orm/migrations";

/**
 * Envelope encryption (issue 14 item 5, docs/key-custody.md): data keys,
 * one active per organization and one for the system scope (organization_id
 * null), each stored wrapped by the master key. Secrets are sealed with
 * their organization's data key (sgk2 blobs, src/ca/key-encryption.ts);
 * deleting an organization deletes its data keys (crypto-shredding).
 *
 * A partial index holds the certificates whose held private key is still a
 * legacy sgk1 blob sealed directly by the master key: the start-up proof
 * and master-key rotation find them without scanning every certificate
 * (after a rotation it is empty).
 */
export class Migration20261203120000DataKeys extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "data_keys" ("id" uuid not null, "organization_id" uuid null, "wrapped_key" text not null, "status" varchar(16) not null default 'active', "created_at" timestamptz not null, "retired_at" timestamptz null, constraint "data_keys_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "data_keys_organization_id_index" on "data_keys" ("organization_id");`);
    // one active data key per scope (the system scope has no organization)
    this.addSql(
      `create unique index "data_keys_active_scope_unique" on "data_keys" ((coalesce("organization_id", '00000000-0000-0000-0000-000000000000'::uuid))) where "status" = 'active';`,
    );
    this.addSql(
      `alter table "data_keys" add constraint "data_keys_organization_id_foreign" foreign key ("organization_id") references "organizations" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(`create index "certificates_legacy_key_blob_index" on "certificates" ("id") where "encrypted_private_key" like 'sgk1.%';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "certificates_legacy_key_blob_index";`);
    this.addSql(`drop table if exists "data_keys" cascade;`);
  }
}
