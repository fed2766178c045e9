/**
 * The admin API over gRPC, Connect and gRPC-Web (binary and JSON), served by
 * @connectrpc/connect-node from the generated protobuf-es descriptors, for
 * both listeners: the gRPC port (an HTTP/2 server, ./server.ts: all three
 * protocols, plus grpc.health.v1 and server reflection) and the HTTPS
 * listener (HTTP/1.1 in front of Koa and the console: Connect and gRPC-Web),
 * at the standard paths (`/sigil.admin.v1.AuthService/Login`).
 *
 * One pipeline for every protocol and listener: each call goes through the
 * same steps, with the same functions:
 *   request checks (./request-check.ts) -> the `before` hook (authentication,
 *   ./auth-hook.ts) -> the handler (authorization and audit in ra/) ->
 *   error mapping (./status.ts + ./error-details.ts: google.rpc details in
 *   grpc-status-details-bin for gRPC, Connect error details otherwise) ->
 *   one log line and the RPC metrics (RpcLog).
 * Only the framing differs, and connect-node does it. A request that cannot
 * be decoded (bad protobuf bytes, bad JSON, an unknown field, a wrong type)
 * answers INVALID_ARGUMENT before the hook and the handler run
 * (malformedRequestGate below for binary, connect-node itself for JSON).
 *
 * Browsers (the console) and CSRF: a Connect unary call is a POST whose
 * Content-Type must be application/json or application/proto (gRPC-Web:
 * application/grpc-web*); these are not CORS-"simple" types, so a cross-site
 * page cannot send one without a preflight, and no CORS headers are served
 * (the console is same-origin). text/plain, form encodings and anything
 * else answer 415 before any handler runs. Connect GET is off (no method is
 * marked idempotent).
 */
import { forwardedPeer, type TrustProxy } from "../core/client-address.js";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, type DescMethod, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextKey as createConnectContextKey,
  createContextValues,
  type ConnectRouter,
  type ConnectRouterOptions,
  type HandlerContext,
} from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { SigilError } from "../core/errors.js";
import type { ServerReflectionRequest } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { requestContext, requestIdFrom } from "../logger.js";
import { Health, healthService, type HealthStatus } from "./health.js";
import { ReflectionIndex, ServerReflectionV1, ServerReflectionV1alpha } from "./reflection.js";
import { errorDetails } from "./error-details.js";
import { toGrpcStatus } from "./status.js";
import {
  addPrincipal,
  callFields,
  checkedRequest,
  ContextValues,
  methodPath,
  RpcLog,
  silentLogger,
  type AddServiceOptions,
  type AdminLogger,
  type CallContext,
  type ServerStreamingHandler,
  type ServiceBinding,
  type UnaryHandler,
} from "./grpc-adapter.js";
import { principalLogFields } from "./server.js";
import { ACTOR_KEY } from "./principal.js";

/** The most a request body may hold (as grpc-js's default receive limit). */
export const CONNECT_READ_MAX_BYTES = 4 * 1024 * 1024;

/**
 * The most a request message of the unauthenticated services (health,
 * reflection) may hold: a HealthCheckRequest or ServerReflectionRequest is a
 * name or two, and without a limit of their own anyone reaching the port
 * could make the server buffer 4 MiB per stream (review R3).
 */
export const OPEN_READ_MAX_BYTES = 64 * 1024;

const PEER = createConnectContextKey<string>("unknown", { description: "sigil.peer" });

/** "ipv4:127.0.0.1:5000" / "[::1]:5000", as grpc-js reports peers (ra/auth.ts clientAddress reads both). */
export function peerOf(req: IncomingMessage, trustProxy: boolean | TrustProxy): string {
  // review 2 H4: the rightmost X-Forwarded-For entry our proxies wrote, never the client-typed leftmost
  return forwardedPeer(req.socket.remoteAddress, req.socket.remotePort, req.headers["x-forwarded-for"], trustProxy);
}

/** The request headers as grpc-js metadata (what services read, e.g. user-agent). */
function metadataOf(headers: Headers): grpc.Metadata {
  const md = new grpc.Metadata();
  headers.forEach((value, key) => {
    try {
      if (key.endsWith("-bin")) md.add(key, Buffer.from(value, "base64"));
      else md.add(key, value);
    } catch {
      // a header name grpc-js metadata refuses: not visible to handlers
    }
  });
  return md;
}

function contextOf(method: DescMethod, hctx: HandlerContext): CallContext {
  const timeout = hctx.timeoutMs();
  const requestId = requestIdFrom(hctx.requestHeader.get("x-request-id") ?? undefined);
  // the request id goes back in the response headers, so even a failed call carries it
  hctx.responseHeader.set("x-request-id", requestId);
  return {
    service: method.parent.typeName,
    method: method.name,
    path: methodPath(method),
    metadata: metadataOf(hctx.requestHeader),
    authorization: hctx.requestHeader.get("authorization") ?? undefined,
    peer: hctx.values.get(PEER),
    signal: hctx.signal,
    deadline: timeout === undefined ? Infinity : new Date(Date.now() + timeout),
    values: new ContextValues(),
    requestId,
  };
}

/** The ConnectError of a failed call: the mapped code and message, and the same google.rpc details as gRPC. */
function connectErrorOf(code: grpc.status, message: string, err: unknown): ConnectError {
  // grpc-js and Connect share the numeric codes (both are google.rpc.Code)
  return new ConnectError(message, code as number as Code, undefined, code === grpc.status.CANCELLED ? [] : errorDetails(err));
}

type AnyMessage = MessageShape<DescMessage>;
type AnyInit = MessageInitShape<DescMessage>;

function unary(method: DescMethod, handler: UnaryHandler<DescMessage, DescMessage>, options: AddServiceOptions) {
  const logger = options.logger ?? silentLogger;
  return async (req: AnyMessage, hctx: HandlerContext): Promise<AnyMessage> => {
    const ctx = contextOf(method, hctx);
    const fields = callFields(ctx);
    const protocol = { protocol: hctx.protocolName };
    const log = new RpcLog(logger, ctx, fields, options.metrics);
    return requestContext.run(fields, async () => {
      try {
        const request = checkedRequest(method, req);
        await options.before?.(ctx);
        addPrincipal(fields, ctx, options);
        const res = create(method.output, await handler(request, ctx));
        log.done(grpc.status.OK, protocol);
        return res;
      } catch (err) {
        const status = log.status(err);
        log.done(status.code, protocol);
        throw connectErrorOf(status.code, status.details, err);
      }
    });
  };
}

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return typeof x === "object" && x !== null && Symbol.asyncIterator in x;
}

/**
 * A one-slot channel turning the `send` form of a streaming handler into
 * an async iterable: `push` resolves once the consumer has taken the
 * message (flow control), `close` ends the iteration (with an error or not).
 */
class Channel<T> {
  readonly #items: { value: T; taken: () => void }[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  #failed = false;
  #error: unknown;

  push(value: T): Promise<void> {
    return new Promise((taken) => {
      this.#items.push({ value, taken });
      this.#notify();
    });
  }

  close(error?: { error: unknown }): void {
    this.#closed = true;
    if (error) {
      this.#failed = true;
      this.#error = error.error;
    }
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = this.#items.shift();
      if (item) {
        item.taken();
        yield item.value;
        continue;
      }
      if (this.#closed) {
        if (this.#failed) throw this.#error;
        return;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

function aborted(signal: AbortSignal): Promise<"aborted"> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve("aborted");
    else signal.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
}

function serverStreaming(method: DescMethod, handler: ServerStreamingHandler<DescMessage, DescMessage>, options: AddServiceOptions) {
  const logger = options.logger ?? silentLogger;
  return async function* (req: AnyMessage, hctx: HandlerContext): AsyncGenerator<AnyMessage> {
    const ctx = contextOf(method, hctx);
    const fields = callFields(ctx);
    const protocol = { protocol: hctx.protocolName };
    const log = new RpcLog(logger, ctx, fields, options.metrics);
    let sent = 0;
    // authentication and the handler's start run in the request context; their failures end the call before any message
    const started = await requestContext.run(fields, async () => {
      try {
        const request = checkedRequest(method, req);
        await options.before?.(ctx);
        addPrincipal(fields, ctx, options);
        const channel = new Channel<AnyInit>();
        const result = requestContext.run(fields, () =>
          handler(request, ctx, async (res) => {
            ctx.signal.throwIfAborted();
            await channel.push(res);
          }),
        );
        if (isAsyncIterable(result)) return result as AsyncIterable<AnyInit>;
        Promise.resolve(result).then(
          () => channel.close(),
          (error: unknown) => channel.close({ error }),
        );
        return channel;
      } catch (err) {
        return { err };
      }
    });
    if ("err" in started) {
      const status = log.status(started.err);
      log.done(status.code, { ...protocol, messages: 0 });
      throw connectErrorOf(status.code, status.details, started.err);
    }
    const it = started[Symbol.asyncIterator]();
    const stop = aborted(ctx.signal);
    // "cancelled" until the stream ends by itself: connect stops pulling (return() at the yield) when the client goes away
    let outcome: "ok" | "error" | "cancelled" = "cancelled";
    try {
      for (;;) {
        const pending = it.next();
        pending.catch(() => undefined); // a rejection after cancellation is nobody's business
        const next = await Promise.race([pending, stop]);
        if (next === "aborted" || next.done) break;
        sent++;
        yield create(method.output, next.value as AnyInit);
      }
      if (!ctx.signal.aborted) outcome = "ok";
    } catch (err) {
      outcome = "error";
      const status = log.status(err);
      log.done(status.code, { ...protocol, messages: sent });
      throw connectErrorOf(status.code, status.details, err);
    } finally {
      void it.return?.()?.catch(() => undefined);
      if (outcome !== "error") log.done(outcome === "ok" ? grpc.status.OK : grpc.status.CANCELLED, { ...protocol, messages: sent });
    }
  };
}

/**
 * The requestGate of every admin route: connect-node answers request bytes
 * that are not valid protobuf with INTERNAL ("parse binary: ...", before any
 * handler runs), but a malformed request is the caller's fault. Every
 * protocol handler aborts the call's context with that error before it
 * renders it, so the abort listener turns it into INVALID_ARGUMENT naming
 * the message type (with the same google.rpc details as any other refusal)
 * and writes the call's one log line; the hook and the handler never run.
 */
function malformedRequestGate(options: AddServiceOptions): (hctx: HandlerContext) => void {
  const logger = options.logger ?? silentLogger;
  return (hctx) => {
    const signal = hctx.signal;
    signal.addEventListener(
      "abort",
      () => {
        const reason: unknown = signal.reason;
        if (!(reason instanceof ConnectError) || reason.code !== Code.Internal || !reason.rawMessage.startsWith("parse binary:")) return;
        const err = SigilError.invalidArgument(`the request is not a valid ${hctx.method.input.typeName} message`);
        const ctx = contextOf(hctx.method, hctx);
        const log = new RpcLog(logger, ctx, callFields(ctx), options.metrics);
        // not log.status(): the call's signal is aborted by now, which it would read as CANCELLED
        const status = toGrpcStatus(err);
        log.done(status.code, { protocol: hctx.protocolName });
        const mapped = connectErrorOf(status.code, status.details, err);
        // the same object is rendered next: change it in place
        Object.assign(reason, { code: mapped.code, rawMessage: mapped.rawMessage, message: mapped.message, details: mapped.details });
      },
      { once: true },
    );
  };
}

/**
 * grpc.reflection.v1(alpha).ServerReflection/ServerReflectionInfo: a bidi
 * stream, one answer per request (./reflection.ts), one log line per stream.
 * Unauthenticated, like health: it describes the API, not its data.
 */
function reflectionInfo(index: ReflectionIndex, method: DescMethod, options: AddServiceOptions) {
  const logger = options.logger ?? silentLogger;
  return async function* (requests: AsyncIterable<AnyMessage>, hctx: HandlerContext): AsyncGenerator<AnyMessage> {
    const ctx = contextOf(method, hctx);
    const fields = callFields(ctx);
    const log = new RpcLog(logger, ctx, fields, options.metrics);
    const sent = new Set<string>();
    let messages = 0;
    let outcome: "ok" | "error" | "cancelled" = "cancelled";
    try {
      for await (const req of requests) {
        const answer = index.answer(req as ServerReflectionRequest, sent);
        messages++;
        yield create(method.output, { ...answer, originalRequest: req } as AnyInit);
      }
      if (!ctx.signal.aborted) outcome = "ok";
    } catch (err) {
      outcome = "error";
      if (err instanceof ConnectError && err.code === Code.ResourceExhausted) {
        // a request message over OPEN_READ_MAX_BYTES, refused by connect while reading: keep its code
        log.done(grpc.status.RESOURCE_EXHAUSTED, { protocol: hctx.protocolName, messages });
        throw err;
      }
      const status = log.status(err);
      log.done(status.code, { protocol: hctx.protocolName, messages });
      throw connectErrorOf(status.code, status.details, err);
    } finally {
      if (outcome !== "error") log.done(outcome === "ok" ? grpc.status.OK : grpc.status.CANCELLED, { protocol: hctx.protocolName, messages });
    }
  };
}

/** What `adminRoutes` serves. */
export interface AdminRoutesOptions {
  /** The admin services (src/admin/services/index.ts), behind `before`. */
  services: ServiceBinding[];
  /** One structured line per RPC; default silent. */
  logger?: AdminLogger;
  /** Runs before every handler of `services` (authentication, ./auth-hook.ts); not for health or reflection. */
  before?: (ctx: CallContext) => void | Promise<void>;
  /** Counts and times every call (sigil_grpc_requests_total, ...). */
  metrics?: AddServiceOptions["metrics"];
  /** grpc.health.v1.Health over this table (unauthenticated); none when undefined. */
  health?: HealthStatus;
  /** grpc.reflection v1 and v1alpha describing the services (and health); default off. */
  reflection?: boolean;
}

/** Registers one service's handlers, each wrapped in the pipeline (request checks, hook, handler, errors, log). */
function serviceRoutes(router: ConnectRouter, b: ServiceBinding, options: AddServiceOptions, handlerOptions?: ConnectRouterOptions): void {
  const table = b.impl as Record<string, unknown>;
  const impl: Record<string, unknown> = {};
  for (const method of b.service.methods) {
    const h = table[method.localName];
    if (typeof h !== "function") continue; // connect answers UNIMPLEMENTED
    const bound = h.bind(b.impl) as UnaryHandler<DescMessage, DescMessage> & ServerStreamingHandler<DescMessage, DescMessage>;
    if (method.methodKind === "unary") impl[method.localName] = unary(method, bound, options);
    else if (method.methodKind === "server_streaming") impl[method.localName] = serverStreaming(method, bound, options);
    else throw new Error(`${methodPath(method)}: ${method.methodKind} methods are not supported by the admin API`);
  }
  router.service(b.service, impl as never, handlerOptions);
}

/**
 * The routes of the admin API, the same for both listeners: every service
 * through one pipeline, plus (on the gRPC port) health and reflection.
 */
export function adminRoutes(opts: AdminRoutesOptions & { grpc?: boolean }): (router: ConnectRouter) => void {
  const options: AddServiceOptions = {
    logger: opts.logger ?? silentLogger,
    before: opts.before,
    metrics: opts.metrics,
    logFields: (ctx) => principalLogFields(ctx.values.get(ACTOR_KEY)),
  };
  // health and reflection: the same framing, log line and metrics, no authentication
  const open: AddServiceOptions = { logger: options.logger, metrics: opts.metrics };
  // a service's own options replace the router's protocol choice: repeat it (connect-node router.service)
  const openLimits: ConnectRouterOptions = { readMaxBytes: OPEN_READ_MAX_BYTES, connect: true, grpcWeb: true, grpc: opts.grpc ?? false };
  const described: DescService[] = opts.services.map((b) => b.service);
  if (opts.health) {
    opts.health.addServices(described);
    described.push(Health);
  }
  return (router) => {
    for (const b of opts.services) serviceRoutes(router, b, options);
    if (opts.health) serviceRoutes(router, { service: Health, impl: healthService(opts.health) }, open, openLimits);
    if (opts.reflection) {
      const index = new ReflectionIndex([...described, ServerReflectionV1, ServerReflectionV1alpha]);
      for (const service of [ServerReflectionV1, ServerReflectionV1alpha]) {
        const method = service.method.serverReflectionInfo;
        router.service(service, { serverReflectionInfo: reflectionInfo(index, method, open) } as never, openLimits);
      }
    }
  };
}

/** Options of `buildConnectHandler`. */
export interface ConnectHandlerOptions extends AdminRoutesOptions {
  /** SIGIL_TRUST_PROXY: take the client address from X-Forwarded-For (src/core/client-address.ts). */
  trustProxy?: boolean | TrustProxy;
  /** Requests whose path is no admin RPC go here (the Koa app); default: UNIMPLEMENTED (gRPC) or 404 (anything else). */
  fallback?: RequestListener;
  /**
   * Serve the gRPC protocol too (it needs HTTP/2 trailers: the gRPC port, not
   * the HTTPS listener, whose Koa app and console are HTTP/1.1); default false.
   */
  grpc?: boolean;
}

/** The answer to a path that names no admin RPC: UNIMPLEMENTED as a gRPC trailers-only response, or a Connect 404. */
export function unknownMethod(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): void {
  const type = String(req.headers["content-type"] ?? "");
  const path = (req.url ?? "").split("?")[0]!.slice(0, 200);
  const message = `unknown method ${path}`;
  if (!req.readableEnded) {
    // answer once the request is read (or after 1 s): an HTTP/2 answer before the request's end comes with
    // RST_STREAM, which grpc-js reports as INTERNAL instead of the status (connect-node drains the same way)
    let answered = false;
    const answer = () => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      unknownMethod(req, res);
    };
    const timer = setTimeout(answer, 1000);
    timer.unref();
    req.on("data", () => undefined);
    req.once("end", answer);
    req.once("error", answer);
    return;
  }
  if (type.startsWith("application/grpc")) {
    // gRPC over HTTP/2 §Responses: Trailers-Only, the status in the one HEADERS frame (END_STREAM set);
    // the compat API's writeHead + end sends an empty DATA frame after it, which grpc-js reads as "no status"
    const headers = {
      "content-type": type.startsWith("application/grpc-web") ? type.split(";")[0]! : "application/grpc",
      "grpc-status": String(grpc.status.UNIMPLEMENTED),
      "grpc-message": grpcPercentEncode(message),
    };
    if ("stream" in res) res.stream.respond({ ":status": 200, ...headers }, { endStream: true });
    else {
      res.writeHead(200, headers);
      res.end();
    }
    return;
  }
  // Connect protocol: an unknown procedure is HTTP 404 with code "unimplemented"
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ code: "unimplemented", message }));
}

/**
 * A request listener serving the admin API over Connect and gRPC-Web (JSON
 * and binary), and gRPC when `grpc` is set, at `/<package>.<Service>/<Method>`;
 * every other request goes to `fallback`. Works for node:http and
 * node:http2 servers (and HTTP/1.1 requests on an http2 server with
 * allowHTTP1). Not listening: the HTTPS listener mounts it in front of Koa,
 * the gRPC port (./server.ts) is it.
 */
export function buildConnectHandler(opts: ConnectHandlerOptions): (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void {
  const trustProxy = opts.trustProxy ?? false;
  const fallback = opts.fallback;
  const handler = connectNodeAdapter({
    routes: adminRoutes(opts),
    connect: true,
    grpcWeb: true,
    grpc: opts.grpc ?? false,
    readMaxBytes: CONNECT_READ_MAX_BYTES,
    requestGate: malformedRequestGate({ logger: opts.logger ?? silentLogger, metrics: opts.metrics }),
    contextValues: (req) => createContextValues().set(PEER, peerOf(req as IncomingMessage, trustProxy)),
    fallback: fallback
      ? (req, res) => fallback(req as IncomingMessage, res as unknown as ServerResponse)
      : (req, res) => unknownMethod(req as IncomingMessage, res as ServerResponse),
  });
  if (!opts.grpc) return (req, res) => handler(req, res);
  return (req, res) => {
    if (String(req.headers["content-type"] ?? "").startsWith("application/grpc") && !String(req.headers["content-type"]).startsWith("application/grpc-web")) {
      specGrpcMessage(res);
    }
    handler(req, res);
  };
}

/**
 * gRPC over HTTP/2 §Responses: grpc-message is percent-encoded, but only
 * bytes outside 0x20-0x7E and "%" itself. connect-node encodes it with
 * encodeURIComponent (":" becomes %3A), and grpc-js clients decode it with
 * decodeURI, which leaves %3A as it is: "name%3A already exists". Re-encoding
 * the header and trailer as the spec says reads right with both decoders.
 */
export function grpcPercentEncode(text: string): string {
  let out = "";
  for (const b of Buffer.from(text, "utf8")) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function respec(headers: unknown): unknown {
  if (typeof headers !== "object" || headers === null || Array.isArray(headers)) return headers;
  const h = headers as Record<string, unknown>;
  const v = h["grpc-message"];
  if (typeof v !== "string") return headers;
  let text = v;
  try {
    text = decodeURIComponent(v);
  } catch {
    // not connect's encoding: keep it
    return headers;
  }
  return { ...h, "grpc-message": grpcPercentEncode(text) };
}

function specGrpcMessage(res: ServerResponse | Http2ServerResponse): void {
  const r = res as unknown as { writeHead: (...a: unknown[]) => unknown; addTrailers: (t: unknown) => void };
  const writeHead = r.writeHead.bind(res);
  const addTrailers = r.addTrailers.bind(res);
  r.writeHead = (...args: unknown[]) => writeHead(...args.map(respec));
  r.addTrailers = (t: unknown) => addTrailers(respec(t));
}
