import { Migration } from "@mikro-orm/migrations";

/**
 * Revocations no CRL lists yet, found from any instance (src/ra/crl.ts).
 *
 * - revocation_generations: per CA, how many revocations it has had. A
 *   trigger bumps it in the transaction that changes a certificate's status
 *   to 'revoked', so every path that revokes (the RA's revokeCertificateInTx,
 *   CA deletion revoking its own certificate, any raw SQL) counts, and the
 *   count commits exactly with the revocation. Concurrent revocations of one
 *   CA serialize on its row for the rest of their (short) transactions; CRL
 *   builds only read it, so a revocation never waits for a CRL build.
 * - crls.revocation_generation: the generation a CRL covers, read before its
 *   revoked rows (READ COMMITTED: the later statement sees at least what the
 *   earlier one did). A greater current generation means a revocation
 *   committed after the CRL's query: the periodic job rebuilds it.
 *
 * Certificates are written 'valid' and revoked by an UPDATE, so inserts are
 * not counted (no trigger cost on issuance). Existing CRLs start at 0 with
 * no generation rows: nothing is stale.
 */
export class Migration20261123171000RevocationGenerations extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "revocation_generations" ("ca_id" uuid not null, "generation" bigint not null default 0, constraint "revocation_generations_pkey" primary key ("ca_id"));`);
    this.addSql(`alter table "revocation_generations" add constraint "revocation_generations_ca_id_foreign" foreign key ("ca_id") references "certificate_authorities" ("id") on update cascade on delete cascade;`);
    this.addSql(`alter table "crls" add column "revocation_generation" bigint not null default 0;`);
    this.addSql(
      `create function sigil_bump_revocation_generation() returns trigger language plpgsql as $$ begin insert into revocation_generations (ca_id, generation) values (new.issuer_id, 1) on conflict (ca_id) do update set generation = revocation_generations.generation + 1; return null; end $$;`,
    );
    this.addSql(
      `create trigger certificates_revocation_generation after update of status on "certificates" for each row when (new.status = 'revoked' and old.status is distinct from 'revoked') execute function sigil_bump_revocation_generation();`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger certificates_revocation_generation on "certificates";`);
    this.addSql(`drop function sigil_bump_revocation_generation();`);
    this.addSql(`alter table "crls" drop column "revocation_generation";`);
    this.addSql(`drop table if exists "revocation_generations" cascade;`);
  }
}
