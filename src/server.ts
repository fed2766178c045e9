import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import type Router from "@koa/router";
import type { SigilConfig } from "./config.js";
import { systemClock, type Clock } from "./core/clock.js";
import { SigilError } from "./core/errors.js";
import { loadMasterKey } from "./ca/master-key-source.js";
import { migrate, openDatabase, type Database } from "./db/orm.js";
import { buildHttpApp } from "./http-app.js";
import { authHook } from "./admin/auth-hook.js";
import { buildAdminGrpcServer, listenAdmin, shutdownAdmin, type AdminTlsOptions } from "./admin/server.js";
import { adminServices } from "./admin/services/index.js";
import { buildConnectHandler } from "./admin/connect.js";
import { AuthManager } from "./ra/auth.js";
import type { Logger } from "./logger.js";
import { bootstrap, INITIAL_ADMIN_PASSWORD_FILE, type BootstrapResult } from "./ra/bootstrap.js";
import { withStartupLock } from "./db/store/startup-lock.js";
import { preflightListeners } from "./listen-preflight.js";
import { createRaContext, type RaContext } from "./ra/context.js";
import { Pkcs11KeyStore } from "./ca/pkcs11.js";
import { RateLimiter } from "./ra/acme/rate-limits.js";
import { OidcClient } from "./ra/oidc/client.js";
import { CleanupJob } from "./ra/acme/cleanup.js";
import { createRelyingParty, type RelyingParty } from "./public/index.js";
import { withOcspFastPath } from "./public/ocsp-fast-path.js";
import { withAcmeFastPath } from "./acme/fast-path.js";
import { buildAcmeRouter, type AcmeRouter, type AcmeRouterDeps } from "./acme/router.js";
import { createDefaultValidator } from "./validation/validator.js";
import { FileCertificateSource } from "./tls/file-certificate.js";
import { startHttpsListener } from "./tls/https-listener.js";
import { buildConsoleRouter } from "./console/serve.js";
import type { ListenerCertificateSource } from "./tls/material.js";
import { SelfIssuedCertificate } from "./tls/self-issued.js";
import type { ChallengeValidator } from "./validation/types.js";
import { HealthStatus, ServingStatus } from "./admin/health.js";
import { caExpiries, pendingMigrations, pingDatabase, poolStats } from "./db/store/health.js";
import { closeServersGracefully, within } from "./health/drain.js";
import { Readiness } from "./health/readiness.js";
import { proveMasterKeys } from "./ra/key-rotation.js";
import { buildHealthRouter } from "./health/routes.js";
import { instrumentValidator, observeAudit } from "./metrics/observe.js";
import { SigilMetrics } from "./metrics/registry.js";

export interface SigilServer {
  ra: RaContext;
  db: Database;
  httpPort: number;
  /** the HTTPS listener's port (ACME over TLS, RFC 8555 §6.1) */
  httpsPort: number;
  /** the HTTPS listener's certificate source (files or self-issued), for tests and reloads */
  listenerCertificate: ListenerCertificateSource;
  grpcPort: number;
  bootstrap: BootstrapResult;
  /** the ACME front end (its nonce store and validation scheduler, for tests) */
  acme: AcmeRouter;
  /** CRL publisher, OCSP responder and their periodic jobs (relying-party endpoints) */
  relyingParty: RelyingParty;
  /** the URLs the server answers on, for the start-up banner */
  urls: Record<string, string>;
  /** what GET /readyz, `sigil health` and the gRPC health status report */
  readiness: Readiness;
  /** the instance's Prometheus registry (undefined with SIGIL_METRICS=false) */
  metrics?: SigilMetrics;
  /** the gRPC grpc.health.v1 status table (follows readiness) */
  grpcHealth: HealthStatus;
  /**
   * Graceful stop (SIGTERM/SIGINT): readiness 503 and gRPC NOT_SERVING at
   * once, the listeners stop accepting, requests, RPCs and validations in
   * flight get up to SIGIL_SHUTDOWN_GRACE_SECONDS to finish, then the
   * remaining connections, the background jobs and the database close.
   */
  drain(): Promise<void>;
  /** immediate stop: open connections are cut */
  close(): Promise<void>;
}

export interface StartOptions {
  config: SigilConfig;
  logger: Logger;
  clock?: Clock;
  /** ACME challenge validator; default: the validator built from config */
  validator?: ChallengeValidator;
  /** ACME front-end tuning (orders page size, validation timing, ...); default: the router's defaults */
  acme?: Omit<AcmeRouterDeps, "ra" | "validator" | "logger">;
  /** how often readiness is re-checked for the gRPC health status (default 5000 ms) */
  readinessPollMs?: number;
}

/**
 * Wires and starts everything `sigil serve` runs: database (+ migrations),
 * master key check, first-run bootstrap, the HTTP listener (ACME and relying
 * parties) and the gRPC admin listener. Ports 0 pick free ports (tests).
 */
export async function startSigil({ config, logger, clock = systemClock, validator, acme: acmeOptions, readinessPollMs = 5000 }: StartOptions): Promise<SigilServer> {
  // before the master key and the database: a bad SIGIL_HOST or a port in use must change nothing (issue 9 item 6)
  await preflightListeners(config.host, [
    { variable: "SIGIL_HTTP_PORT", port: config.httpPort },
    { variable: "SIGIL_HTTPS_PORT", port: config.httpsPort },
    { variable: "SIGIL_GRPC_PORT", port: config.grpcPort },
  ]);
  const masterKey = loadMasterKey(config);
  // SIGIL_HTTPS_CERT / SIGIL_HTTPS_KEY are read and checked before the database too: a bad pair stops start-up naming them
  const fileCertificate = config.httpsCert && config.httpsKey ? new FileCertificateSource({ certFile: config.httpsCert, keyFile: config.httpsKey, logger }) : undefined;
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolMax: config.dbPoolMax, holder: "sigil serve" });
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
    // the PKCS#11 token (docs/key-custody.md): a wrong module, token or PIN stops start-up naming the variable
    const pkcs11 = config.pkcs11 ? Pkcs11KeyStore.open(config.pkcs11) : undefined;
    if (pkcs11) closers.push(async () => pkcs11.close());
    const ra = createRaContext({ pkcs11, orm: db.orm, keyRing: masterKey.ring, clock, publicUrl: config.publicUrl, acmeUrl: config.acmeUrl, bcryptCost: config.bcryptCost });
    // OpenID Connect providers (docs/sso.md); http on loopback only when SIGIL_OIDC_ALLOW_HTTP_LOOPBACK
    ra.oidc = new OidcClient({ fetch: (input, init) => fetch(input, init), clock, allowHttpLoopback: config.oidcAllowHttpLoopback, log: (fields, msg) => logger.warn(fields, msg) });
    // ACME rate limits held in the database (SIGIL_RATE_LIMITS, docs/rate-limits.md)
    ra.rateLimits = new RateLimiter({ server: config.rateLimits, helpUrl: config.rateLimitsHelpUrl, acmeUrl: config.acmeUrl });
    // instances starting at once on one PostgreSQL take turns through migrate + bootstrap
    let unneededPrevious: string[] = [];
    const boot = await withStartupLock(db, async () => {
      if (config.migrateOnStart) {
        const applied = await migrate(db.orm);
        if (applied.length) logger.info({ applied }, "migrations applied");
      }
      // docs/key-custody.md: every data key and legacy blob is sealed by a configured master key (or start-up stops naming what needs which)
      ({ unneededPrevious } = await proveMasterKeys(ra));
      return bootstrap(ra, {
        adminPassword: config.bootstrapAdminPassword,
        passwordFile: path.join(config.dataDir, INITIAL_ADMIN_PASSWORD_FILE),
        // docs/key-custody.md "Offline root": only the intermediate, signed by an offline root
        externalRoot:
          config.bootstrapMode === "external-root"
            ? { csrFile: path.join(config.dataDir, "default-intermediate.csr"), intermediateCertFile: config.bootstrapIntermediateCertFile, rootCertFile: config.bootstrapRootCertFile }
            : undefined,
      });
    });
    if (unneededPrevious.length) logger.warn({ masterKeyIds: unneededPrevious }, "previous master keys nothing needs any more: remove them from SIGIL_PREVIOUS_MASTER_KEYS");

    // readiness: database, migrations, master key, draining (src/health/readiness.ts)
    const readiness = new Readiness({ probes: { ping: () => pingDatabase(ra.store), pendingMigrations: () => pendingMigrations(ra.store) }, logger });
    // one registry per instance (several servers share a test process); gauges read the store at scrape time
    const metrics = config.metrics ? new SigilMetrics({ caExpiries: () => caExpiries(ra.store), pool: () => poolStats(ra.store), now: () => clock.now() }) : undefined;
    if (metrics) {
      // issued and revoked certificates are counted from committed audit entries
      const unobserve = observeAudit(ra.audit, metrics);
      ra.rateLimits.onRefused = (limit) => metrics.rateLimited(limit);
      closers.push(async () => void unobserve());
    }
    const grpcHealth = new HealthStatus();
    readiness.onChange((ready) => grpcHealth.setAll(ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING));
    closers.push(async () => readiness.stop());

    const routers: Router[] = [buildHealthRouter({ readiness })];
    const baseValidator = validator ?? createDefaultValidator(config, { logger });
    // with the clean-up job on, expired nonces are its to delete (in bounded batches), not each nonce store's
    const nonces = config.cleanupIntervalSeconds > 0 ? { cleanupIntervalMs: 0, ...acmeOptions?.nonces } : acmeOptions?.nonces;
    const acme = buildAcmeRouter({ renewalInfoRetryAfterSeconds: config.ariRetryAfterSeconds, ...acmeOptions, nonces, ra, validator: metrics ? instrumentValidator(baseValidator, metrics) : baseValidator, logger });
    closers.push(() => acme.close());
    routers.push(acme.router);
    const relyingParty = createRelyingParty(ra, {
      crlLifetimeHours: config.crlLifetimeHours,
      crlDebounceMs: config.crlDebounceMs,
      crlCheckMs: config.crlCheckMs,
      ocspPollMs: config.ocspPollMs,
      ocsp: {
        responseLifetimeMs: config.ocspResponseHours * 3_600_000,
        signerLifetimeMs: config.ocspSignerDays * 86_400_000,
        signerRenewBeforeMs: config.ocspSignerRenewDays * 86_400_000,
      },
      logger,
    });
    closers.push(() => relyingParty.close());
    routers.push(relyingParty.router);
    relyingParty.start();
    // the ACME clean-up job (src/ra/acme/cleanup.ts, docs/cleanup.md): stored expiry, old nonces and invalid orders, in bounded batches
    const cleanup = new CleanupJob(ra, {
      intervalMs: config.cleanupIntervalSeconds * 1000,
      batchSize: config.cleanupBatch,
      invalidOrderRetentionMs: config.invalidOrderRetentionDays * 86_400_000,
      logger,
      onRun: metrics ? (r) => metrics.acmeCleanup(r) : undefined,
    });
    closers.push(() => cleanup.close());
    cleanup.start();
    // HEAD/GET newNonce and GET directory without the Koa stack (src/acme/fast-path.ts, issue 11), on both listeners
    const acmeFastPath = { directories: acme.directories, nonces: acme.nonces, linker: acme.linker, logger, metrics, trustProxy: config.trustProxyRule, draining: () => readiness.draining };
    // SIGIL_ACME_ON_HTTP=false: the plain listener keeps only what relying parties fetch (RFC 5280 §4.2.1.13, RFC 6960 use http)
    const app = buildHttpApp({
      routers: config.acmeOnHttp ? routers : routers.filter((r) => r !== acme.router),
      logger,
      trustProxy: config.trustProxyRule,
      metrics,
      exposeMetrics: true,
      draining: () => readiness.draining,
    });
    // GET /ocsp/... from the responder's cache without the Koa stack (issue 11); the rest goes to the app
    const httpServer = http.createServer(
      withOcspFastPath(
        { ocsp: relyingParty.ocsp, clock, logger, metrics, draining: () => readiness.draining, trustProxy: config.trustProxyRule },
        config.acmeOnHttp ? withAcmeFastPath(acmeFastPath, app.callback()) : app.callback(),
      ),
    );
    await new Promise<void>((resolve, reject) => {
      httpServer.once("error", reject);
      httpServer.listen(config.httpPort, config.host, () => resolve());
    });
    closers.push(() => new Promise<void>((resolve) => httpServer.close(() => resolve())));
    httpServer.closeIdleConnections?.();
    const httpPort = (httpServer.address() as AddressInfo).port;

    // HTTPS: the same routes over TLS 1.2/1.3, with the certificate from files or issued by the default intermediate
    const listenerCertificate: ListenerCertificateSource =
      fileCertificate ?? (await SelfIssuedCertificate.create({ ra, caId: boot.intermediateCaId, publicUrl: config.acmeUrl, logger }));
    closers.push(() => listenerCertificate.close());
    // the web console (docs/console.md) on the HTTPS listener only, never on the plain one
    const httpsApp = buildHttpApp({ routers: [...routers, buildConsoleRouter()], logger, trustProxy: config.trustProxyRule, metrics, draining: () => readiness.draining });
    // the admin API over Connect and gRPC-Web (JSON too) at /sigil.admin.v1.*/*, same services and auth hook as the gRPC port (docs/admin-api.md)
    const auth = await AuthManager.create(ra, { jwtAudience: config.jwtAudience });
    const adminBindings = adminServices({ ra, auth });
    const httpsHandler = buildConnectHandler({ services: adminBindings, logger, before: authHook(auth), metrics, trustProxy: config.trustProxyRule, fallback: withAcmeFastPath(acmeFastPath, httpsApp.callback()) });
    const https = await startHttpsListener({ handler: httpsHandler, host: config.host, port: config.httpsPort, certificates: listenerCertificate, logger });
    closers.push(() => https.close());
    const httpsPort = https.port;

    // gRPC admin plane: every sigil.admin.v1 service behind the authentication hook, plus health and reflection
    const grpcServer = buildAdminGrpcServer({ services: adminBindings, logger, before: authHook(auth), health: grpcHealth, metrics, trustProxy: config.trustProxyRule });
    const grpcTls: AdminTlsOptions | undefined =
      config.grpcTlsCert && config.grpcTlsKey
        ? {
            certPem: readPem(config.grpcTlsCert, "SIGIL_GRPC_TLS_CERT"),
            keyPem: readPem(config.grpcTlsKey, "SIGIL_GRPC_TLS_KEY"),
            clientCaPem: config.grpcClientCa ? readPem(config.grpcClientCa, "SIGIL_GRPC_CLIENT_CA") : undefined,
          }
        : undefined;
    const grpcPort = await listenAdmin(grpcServer, config.host, config.grpcPort, grpcTls);
    closers.push(() => shutdownAdmin(grpcServer));
    const grpcMode = grpcTls ? (grpcTls.clientCaPem ? "TLS, client certificates required" : "TLS") : "plaintext";

    const base = config.publicUrl;
    const urls = {
      "ACME directory (default)": `${config.acmeUrl}/acme/default/directory`,
      "CA certificate (root)": `${base}/ca/${boot.rootCaId}.cer`,
      "CRL (intermediate)": `${base}/crl/${boot.intermediateCaId}.crl`,
      "OCSP (intermediate)": `${base}/ocsp/${boot.intermediateCaId}`,
      "HTTP listener": `http://${config.host}:${httpPort}`,
      "HTTPS listener": `https://${config.host.includes(":") ? `[${config.host}]` : config.host}:${httpsPort} (${listenerCertificate.kind === "file" ? "certificate from SIGIL_HTTPS_CERT" : "self-issued certificate"}, until ${listenerCertificate.info().validTo})`,
      "gRPC admin": `${config.host.includes(":") ? `[${config.host}]` : config.host}:${grpcPort} (${grpcMode})`,
    };
    // bootstrap verified the master key against the stored check value (or a CA key), and the
    // auth manager and the listener certificate decrypted keys with it
    readiness.markMasterKeyVerified();
    await readiness.check();
    readiness.poll(readinessPollMs);

    const close = async () => {
      httpServer.closeAllConnections?.();
      https.server.closeAllConnections?.();
      await closeAll();
    };
    let draining: Promise<void> | undefined;
    const drain = (): Promise<void> =>
      (draining ??= (async () => {
        const graceMs = config.shutdownGraceSeconds * 1000;
        const deadline = Date.now() + graceMs;
        // load balancers and orchestrators see 503 / NOT_SERVING before anything stops
        readiness.startDraining();
        grpcHealth.setAll(ServingStatus.NOT_SERVING);
        logger.info({ graceSeconds: config.shutdownGraceSeconds }, "draining");
        const [{ forced }] = await Promise.all([
          closeServersGracefully([httpServer, https.server], deadline),
          shutdownAdmin(grpcServer, graceMs),
          // validations in flight finish (or, past the grace, are aborted and left processing for another instance's sweeper)
          within(acme.validations.idle(), graceMs),
        ]);
        if (forced) logger.warn("grace period over: closing the connections still open");
        await close();
        logger.info("stopped");
      })());
    return {
      ra,
      db,
      readiness,
      metrics,
      grpcHealth,
      drain,
      httpPort,
      httpsPort,
      listenerCertificate,
      grpcPort,
      bootstrap: boot,
      acme,
      relyingParty,
      urls,
      close,
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** A PEM file named by a config variable; an unreadable one stops start-up naming the variable. */
function readPem(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw SigilError.config(`${variable}: cannot read ${file} (${(e as Error).message})`, variable);
  }
}
