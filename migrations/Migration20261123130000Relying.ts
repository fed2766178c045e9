import { Migration } from "@mikro-orm/migrations";

/**
 * Relying-party endpoints: the stored current CRL of each CA (RFC 5280 §5),
 * served as signed, and the delegated OCSP signing certificates Sigil issues
 * for its own responder (RFC 6960 §4.2.2.2), keys encrypted like CA keys.
 */
export class Migration20261123130000Relying extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "crls" ("ca_id" uuid not null, "crl_number" bigint not null, "this_update" timestamptz not null, "next_update" timestamptz not null, "der" bytea not null, "etag" varchar(80) not null, "entry_count" int not null, "created_at" timestamptz not null, constraint "crls_pkey" primary key ("ca_id"));`);
    this.addSql(`create table "ocsp_signers" ("id" uuid not null, "ca_id" uuid not null, "serial" varchar(64) not null, "certificate_pem" text not null, "encrypted_private_key" text not null, "not_before" timestamptz not null, "not_after" timestamptz not null, "created_at" timestamptz not null, constraint "ocsp_signers_pkey" primary key ("id"));`);
    this.addSql(`create index "ocsp_signers_ca_id_not_after_index" on "ocsp_signers" ("ca_id", "not_after");`);
    this.addSql(`alter table "crls" add constraint "crls_ca_id_foreign" foreign key ("ca_id") references "certificate_authorities" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "ocsp_signers" add constraint "ocsp_signers_ca_id_foreign" foreign key ("ca_id") references "certificate_authorities" ("id") on update cascade on delete cascade;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "ocsp_signers" cascade;`);
    this.addSql(`drop table if exists "crls" cascade;`);
  }
}
