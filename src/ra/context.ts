/**
 * What every ra/ operation needs, and the two kinds of transaction it opens.
 * The transaction handles are the storage layer's sessions (src/db/store):
 * ra/ decides and passes them to store functions; it never sees SQL or the
 * ORM itself.
 */
import type { Clock } from "../core/clock.js";
import type { MasterKeyRing } from "../ca/key-encryption.js";
import type { AuditLog } from "../db/entities/index.js";
import { recordAudit } from "../db/store/audit.js";
import { Store, type OrmTx, type SqlTx as StoreSqlTx } from "../db/store/session.js";
import { AuditLogWriter, type AuditEntry } from "./audit.js";
import type { Actor } from "./actor.js";
import { IssuerCache } from "./issuers.js";
import { DatabaseKeyStore } from "../ca/key-store.js";
import type { Pkcs11KeyStore } from "../ca/pkcs11.js";
import { SecretVault } from "./secrets.js";
import type { RateLimiter } from "./acme/rate-limits.js";
import type { OidcClient } from "./oidc/client.js";

/** Things other parts of the server want to hear about, after the change committed. */
export interface RaEvents {
  /** a certificate issued by `caId` was revoked (the CRL publisher listens) */
  certificateRevoked: Array<(caId: string) => void>;
}

/** What every ra/ operation needs; built once in main.ts (or a test) and passed down. */
export interface RaContext {
  /** the storage layer's root handle */
  store: Store;
  keyRing: MasterKeyRing;
  /** seals and opens every stored secret with per-organization data keys wrapped by keyRing (src/ra/secrets.ts) */
  secrets: SecretVault;
  clock: Clock;
  /** SIGIL_PUBLIC_URL without trailing slash: the base of the URLs signed into certificates (CRL DP, AIA) */
  publicUrl: string;
  /** SIGIL_ACME_URL without trailing slash: the base of ACME links; default publicUrl */
  acmeUrl?: string;
  audit: AuditLogWriter;
  issuers: IssuerCache;
  events: RaEvents;
  /** randomness for serials (injected so tests can be deterministic) */
  random?: (n: number) => Buffer;
  /** bcrypt cost of new password hashes (SIGIL_BCRYPT_COST; default DEFAULT_BCRYPT_COST) */
  bcryptCost?: number;
  /** the PKCS#11 key store (SIGIL_PKCS11_MODULE, docs/key-custody.md); absent: CAs can only keep keys in the database */
  pkcs11?: Pkcs11KeyStore;
  /** ACME rate limits (SIGIL_RATE_LIMITS, src/ra/acme/rate-limits.ts); absent: none apply (tests that build a context) */
  rateLimits?: RateLimiter;
  /** OpenID Connect discovery, JWKS and token requests (src/ra/oidc/client.ts, the injected fetch); absent: one over the global fetch */
  oidc?: OidcClient;
}

/** bcrypt cost when RaContext.bcryptCost is unset (the production default) */
export const DEFAULT_BCRYPT_COST = 12;

export function createRaContext(
  opts: Omit<RaContext, "audit" | "issuers" | "events" | "store" | "secrets"> & { orm: ConstructorParameters<typeof Store>[0] } & Partial<Pick<RaContext, "audit" | "secrets">>,
): RaContext {
  const { orm, ...rest } = opts;
  const secrets = opts.secrets ?? new SecretVault(opts.keyRing, { now: () => opts.clock.now() });
  const partial = { ...rest, secrets, store: new Store(orm), audit: opts.audit ?? new AuditLogWriter() };
  return { ...partial, issuers: new IssuerCache(secrets, partial.publicUrl, { database: new DatabaseKeyStore(), pkcs11: opts.pkcs11 }), events: { certificateRevoked: [] } };
}

/** What both kinds of transaction offer ra/ besides being a store session. */
interface TxHooks {
  /** records an audit entry in this transaction; watchers hear of it only after the commit */
  audit(actor: Actor, entry: AuditEntry): AuditLog;
  /** run `fn` after a successful commit (never on rollback) */
  afterCommit(fn: () => void): void;
}

/** An ORM transaction with audit and after-commit hooks. */
export type Tx = OrmTx & TxHooks;

/**
 * A pipelined raw-SQL transaction with the same hooks, for the hot ACME
 * paths: its audit entries go out with the statement that takes them
 * (takeQueuedAudit) or with COMMIT.
 */
export type SqlTx = StoreSqlTx & TxHooks;

function hooks(ctx: RaContext, session: OrmTx | StoreSqlTx, written: AuditLog[], after: Array<() => void>): TxHooks {
  return {
    audit: (actor, entry) => {
      const row = recordAudit(session, ctx.audit.row(actor, entry));
      written.push(row);
      return row;
    },
    afterCommit: (h) => after.push(h),
  };
}

async function published<T>(ctx: RaContext, result: T, written: AuditLog[], after: Array<() => void>): Promise<T> {
  ctx.audit.published(written);
  for (const h of after) h();
  return result;
}

export async function inTransaction<T>(ctx: RaContext, fn: (tx: Tx) => Promise<T>): Promise<T> {
  const written: AuditLog[] = [];
  const after: Array<() => void> = [];
  const result = await ctx.store.transaction((session) => fn(Object.assign(Object.create(null) as object, session, hooks(ctx, session, written, after)) as Tx));
  return published(ctx, result, written, after);
}

export async function inSqlTransaction<T>(ctx: RaContext, fn: (tx: SqlTx) => Promise<T>): Promise<T> {
  const written: AuditLog[] = [];
  const after: Array<() => void> = [];
  const result = await ctx.store.sqlTransaction((session) =>
    fn(Object.assign(Object.create(null) as object, session, hooks(ctx, session, written, after)) as SqlTx),
  );
  return published(ctx, result, written, after);
}
