/**
 * Review 2 H1: renewal campaign progress is kept by the certificates insert
 * trigger (migration CampaignProgress) and read from the campaign row, so a
 * GetRenewalCampaign / ListRenewalCampaigns costs the same whether a campaign
 * has 10 or 100 000 members and whether their ACME account holds 10 or
 * 100 000 certificates. Proven by counts (pg_stat_xact_user_tables: rows the
 * read and a renewal insert touch, in one transaction) and by plans, never
 * by timings. One ACME account with 100 000 certificates, all members.
 */
import assert from "node:assert/strict";
import pg from "pg";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { RenewalCampaignScope, RenewalService } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg } from "../admin/helpers.js";
import { createIntermediate, createRoot, PkiClients } from "../admin/pki-helpers.js";

const N = 100_000;

describe("renewal campaign progress: bounded, index-backed (review 2 H1)", function () {
  this.timeout(900_000);
  let server: TestServer;
  let pki: PkiClients;
  let su: ClientCallOptions;
  let orgId: string;
  let ca: string;
  let acct: string;
  let campaignId: string;
  let db: pg.Client;
  const sql = <T>(q: string, params: unknown[] = []) => server.db.orm.em.getConnection().execute<T[]>(q, params);

  /** certificates g = from..to of the account for h<g>.fleet.example, created at `created` */
  const insertCerts = (prefix: string, from: number, to: number, created: string, renewedFrom = false) =>
    sql(
      `insert into certificates (id, serial, issuer_id, organization_id, type, status, dns_names, not_before, not_after, source, certificate_pem, created_at, acme_account_id, renewed_from_id)
       select gen_random_uuid(), ? || lpad(to_hex(g), 10, '0'), ?, ?, 'server', 'valid', jsonb_build_array('h' || g || '.fleet.example'),
              now() - interval '1 day', now() + interval '89 days', 'acme', 'placeholder', ${created}, ?,
              ${renewedFrom ? `(select o.id from certificates o where o.serial = '7e' || lpad(to_hex(g), 10, '0') and o.issuer_id = ?)` : "null"}
         from generate_series(?::int, ?::int) g`,
      renewedFrom ? [prefix, ca, orgId, acct, ca, from, to] : [prefix, ca, orgId, acct, from, to],
    );

  /** rows of `tables` read (seq + index fetches) and scans while `fn` runs in one transaction on `db` */
  async function touched(fn: () => Promise<unknown>): Promise<Record<string, { seqScan: number; seqRead: number; idxFetch: number }>> {
    const snap = async () => {
      const r = await db.query<{ relname: string; seq_scan: string; seq_tup_read: string; idx_tup_fetch: string }>(
        `select relname, seq_scan, seq_tup_read, coalesce(idx_tup_fetch, 0) idx_tup_fetch from pg_stat_xact_user_tables
          where relname in ('certificates', 'renewal_campaign_certificates', 'renewal_campaigns')`,
      );
      return new Map(r.rows.map((x) => [x.relname, x]));
    };
    await db.query("begin");
    try {
      const a = await snap();
      await fn();
      const b = await snap();
      const out: Record<string, { seqScan: number; seqRead: number; idxFetch: number }> = {};
      for (const [k, v] of b) {
        const o = a.get(k);
        out[k] = {
          seqScan: Number(v.seq_scan) - Number(o?.seq_scan ?? 0),
          seqRead: Number(v.seq_tup_read) - Number(o?.seq_tup_read ?? 0),
          idxFetch: Number(v.idx_tup_fetch) - Number(o?.idx_tup_fetch ?? 0),
        };
      }
      return out;
    } finally {
      await db.query("rollback");
    }
  }

  before(async () => {
    // PostgreSQL always: the counts come from its pg_stat_xact_user_tables
    server = await startTestServer({ embedded: false });
    pki = new PkiClients(server);
    su = await pki.superuser();
    orgId = await createOrg(pki, su);
    const root = await createRoot(pki, su, orgId, { pathLength: 1 });
    ca = (await createIntermediate(pki, su, root.id)).id;
    const [dir] = await sql<{ id: string }>(
      `insert into acme_directories (id, name, organization_id, ca_id, created_at, updated_at) values (gen_random_uuid(), 'h1-' || substr(md5(random()::text), 1, 8), ?, ?, now(), now()) returning id`,
      [orgId, ca],
    );
    const [a] = await sql<{ id: string }>(
      `insert into acme_accounts (id, directory_id, organization_id, key_thumbprint, jwk, created_at, updated_at)
       values (gen_random_uuid(), ?, ?, substr(md5(random()::text), 1, 43), '{}'::jsonb, now(), now()) returning id`,
      [dir!.id, orgId],
    );
    acct = a!.id;
    await insertCerts("7e", 1, N, "now() - interval '1 day'");
    const c = (await pki.client(RenewalService).createRenewalCampaign({ scope: RenewalCampaignScope.DIRECTORY, directoryId: dir!.id, now: true, reason: "h1" }, su)).campaign!;
    assert.equal(c.certificateCount, N);
    campaignId = c.id;
    // the fleet follows ARI: 3 000 renew by names under the same account, 2 000 through renewed_from (replaces)
    await insertCerts("7f", 1, 3000, "now() + interval '1 minute'");
    await insertCerts("80", 3001, 5000, "now() + interval '1 minute'", true);
    // a certificate for the same names issued BEFORE the campaign began replaces nothing; nor does another name
    await insertCerts("81", 5001, 5001, "now() - interval '2 days'");
    await sql(`analyze certificates`);
    await sql(`analyze renewal_campaign_certificates`);
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    pki?.close();
    await server?.stop();
  });

  it("Get and List answer the replaced count the trigger kept (renewed by names and by replaces, each once)", async () => {
    const renewal = pki.client(RenewalService);
    const got = (await renewal.getRenewalCampaign({ id: campaignId }, su)).campaign!;
    assert.equal(got.certificateCount, N);
    assert.equal(got.replacedCount, 5000);
    const list = await renewal.listRenewalCampaigns({ organizationId: orgId, pageSize: 500 }, su);
    assert.equal(list.campaigns.find((x) => x.id === campaignId)?.replacedCount, 5000);
    // a second renewal of an already replaced member does not count it twice
    await insertCerts("82", 1, 10, "now() + interval '2 minutes'");
    assert.equal((await renewal.getRenewalCampaign({ id: campaignId }, su)).campaign!.replacedCount, 5000);
    const [m] = await sql<{ n: number }>(`select count(*)::int n from renewal_campaign_certificates where campaign_id = ? and replaced_at is not null`, [campaignId]);
    assert.equal(m!.n, 5000);
  });

  it("the progress read touches no certificate and no member row: only the campaign row (counts)", async () => {
    const t = await touched(() =>
      db.query(
        `select id, member_count, replaced_count, count(*) over ()::int total from renewal_campaigns
          where ($1::uuid is null or organization_id = $1) and ($2::boolean or cancelled_at is null) order by created_at desc, id desc limit 500`,
        [orgId, true],
      ),
    );
    assert.equal(t.certificates?.seqRead ?? 0, 0);
    assert.equal(t.certificates?.idxFetch ?? 0, 0);
    assert.equal(t.renewal_campaign_certificates?.seqRead ?? 0, 0);
    assert.equal(t.renewal_campaign_certificates?.idxFetch ?? 0, 0);
  });

  it(`one renewal insert in an account of ${N + 5001} certificates touches a handful of rows, no scans (counts)`, async () => {
    const t = await touched(() =>
      db.query(
        `insert into certificates (id, serial, issuer_id, organization_id, type, status, dns_names, not_before, not_after, source, certificate_pem, created_at, acme_account_id)
         values (gen_random_uuid(), '83000001', $1, $2, 'server', 'valid', '["h70000.fleet.example"]', now(), now() + interval '89 days', 'acme', 'placeholder', now() + interval '1 minute', $3)`,
        [ca, orgId, acct],
      ).then(() =>
        db.query(
          `insert into certificates (id, serial, issuer_id, organization_id, type, status, dns_names, not_before, not_after, source, certificate_pem, created_at, acme_account_id)
           values (gen_random_uuid(), '83000002', $1, $2, 'server', 'valid', '["h70001.fleet.example"]', now(), now() + interval '89 days', 'acme', 'placeholder', now() + interval '1 minute', $3)`,
          [ca, orgId, acct],
        ),
      ),
    );
    assert.equal(t.certificates?.seqScan ?? 0, 0, JSON.stringify(t));
    assert.equal(t.renewal_campaign_certificates?.seqScan ?? 0, 0, JSON.stringify(t));
    // per insert: the matched member's certificate (names re-checked) and the campaign row
    assert.ok((t.certificates?.idxFetch ?? 0) <= 8, JSON.stringify(t));
    assert.ok((t.renewal_campaign_certificates?.idxFetch ?? 0) <= 8, JSON.stringify(t));
    const [c] = await db.query<{ replaced_count: number }>(`select replaced_count from renewal_campaigns where id = $1`, [campaignId]).then((r) => r.rows);
    assert.equal(c!.replaced_count, 5000, "rolled back");
  });

  it("plans: the trigger's member lookup uses the pending-name index; the read is the campaign primary key", async () => {
    const plan = async (q: string, params: unknown[]) => (await db.query(`explain ${q}`, params)).rows.map((r) => r["QUERY PLAN"] as string).join("\n");
    const lookup = await plan(
      `select m.campaign_id from renewal_campaign_certificates m where m.acme_account_id = $1 and m.names_key = sigil_certificate_names_key('["h9.fleet.example"]'::jsonb, '[]'::jsonb) and m.replaced_at is null`,
      [acct],
    );
    assert.match(lookup, /renewal_campaign_certificates_pending_name_index/, lookup);
    assert.doesNotMatch(lookup, /Seq Scan/, lookup);
    const byRenewed = await plan(`select m.campaign_id from renewal_campaign_certificates m where m.certificate_id = $1 and m.replaced_at is null`, [acct]);
    assert.doesNotMatch(byRenewed, /Seq Scan/, byRenewed);
    const read = await plan(`select member_count, replaced_count from renewal_campaigns where id = $1`, [campaignId]);
    assert.doesNotMatch(read, /Seq Scan|certificates/, read);
  });
});
