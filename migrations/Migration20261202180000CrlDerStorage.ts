import { Migration } from "@mikro-orm/migrations";

/**
 * A CRL's DER is stored out of line without compression (TOAST storage
 * EXTERNAL): signed DER is mostly serial numbers and signatures, which pglz
 * barely shrinks, and compressing a 46 MB CRL of a million entries cost
 * PostgreSQL about as much CPU as writing it (docs/benchmarks.md, issue 11).
 * Metadata only: existing rows keep their storage until rewritten.
 */
export class Migration20261202180000CrlDerStorage extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "crls" alter column "der" set storage external;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "crls" alter column "der" set storage extended;`);
  }
}
