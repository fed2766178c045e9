import { Migration } from "@mikro-orm/migrations";

/**
 * Delegated OCSP signing certificates become Certificate rows of type "ocsp"
 * (source "system"), so the (issuer_id, serial) unique key covers them with
 * every other certificate the CA signed: nothing is signed that is not
 * recorded, and a serial is never used twice by one issuer. ocsp_signers keeps
 * the encrypted key and points at its certificate row (same id; unique,
 * restrict).
 *
 * Existing signers are recorded with their own id, valid (the expiry job
 * marks the expired ones, with its audit entries). A signer whose serial a
 * leaf of the same CA already has (random 128-bit serials: not expected) makes
 * this migration fail on the unique key: that is the collision it closes, and
 * it needs a person.
 */
export class Migration20261123172000OcspSignerCertificates extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `insert into "certificates" ("id", "serial", "issuer_id", "organization_id", "type", "status", "common_name", "dns_names", "ip_addresses", "emails", "not_before", "not_after", "source", "certificate_pem", "created_at")
       select s."id", s."serial", s."ca_id", a."organization_id", 'ocsp', 'valid', 'OCSP ' || s."ca_id", '[]', '[]', '[]', s."not_before", s."not_after", 'system', s."certificate_pem", s."created_at"
       from "ocsp_signers" s join "certificate_authorities" a on a."id" = s."ca_id";`,
    );
    this.addSql(`alter table "ocsp_signers" add column "certificate_id" uuid null;`);
    this.addSql(`update "ocsp_signers" set "certificate_id" = "id";`);
    this.addSql(`alter table "ocsp_signers" alter column "certificate_id" set not null;`);
    this.addSql(`alter table "ocsp_signers" add constraint "ocsp_signers_certificate_id_unique" unique ("certificate_id");`);
    this.addSql(
      `alter table "ocsp_signers" add constraint "ocsp_signers_certificate_id_foreign" foreign key ("certificate_id") references "certificates" ("id") on update cascade on delete restrict;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "ocsp_signers" drop constraint "ocsp_signers_certificate_id_foreign";`);
    this.addSql(`alter table "ocsp_signers" drop constraint "ocsp_signers_certificate_id_unique";`);
    this.addSql(`alter table "ocsp_signers" drop column "certificate_id";`);
    // the "ocsp" certificates rows stay: certificates are never deleted (trigger), and they were signed
  }
}
