/**
 * The benchmark's PostgreSQL: a fresh database per run on the server named
 * by BENCH_DATABASE_URL (or TEST_DATABASE_URL, default the local trust-auth
 * server), and the pids of the backends serving it.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

export const ADMIN_PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

export interface BenchDatabase {
  name: string;
  url: string;
  /** a connection to the admin database (not the bench database, so it is never counted) */
  admin: pg.Client;
  /** pids of the backends connected to the bench database */
  backendPids(): Promise<number[]>;
  /** whether pg_stat_statements can be read for this database */
  statementsAvailable(): Promise<boolean>;
  drop(): Promise<void>;
}

export async function createBenchDatabase(prefix = "sigil_bench"): Promise<BenchDatabase> {
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_PG_URL });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  // dead tuples of the hot tables (nonces, orders, authorizations) pile up without it, and every
  // window longer than a minute then measures that growth (PG 4.6 -> 7.0 ms/cert over 240 s at 64
  // clients, 13.6 over 600 s), not Sigil: production servers run autovacuum (PostgreSQL's default)
  const av = await admin.query<{ autovacuum: string }>(`show autovacuum`);
  if (av.rows[0]?.autovacuum !== "on") {
    console.log(
      "WARNING: autovacuum is off on this PostgreSQL server: long windows measure dead-tuple growth, not Sigil " +
        "(ALTER SYSTEM SET autovacuum = on; SELECT pg_reload_conf(); to measure as production runs)",
    );
  }
  const u = new URL(ADMIN_PG_URL);
  u.pathname = `/${name}`;
  return {
    name,
    url: u.toString(),
    admin,
    async backendPids() {
      const r = await admin.query<{ pid: number }>(`select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`, [name]);
      return r.rows.map((x) => x.pid);
    },
    async statementsAvailable() {
      try {
        const r = await admin.query<{ s: string }>(`select current_setting('shared_preload_libraries') as s`);
        return r.rows[0]!.s.includes("pg_stat_statements");
      } catch {
        return false;
      }
    },
    async drop() {
      try {
        // BENCH_KEEP_DATABASE=1: left for EXPLAINs afterwards (bench/explain-hot-path.ts), dropped by hand
        if (process.env.BENCH_KEEP_DATABASE === "1") console.log(`kept database ${name} (BENCH_KEEP_DATABASE=1)`);
        else await admin.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await admin.end();
      }
    },
  };
}
