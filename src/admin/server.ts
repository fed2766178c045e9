/**
 * The admin gRPC server: health, reflection and the given sigil.admin.v1
 * services on one grpc-js server. `buildAdminGrpcServer` does not listen;
 * `listenAdmin` binds it (ARCHITECTURE.md: factories build, main listens).
 */
import * as grpc from "@grpc/grpc-js";
import {
  addServiceUntyped,
  silentLogger,
  type AddServiceOptions,
  type AdminLogger,
  type CallContext,
  type ServiceBinding,
} from "./grpc-adapter.js";
import { Health, HealthStatus, healthService } from "./health.js";
import { ACTOR_KEY } from "./principal.js";
import { addReflection } from "./reflection.js";
import type { Actor } from "../ra/actor.js";

/** Options of `buildAdminGrpcServer`. */
export interface AdminGrpcServerOptions {
  /** The services to serve, preferably built with `bindService(Service, impl)`. */
  services: ServiceBinding[];
  /** One structured line per RPC (pino-compatible); default silent. */
  logger?: AdminLogger;
  /**
   * Runs before every handler of `services` (not health or reflection), e.g.
   * authentication. A throw ends the call with the mapped status.
   */
  before?: (ctx: CallContext) => void | Promise<void>;
  /** SIGIL_TRUST_PROXY: the client address from x-forwarded-for metadata of a trusted proxy (review 2 M3). */
  trustProxy?: AddServiceOptions["trustProxy"];
  /** Health table to serve; default a new one with every service SERVING. Pass one to flip it on shutdown. */
  health?: HealthStatus;
  /** grpc-js server options; default none. */
  serverOptions?: grpc.ServerOptions;
  /** Counts and times every call (health included; reflection is served by grpc-js itself); default none. */
  metrics?: AddServiceOptions["metrics"];
}

/** How an authenticated caller appears in RPC log lines: kind and name, never a credential. */
export function principalLogFields(actor: Actor | undefined): { principal?: string; organization?: string } {
  if (!actor) return {};
  switch (actor.kind) {
    case "user":
      return { principal: `user:${actor.name}`, ...(actor.organizationId ? { organization: actor.organizationId } : {}) };
    case "serviceAccount":
      return { principal: `service-account:${actor.name}`, organization: actor.organizationId };
    case "acmeAccount":
      return { principal: `acme-account:${actor.id}`, organization: actor.organizationId };
    case "system":
      return { principal: `system:${actor.name}` };
    default: {
      const never: never = actor;
      return never;
    }
  }
}

/**
 * A grpc-js server with grpc.health.v1.Health, server reflection (v1 and
 * v1alpha) and `services`. Not listening yet: see `listenAdmin`.
 */
export function buildAdminGrpcServer(opts: AdminGrpcServerOptions): grpc.Server {
  const logger = opts.logger ?? silentLogger;
  const server = new grpc.Server(opts.serverOptions);
  const options: AddServiceOptions = {
    logger,
    before: opts.before,
    metrics: opts.metrics,
    logFields: (ctx) => principalLogFields(ctx.values.get(ACTOR_KEY)),
    trustProxy: opts.trustProxy,
  };
  const services = opts.services.map((b) => b.service);

  const health = opts.health ?? new HealthStatus();
  health.addServices(services);
  addServiceUntyped(server, Health, healthService(health), { logger, metrics: opts.metrics });

  for (const b of opts.services) addServiceUntyped(server, b.service, b.impl, options);
  addReflection(server, [...services, Health]);
  return server;
}

/** PEM material for the admin listener. */
export interface AdminTlsOptions {
  /** Server certificate chain, PEM. */
  certPem: string | Buffer;
  /** Server private key, PEM. */
  keyPem: string | Buffer;
  /** When set, clients must present a certificate issued by one of these CAs (PEM). */
  clientCaPem?: string | Buffer;
}

/**
 * Binds `server` on host:port (port 0 picks a free port) and resolves with
 * the bound port. TLS when `tls` is given (client certificates required when
 * `tls.clientCaPem` is set), plaintext HTTP/2 otherwise.
 */
export function listenAdmin(server: grpc.Server, host: string, port: number, tls?: AdminTlsOptions): Promise<number> {
  const credentials =
    tls === undefined
      ? grpc.ServerCredentials.createInsecure()
      : grpc.ServerCredentials.createSsl(
          tls.clientCaPem === undefined ? null : Buffer.from(tls.clientCaPem),
          [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }],
          tls.clientCaPem !== undefined,
        );
  const address = host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}

/** Stops accepting calls and waits for running ones, forcing after `graceMs`. */
export function shutdownAdmin(server: grpc.Server, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
