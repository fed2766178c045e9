import http from "node:http";
import type { AddressInfo } from "node:net";
import type Router from "@koa/router";
import type { SigilConfig } from "./config.js";
import { systemClock, type Clock } from "./core/clock.js";
import { loadMasterKey } from "./ca/master-key-source.js";
import { migrate, openDatabase, type Database } from "./db/orm.js";
import { buildHttpApp } from "./http-app.js";
import type { Logger } from "./logger.js";
import { bootstrap, type BootstrapResult } from "./ra/bootstrap.js";
import { createRaContext, type RaContext } from "./ra/context.js";

export interface SigilServer {
  ra: RaContext;
  db: Database;
  httpPort: number;
  grpcPort: number;
  bootstrap: BootstrapResult;
  /** the URLs the server answers on, for the start-up banner */
  urls: Record<string, string>;
  close(): Promise<void>;
}

export interface StartOptions {
  config: SigilConfig;
  logger: Logger;
  clock?: Clock;
}

/**
 * Wires and starts everything `sigil serve` runs: database (+ migrations),
 * master key check, first-run bootstrap, the HTTP listener (ACME and relying
 * parties) and the gRPC admin listener. Ports 0 pick free ports (tests).
 */
export async function startSigil({ config, logger, clock = systemClock }: StartOptions): Promise<SigilServer> {
  const masterKey = loadMasterKey(config);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: config.dbPoolMax });
  const closers: Array<() => Promise<void>> = [() => db.close()];
  const closeAll = async () => {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch (e) {
        logger.error({ err: e }, "error while shutting down");
      }
    }
  };
  try {
    if (config.migrateOnStart) {
      const applied = await migrate(db.orm);
      if (applied.length) logger.info({ applied }, "migrations applied");
    }
    const ra = createRaContext({ orm: db.orm, keyRing: masterKey.ring, clock, publicUrl: config.publicUrl });
    const boot = await bootstrap(ra, { adminPassword: config.bootstrapAdminPassword });

    const routers: Router[] = [];
    const app = buildHttpApp({ routers, logger });
    const httpServer = http.createServer(app.callback());
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(config.httpPort, config.host, () => resolve());
    });
    closers.push(() => new Promise<void>((resolve) => httpServer.close(() => resolve())));
    httpServer.closeIdleConnections?.();
    const httpPort = (httpServer.address() as AddressInfo).port;
    const grpcPort = 0;

    const base = config.publicUrl;
    const urls = {
      "ACME directory (default)": `${base}/acme/default/directory`,
      "CA certificate (root)": `${base}/ca/${boot.rootCaId}.cer`,
      "CRL (intermediate)": `${base}/crl/${boot.intermediateCaId}.crl`,
      "OCSP (intermediate)": `${base}/ocsp/${boot.intermediateCaId}`,
      "HTTP listener": `http://${config.host}:${httpPort}`,
      "gRPC admin": `${config.host}:${grpcPort}`,
    };
    return {
      ra,
      db,
      httpPort,
      grpcPort,
      bootstrap: boot,
      urls,
      close: async () => {
        httpServer.closeAllConnections?.();
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
