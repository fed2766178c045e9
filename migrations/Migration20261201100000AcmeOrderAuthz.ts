import { Migration } from "@mikro-orm/migrations";

/**
 * acme_order_authorizations: which authorizations each order uses, one row
 * per pair, with an index on authorization_id. Recording a validation,
 * invalidating orders and the finalize lock looked for "the account's orders
 * whose authorization_ids contain this authorization" (a scan of the
 * account's whole order history, plus jsonb_array_elements_text joined back
 * to acme_authorizations), so issuance slowed down as orders accumulated;
 * now each is a lookup by key. acme_orders.authorization_ids stays: it keeps
 * the order of the identifiers for the wire (RFC 8555 §7.1.3).
 *
 * Existing orders are copied in (authorizations that no longer exist are
 * skipped; the foreign keys cascade like the orders' own).
 */
export class Migration20261201100000AcmeOrderAuthz extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "acme_order_authorizations" ("order_id" uuid not null, "authorization_id" uuid not null, constraint "acme_order_authorizations_pkey" primary key ("order_id", "authorization_id"));`,
    );
    this.addSql(`create index "acme_order_authorizations_authorization_id_index" on "acme_order_authorizations" ("authorization_id");`);
    this.addSql(
      `alter table "acme_order_authorizations" add constraint "acme_order_authorizations_order_id_foreign" foreign key ("order_id") references "acme_orders" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "acme_order_authorizations" add constraint "acme_order_authorizations_authorization_id_foreign" foreign key ("authorization_id") references "acme_authorizations" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `insert into "acme_order_authorizations" ("order_id", "authorization_id")
         select distinct o.id, a.id from "acme_orders" o cross join lateral jsonb_array_elements_text(o.authorization_ids) x(id)
           join "acme_authorizations" a on a.id = x.id::uuid;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "acme_order_authorizations" cascade;`);
  }
}
