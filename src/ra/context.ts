import type { EntityManager, MikroORM } from "@mikro-orm/postgresql";
import type { Clock } from "../core/clock.js";
import type { MasterKeyRing } from "../ca/key-encryption.js";
import type { AuditLog } from "../db/entities/index.js";
import { AuditLogWriter, type AuditEntry } from "./audit.js";
import type { Actor } from "./actor.js";
import { IssuerCache } from "./issuers.js";

/** What every ra/ operation needs; built once in main.ts (or a test) and passed down. */
export interface RaContext {
  orm: MikroORM;
  keyRing: MasterKeyRing;
  clock: Clock;
  /** SIGIL_PUBLIC_URL without trailing slash */
  publicUrl: string;
  audit: AuditLogWriter;
  issuers: IssuerCache;
  /** randomness for serials (injected so tests can be deterministic) */
  random?: (n: number) => Buffer;
}

export function createRaContext(opts: Omit<RaContext, "audit" | "issuers"> & Partial<Pick<RaContext, "audit">>): RaContext {
  const partial = { ...opts, audit: opts.audit ?? new AuditLogWriter() };
  return { ...partial, issuers: new IssuerCache(partial.keyRing, partial.publicUrl) };
}

/** A transaction with an audit helper that publishes its entries to watchers after commit. */
export interface Tx {
  em: EntityManager;
  audit(actor: Actor, entry: AuditEntry): AuditLog;
}

export async function inTransaction<T>(ctx: RaContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const written: AuditLog[] = [];
  const result = await ctx.orm.em.fork().transactional(async (em) =>
    fn({
      em: em as EntityManager,
      audit: (actor, entry) => {
        const row = ctx.audit.record(em as EntityManager, actor, entry);
        written.push(row);
        return row;
      },
    }),
  );
  ctx.audit.published(written);
  return result;
}
