import { Migration } from "@mikro-orm/migrations";

/**
 * Offline roots and externally signed intermediates (docs/key-custody.md,
 * "Offline root"):
 * - status grows to 32 characters for "pending_activation" (an intermediate
 *   whose key and CSR exist, waiting for the certificate an offline root signs);
 * - csr_pem holds that CSR (PKCS#10, RFC 2986) until activation;
 * - offline_key marks a CA whose key Sigil does not hold (the offline root,
 *   stored at activation): such a row has no encrypted_private_key, and
 *   its CRL is imported instead of signed.
 */
export class Migration20261203110000OfflineRoot extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "certificate_authorities" alter column "status" type varchar(32);`);
    this.addSql(`alter table "certificate_authorities" alter column "encrypted_private_key" drop not null;`);
    this.addSql(`alter table "certificate_authorities" add column "csr_pem" text null, add column "offline_key" boolean not null default false;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "certificate_authorities" drop column "csr_pem", drop column "offline_key";`);
    this.addSql(`alter table "certificate_authorities" alter column "encrypted_private_key" set not null;`);
    this.addSql(`alter table "certificate_authorities" alter column "status" type varchar(16);`);
  }
}
