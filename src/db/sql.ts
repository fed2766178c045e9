/**
 * Raw SQL on the ORM's own connection pool, for the few hot statements of
 * the ACME issuance path. No query building, no unit of work: named prepared
 * statements (parsed and planned once per connection, then only bound and
 * executed) sent by the pg driver, with `$n` placeholders.
 *
 * The pool is knex's (the one MikroORM uses), so the embedded database's
 * single connection is shared, never doubled: a transaction holds the one
 * connection, and every statement inside it must go through its `SqlTx`
 * (calling the ORM or `SqlPool.query` from inside would wait for ever).
 *
 * Results are as the pg driver parses them with MikroORM's type overrides:
 * timestamps come back as strings, jsonb as values, bigint/count as strings.
 * Parameters: Dates and scalars as is; jsonb parameters must be passed
 * JSON.stringify-ed (the driver turns JS arrays into PostgreSQL arrays).
 */
import type { MikroORM } from "@mikro-orm/postgresql";

/** A statement with a name unique in the process: prepared once per connection. */
export interface Statement {
  readonly name: string;
  readonly text: string;
}

const names = new Map<string, string>();

/** declares a named statement (module level: the name must never carry two texts) */
export function statement(name: string, text: string): Statement {
  const had = names.get(name);
  if (had !== undefined && had !== text) throw new Error(`statement ${name} declared twice with different SQL`);
  names.set(name, text);
  return { name, text };
}

/** what the pg driver's client looks like to us */
interface PgClient {
  query(config: { name?: string; text: string; values?: unknown[] }): Promise<{ rows: unknown[]; rowCount: number | null; command: string }>;
  __knex__disposed?: unknown;
}

interface KnexClient {
  acquireConnection(): Promise<PgClient>;
  releaseConnection(c: PgClient): Promise<void>;
}

export type Sql = Statement | string;

export interface Queryable {
  /** rows of one statement (a Statement is prepared once per connection; a string is parsed every time) */
  query<R>(sql: Sql, values?: readonly unknown[]): Promise<R[]>;
}

function run<R>(c: PgClient, sql: Sql, values: readonly unknown[] = []): Promise<R[]> {
  const config = typeof sql === "string" ? { text: sql, values: values as unknown[] } : { name: sql.name, text: sql.text, values: values as unknown[] };
  return c.query(config).then((r) => r.rows as R[]);
}

export class SqlPool implements Queryable {
  constructor(private readonly client: KnexClient) {}

  /** one statement on a pooled connection (autocommit) */
  async query<R>(sql: Sql, values: readonly unknown[] = []): Promise<R[]> {
    const c = await this.client.acquireConnection();
    try {
      return await run<R>(c, sql, values);
    } finally {
      await this.client.releaseConnection(c);
    }
  }

  /**
   * Runs `fn` in BEGIN ... COMMIT on one connection; ROLLBACK when it
   * throws (or COMMIT fails). Resolves only once COMMIT succeeded.
   */
  async transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const c = await this.client.acquireConnection();
    let open = false;
    try {
      await c.query({ text: "BEGIN" });
      open = true;
      let done = false;
      const q: Queryable = {
        query: <R>(sql: Sql, values?: readonly unknown[]) => {
          if (done) return Promise.reject(new Error("query after the transaction ended"));
          return run<R>(c, sql, values);
        },
      };
      let result: T;
      try {
        result = await fn(q);
      } finally {
        done = true;
      }
      open = false; // COMMIT ends the transaction even when it fails (PostgreSQL rolls back)
      const end = await c.query({ text: "COMMIT" });
      // a statement failed and its error was swallowed: PostgreSQL answers COMMIT with ROLLBACK
      if (end.command !== "COMMIT") throw new Error(`the transaction was rolled back (${end.command})`);
      return result;
    } catch (e) {
      if (open) {
        try {
          await c.query({ text: "ROLLBACK" });
        } catch (rollbackError) {
          // the connection is unusable: knex drops it instead of reusing it
          c.__knex__disposed = rollbackError;
        }
      }
      throw e;
    } finally {
      await this.client.releaseConnection(c);
    }
  }
}

const pools = new WeakMap<object, SqlPool>();

/** the SqlPool over this ORM's connection pool */
export function sqlPool(orm: MikroORM): SqlPool {
  let p = pools.get(orm);
  if (!p) {
    const knex = orm.em.getConnection().getKnex() as unknown as { client: KnexClient };
    p = new SqlPool(knex.client);
    pools.set(orm, p);
  }
  return p;
}
