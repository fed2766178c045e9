import { MikroORM, type Options } from "@mikro-orm/postgresql";
import { Migrator } from "@mikro-orm/migrations";
import { allEntities } from "./entities/index.js";
import { migrationsList } from "../../migrations/index.js";
import { startEmbeddedDatabase } from "./embedded.js";

export interface DatabaseOptions {
  /** PostgreSQL URL; undefined = embedded PGlite in dataDir */
  databaseUrl?: string;
  dataDir: string;
  poolMax?: number;
  debug?: boolean;
  /** embedded only: who opens it ("sigil serve"), named to a second process that finds the directory locked */
  holder?: string;
}

export interface Database {
  orm: MikroORM;
  /** "postgresql" or "embedded" */
  kind: "postgresql" | "embedded";
  close(): Promise<void>;
}

/** `{ host }` when the URL names a Unix socket directory in its `host` parameter (libpq's convention) */
export function unixSocketHost(clientUrl: string): { host?: string } {
  try {
    const host = new URL(clientUrl).searchParams.get("host");
    return host?.startsWith("/") ? { host } : {};
  } catch {
    return {};
  }
}

/** MikroORM options shared by the server, the CLI and the tests. */
export function ormOptions(clientUrl: string, poolMax: number, debug = false): Options {
  return {
    clientUrl,
    // libpq's `?host=/socket/dir` (a Unix socket, docker-compose.yml): MikroORM takes the host from the
    // URL's authority and drops the parameter, so it is passed on explicitly
    ...unixSocketHost(clientUrl),
    entities: allEntities,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: true },
    pool: { min: 0, max: poolMax },
    // JIT compiling the hot statements' plans cost more than running them (PGlite ignores the option)
    driverOptions: { connection: { options: "-c jit=off" } },
    debug,
    // bigints (CRL numbers) come back as JS bigint, never as lossy numbers
    forceEntityConstructor: false,
    migrations: {
      migrationsList,
      tableName: "sigil_migrations",
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      emit: "ts",
      silent: true,
    },
    allowGlobalContext: false,
    // run onCreate (UUIDv7 ids, timestamps) inside em.create, so a new row's id
    // can go into its audit entry before the flush
    processOnCreateHooksEarly: true,
  };
}

export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if (opts.databaseUrl) {
    const orm = await MikroORM.init(ormOptions(opts.databaseUrl, opts.poolMax ?? 10, opts.debug));
    return { orm, kind: "postgresql", close: () => orm.close(true) };
  }
  const embedded = await startEmbeddedDatabase(opts.dataDir, { holder: opts.holder });
  try {
    const orm = await MikroORM.init(ormOptions(embedded.url, 1, opts.debug));
    return {
      orm,
      kind: "embedded",
      async close() {
        await orm.close(true);
        await embedded.close();
      },
    };
  } catch (e) {
    await embedded.close();
    throw e;
  }
}

/** Applies pending migrations; returns the names applied (empty when up to date). */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}
