/**
 * Sessions of the storage layer: the only ways to reach the database.
 *
 * - `Store` is the root handle (one per process, built from the ORM). Reads
 *   outside any transaction go through it.
 * - `OrmTx` is an ORM transaction (`store.transaction`): the store modules
 *   use its EntityManager and, for their prepared SQL, the same connection.
 * - `SqlTx` is a pipelined raw-SQL transaction (`store.sqlTransaction`) for
 *   the ACME hot path: BEGIN travels with the first statement and COMMIT
 *   with the last (src/db/sql.ts).
 *
 * Every store function takes a `Session` and runs its statements on it, so
 * a query inside a transaction goes through that transaction's connection.
 * Using the root handle (or opening a second transaction) while a
 * transaction is open in the same async context would, on the embedded
 * database's single connection, wait for ever: it throws at once instead
 * (`NestedSessionError`), which makes that class of deadlock a test failure
 * rather than a stalled server.
 *
 * Nothing outside src/db/store may import `emOf` / `sqlOf`: they are the
 * store modules' own access to the connection.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import type { AuditLog } from "../entities/index.js";
import { SqlPool, sqlPool, type Queryable, type Sql, type Statement, type TxQueryable } from "../sql.js";
import { AUDIT_INSERT, auditRowsParam } from "./audit-sql.js";
import { copyOut } from "../copy-out.js";

const INTERNAL: unique symbol = Symbol("sigil.store.session");

interface OpenState {
  open: boolean;
}

interface RootInternals {
  kind: "root";
  orm: MikroORM;
  pool: SqlPool;
}
interface OrmTxInternals {
  kind: "orm";
  em: EntityManager;
  state: OpenState;
  /** raw statements on the transaction's own connection */
  sql: Queryable;
}
interface SqlTxInternals {
  kind: "sql";
  /** the pipelined transaction, with queued audit entries written before its last statements */
  q: TxQueryable;
  state: OpenState;
  /** audit entries recorded and not yet written */
  pendingAudit: AuditLog[];
  committed: boolean;
}

/** The root handle: reads outside transactions, and the way to open one. */
export class Store {
  readonly [INTERNAL]: RootInternals;

  constructor(orm: MikroORM) {
    this[INTERNAL] = { kind: "root", orm, pool: sqlPool(orm) };
  }

  /** the ORM instance, for migrations and schema checks only (never for queries) */
  get orm(): MikroORM {
    return this[INTERNAL].orm;
  }

  /**
   * Runs `fn` in an ORM transaction; changes are flushed and committed when
   * it resolves, rolled back when it throws.
   */
  async transaction<T>(fn: (tx: OrmTx) => Promise<T>): Promise<T> {
    assertNoOpenTransaction("a transaction");
    const { orm } = this[INTERNAL];
    return orm.em.fork().transactional(async (em) => {
      const state: OpenState = { open: true };
      const e: EntityManager = em;
      const tx: OrmTx = { [INTERNAL]: { kind: "orm", em: e, state, sql: ormTxQueryable(e) } };
      try {
        return await openSessions.run(state, () => fn(tx));
      } finally {
        state.open = false;
      }
    });
  }

  /**
   * Runs `fn` in a pipelined raw-SQL transaction (see src/db/sql.ts):
   * resolves only once COMMIT succeeded.
   */
  async sqlTransaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    assertNoOpenTransaction("a transaction");
    return this[INTERNAL].pool.transaction(async (raw) => {
      const state: OpenState = { open: true };
      const internals: SqlTxInternals = { kind: "sql", q: raw, state, pendingAudit: [], committed: false };
      // queued audit entries go out in the round trip that commits, ahead of its last statements
      const commitWithAll = async (last: Array<{ sql: Statement; values?: readonly unknown[] }>): Promise<unknown[][]> => {
        const audit = internals.pendingAudit.splice(0);
        const steps = audit.length ? [{ sql: AUDIT_INSERT, values: [auditRowsParam(audit)] }, ...last] : last;
        const rows = await raw.commitWithAll(steps);
        internals.committed = true;
        return rows.slice(rows.length - last.length);
      };
      internals.q = {
        query: (sql, values) => raw.query(sql, values),
        commitWith: async <R>(sql: Statement, values?: readonly unknown[]) => (await commitWithAll([{ sql, values }]))[0] as R[],
        commitWithAll,
      };
      const tx: SqlTx = { [INTERNAL]: internals };
      try {
        const result = await openSessions.run(state, () => fn(tx));
        if (internals.pendingAudit.length) {
          if (internals.committed) throw new Error("store: audit entries recorded after the commit");
          await commitWithAll([]);
        }
        return result;
      } finally {
        state.open = false;
      }
    });
  }
}

/** An ORM transaction (Store.transaction). Opaque above the storage layer. */
export interface OrmTx {
  readonly [INTERNAL]: OrmTxInternals;
}

/** A pipelined raw-SQL transaction (Store.sqlTransaction). Opaque above the storage layer. */
export interface SqlTx {
  readonly [INTERNAL]: SqlTxInternals;
}

/** Anything a store function can run on. */
export type Session = Store | OrmTx | SqlTx;
/** A session that is a transaction. */
export type TxSession = OrmTx | SqlTx;

/** Thrown when a session other than the open transaction's is used inside it. */
export class NestedSessionError extends Error {
  constructor(what: string) {
    super(
      `${what} was used while a transaction is open in this request: every query inside a transaction must go through ` +
        "that transaction's handle (on the embedded database a second connection waits for ever)",
    );
    this.name = "NestedSessionError";
  }
}

/** the transaction open in the current async context, if any (its state turns closed when it ends) */
const openSessions = new AsyncLocalStorage<OpenState>();

function assertNoOpenTransaction(what: string): void {
  const open = openSessions.getStore();
  if (open?.open) throw new NestedSessionError(what);
}

function assertOpen(state: OpenState): void {
  if (!state.open) throw new Error("store: query after the transaction ended");
}

function ormTxQueryable(em: EntityManager): Queryable {
  return {
    async query<R>(sql: Sql, values?: readonly unknown[]): Promise<R[]> {
      // pending ORM changes first, so the statement sees (and may reference) them
      await em.flush();
      const trx = em.getTransactionContext() as unknown as { client: { acquireConnection(): Promise<PgLike> } } | undefined;
      if (!trx) throw new Error("store: no transaction context on the ORM transaction");
      const c = await trx.client.acquireConnection();
      const config = typeof sql === "string" ? { text: sql, values: values as unknown[] } : { name: sql.name, text: sql.text, values: values as unknown[] };
      const r = await c.query(config);
      return r.rows as R[];
    },
  };
}

interface PgLike {
  query(config: { name?: string; text: string; values?: unknown[] }): Promise<{ rows: unknown[] }>;
}

// ---- for the store modules only ----------------------------------------------------------

/**
 * The EntityManager of a session: the transaction's own, or a fresh fork of
 * the root (only when no transaction is open in this async context).
 */
export function emOf(s: Session): EntityManager {
  const i = s[INTERNAL];
  switch (i.kind) {
    case "root":
      assertNoOpenTransaction("the root store handle");
      return i.orm.em.fork();
    case "orm":
      assertOpen(i.state);
      return i.em;
    case "sql":
      throw new Error("store: this store function needs an ORM session, not a raw SQL transaction");
    default: {
      const never: never = i;
      throw new Error(`unknown session ${String(never)}`);
    }
  }
}

/** A raw-SQL view of a session, on the session's own connection. */
export function sqlOf(s: Session): Queryable {
  const i = s[INTERNAL];
  switch (i.kind) {
    case "root":
      assertNoOpenTransaction("the root store handle");
      return i.pool;
    case "orm":
      assertOpen(i.state);
      return i.sql;
    case "sql":
      assertOpen(i.state);
      return i.q;
    default: {
      const never: never = i;
      throw new Error(`unknown session ${String(never)}`);
    }
  }
}

/**
 * Runs a `COPY (...) TO STDOUT` on an ORM transaction's own connection, each
 * CopyData chunk to `onData` as it arrives (src/db/copy-out.ts).
 */
export async function copyOutOf(tx: OrmTx, text: string, onData: (chunk: Buffer) => void): Promise<void> {
  const i = tx[INTERNAL];
  assertOpen(i.state);
  await i.em.flush();
  const trx = i.em.getTransactionContext() as unknown as { client: { acquireConnection(): Promise<unknown> } } | undefined;
  if (!trx) throw new Error("store: no transaction context on the ORM transaction");
  return copyOut(await trx.client.acquireConnection(), text, onData);
}

/** The pipelined transaction of a SqlTx (its last statements travel with COMMIT). */
export function pipelineOf(s: SqlTx): TxQueryable {
  assertOpen(s[INTERNAL].state);
  return s[INTERNAL].q;
}

/** Queues an audit entry in a raw-SQL transaction (written by takeQueuedAudit's statement or at COMMIT). */
export function queueAudit(s: SqlTx, row: AuditLog): void {
  assertOpen(s[INTERNAL].state);
  s[INTERNAL].pendingAudit.push(row);
}

/**
 * The queued entries as the jsonb parameter of auditInsertSql, for a
 * statement that inserts them as a CTE; they then count as written.
 */
export function takeQueuedAudit(s: SqlTx): string {
  return auditRowsParam(s[INTERNAL].pendingAudit.splice(0));
}

/** Whether a session is a raw-SQL transaction. */
export function isSqlTx(s: Session): s is SqlTx {
  return s[INTERNAL].kind === "sql";
}

export type { Statement };
