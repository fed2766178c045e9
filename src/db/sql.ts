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
 * Inside a transaction, BEGIN travels with the first statement and COMMIT
 * with the last one (`commitWith`) in one round trip each: the statements of
 * a round trip are pipelined (Parse/Bind/Execute each, one Sync), and an
 * error skips the rest (PostgreSQL discards up to the Sync), so a failed
 * statement never lets its COMMIT through.
 *
 * Results are as the pg driver parses them with MikroORM's type overrides:
 * timestamps come back as strings, jsonb as values, bigint/count as strings.
 * Parameters: Dates and scalars as is; jsonb parameters must be passed
 * JSON.stringify-ed (the driver turns JS arrays into PostgreSQL arrays).
 */
import { createRequire } from "node:module";
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

export interface TxQueryable extends Queryable {
  /**
   * the transaction's last statement and its COMMIT in one round trip;
   * resolves once committed. Nothing may follow.
   */
  commitWith<R>(sql: Statement, values?: readonly unknown[]): Promise<R[]>;
  /** the same with several last statements (run in order, each with its own snapshot): the rows of each */
  commitWithAll(last: Array<{ sql: Statement; values?: readonly unknown[] }>): Promise<unknown[][]>;
}

const BEGIN = statement("sigil_begin", "BEGIN");
const COMMIT = statement("sigil_commit", "COMMIT");

// node-postgres internals for pipelining (pg 8): a Query subclass writing several statements before one Sync
const require = createRequire(import.meta.url);
const pg = require("pg") as { Query: new (config: object) => object };
const { prepareValue } = require("pg/lib/utils.js") as { prepareValue: (v: unknown) => unknown };

interface PgConnection {
  parsedStatements: Record<string, string>;
  parse(m: { text: string; name: string }): void;
  bind(m: { portal: string; statement: string; values: unknown[]; binary: boolean }): void;
  describe(m: { type: "P"; name: string }): void;
  execute(m: { portal: string }): void;
  sync(): void;
}

interface PgResult {
  rows: unknown[];
  command: string;
}

interface Step {
  name: string;
  text: string;
  values: unknown[];
}

/** PostgreSQL error classes of a statement that does not parse (syntax, unknown objects) or of a missing / duplicate prepared statement */
const PARSE_ERROR = /^(42|26)/;

/**
 * Several named statements in one round trip. pg's Query handles the
 * results (one Result per statement, the connection's type parsers) and the
 * errors (the first error fails the whole pipeline); this class only writes
 * the messages, and remembers which statements it prepared on the connection.
 */
class Pipeline extends (pg.Query as unknown as new (config: object) => {
  handleError(err: unknown, connection: PgConnection): void;
}) {
  readonly pipelineTexts: string[];
  constructor(
    private readonly steps: Step[],
    private readonly client: PgClient,
  ) {
    super({ text: steps.map((st) => st.text).join(";\n"), queryMode: "extended" });
    this.pipelineTexts = steps.map((st) => st.text);
  }

  requiresPreparation(): boolean {
    return true;
  }

  prepare(connection: PgConnection): void {
    for (const st of this.steps) {
      if (connection.parsedStatements[st.name] === undefined) {
        connection.parse({ text: st.text, name: st.name });
        // marked now: pg only records the query's own name on ParseComplete; after
        // a parse error the marks are unreliable and the connection is dropped (handleError)
        connection.parsedStatements[st.name] = st.text;
      }
      connection.bind({ portal: "", statement: st.name, values: st.values, binary: false });
      connection.describe({ type: "P", name: "" });
      connection.execute({ portal: "" });
    }
    connection.sync();
  }

  override handleError(err: unknown, connection: PgConnection): void {
    const code = (err as { code?: unknown })?.code;
    // which statements of the pipeline exist is unknown: knex discards the connection when it is released
    if (typeof code === "string" && PARSE_ERROR.test(code)) this.client.__knex__disposed = err;
    super.handleError(err, connection);
  }
}

function pipeline(c: PgClient, steps: Array<{ sql: Statement; values?: readonly unknown[] }>): Promise<PgResult[]> {
  const p = new Pipeline(steps.map(({ sql, values = [] }) => ({ name: sql.name, text: sql.text, values: values.map((v) => prepareValue(v)) })), c);
  return new Promise<PgResult[]>((resolve, reject) => {
    // a submittable gets no promise from client.query: pg calls its callback
    (p as unknown as { callback: (err: unknown, r: PgResult | PgResult[]) => void }).callback = (err, r) =>
      err ? reject(err) : resolve(Array.isArray(r) ? r : [r]);
    (c.query as unknown as (q: object) => unknown).call(c, p);
  });
}

function checkCommitted(r: PgResult): void {
  // a statement failed and its error was swallowed: PostgreSQL answers COMMIT with ROLLBACK
  if (r.command !== "COMMIT") throw new Error(`the transaction was rolled back (${r.command})`);
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
   * Runs `fn` in BEGIN ... COMMIT on one connection (BEGIN sent with the
   * first statement, COMMIT with `commitWith` or alone at the end); ROLLBACK
   * when it throws or a statement fails. Resolves only once COMMIT succeeded.
   */
  async transaction<T>(fn: (q: TxQueryable) => Promise<T>): Promise<T> {
    const c = await this.client.acquireConnection();
    /** idle: nothing sent; open: BEGIN sent; committed: COMMIT succeeded; ended: fn returned */
    const tx: { state: "idle" | "open" | "committed" | "ended" } = { state: "idle" };
    const usable = () => {
      if (tx.state === "committed" || tx.state === "ended") throw new Error("query after the transaction ended");
    };
    const q: TxQueryable = {
      query: async <R>(sql: Sql, values?: readonly unknown[]) => {
        usable();
        if (tx.state === "open") return run<R>(c, sql, values);
        tx.state = "open";
        if (typeof sql === "string") {
          await c.query({ name: BEGIN.name, text: BEGIN.text });
          return run<R>(c, sql, values);
        }
        const r = await pipeline(c, [{ sql: BEGIN }, { sql, values }]);
        return r[1]!.rows as R[];
      },
      commitWith: async <R>(sql: Statement, values?: readonly unknown[]) => (await q.commitWithAll([{ sql, values }]))[0] as R[],
      commitWithAll: async (last: Array<{ sql: Statement; values?: readonly unknown[] }>) => {
        usable();
        const steps: Array<{ sql: Statement; values?: readonly unknown[] }> = [...last, { sql: COMMIT }];
        if (tx.state === "idle") steps.unshift({ sql: BEGIN });
        tx.state = "open";
        const r = await pipeline(c, steps);
        checkCommitted(r[r.length - 1]!);
        tx.state = "committed";
        return r.slice(r.length - 1 - last.length, r.length - 1).map((x) => x.rows);
      },
    };
    try {
      const result = await fn(q);
      const was = tx.state;
      tx.state = "ended";
      if (was === "open") {
        const end = await c.query({ name: COMMIT.name, text: COMMIT.text });
        checkCommitted(end);
      }
      return result;
    } catch (e) {
      const was = tx.state;
      tx.state = "ended";
      if (was === "open") {
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
