/**
 * The admin API over Connect and gRPC-Web (binary and JSON), served by
 * @connectrpc/connect-node from the same generated descriptors and the same
 * service implementations as the gRPC port (./grpc-adapter.ts), mounted on
 * the HTTPS listener at the standard paths (`/sigil.admin.v1.AuthService/Login`).
 *
 * One pipeline for every protocol: each call goes through the same steps as
 * a gRPC call, with the same functions:
 *   request checks (./request-check.ts) -> the `before` hook (authentication,
 *   ./auth-hook.ts) -> the handler (authorization and audit in ra/) ->
 *   error mapping (./status.ts + ./error-details.ts) -> one log line and the
 *   RPC metrics (RpcLog).
 * Only the framing differs. A request that Connect cannot decode (bad JSON,
 * an unknown field, a wrong type) is refused by connect-node with
 * INVALID_ARGUMENT before any of it runs, as grpc-js does for bad bytes.
 *
 * Browsers (the console) and CSRF: a Connect unary call is a POST whose
 * Content-Type must be application/json or application/proto (gRPC-Web:
 * application/grpc-web*); these are not CORS-"simple" types, so a cross-site
 * page cannot send one without a preflight, and no CORS headers are served
 * (the console is same-origin). text/plain, form encodings and anything
 * else answer 415 before any handler runs. Connect GET is off (no method is
 * marked idempotent). The gRPC protocol itself needs HTTP/2 trailers: on
 * this (HTTP/1.1) listener only Connect and gRPC-Web are on; gRPC is the
 * gRPC port's.
 */
import { forwardedPeer, type TrustProxy } from "../core/client-address.js";
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextKey as createConnectContextKey,
  createContextValues,
  type ConnectRouter,
  type HandlerContext,
} from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { requestContext, requestIdFrom } from "../logger.js";
import { errorDetails } from "./error-details.js";
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

/** Options of `buildConnectHandler`. */
export interface ConnectHandlerOptions {
  /** The same bindings as the gRPC server's. */
  services: ServiceBinding[];
  /** One structured line per RPC; default silent. */
  logger?: AdminLogger;
  /** Runs before every handler (authentication), exactly as on the gRPC port. */
  before?: (ctx: CallContext) => void | Promise<void>;
  /** Counts and times every call (same metric as gRPC). */
  metrics?: AddServiceOptions["metrics"];
  /** SIGIL_TRUST_PROXY: take the client address from X-Forwarded-For (src/core/client-address.ts). */
  trustProxy?: boolean | TrustProxy;
  /** Requests whose path is no admin RPC go here (the Koa app); default 404. */
  fallback?: RequestListener;
}

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
 * A request listener serving the admin services over Connect and gRPC-Web
 * (JSON and binary) at `/<package>.<Service>/<Method>`; every other request
 * goes to `fallback`. Not listening: mount it on the HTTPS listener.
 */
export function buildConnectHandler(opts: ConnectHandlerOptions): RequestListener {
  const options: AddServiceOptions = {
    logger: opts.logger ?? silentLogger,
    before: opts.before,
    metrics: opts.metrics,
    logFields: (ctx) => principalLogFields(ctx.values.get(ACTOR_KEY)),
  };
  const routes = (router: ConnectRouter): void => {
    for (const b of opts.services) {
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
      router.service(b.service, impl as never);
    }
  };
  const trustProxy = opts.trustProxy ?? false;
  const handler = connectNodeAdapter({
    routes,
    connect: true,
    grpcWeb: true,
    // HTTP/1.1 listener: no trailers, so no gRPC here (the gRPC port serves it)
    grpc: false,
    readMaxBytes: CONNECT_READ_MAX_BYTES,
    contextValues: (req) => createContextValues().set(PEER, peerOf(req as IncomingMessage, trustProxy)),
    fallback: opts.fallback
      ? (req, res) => opts.fallback!(req as IncomingMessage, res as unknown as ServerResponse)
      : undefined,
  });
  return (req, res) => handler(req, res);
}
