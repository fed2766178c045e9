import { Migration } from "@mikro-orm/migrations";

/**
 * CAA checking (RFC 8659, RFC 8657), per directory: off by default, so
 * existing directories (often internal names nobody publishes CAA for)
 * behave as before. An authorization records when its CAA check passed;
 * finalize checks again when that is older than 8 hours (CA/B Forum BR
 * 3.2.2.8), and null means never checked.
 */
export class Migration20261202120000AcmeCaa extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "acme_directories" add column "caa_enabled" boolean not null default false;`);
    this.addSql(`alter table "acme_authorizations" add column "caa_checked_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "acme_authorizations" drop column "caa_checked_at";`);
    this.addSql(`alter table "acme_directories" drop column "caa_enabled";`);
  }
}
