import { mkdirSync } from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

/**
 * The embedded default: PGlite (PostgreSQL compiled to WASM) with its data in
 * `<dataDir>/pgdata`, served on a loopback socket so the ORM talks to it with
 * the same pg driver, SQL and migrations as real PostgreSQL.
 *
 * Why the socket and not a PGlite ORM driver: MikroORM 6 has no maintained
 * PGlite driver, and going through the wire protocol keeps one code path
 * (same driver, same migrations, same transactions). PGlite is one session,
 * so the server accepts one connection and the ORM pool is sized 1: queries
 * of different transactions can never interleave inside one session.
 */
export interface EmbeddedDatabase {
  /** postgres:// URL of the loopback socket */
  url: string;
  close(): Promise<void>;
}

export async function startEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const pgdata = path.join(dataDir, "pgdata");
  mkdirSync(pgdata, { recursive: true, mode: 0o700 });
  const db = await PGlite.create(pgdata);
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 1 });
  await server.start();
  const conn = server.getServerConn();
  return {
    url: `postgresql://postgres@${conn}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
