import { Migration } from "@mikro-orm/migrations";

/**
 * Indexes for the ACME clean-up job (src/db/store/cleanup.ts), each partial
 * so it holds only the rows the job still has to look at, not the history:
 * - orders pending or ready, by `expires`: the batch that marks expired
 *   ones invalid (RFC 8555 §7.1.6) reads the oldest first;
 * - authorizations pending or valid, by `expires`: the batch that marks
 *   expired ones expired;
 * - invalid orders, by `updated_at` (when they became invalid): the batch
 *   that deletes those past the retention period;
 * - certificates by acme_order_id: the deletion keeps an order a
 *   certificate names (one key lookup per candidate order).
 * Nonces already have acme_nonces_expires_at_index (Initial).
 */
export class Migration20261202150000AcmeCleanupIndexes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index "acme_orders_expiring_index" on "acme_orders" ("expires") where "status" in ('pending', 'ready');`);
    this.addSql(`create index "acme_orders_invalid_updated_at_index" on "acme_orders" ("updated_at") where "status" = 'invalid';`);
    this.addSql(`create index "acme_authorizations_expiring_index" on "acme_authorizations" ("expires") where "status" in ('pending', 'valid');`);
    this.addSql(`create index "certificates_acme_order_id_index" on "certificates" ("acme_order_id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "certificates_acme_order_id_index";`);
    this.addSql(`drop index "acme_authorizations_expiring_index";`);
    this.addSql(`drop index "acme_orders_invalid_updated_at_index";`);
    this.addSql(`drop index "acme_orders_expiring_index";`);
  }
}
