/**
 * The admin plane's call model and the typed grpc-js client.
 *
 * - Server side, whatever the protocol (./connect.ts serves gRPC, Connect
 *   and gRPC-Web from connect-node on both listeners): `CallContext`,
 *   `ServiceBinding` / `bindService` (how src/admin/services/index.ts
 *   registers services), the handler types, `checkedRequest` (./request-check.ts)
 *   and `RpcLog` (one log line and the RPC metrics per call).
 * - Client side: `makeClient(service, address, credentials)`, a small typed
 *   grpc-js client (promise-returning unary calls, async-iterable server
 *   streams) for the CLI and the tests.
 *
 * Only unary and server-streaming methods are supported in the admin API
 * (no client-streaming or bidi methods; reflection is served apart).
 */
import type { TrustProxy } from "../core/client-address.js";
import * as grpc from "@grpc/grpc-js";
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { requestContext, type RequestLogFields } from "../logger.js";
import { checkRequest } from "./request-check.js";
import { codeName, toGrpcStatus, type GrpcStatus } from "./status.js";

// ---------------------------------------------------------------------------
// Logging

/** The part of a pino logger the admin plane uses. */
export interface AdminLogger {
  info(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A logger that drops everything (the default). */
export const silentLogger: AdminLogger = {
  info() {},
  error() {},
};

// ---------------------------------------------------------------------------
// Call context

/** A typed key for values attached to a call (e.g. the authenticated principal). */
export interface ContextKey<T> {
  readonly id: symbol;
  readonly defaultValue: T;
}

/** Creates a key for `CallContext.values`. */
export function createContextKey<T>(defaultValue: T, description?: string): ContextKey<T> {
  return { id: Symbol(description), defaultValue };
}

/** Per-call values, set by a `before` hook (authentication) and read by handlers. */
export class ContextValues {
  readonly #values = new Map<symbol, unknown>();

  get<T>(key: ContextKey<T>): T {
    return this.#values.has(key.id) ? (this.#values.get(key.id) as T) : key.defaultValue;
  }

  set<T>(key: ContextKey<T>, value: T): this {
    this.#values.set(key.id, value);
    return this;
  }
}

/** What a handler knows about the call besides the request message. */
export interface CallContext {
  /** Fully-qualified service name, e.g. "sigil.admin.v1.OrganizationService". */
  readonly service: string;
  /** Method name as in the proto, e.g. "GetOrganization". */
  readonly method: string;
  /** gRPC path, e.g. "/sigil.admin.v1.OrganizationService/GetOrganization". */
  readonly path: string;
  /** Request metadata (headers). */
  readonly metadata: grpc.Metadata;
  /** The first "authorization" metadata value ("Bearer ..."), if any. */
  readonly authorization: string | undefined;
  /** Peer address as reported by grpc-js, e.g. "127.0.0.1:53211" or "ipv4:...". */
  readonly peer: string;
  /** Aborted when the client cancels the call or its deadline passes. */
  readonly signal: AbortSignal;
  /** The call deadline (Infinity when none). */
  readonly deadline: grpc.Deadline;
  /** Per-call values (set by the `before` hook). */
  readonly values: ContextValues;
  /** The request id: the caller's "x-request-id" metadata when sane, else generated; echoed in the response metadata. */
  readonly requestId: string;
}

// ---------------------------------------------------------------------------
// Handler types

/** A unary handler: returns the response (a message or its init shape). */
export type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: CallContext,
) => Promise<MessageInitShape<O>>;

/**
 * A server-streaming handler. Either an async generator yielding responses,
 * or an async function that calls `send` (which waits for flow control) and
 * resolves when the stream is complete. The stream ends when the generator
 * returns / the promise resolves. Long-lived handlers must watch
 * `ctx.signal`: it is aborted when the client cancels, after which `send`
 * rejects and yielded values are dropped.
 */
export type ServerStreamingHandler<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: CallContext,
  send: (res: MessageInitShape<O>) => Promise<void>,
) => AsyncIterable<MessageInitShape<O>> | Promise<void>;

type HandlerFor<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? UnaryHandler<I, O>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStreamingHandler<I, O>
    : never;

/** The implementation of a service: one handler per method, keyed by the method's localName (e.g. `getOrganization`). */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]: HandlerFor<S["method"][K]>;
};

/** A service together with its implementation, type-checked by `bindService`. */
export interface ServiceBinding {
  readonly service: DescService;
  readonly impl: object;
}

/** Pairs a service with its implementation, checking the implementation's type. */
export function bindService<S extends DescService>(service: S, impl: ServiceImpl<S>): ServiceBinding {
  return { service, impl };
}

/**
 * Pairs a service with a partial implementation: missing methods answer
 * UNIMPLEMENTED. For tests and for services implemented step by step.
 */
export function bindPartialService<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): ServiceBinding {
  return { service, impl };
}

/** How a service's calls are run and recorded (./connect.ts). */
export interface AddServiceOptions {
  /** One line per RPC; defaults to silent. */
  logger?: AdminLogger;
  /**
   * Runs before every handler with the call context (e.g. authentication,
   * storing the principal in `ctx.values`). A throw ends the call with the
   * mapped status, the handler is not called.
   */
  before?: (ctx: CallContext) => void | Promise<void>;
  /** Counts and times every call (sigil_grpc_requests_total, sigil_grpc_request_duration_seconds). */
  metrics?: { grpcRequest(method: string, code: string, seconds: number): void };
  /**
   * The authenticated principal and organization for the log lines of the
   * call, read after `before` (undefined fields are left out).
   */
  logFields?: (ctx: CallContext) => { principal?: string; organization?: string };
  /** SIGIL_TRUST_PROXY: ctx.peer from x-forwarded-for metadata when the socket peer is a trusted proxy (review 2 M3, src/core/client-address.ts) */
  trustProxy?: boolean | TrustProxy;
}

// ---------------------------------------------------------------------------
// Service definition

/** The gRPC path of a method: "/pkg.Service/Method". */
export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function serializer<D extends DescMessage>(schema: D): (value: MessageShape<D>) => Buffer {
  return (value) => {
    const bytes = toBinary(schema, value);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D): (bytes: Buffer) => MessageShape<D> {
  return (bytes) => fromBinary(schema, bytes);
}

/** The checked request, or INVALID_ARGUMENT (NUL in a string, Timestamp out of range); malformed bytes never get here (./connect.ts). */
export function checkedRequest(method: DescMethod, request: unknown): AnyMessage {
  const msg = request as AnyMessage;
  checkRequest(method.input, msg);
  return msg;
}

function supported(method: DescMethod): void {
  if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
    throw new Error(`${methodPath(method)}: ${method.methodKind} methods are not supported by the admin adapter`);
  }
}

// ---------------------------------------------------------------------------
// Server side

type AnyMessage = MessageShape<DescMessage>;

/** The log fields of a call: its request id, then the principal and organization once `before` authenticated it. */
export function callFields(ctx: CallContext): RequestLogFields {
  return { reqId: ctx.requestId };
}

export function addPrincipal(fields: RequestLogFields, ctx: CallContext, options: AddServiceOptions): void {
  const extra = options.logFields?.(ctx);
  if (extra?.principal !== undefined) fields.principal = extra.principal;
  if (extra?.organization !== undefined) fields.organization = extra.organization;
}

/** Maps a handler failure, logging exactly one line for the RPC (every protocol, ./connect.ts). */
export class RpcLog {
  readonly #start = process.hrtime.bigint();
  #internalCause: unknown = undefined;
  #hasInternal = false;

  constructor(
    private readonly logger: AdminLogger,
    private readonly ctx: CallContext,
    private readonly fields: RequestLogFields,
    private readonly metrics?: AddServiceOptions["metrics"],
  ) {}

  status(err: unknown): GrpcStatus {
    if (this.ctx.signal.aborted) {
      return { code: grpc.status.CANCELLED, details: "call cancelled" };
    }
    return toGrpcStatus(err, (cause) => {
      this.#hasInternal = true;
      this.#internalCause = cause;
    });
  }

  done(code: grpc.status, extra: Record<string, unknown> = {}): void {
    const seconds = Number(process.hrtime.bigint() - this.#start) / 1e9;
    this.metrics?.grpcRequest(this.ctx.path, codeName(code), seconds);
    const line = {
      rpc: this.ctx.path,
      code: codeName(code),
      grpc_code: code,
      duration_ms: seconds * 1e3,
      peer: this.ctx.peer,
      ...this.fields,
      ...extra,
    };
    // the line names the request itself: written outside the request context, whose fields it already holds
    requestContext.exit(() => {
      if (this.#hasInternal) {
        this.logger.error({ ...line, err: this.#internalCause }, "rpc failed");
      } else {
        this.logger.info(line, "rpc");
      }
    });
  }
}

// ---------------------------------------------------------------------------
// Client side

/** Per-call options of the typed client. */
export interface ClientCallOptions {
  /** Extra metadata, e.g. `{ authorization: "Bearer ..." }`. */
  metadata?: grpc.Metadata | Record<string, string>;
  /** Cancels the call when aborted. */
  signal?: AbortSignal;
  /** Deadline relative to now, in milliseconds. */
  timeoutMs?: number;
}

/** Unary client method: rejects with a grpc.ServiceError (`code`, `details`). */
export type UnaryClientMethod<I extends DescMessage, O extends DescMessage> = (
  req: MessageInitShape<I>,
  options?: ClientCallOptions,
) => Promise<MessageShape<O>>;

/**
 * Server-streaming client method. Breaking out of the loop cancels the call;
 * aborting `options.signal` makes the iteration throw a CANCELLED ServiceError.
 */
export type ServerStreamingClientMethod<I extends DescMessage, O extends DescMessage> = (
  req: MessageInitShape<I>,
  options?: ClientCallOptions,
) => AsyncIterable<MessageShape<O>>;

type ClientMethodFor<M> = M extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
  ? UnaryClientMethod<I, O>
  : M extends { methodKind: "server_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? ServerStreamingClientMethod<I, O>
    : never;

/** A typed client: one method per RPC (by localName), plus `close()`. */
export type Client<S extends DescService> = {
  [K in keyof S["method"]]: ClientMethodFor<S["method"][K]>;
} & {
  /** Closes the underlying channel. */
  close(): void;
};

function toMetadata(md: ClientCallOptions["metadata"]): grpc.Metadata {
  if (md instanceof grpc.Metadata) return md;
  const out = new grpc.Metadata();
  for (const [k, v] of Object.entries(md ?? {})) out.set(k, v);
  return out;
}

function callOptions(options: ClientCallOptions | undefined): grpc.CallOptions {
  return options?.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
}

/**
 * A typed client for `service` at `address` ("host:port").
 *
 * @example
 * const orgs = makeClient(OrganizationService, "127.0.0.1:9090", grpc.credentials.createInsecure());
 * const { organization } = await orgs.getOrganization({ id }, { metadata: { authorization: `Bearer ${token}` } });
 * orgs.close();
 */
export function makeClient<S extends DescService>(
  service: S,
  address: string,
  credentials: grpc.ChannelCredentials,
  channelOptions?: grpc.ChannelOptions,
): Client<S> {
  const client = new grpc.Client(address, credentials, channelOptions);
  const out: Record<string, unknown> = {
    close: () => client.close(),
  };
  for (const method of service.methods) {
    supported(method);
    const path = methodPath(method);
    const ser = serializer(method.input);
    const de = deserializer(method.output);
    if (method.methodKind === "unary") {
      out[method.localName] = (req: MessageInitShape<DescMessage>, options?: ClientCallOptions) =>
        new Promise<AnyMessage>((resolve, reject) => {
          options?.signal?.throwIfAborted();
          const call = client.makeUnaryRequest(
            path,
            ser,
            de,
            create(method.input, req),
            toMetadata(options?.metadata),
            callOptions(options),
            (err, res) => (err || res === undefined ? reject(err) : resolve(res)),
          );
          options?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
        });
    } else {
      out[method.localName] = (req: MessageInitShape<DescMessage>, options?: ClientCallOptions) => {
        return (async function* () {
          options?.signal?.throwIfAborted();
          const call = client.makeServerStreamRequest(
            path,
            ser,
            de,
            create(method.input, req),
            toMetadata(options?.metadata),
            callOptions(options),
          );
          const onAbort = () => call.cancel();
          options?.signal?.addEventListener("abort", onAbort, { once: true });
          try {
            for await (const msg of call as AsyncIterable<AnyMessage>) yield msg;
          } finally {
            options?.signal?.removeEventListener("abort", onAbort);
            call.cancel(); // no-op when the call already ended
          }
        })();
      };
    }
  }
  return out as Client<S>;
}
