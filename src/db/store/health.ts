/**
 * What readiness and the metrics scrape read of the database: a ping, the
 * pending migrations, the connection pool's occupancy and the expiry of
 * each CA's certificate and CRL. All cheap: one indexed read at most.
 */
import { statement } from "../sql.js";
import { sqlOf, type Store } from "./session.js";

const PING = statement("sigil_health_ping", "select 1 as one");

/** Resolves when the database answered a trivial statement (rejects otherwise). */
export async function pingDatabase(s: Store): Promise<void> {
  await sqlOf(s).query(PING);
}

/** Names of the migrations not applied yet (empty: the schema is current). */
export async function pendingMigrations(s: Store): Promise<string[]> {
  const pending = await s.orm.getMigrator().getPendingMigrations();
  return pending.map((m) => m.name);
}

/** Connections of the pool (knex's tarn pool under MikroORM) in use, idle, and callers waiting for one. */
export interface PoolStats {
  used: number;
  free: number;
  pending: number;
  max: number;
}

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  max: number;
}

/** The pool's occupancy, or undefined when the driver does not expose it. */
export function poolStats(s: Store): PoolStats | undefined {
  const knex = s.orm.em.getConnection().getKnex() as unknown as { client?: { pool?: Partial<TarnPool> } };
  const pool = knex.client?.pool;
  if (!pool || typeof pool.numUsed !== "function" || typeof pool.numFree !== "function" || typeof pool.numPendingAcquires !== "function") return undefined;
  return { used: pool.numUsed(), free: pool.numFree(), pending: pool.numPendingAcquires(), max: typeof pool.max === "number" ? pool.max : 0 };
}

const EXPIRIES = statement(
  "sigil_health_ca_expiries",
  `select a.id, a.name, a.not_after, c.next_update from certificate_authorities a left join crls c on c.ca_id = a.id where a.status = 'active'`,
);

/** Every active CA with its certificate's notAfter and its current CRL's nextUpdate (null: none published yet). */
export interface CaExpiryRow {
  id: string;
  name: string;
  notAfter: Date;
  crlNextUpdate: Date | null;
}

export async function caExpiries(s: Store): Promise<CaExpiryRow[]> {
  const rows = await sqlOf(s).query<{ id: string; name: string; not_after: string | Date; next_update: string | Date | null }>(EXPIRIES);
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    notAfter: new Date(r.not_after),
    crlNextUpdate: r.next_update === null ? null : new Date(r.next_update),
  }));
}
