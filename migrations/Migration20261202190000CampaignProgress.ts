import { Migration } from "@mikro-orm/migrations";

/**
 * Renewal campaign progress kept as it happens (review 2 H1): the progress
 * read ran, per member, "a newer certificate for the same names from the
 * same ACME account" over all of the account's certificates (members x
 * account certificates, seconds at 1k, minutes at 8k), on every
 * GetRenewalCampaign and for every campaign of a ListRenewalCampaigns page.
 *
 * Now each member row carries its certificate's ACME account and a names
 * key (md5 of the sorted, de-duplicated dnsNames and ipAddresses), written
 * when the campaign is filled. An after-insert trigger on certificates
 * looks the new certificate's members up by (renewed_from_id) and by
 * (account, names key) through two indexes of renewal_campaign_certificates
 * (partial: members not yet replaced), marks them replaced and adds to the
 * campaign's replaced_count. Reads are the campaign row: O(1) per campaign
 * whatever the member count or the account's certificate count.
 *
 * Semantics kept from the old read: a member is replaced by a certificate
 * renewed from it (RFC 9773 §5 replaces / an admin renewal), or by a
 * certificate of the same ACME account for the same names (as sets)
 * created at or after the campaign's creation.
 */
export class Migration20261202190000CampaignProgress extends Migration {
  override async up(): Promise<void> {
    // immutable, so it can appear in an index expression if ever needed; md5 keeps index entries short
    this.addSql(
      `create function sigil_certificate_names_key(dns jsonb, ips jsonb) returns text language sql immutable parallel safe as $$
         select md5(coalesce((select string_agg(v, ',' order by v) from (select distinct jsonb_array_elements_text(coalesce(dns, '[]'::jsonb)) v) d), '')
                 || '|' || coalesce((select string_agg(v, ',' order by v) from (select distinct jsonb_array_elements_text(coalesce(ips, '[]'::jsonb)) v) i), ''))
       $$;`,
    );
    this.addSql(`alter table "renewal_campaigns" add column "replaced_count" int not null default 0;`);
    this.addSql(
      `alter table "renewal_campaign_certificates" add column "acme_account_id" uuid null, add column "names_key" varchar(32) null, add column "replaced_at" timestamptz null;`,
    );
    // backfill the existing members (hash joins: linear in members + certificates)
    this.addSql(
      `update "renewal_campaign_certificates" m set "acme_account_id" = c."acme_account_id", "names_key" = sigil_certificate_names_key(c."dns_names", c."ip_addresses")
         from "certificates" c where c."id" = m."certificate_id";`,
    );
    this.addSql(
      `update "renewal_campaign_certificates" m set "replaced_at" = x.t
         from (select n."renewed_from_id" id, min(n."created_at") t from "certificates" n where n."renewed_from_id" is not null group by 1) x
        where x.id = m."certificate_id" and m."replaced_at" is null;`,
    );
    this.addSql(
      `update "renewal_campaign_certificates" m set "replaced_at" = x.t
         from (select m2."campaign_id", m2."certificate_id", min(n."created_at") t
                 from "renewal_campaign_certificates" m2 join "renewal_campaigns" rc on rc."id" = m2."campaign_id"
                 join "certificates" n on n."acme_account_id" = m2."acme_account_id" and sigil_certificate_names_key(n."dns_names", n."ip_addresses") = m2."names_key"
                where n."id" <> m2."certificate_id" and n."created_at" >= rc."created_at"
                group by 1, 2) x
        where m."campaign_id" = x."campaign_id" and m."certificate_id" = x."certificate_id" and m."replaced_at" is null;`,
    );
    this.addSql(
      `update "renewal_campaigns" c set "replaced_count" = x.n
         from (select "campaign_id", count(*)::int n from "renewal_campaign_certificates" where "replaced_at" is not null group by 1) x where x."campaign_id" = c."id";`,
    );
    this.addSql(
      `create index "renewal_campaign_certificates_pending_name_index" on "renewal_campaign_certificates" ("acme_account_id", "names_key") where "replaced_at" is null and "acme_account_id" is not null;`,
    );
    this.addSql(
      `create function sigil_renewal_campaign_replaced() returns trigger language plpgsql as $$
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
         if new.acme_account_id is not null then
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
           select coalesce(ids, '{}') || coalesce(array_agg(campaign_id), '{}') into ids from hit;
         end if;
         if ids is null or cardinality(ids) = 0 then return null; end if;
         -- lock the campaigns in id order (two issuances replacing members of the same campaigns cannot deadlock)
         perform 1 from renewal_campaigns where id = any(ids) order by id for update;
         update renewal_campaigns c set replaced_count = c.replaced_count + x.n
           from (select id, count(*)::int n from unnest(ids) id group by id) x where c.id = x.id;
         return null;
       end $$;`,
    );
    this.addSql(
      `create trigger certificates_renewal_campaign_replaced after insert on "certificates" for each row
         when (new.renewed_from_id is not null or new.acme_account_id is not null) execute function sigil_renewal_campaign_replaced();`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger certificates_renewal_campaign_replaced on "certificates";`);
    this.addSql(`drop function sigil_renewal_campaign_replaced();`);
    this.addSql(`drop index "renewal_campaign_certificates_pending_name_index";`);
    this.addSql(`alter table "renewal_campaign_certificates" drop column "acme_account_id", drop column "names_key", drop column "replaced_at";`);
    this.addSql(`alter table "renewal_campaigns" drop column "replaced_count";`);
    this.addSql(`drop function sigil_certificate_names_key(jsonb, jsonb);`);
  }
}
