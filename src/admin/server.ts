/**
 * The admin gRPC port: one node:http2 server (h2c in plaintext, TLS with
 * optional client certificates) whose every request goes to
 * @connectrpc/connect-node (./connect.ts), answering gRPC, Connect and
 * gRPC-Web (binary and JSON) for every sigil.admin.v1 service, plus
 * grpc.health.v1.Health and server reflection v1/v1alpha.
 *
 * `buildAdminGrpcServer` does not listen; `listenAdmin` binds it
 * (ARCHITECTURE.md: factories build, main listens); `shutdownAdmin` drains it.
 */
import http2 from "node:http2";
import type { Socket } from "node:net";
import type { TrustProxy } from "../core/client-address.js";
import { buildConnectHandler } from "./connect.js";
import type { AddServiceOptions, AdminLogger, CallContext, ServiceBinding } from "./grpc-adapter.js";
import { HealthStatus } from "./health.js";
import type { Actor } from "../ra/actor.js";

/**
 * HTTP/2 SETTINGS of the gRPC port (RFC 9113 §6.5.2). grpc-js clients open
 * one connection and multiplex: 1000 concurrent streams per connection is
 * far above what one admin client needs, and bounds what one connection can
 * hold open (each Watch is a stream).
 */
export const ADMIN_HTTP2_SETTINGS: http2.Settings = {
  maxConcurrentStreams: 1000,
  // (each stream's request body is bounded in time too: ADMIN_REQUEST_BODY_TIMEOUT_MS)
  // request headers (metadata) of one call: a bearer token is < 1 KiB
  maxHeaderListSize: 32 * 1024,
};

/** Memory one HTTP/2 session may buffer, in MB (a request may hold up to 4 MiB, ./connect.ts CONNECT_READ_MAX_BYTES). */
const MAX_SESSION_MEMORY_MB = 64;

/**
 * How long a stream's request body may stay open (review R3). Every unary
 * and server-streaming request (a Watch too) is one message sent with
 * END_STREAM at once; a client that opens streams and never ends them would
 * otherwise make the server hold what it sent (up to 4 MiB each) for ever.
 * A stream whose request has not ended by then is reset with CANCEL
 * (RFC 9113 §8.1, §7); a Watch whose request has ended streams on.
 */
export const ADMIN_REQUEST_BODY_TIMEOUT_MS = 30_000;

/**
 * Reflection streams are bidi (grpcurl sends several requests on one
 * stream), so their request may stay open: they are reset instead after this
 * long without a frame either way.
 */
export const ADMIN_REFLECTION_IDLE_TIMEOUT_MS = 60_000;

/** Paths whose request may stay open (bidi): idle timeout instead of the body deadline. */
const BIDI_PATHS = new Set([
  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
]);

/** Stream time limits of the gRPC port; the defaults above unless a test shortens them. */
export interface AdminStreamLimits {
  requestBodyTimeoutMs?: number;
  reflectionIdleTimeoutMs?: number;
}

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
  /** SIGIL_TRUST_PROXY: the client address from x-forwarded-for of a trusted proxy (review 2 M3). */
  trustProxy?: boolean | TrustProxy;
  /** Health table to serve; default a new one with every service SERVING. Pass one to flip it on shutdown. */
  health?: HealthStatus;
  /** Counts and times every call (health and reflection included); default none. */
  metrics?: AddServiceOptions["metrics"];
  /** Stream time limits; default ADMIN_REQUEST_BODY_TIMEOUT_MS and ADMIN_REFLECTION_IDLE_TIMEOUT_MS. */
  streamLimits?: AdminStreamLimits;
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

type Handler = ReturnType<typeof buildConnectHandler>;

/** The gRPC port's request handler, and once listening its HTTP/2 server and connections. */
export class AdminServer {
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #sockets = new Set<Socket>();
  #server: http2.Http2Server | http2.Http2SecureServer | undefined;
  #stopping: Promise<void> | undefined;

  constructor(
    /** Serves every request of the port (gRPC, Connect, gRPC-Web). */
    readonly handler: Handler,
    /** The health table served by grpc.health.v1.Health. */
    readonly health: HealthStatus,
    /** Stream time limits (review R3). */
    readonly streamLimits: AdminStreamLimits = {},
  ) {}

  /** Bounds how long one HTTP/2 stream may hold the server's memory without finishing its request. */
  #limitStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    if (BIDI_PATHS.has(String(headers[":path"]))) {
      // any frame read or written restarts it (Http2Stream#setTimeout)
      stream.setTimeout(this.streamLimits.reflectionIdleTimeoutMs ?? ADMIN_REFLECTION_IDLE_TIMEOUT_MS, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      return;
    }
    if (stream.endAfterHeaders) return; // no body at all
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), this.streamLimits.requestBodyTimeoutMs ?? ADMIN_REQUEST_BODY_TIMEOUT_MS);
    timer.unref();
    const clear = () => clearTimeout(timer);
    // 'end': the client's END_STREAM has been read (the handler consumes the body); 'close': the stream is gone
    stream.once("end", clear);
    stream.once("close", clear);
  }

  /** Binds the port; see `listenAdmin`. */
  listen(host: string, port: number, tls?: AdminTlsOptions): Promise<number> {
    if (this.#server) throw new Error("the admin server is already listening");
    const options = { settings: ADMIN_HTTP2_SETTINGS, maxSessionMemory: MAX_SESSION_MEMORY_MB };
    const server =
      tls === undefined
        ? // h2c with prior knowledge (what grpc-js and `curl --http2-prior-knowledge` speak without TLS)
          http2.createServer(options, this.handler)
        : http2.createSecureServer(
            {
              ...options,
              cert: tls.certPem,
              key: tls.keyPem,
              // mTLS: the handshake fails without a certificate issued by one of these CAs
              ...(tls.clientCaPem === undefined ? {} : { ca: tls.clientCaPem, requestCert: true, rejectUnauthorized: true }),
              // ALPN h2 for gRPC; http/1.1 for Connect and gRPC-Web clients without HTTP/2 (curl -k --http1.1, browsers' fetch)
              allowHTTP1: true,
            },
            this.handler,
          );
    this.#server = server;
    server.on("session", (session: http2.ServerHttp2Session) => {
      this.#sessions.add(session);
      session.on("error", () => undefined); // a peer's protocol error ends its session only
      session.once("close", () => this.#sessions.delete(session));
      if (this.#stopping) session.close();
    });
    server.on("connection", (socket: Socket) => {
      // no Nagle: a response's HEADERS, DATA and trailers are separate small writes, and with Nagle
      // each call waited for the client's delayed ACK (p50 ~26 ms instead of ~2 ms on loopback)
      socket.setNoDelay(true);
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
    server.on("sessionError", () => undefined);
    server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => this.#limitStream(stream, headers));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });
  }

  /**
   * Stops accepting connections and sends every HTTP/2 connection a GOAWAY
   * (RFC 9113 §6.8): running calls finish, new ones go elsewhere. After
   * `graceMs` whatever is still open (e.g. Watch streams) is closed.
   * Idempotent: a second call waits for the first.
   */
  shutdown(graceMs: number): Promise<void> {
    const server = this.#server;
    if (!server) return Promise.resolve();
    return (this.#stopping ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.#sessions) s.destroy();
        for (const s of this.#sockets) s.destroy();
      }, graceMs);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const s of this.#sessions) s.close();
      // HTTP/1.1 connections (TLS only, Connect and gRPC-Web) have no GOAWAY: they are closed at the end of the grace
    }));
  }
}

/**
 * The gRPC port's server: every service of `services` behind `before`,
 * grpc.health.v1.Health and server reflection (v1 and v1alpha), over
 * gRPC, Connect and gRPC-Web. Not listening yet: see `listenAdmin`.
 */
export function buildAdminGrpcServer(opts: AdminGrpcServerOptions): AdminServer {
  const health = opts.health ?? new HealthStatus();
  const handler = buildConnectHandler({
    services: opts.services,
    logger: opts.logger,
    before: opts.before,
    metrics: opts.metrics,
    trustProxy: opts.trustProxy,
    health,
    reflection: true,
    grpc: true,
  });
  return new AdminServer(handler, health, opts.streamLimits);
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
 * `tls.clientCaPem` is set), plaintext HTTP/2 (h2c, prior knowledge) otherwise.
 */
export function listenAdmin(server: AdminServer, host: string, port: number, tls?: AdminTlsOptions): Promise<number> {
  return server.listen(host.replace(/^\[(.*)\]$/, "$1"), port, tls);
}

/** Stops accepting calls and waits for running ones, closing what is left after `graceMs`. */
export function shutdownAdmin(server: AdminServer, graceMs = 5000): Promise<void> {
  return server.shutdown(graceMs);
}
