/**
 * ACME clean-up benchmark: `npm run bench -- cleanup [--rows N] [--batch B]`.
 *
 * On a fresh PostgreSQL database (BENCH_DATABASE_URL / TEST_DATABASE_URL):
 * migrates and bootstraps, then fills one account with N orders (default
 * 1,000,000; one authorization, challenge, order-authorization row each, a
 * certificate for the valid ones) in SQL: 10 % pending and expired, 10 %
 * invalid for 40 days, 80 % valid (authorization valid 20 days more); and N
 * nonces, 10 % expired. ANALYZE, then for each batch statement of
 * src/db/store/cleanup.ts (and the nonce sweep): its plan (EXPLAIN ANALYZE of
 * one batch, in a transaction rolled back), then a whole clean-up run
 * (runCleanup, batches of B, default 1000) with the time per batch.
 */
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { MasterKeyRing } from "../src/ca/key-encryption.js";
import { systemClock } from "../src/core/clock.js";
import { migrate, openDatabase } from "../src/db/orm.js";
import { CLEANUP_DELETE_LOCK_KEY, CLEANUP_STATEMENTS } from "../src/db/store/cleanup.js";
import { NONCE_SWEEP_SQL } from "../src/db/store/nonces.js";
import { runCleanup } from "../src/ra/acme/cleanup.js";
import { bootstrap } from "../src/ra/bootstrap.js";
import { createRaContext } from "../src/ra/context.js";
import { createBenchDatabase } from "./lib/pg.js";

const DAY = 86_400_000;

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** the history, in chunks of 100k orders (one statement each) */
async function fill(c: pg.Client, rows: number, ids: { account: string; dir: string; ca: string; org: string }, now: Date): Promise<void> {
  const chunk = 100_000;
  for (let from = 0; from < rows; from += chunk) {
    await c.query(
      `with g as (select i, gen_random_uuid() o, gen_random_uuid() a, gen_random_uuid() c, gen_random_uuid() cert, i % 10 k from generate_series($7::int + 1, $1::int) i),
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
      [Math.min(rows, from + chunk), ids.account, ids.dir, ids.ca, ids.org, now, from],
    );
    await c.query(
      `insert into acme_nonces (value, expires_at)
         select md5(i::text || random()::text), case when i % 10 = 0 then $2::timestamptz - interval '1 minute' else $2::timestamptz + interval '1 hour' end
           from generate_series($3::int + 1, $1::int) i`,
      [Math.min(rows, from + chunk), now, from],
    );
  }
  await c.query("analyze");
}

/** EXPLAIN ANALYZE of one batch as the server prepares it (custom plan), rolled back */
async function plan(c: pg.Client, name: string, text: string, values: unknown[]): Promise<string> {
  await c.query("begin");
  try {
    await c.query(`prepare ${name} as ${text}`);
    await c.query("set local plan_cache_mode = force_custom_plan");
    const args = values.map((v) => c.escapeLiteral(v instanceof Date ? v.toISOString() : String(v)));
    const r = await c.query<{ "QUERY PLAN": string }>(`explain (analyze, buffers, costs off) execute ${name}(${args.join(", ")})`);
    return r.rows.map((x) => x["QUERY PLAN"]).join("\n");
  } finally {
    await c.query("rollback");
    await c.query(`deallocate all`);
  }
}

export async function run(args: string[]): Promise<void> {
  const arg = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] ? Number(args[i + 1]) : dflt;
  };
  const rows = arg("--rows", 1_000_000);
  const batch = arg("--batch", 1000);
  const bdb = await createBenchDatabase("sigil_bench_cleanup");
  const db = await openDatabase({ databaseUrl: bdb.url, dataDir: "/nonexistent", poolMax: 4 });
  const c = new pg.Client({ connectionString: bdb.url });
  try {
    await migrate(db.orm);
    const ra = createRaContext({ orm: db.orm, keyRing: MasterKeyRing.fromKeys(randomBytes(32)), clock: systemClock, publicUrl: "http://127.0.0.1" });
    await bootstrap(ra, { adminPassword: "bench-password-1" });
    await c.connect();
    const [d] = (await c.query<{ id: string; organization_id: string; ca_id: string }>(`select id, organization_id, ca_id from acme_directories where name = 'default'`)).rows;
    const account = randomUUID();
    await c.query(
      `insert into acme_accounts (id, directory_id, organization_id, key_thumbprint, jwk, created_at, updated_at) values ($1, $2, $3, $4, '{}', now(), now())`,
      [account, d!.id, d!.organization_id, randomBytes(32).toString("base64url")],
    );
    const now = new Date();
    const tf = process.hrtime.bigint();
    await fill(c, rows, { account, dir: d!.id, ca: d!.ca_id, org: d!.organization_id }, now);
    console.log(`${rows} orders (+ authorizations, challenges, links, ${Math.round(rows * 0.8)} certificates) and ${rows} nonces inserted and analyzed in ${(ms(tf) / 1000).toFixed(1)} s; node ${process.version}`);
    const cutoff = new Date(now.getTime() - 30 * DAY);
    const statements: Array<[string, string, unknown[]]> = [
      ["expire orders", CLEANUP_STATEMENTS.expireOrders.text, [now, batch]],
      ["expire authorizations", CLEANUP_STATEMENTS.expireAuthorizations.text, [now, batch]],
      ["delete nonces", NONCE_SWEEP_SQL, [now, batch]],
      ["delete invalid orders", CLEANUP_STATEMENTS.deleteInvalidOrders.text, [cutoff, batch, now, CLEANUP_DELETE_LOCK_KEY]],
    ];
    for (const [label, text, values] of statements) {
      console.log(`\n-- ${label} (one batch of ${batch}, EXPLAIN ANALYZE, rolled back)\n${await plan(c, "bench_cleanup", text, values)}`);
    }
    const tr = process.hrtime.bigint();
    const r = await runCleanup({ store: ra.store, clock: systemClock }, { batchSize: batch, runBudgetMs: 3_600_000 });
    const total = ms(tr);
    console.log(`\nwhole run: ${JSON.stringify(r)}`);
    console.log(`  ${(total / 1000).toFixed(1)} s for ${r.batches} batches: ${(total / r.batches).toFixed(1)} ms per batch`);
    const rowsChanged = r.ordersExpired + r.authorizationsExpired + r.noncesDeleted + r.ordersDeleted + r.authorizationsDeleted;
    console.log(`  ${Math.round(rowsChanged / (total / 1000))} rows per second`);
    const tq = process.hrtime.bigint();
    const idle = await runCleanup({ store: ra.store, clock: systemClock }, { batchSize: batch });
    console.log(`a run with nothing to do: ${ms(tq).toFixed(1)} ms (${idle.batches} batches)`);
  } finally {
    await c.end().catch(() => undefined);
    await db.close();
    await bdb.drop();
  }
}
