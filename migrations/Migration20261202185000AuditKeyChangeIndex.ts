import { Migration } from "@mikro-orm/migrations";

/**
 * dns-persist-01 (draft-ietf-acme-dns-persist-02 §4.2) reads an account's
 * most recent earlier key thumbprints from its key-change audit entries
 * (src/db/store/acme-dns-challenges.ts); audit_log was indexed only by
 * action, so that read scanned every key change of every account. A
 * partial index holds only the key-change entries, by account and time.
 */
export class Migration20261202185000AuditKeyChangeIndex extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index "audit_log_acme_key_change_index" on "audit_log" ("resource_id", "created_at") where "action" = 'acme_account_key_change';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "audit_log_acme_key_change_index";`);
  }
}
