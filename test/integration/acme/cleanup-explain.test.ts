/**
 * The clean-up job's batches stay cheap whatever the history: each finds
 * its rows through an index (the partial indexes of
 * Migration20261202150000AcmeCleanupIndexes, the nonces' expires_at index,
 * primary keys), never by scanning a table that grows with history. The
 * tables are filled with 200,000 orders (authorizations, challenges,
 * order-authorization rows, certificates) and 200,000 nonces in one SQL
 * statement each, ANALYZEd, and every batch statement, with the text the
 * store sends, is EXPLAINed as a custom and as a generic plan (the server
 * prepares named statements, and PostgreSQL may switch to the generic plan
 * after five executions when it is estimated no dearer, plancache.c
 * choose_custom_plan): no Seq Scan on a growing table in the custom plan,
 * and the generic plan either free of them too or dearer than the custom
 * one (then it is never chosen). Then each batch runs once and must touch
 * at most its batch size.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { CLEANUP_DELETE_LOCK_KEY, CLEANUP_STATEMENTS, deleteInvalidOrders, expireAuthorizations, expireOrders } from "../../../src/db/store/cleanup.js";
import { deleteExpiredNonces, NONCE_SWEEP_SQL } from "../../../src/db/store/nonces.js";
import type { Statement } from "../../../src/db/sql.js";
import { startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { customAndGenericPlans, planNodes, seqScannedTables, type PlanNode } from "./plans.js";
import { RawAcme } from "./raw-client.js";

const ROWS = 200_000;
const BATCH = 1000;
const DAY = 86_400_000;
/** tables whose size follows history */
const GROWING = new Set(["acme_orders", "acme_authorizations", "acme_challenges", "acme_order_authorizations", "certificates", "acme_nonces"]);


const seqScans = (plan: PlanNode): string[] => seqScannedTables(plan, GROWING);
const indexes = (plan: PlanNode): string[] => planNodes(plan).flatMap((n) => (n["Index Name"] ? [n["Index Name"]] : []));

/**
 * Fills the ACME tables with `rows` orders of one account: 10 % pending and
 * expired a day before `now`, 10 % invalid for 40 days (their authorization
 * invalid), the rest valid with a certificate and a valid authorization
 * still in its reuse period; and `rows` nonces, 10 % expired.
 */
async function fillHistory(db: pg.Client, rows: number, ids: { account: string; dir: string; ca: string; org: string }, now: Date): Promise<void> {
  await db.query(
    `with g as (select i, gen_random_uuid() o, gen_random_uuid() a, gen_random_uuid() c, gen_random_uuid() cert, i % 10 k from generate_series(1, $1::int) i),
          az as (insert into acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires, created_at, updated_at)
                  select a, $2, 'dns', 'h' || i || '.example.com', false,
                         case k when 0 then 'pending' when 1 then 'invalid' else 'valid' end,
                         case k when 0 then $6::timestamptz - interval '1 day' else $6::timestamptz + interval '20 days' end,
                         $6::timestamptz - interval '41 days', $6::timestamptz - interval '40 days' from g),
          ch as (insert into acme_challenges (id, authorization_id, type, token, status, attempts, created_at, updated_at)
                  select c, a, 'http-01', md5(c::text), case k when 0 then 'pending' when 1 then 'invalid' else 'valid' end, 1, $6, $6 from g),
          o as (insert into acme_orders (id, account_id, directory_id, status, identifiers, authorization_ids, expires, certificate_id, created_at, updated_at)
                  select o, $2, $3, case k when 0 then 'pending' when 1 then 'invalid' else 'valid' end,
                         jsonb_build_array(jsonb_build_object('type', 'dns', 'value', 'h' || i || '.example.com')), jsonb_build_array(a),
                         case k when 0 then $6::timestamptz - interval '1 day' else $6::timestamptz - interval '34 days' end,
                         case when k > 1 then cert end, $6::timestamptz - interval '41 days', $6::timestamptz - interval '40 days' from g),
          oa as (insert into acme_order_authorizations (order_id, authorization_id) select o, a from g),
          ce as (insert into certificates (id, serial, issuer_id, organization_id, type, common_name, dns_names, not_before, not_after, source,
                                           certificate_pem, acme_account_id, acme_order_id, created_at)
                  select cert, md5(cert::text), $4, $5, 'server', 'h' || i || '.example.com', jsonb_build_array('h' || i || '.example.com'),
                         $6, $6::timestamptz + interval '50 days', 'acme', 'PEM', $2, o, $6 from g where k > 1)
     select count(*) from g`,
    [rows, ids.account, ids.dir, ids.ca, ids.org, now],
  );
  await db.query(
    `insert into acme_nonces (value, expires_at)
       select md5(i::text || random()::text), case when i % 10 = 0 then $2::timestamptz - interval '1 minute' else $2::timestamptz + interval '1 hour' end
         from generate_series(1, $1::int) i`,
    [rows, now],
  );
  await db.query("analyze");
}

describe("ACME clean-up batches: index-backed at 200,000 orders", function () {
  this.timeout(300_000);
  let server: AcmeTestServer;
  let db: pg.Client;
  const now = new Date();

  before(async () => {
    // the job's first run is a day away, and the nonce store leaves the sweep to it: nothing else touches the rows
    server = await startAcmeTestServer({ env: { SIGIL_CLEANUP_INTERVAL_SECONDS: "86400" } });
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
    const c = await RawAcme.create(server.directoryUrl());
    await c.register();
    const [d] = (await db.query<{ id: string; organization_id: string; ca_id: string }>(`select id, organization_id, ca_id from acme_directories where name = 'default'`)).rows;
    await fillHistory(db, ROWS, { account: c.kid!.split("/").pop()!, dir: d!.id, ca: d!.ca_id, org: d!.organization_id }, now);
  });

  after(async () => {
    await db?.end();
    await server?.stop();
  });

  const plans = (st: Statement, values: readonly unknown[]) => customAndGenericPlans(db, "h6", st, values);

  const cutoff = new Date(now.getTime() - 30 * DAY);
  const cases: Array<[string, Statement, unknown[], string]> = [
    ["expire orders", CLEANUP_STATEMENTS.expireOrders, [now, BATCH], "acme_orders_expiring_index"],
    ["expire authorizations", CLEANUP_STATEMENTS.expireAuthorizations, [now, BATCH], "acme_authorizations_expiring_index"],
    ["delete nonces", { name: "sigil_acme_nonces_sweep_batch", text: NONCE_SWEEP_SQL }, [now, BATCH], "acme_nonces_expires_at_index"],
    ["delete invalid orders", CLEANUP_STATEMENTS.deleteInvalidOrders, [cutoff, BATCH, now, CLEANUP_DELETE_LOCK_KEY], "acme_orders_invalid_updated_at_index"],
  ];

  for (const [label, st, values, index] of cases) {
    it(`${label}: no sequential scan of a growing table, through ${index}`, async () => {
      const [custom, generic] = await plans(st, values);
      assert.deepEqual(seqScans(custom!.plan), [], `${label} (custom plan):\n${JSON.stringify(custom!.plan, null, 1)}`);
      assert.ok(indexes(custom!.plan).includes(index), `${label} uses ${index}: ${indexes(custom!.plan).join(", ")}`);
      const scans = seqScans(generic!.plan);
      assert.ok(
        scans.length === 0 || generic!.plan["Total Cost"] > custom!.plan["Total Cost"],
        `${label}: the generic plan scans ${scans.join(", ")} and is not dearer than the custom plan (${generic!.plan["Total Cost"]} <= ${custom!.plan["Total Cost"]})`,
      );
    });
  }

  it("each batch touches at most its batch size", async () => {
    assert.equal(await expireOrders(server.ra.store, now, BATCH), BATCH);
    assert.equal(await expireAuthorizations(server.ra.store, now, BATCH), BATCH);
    assert.equal(await deleteExpiredNonces(server.ra.store, now, BATCH), BATCH);
    const d = await deleteInvalidOrders(server.ra.store, cutoff, now, BATCH);
    assert.deepEqual(d, { locked: true, orders: BATCH, authorizations: BATCH });
  });
});
