import { Migration } from "@mikro-orm/migrations";

/**
 * Per-directory override of SIGIL_VALIDATION_ALLOWED_NETWORKS (where
 * challenge validation may connect). Empty, the default, keeps the server's
 * setting, so existing directories behave as before.
 */
export class Migration20261201140000DirectoryValidationNetworks extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "acme_directories" add column "validation_allowed_networks" jsonb not null default '[]';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "acme_directories" drop column "validation_allowed_networks";`);
  }
}
