import { Migration } from "@mikro-orm/migrations";

/**
 * The renewal-campaign trigger on every certificate insert
 * (certificates_renewal_campaign_replaced, migration 20261202190000) computed
 * the names key (md5 over the sorted, de-duplicated names) and ran its
 * update join for every ACME certificate, although an account almost never
 * has a campaign member waiting to be replaced: ~0.2 ms of the ~0.6 ms
 * finalize write (issue 11, docs/benchmarks.md "PostgreSQL CPU per
 * issuance"). Now the account branch first probes the partial index
 * renewal_campaign_certificates_pending_name_index on its leading column
 * (members of this account not yet replaced) and computes the names key
 * only when there is one. Same semantics: with no pending member of the
 * account the update it skips matches nothing.
 */
const replacedFunction = (accountProbe: boolean): string => `create or replace function sigil_renewal_campaign_replaced() returns trigger language plpgsql as $$
       declare
         k text;
         ids uuid[];
       begin
         -- RFC 9773 §5: a certificate renewed from the member (replaces, or an admin renewal)
         if new.renewed_from_id is not null then
           with hit as (
             update renewal_campaign_certificates m set replaced_at = new.created_at
              where m.certificate_id = new.renewed_from_id and m.replaced_at is null
             returning m.campaign_id)
           select array_agg(campaign_id) into ids from hit;
         end if;
         -- a newer certificate of the same ACME account for the same names, since the campaign started
         if new.acme_account_id is not null then${
           accountProbe
             ? `
           -- one probe of the partial index: does the account have any member not yet replaced? Ordered by the
           -- index's second column (a PERFORM, not EXISTS, which would drop the ORDER BY), so the first index entry
           -- is the cheap plan whatever the statistics say: a seq scan would have to sort all of the account's
           -- pending members, or read through other accounts' members and replaced ones to find none
           perform 1 from renewal_campaign_certificates p where p.acme_account_id = new.acme_account_id and p.replaced_at is null
             order by p.names_key limit 1;
           if found then`
             : ""
         }
           k := sigil_certificate_names_key(new.dns_names, new.ip_addresses);
           with hit as (
             update renewal_campaign_certificates m set replaced_at = new.created_at
               from renewal_campaigns c, certificates o
              where m.acme_account_id = new.acme_account_id and m.names_key = k and m.replaced_at is null
                and m.certificate_id <> new.id and c.id = m.campaign_id and new.created_at >= c.created_at
                and o.id = m.certificate_id
                and o.dns_names @> new.dns_names and new.dns_names @> o.dns_names
                and o.ip_addresses @> new.ip_addresses and new.ip_addresses @> o.ip_addresses
             returning m.campaign_id)
           select coalesce(ids, '{}') || coalesce(array_agg(campaign_id), '{}') into ids from hit;${
             accountProbe
               ? `
           end if;`
               : ""
           }
         end if;
         if ids is null or cardinality(ids) = 0 then return null; end if;
         -- lock the campaigns in id order (two issuances replacing members of the same campaigns cannot deadlock)
         perform 1 from renewal_campaigns where id = any(ids) order by id for update;
         update renewal_campaigns c set replaced_count = c.replaced_count + x.n
           from (select id, count(*)::int n from unnest(ids) id group by id) x where c.id = x.id;
         return null;
       end $$;`;

export class Migration20261204100000CampaignTriggerEarlyExit extends Migration {
  override async up(): Promise<void> {
    this.addSql(replacedFunction(true));
  }

  override async down(): Promise<void> {
    this.addSql(replacedFunction(false));
  }
}
