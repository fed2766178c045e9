import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import type { Clock } from "../core/clock.js";
import type { MasterKeyRing } from "../ca/key-encryption.js";
import type { AuditLog } from "../db/entities/index.js";
import { sqlPool, statement, type Queryable, type Statement } from "../db/sql.js";
import { AuditLogWriter, auditInsertSql, auditRowsParam, type AuditEntry } from "./audit.js";
import type { Actor } from "./actor.js";
import { IssuerCache } from "./issuers.js";

/** Things other parts of the server want to hear about, after the change committed. */
export interface RaEvents {
  /** a certificate issued by `caId` was revoked (the CRL publisher listens) */
  certificateRevoked: Array<(caId: string) => void>;
}

/** What every ra/ operation needs; built once in main.ts (or a test) and passed down. */
export interface RaContext {
  orm: MikroORM;
  keyRing: MasterKeyRing;
  clock: Clock;
  /** SIGIL_PUBLIC_URL without trailing slash */
  publicUrl: string;
  audit: AuditLogWriter;
  issuers: IssuerCache;
  events: RaEvents;
  /** randomness for serials (injected so tests can be deterministic) */
  random?: (n: number) => Buffer;
}

export function createRaContext(
  opts: Omit<RaContext, "audit" | "issuers" | "events"> & Partial<Pick<RaContext, "audit">>,
): RaContext {
  const partial = { ...opts, audit: opts.audit ?? new AuditLogWriter() };
  return { ...partial, issuers: new IssuerCache(partial.keyRing, partial.publicUrl), events: { certificateRevoked: [] } };
}

/** A transaction with an audit helper; entries reach watchers and after-commit hooks run only once it committed. */
export interface Tx {
  em: EntityManager;
  audit(actor: Actor, entry: AuditEntry): AuditLog;
  /** run `fn` after a successful commit (never on rollback) */
  afterCommit(fn: () => void): void;
}

export async function inTransaction<T>(ctx: RaContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const written: AuditLog[] = [];
  const hooks: Array<() => void> = [];
  const result = await ctx.orm.em.fork().transactional(async (em) =>
    fn({
      em: em as EntityManager,
      audit: (actor, entry) => {
        const row = ctx.audit.record(em as EntityManager, actor, entry);
        written.push(row);
        return row;
      },
      afterCommit: (h) => hooks.push(h),
    }),
  );
  ctx.audit.published(written);
  for (const h of hooks) h();
  return result;
}

/**
 * A transaction in raw SQL on one pooled connection (src/db/sql.ts), for the
 * hot ACME paths: no EntityManager, so nothing inside may use the ORM (on the
 * one-connection embedded database that would wait for ever).
 */
export interface SqlTx extends Queryable {
  /** records an entry; it is inserted by the statement that takes `takeAudit()`, else just before COMMIT */
  audit(actor: Actor, entry: AuditEntry): AuditLog;
  /**
   * The entries recorded and not yet written, as the jsonb parameter of
   * auditInsertSql (so a statement can insert them as a CTE); they then
   * count as written.
   */
  takeAudit(): string;
  /**
   * the last statement and COMMIT in one round trip (entries still pending
   * are inserted first); nothing may follow
   */
  commitWith<R>(sql: Statement, values?: readonly unknown[]): Promise<R[]>;
  /** the same with several last statements, each run with its own snapshot: the rows of each */
  commitWithAll(last: Array<{ sql: Statement; values?: readonly unknown[] }>): Promise<unknown[][]>;
  /** run `fn` after a successful commit (never on rollback) */
  afterCommit(fn: () => void): void;
}

const AUDIT_INSERT = statement("sigil_audit_insert", auditInsertSql("$1"));

export async function inSqlTransaction<T>(ctx: RaContext, fn: (tx: SqlTx) => Promise<T>): Promise<T> {
  const written: AuditLog[] = [];
  let pending: AuditLog[] = [];
  const hooks: Array<() => void> = [];
  const result = await sqlPool(ctx.orm).transaction(async (q) => {
    let committed = false;
    const commitWithAll = async (last: Array<{ sql: Statement; values?: readonly unknown[] }>): Promise<unknown[][]> => {
      const steps = pending.length ? [{ sql: AUDIT_INSERT, values: [auditRowsParam(pending)] }, ...last] : last;
      pending = [];
      const rows = await q.commitWithAll(steps);
      committed = true;
      return rows.slice(rows.length - last.length);
    };
    const r = await fn({
      query: (sql, values) => q.query(sql, values),
      commitWith: async <R>(sql: Statement, values?: readonly unknown[]): Promise<R[]> => (await commitWithAll([{ sql, values }]))[0] as R[],
      commitWithAll,
      audit: (actor, entry) => {
        const row = ctx.audit.row(actor, entry);
        pending.push(row);
        written.push(row);
        return row;
      },
      takeAudit: () => {
        const param = auditRowsParam(pending);
        pending = [];
        return param;
      },
      afterCommit: (h) => hooks.push(h),
    });
    if (pending.length) {
      if (committed) throw new Error("audit entries recorded after the commit");
      await q.commitWith(AUDIT_INSERT, [auditRowsParam(pending)]);
    }
    return r;
  });
  ctx.audit.published(written);
  for (const h of hooks) h();
  return result;
}
