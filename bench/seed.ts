/**
 * History seeding for benchmarks: `npm run bench -- seed [--certificates N] [--orders N] [--accounts N]`
 * on its own (a fresh database, migrated and bootstrapped, then seeded and
 * dropped: it reports how fast the seed is), and `seedHistory()` for
 * `npm run bench -- acme --seed N`, which fills the server's database before
 * measuring issuance against it.
 *
 * One INSERT ... SELECT FROM generate_series per table, run by PostgreSQL
 * itself (no rows travel through node, no statement per row): accounts,
 * valid authorizations with their valid http-01 challenges, valid orders with
 * their order-authorization pivot rows, and the issued certificates of the
 * directory's CA (status valid, source acme, linked to order and account).
 * Every row has the shape the ACME path writes (see src/db/store/acme-orders.ts
 * and certificates.ts), so the indexes the hot path reads are as large as in
 * a CA with that history. Ids are gen_random_uuid() (PostgreSQL 13+), serials
 * md5-derived and unique per run.
 *
 * This is benchmark-only SQL against a throwaway database: it bypasses the
 * store layer on purpose (bulk load), like bench/crl.ts's revoked rows.
 */
import pg from "pg";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createBenchDatabase } from "./lib/pg.js";

export interface SeedOptions {
  /** the ACME directory's name (default "default", the bootstrap directory) */
  directory?: string;
  /** issued certificates (and valid orders: one order per certificate); default 1 000 000 */
  certificates: number;
  /** extra orders beyond one per certificate, left pending (abandoned); default 0 */
  pendingOrders?: number;
  /** accounts the history is spread over; existing accounts of the directory are used first (default 1000 new ones) */
  accounts?: number;
  /** spread the history over these existing account ids only (e.g. the benchmark's own accounts) */
  accountIds?: string[];
  /** rows per statement (default 250 000: bounded memory and WAL per statement) */
  chunk?: number;
  log?: (line: string) => void;
}

export interface SeedResult {
  accounts: number;
  orders: number;
  authorizations: number;
  challenges: number;
  certificates: number;
  ms: number;
  /** per table, ms */
  steps: Record<string, number>;
}

const SEEDED_TABLES = ["acme_accounts", "acme_authorizations", "acme_challenges", "acme_orders", "acme_order_authorizations", "certificates"];

/** the PEM stored on each seeded certificate row: a real-sized placeholder (rows as wide as real ones) */
const PLACEHOLDER_PEM = `-----BEGIN CERTIFICATE-----\n${"A".repeat(64).concat("\n").repeat(14)}-----END CERTIFICATE-----\n`;

/**
 * Seeds `o.certificates` issued certificates with their orders,
 * authorizations and challenges (and `o.pendingOrders` pending orders) into
 * the database at `url`, for the directory `o.directory`.
 */
export async function seedHistory(url: string, o: SeedOptions): Promise<SeedResult> {
  const log = o.log ?? (() => undefined);
  const chunk = o.chunk ?? 250_000;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const t0 = performance.now();
  const steps: Record<string, number> = {};
  const step = async (name: string, fn: () => Promise<unknown>): Promise<void> => {
    const t = performance.now();
    await fn();
    steps[name] = (steps[name] ?? 0) + (performance.now() - t);
  };
  try {
    // a bulk load: no fsync wait per chunk (the bench database only; the product never sets this)
    await c.query("set synchronous_commit = off");
    // the planner's cost of a million-row SELECT would JIT-compile each statement (tens of ms, no gain here)
    await c.query("set jit = off");
    await c.query("set maintenance_work_mem = '256MB'");
    // bulk-load the usual way: foreign-key triggers off for this session (the rows reference what exists by
    // construction), secondary indexes dropped and rebuilt once at the end (one sort each instead of a
    // million index insertions); primary keys stay
    await c.query("set session_replication_role = replica");
    const indexes = (
      await c.query<{ name: string; def: string }>(
        `select i.indexrelid::regclass::text as name, pg_get_indexdef(i.indexrelid) as def
           from pg_index i
          where i.indrelid = any($1::regclass[]) and not i.indisprimary
            and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)`,
        [SEEDED_TABLES],
      )
    ).rows;
    await step("drop indexes", () => c.query(indexes.map((i) => `drop index ${i.name};`).join("\n")));
    const dir = (
      await c.query<{ id: string; ca_id: string; organization_id: string }>(`select id, ca_id, organization_id from acme_directories where name = $1`, [o.directory ?? "default"])
    ).rows[0];
    if (!dir) throw new Error(`seed: no ACME directory "${o.directory ?? "default"}"`);
    const run = randomBytes(4).toString("hex");

    // the accounts the history belongs to, numbered 1..k in a temporary table
    await c.query(`create temporary table seed_accounts (n int primary key, id uuid not null)`);
    if (o.accountIds?.length) {
      await c.query(`insert into seed_accounts (n, id) select ordinality, id::uuid from unnest($1::text[]) with ordinality as t(id, ordinality)`, [o.accountIds]);
    } else {
      const k = o.accounts ?? 1000;
      await step("accounts", () =>
        c.query(
          `with a as (
             insert into acme_accounts (id, directory_id, organization_id, key_thumbprint, jwk, status, contact, terms_of_service_agreed, created_at, updated_at)
             select gen_random_uuid(), $1, $2, 'seed-' || $3 || '-' || i, jsonb_build_object('kty', 'EC', 'crv', 'P-256', 'x', md5($3 || i::text), 'y', md5(i::text || $3)),
                    'valid', '[]'::jsonb, true, now() - interval '100 days', now() - interval '100 days'
               from generate_series(1, $4::int) as i
             returning id)
           insert into seed_accounts (n, id) select row_number() over (), id from a`,
          [dir.id, dir.organization_id, run, k],
        ),
      );
    }
    const accounts = Number((await c.query<{ n: string }>(`select count(*) as n from seed_accounts`)).rows[0]!.n);

    const n = o.certificates;
    const pending = o.pendingOrders ?? 0;
    // i in [a, b]: order i has authorization i (with challenge i) and, when i <= n, certificate i.
    // Deterministic ids per i inside one run (md5 of run + kind + i as a uuid), so the tables join without lookups.
    const uid = (kind: string) => `md5('${run}' || '${kind}' || i::text)::uuid`;
    const name = `'s' || i || '-${run}.seed.sigil.test'`;
    const acct = "sa.id";
    const series = `generate_series($1::int, $2::int) as i join seed_accounts sa on sa.n = 1 + (i % ${accounts})`;
    const age = `now() - (interval '1 second' * ((${n + pending} - i) % 7776000))`; // spread over 90 days, newest last
    for (let a = 1; a <= n + pending; a += chunk) {
      const b = Math.min(n + pending, a + chunk - 1);
      const params = [a, b];
      log(`  seeding rows ${a}..${b}`);
      await c.query("begin");
      await step("authorizations", () =>
        c.query(
          `insert into acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires, created_at, updated_at)
           select ${uid("authz")}, ${acct}, 'dns', ${name}, false, case when i <= ${n} then 'valid' else 'pending' end,
                  ${age} + interval '30 days', ${age}, ${age}
             from ${series}`,
          params,
        ),
      );
      await step("challenges", () =>
        c.query(
          `insert into acme_challenges (id, authorization_id, type, token, status, validated, attempts, created_at, updated_at)
           select ${uid("chall")}, ${uid("authz")}, 'http-01', md5('${run}' || 'token' || i::text),
                  case when i <= ${n} then 'valid' else 'pending' end, case when i <= ${n} then ${age} end, case when i <= ${n} then 1 else 0 end, ${age}, ${age}
             from generate_series($1::int, $2::int) as i`,
          params,
        ),
      );
      await step("orders", () =>
        c.query(
          `insert into acme_orders (id, account_id, directory_id, status, identifiers, authorization_ids, expires, certificate_id, created_at, updated_at)
           select ${uid("order")}, ${acct}, '${dir.id}', case when i <= ${n} then 'valid' else 'pending' end,
                  jsonb_build_array(jsonb_build_object('type', 'dns', 'value', ${name})),
                  jsonb_build_array(${uid("authz")}::text), ${age} + interval '7 days',
                  case when i <= ${n} then ${uid("cert")} end, ${age}, ${age}
             from ${series}`,
          params,
        ),
      );
      await step("order_authorizations", () =>
        c.query(
          `insert into acme_order_authorizations (order_id, authorization_id)
           select ${uid("order")}, ${uid("authz")} from generate_series($1::int, $2::int) as i`,
          params,
        ),
      );
      if (a <= n) {
        await step("certificates", () =>
          c.query(
            `insert into certificates (id, serial, issuer_id, organization_id, type, status, common_name, dns_names, ip_addresses, emails,
                                       not_before, not_after, source, certificate_pem, acme_account_id, acme_order_id, created_at)
             select ${uid("cert")}, '7' || substr(md5('${run}' || 'serial' || i::text), 1, 31), '${dir.ca_id}', '${dir.organization_id}', 'server', 'valid',
                    ${name}, jsonb_build_array(${name}), '[]'::jsonb, '[]'::jsonb,
                    ${age}, ${age} + interval '90 days', 'acme', $3, ${acct}, ${uid("order")}, ${age}
               from ${series}`,
            [a, Math.min(b, n), PLACEHOLDER_PEM],
          ),
        );
      }
      await c.query("commit");
    }
    await step("rebuild indexes", async () => {
      for (const i of indexes) await c.query(i.def);
    });
    await c.query("set session_replication_role = origin");
    await step("analyze", () => c.query("analyze acme_accounts, acme_authorizations, acme_challenges, acme_orders, acme_order_authorizations, certificates"));
    return { accounts, orders: n + pending, authorizations: n + pending, challenges: n + pending, certificates: n, ms: performance.now() - t0, steps };
  } finally {
    await c.end();
  }
}

/** `npm run bench -- seed`: seeds a fresh, migrated and bootstrapped database and reports the time per table */
export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      certificates: { type: "string", default: "1000000" },
      pending: { type: "string", default: "0" },
      accounts: { type: "string", default: "1000" },
      keep: { type: "boolean", default: false },
    },
  });
  const db = await createBenchDatabase("sigil_bench_seed");
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-bench-seed-"));
  try {
    // the schema and the bootstrap directory, through Sigil's own start-up path
    const { MasterKeyRing } = await import("../src/ca/key-encryption.js");
    const { systemClock } = await import("../src/core/clock.js");
    const { migrate, openDatabase } = await import("../src/db/orm.js");
    const { bootstrap } = await import("../src/ra/bootstrap.js");
    const { createRaContext } = await import("../src/ra/context.js");
    const orm = await openDatabase({ databaseUrl: db.url, dataDir, poolMax: 2 });
    try {
      await migrate(orm.orm);
      const ra = createRaContext({ orm: orm.orm, keyRing: MasterKeyRing.fromKeys(randomBytes(32)), clock: systemClock, publicUrl: "http://127.0.0.1" });
      await bootstrap(ra, { adminPassword: "bench-password-1" });
    } finally {
      await orm.close();
    }
    const r = await seedHistory(db.url, {
      certificates: Number(values.certificates),
      pendingOrders: Number(values.pending),
      accounts: Number(values.accounts),
      log: console.log,
    });
    const size = (await db.admin.query<{ s: string }>(`select pg_size_pretty(pg_database_size($1)) as s`, [db.name])).rows[0]!.s;
    console.log(
      `seeded ${r.accounts} accounts, ${r.orders} orders (+ as many authorizations, challenges, pivot rows) and ${r.certificates} certificates in ${(r.ms / 1000).toFixed(1)} s; database ${size}`,
    );
    console.log(`  per table (s): ${Object.entries(r.steps).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(", ")}`);
    if (values.keep) console.log(`kept database ${db.name}`);
  } finally {
    if (!values.keep) await db.drop();
    else await db.admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
