import { Migration } from "@mikro-orm/migrations";

/**
 * Issue 14 items 1+2, the key-store seam (docs/key-custody.md, "HSM (PKCS#11)"):
 * - key_storage: where the CA key lives, "database" (encrypted in
 *   encrypted_private_key, every CA so far) or "pkcs11" (a token);
 * - key_reference: the PKCS#11 key's CKA_ID in hex, null for database keys;
 * - encrypted_private_key may be null: an HSM key is not in the database.
 */
export class Migration20261203100000CaKeyStorage extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "certificate_authorities" add column "key_storage" varchar(16) not null default 'database', add column "key_reference" varchar(255) null;`,
    );
    this.addSql(`alter table "certificate_authorities" alter column "encrypted_private_key" drop not null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "certificate_authorities" drop column "key_storage", drop column "key_reference";`);
  }
}
