import { Migration } from "@mikro-orm/migrations";

/**
 * Indexes for lookups the ACME hot path makes that no index served:
 * - challenges by authorization: every authorization read (the challenges
 *   join), and the "no other challenge of this authorization started" guard
 *   of a challenge POST, scanned the whole challenge table;
 * - challenges left in processing, which the validation sweeper looks for
 *   every 30 s on every instance (RFC 8555 §8.2 retries after a crash): a
 *   partial index, so it holds only the few challenges in flight.
 * The other hot lookups already have one: authorizations by account and
 * identifier (Initial, now used on all three columns), orders by account
 * (Initial, account_id + created_at, which the orders list now pages on),
 * certificates by (issuer_id, serial) for revocation. certificates.acme_order_id
 * is written but never looked up, so it gets none.
 */
export class Migration20261123160000AcmeIndexes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index "acme_challenges_authorization_id_index" on "acme_challenges" ("authorization_id");`);
    this.addSql(
      `create index "acme_challenges_processing_since_index" on "acme_challenges" ("processing_since") where "status" = 'processing';`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "acme_challenges_processing_since_index";`);
    this.addSql(`drop index "acme_challenges_authorization_id_index";`);
  }
}
