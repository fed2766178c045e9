import { Migration } from "@mikro-orm/migrations";

/**
 * Deleted CAs: certificates are never deleted (they are the revocation
 * record, see the Initial migration's trigger) and reference their issuer,
 * so DeleteCertificateAuthority retires the CA row instead of removing it:
 * `deleted_at` is set, the name is freed, and the admin API no longer shows
 * it. Its CRL and AIA URLs keep answering for what it issued.
 */
export class Migration20261123150000CaDeletion extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "certificate_authorities" add column "deleted_at" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "certificate_authorities" drop column "deleted_at";`);
  }
}
