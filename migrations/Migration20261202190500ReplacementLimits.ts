import { Migration } from "@mikro-orm/migrations";

/**
 * Review 2 M1: a certificate's first replacement order (RFC 9773 §5) is
 * exempt from new-orders-per-account; a retry after an invalid one is not.
 * "Has any order ever named this certificate in replaces" must find invalid
 * orders too, which acme_orders_replaces_certificate_unique (not invalid
 * only) leaves out: a partial index over every replacing order.
 */
export class Migration20261202190500ReplacementLimits extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create index "acme_orders_replaces_certificate_index" on "acme_orders" ("replaces_certificate_id") where "replaces_certificate_id" is not null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "acme_orders_replaces_certificate_index";`);
  }
}
