import { Migration } from "@mikro-orm/migrations";

/**
 * An index for the CRL query (src/ra/crl.ts `revokedEntries`): the revoked
 * certificates of one issuer. Nothing served it: the only index leading with
 * issuer_id is the (issuer_id, serial) unique key, which matches every
 * certificate the CA issued, so building a CRL read (or scanned past) all the
 * valid ones too. Partial on status = 'revoked', so it holds only revoked
 * rows (few next to the valid ones) and costs nothing on issuance, which
 * writes status 'valid' rows that it does not list.
 */
export class Migration20261123170000RelyingIndexes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create index "certificates_revoked_issuer_index" on "certificates" ("issuer_id") where "status" = 'revoked';`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "certificates_revoked_issuer_index";`);
  }
}
