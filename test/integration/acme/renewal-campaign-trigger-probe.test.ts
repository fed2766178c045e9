/**
 * The renewal-campaign trigger on certificate inserts (migration
 * 20261204100000 CampaignTriggerEarlyExit) first probes the pending-name
 * index for the new certificate's ACME account and computes the names key
 * and runs its update only when the account has a member not yet replaced:
 * the ACME issuance of an account outside every campaign does one index
 * probe. Proven by counts in one transaction (pg_stat_xact_user_functions
 * with track_functions, pg_stat_xact_user_tables), never by timings; the
 * replacement semantics are those of renewal-campaign-progress.test.ts and
 * are checked here again on both sides of the probe.
 */
import assert from "node:assert/strict";
import pg from "pg";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { RenewalCampaignScope, RenewalService } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg } from "../admin/helpers.js";
import { createIntermediate, createRoot, PkiClients } from "../admin/pki-helpers.js";

describe("renewal campaign trigger: one index probe for an account without pending members", function () {
  this.timeout(300_000);
  let server: TestServer;
  let pki: PkiClients;
  let su: ClientCallOptions;
  let orgId: string;
  let ca: string;
  let dirId: string;
  let member: string;
  let outsider: string;
  let campaignId: string;
  let db: pg.Client;
  const sql = <T>(q: string, params: unknown[] = []) => server.db.orm.em.getConnection().execute<T[]>(q, params);

  const newAccount = async (): Promise<string> => {
    const [a] = await sql<{ id: string }>(
      `insert into acme_accounts (id, directory_id, organization_id, key_thumbprint, jwk, created_at, updated_at)
       values (gen_random_uuid(), ?, ?, substr(md5(random()::text), 1, 43), '{}'::jsonb, now(), now()) returning id`,
      [dirId, orgId],
    );
    return a!.id;
  };

  const insertCertSql = `insert into certificates (id, serial, issuer_id, organization_id, type, status, dns_names, not_before, not_after, source, certificate_pem, created_at, acme_account_id)
     values (gen_random_uuid(), $1, $2, $3, 'server', 'valid', $4::jsonb, now(), now() + interval '89 days', 'acme', 'placeholder', $5, $6)`;

  /** what the pg_stat_xact_* views count so far in this backend (they accumulate until flushed, so callers take differences) */
  async function counters() {
    const fn = await db.query<{ funcname: string; calls: string }>(
      `select funcname, calls from pg_stat_xact_user_functions where funcname in ('sigil_renewal_campaign_replaced', 'sigil_certificate_names_key')`,
    );
    const calls = Object.fromEntries(fn.rows.map((r) => [r.funcname, Number(r.calls)]));
    const [t] = (
      await db.query<{ seq_scan: string; idx_tup_fetch: string; n_tup_upd: string }>(
        `select seq_scan, coalesce(idx_tup_fetch, 0) idx_tup_fetch, n_tup_upd from pg_stat_xact_user_tables where relname = 'renewal_campaign_certificates'`,
      )
    ).rows;
    return {
      trigger: calls.sigil_renewal_campaign_replaced ?? 0,
      namesKey: calls.sigil_certificate_names_key ?? 0,
      memberSeqScans: Number(t?.seq_scan ?? 0),
      memberRowsFetched: Number(t?.idx_tup_fetch ?? 0),
      membersUpdated: Number(t?.n_tup_upd ?? 0),
    };
  }

  /** in one rolled-back transaction: the insert of a certificate for `names` of `account`, with what it called and read */
  async function insertCounted(account: string, serial: string, names: string[]) {
    await db.query("begin");
    try {
      await db.query("set local track_functions = 'all'");
      const a = await counters();
      await db.query(insertCertSql, [serial, ca, orgId, JSON.stringify(names), new Date(Date.now() + 60_000), account]);
      const b = await counters();
      const [c] = (await db.query<{ replaced_count: number }>(`select replaced_count from renewal_campaigns where id = $1`, [campaignId])).rows;
      return {
        trigger: b.trigger - a.trigger,
        namesKey: b.namesKey - a.namesKey,
        memberSeqScans: b.memberSeqScans - a.memberSeqScans,
        memberRowsFetched: b.memberRowsFetched - a.memberRowsFetched,
        membersUpdated: b.membersUpdated - a.membersUpdated,
        replacedCount: c!.replaced_count,
      };
    } finally {
      await db.query("rollback");
    }
  }

  before(async () => {
    // PostgreSQL always: the counts come from its pg_stat_xact_* views
    server = await startTestServer({ embedded: false });
    pki = new PkiClients(server);
    su = await pki.superuser();
    orgId = await createOrg(pki, su);
    const root = await createRoot(pki, su, orgId, { pathLength: 1 });
    ca = (await createIntermediate(pki, su, root.id)).id;
    const [dir] = await sql<{ id: string }>(
      `insert into acme_directories (id, name, organization_id, ca_id, created_at, updated_at) values (gen_random_uuid(), 'probe-' || substr(md5(random()::text), 1, 8), ?, ?, now(), now()) returning id`,
      [orgId, ca],
    );
    dirId = dir!.id;
    member = await newAccount();
    await sql(
      `insert into certificates (id, serial, issuer_id, organization_id, type, status, dns_names, not_before, not_after, source, certificate_pem, created_at, acme_account_id)
       select gen_random_uuid(), '9a' || lpad(to_hex(g), 10, '0'), ?, ?, 'server', 'valid', jsonb_build_array('p' || g || '.probe.example'),
              now() - interval '1 day', now() + interval '89 days', 'acme', 'placeholder', now() - interval '1 day', ?
         from generate_series(1, 200) g`,
      [ca, orgId, member],
    );
    const c = (await pki.client(RenewalService).createRenewalCampaign({ scope: RenewalCampaignScope.DIRECTORY, directoryId: dirId, now: true, reason: "probe" }, su)).campaign!;
    assert.equal(c.certificateCount, 200);
    campaignId = c.id;
    // an account of the same directory created after the campaign: none of its certificates is a member
    outsider = await newAccount();
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    pki?.close();
    await server?.stop();
  });

  it("an account without pending members: the trigger runs, the names key is never computed, no member row is read", async () => {
    const r = await insertCounted(outsider, "9b0000000001", ["p7.probe.example"]);
    assert.equal(r.trigger, 1, JSON.stringify(r));
    assert.equal(r.namesKey, 0, JSON.stringify(r));
    assert.equal(r.memberSeqScans, 0, JSON.stringify(r));
    assert.equal(r.memberRowsFetched, 0, JSON.stringify(r));
    assert.equal(r.membersUpdated, 0, JSON.stringify(r));
    // the same names under another account replace nothing
    assert.equal(r.replacedCount, 0);
  });

  it("an account with pending members: the names key is computed and the member for the same names is replaced", async () => {
    const r = await insertCounted(member, "9b0000000002", ["p7.probe.example"]);
    assert.equal(r.trigger, 1, JSON.stringify(r));
    assert.equal(r.namesKey, 1, JSON.stringify(r));
    assert.equal(r.memberSeqScans, 0, JSON.stringify(r));
    assert.equal(r.membersUpdated, 1, JSON.stringify(r));
    assert.equal(r.replacedCount, 1);
  });

  it("an account with pending members but other names: the names key is computed, nothing is replaced", async () => {
    const r = await insertCounted(member, "9b0000000003", ["elsewhere.probe.example"]);
    assert.equal(r.namesKey, 1, JSON.stringify(r));
    assert.equal(r.membersUpdated, 0, JSON.stringify(r));
    assert.equal(r.replacedCount, 0);
  });
});
