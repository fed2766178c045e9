/**
 * Bridge between protobuf-es v2 service descriptors (the `GenService` exports
 * of src/gen/**\/*_pb.ts) and @grpc/grpc-js.
 *
 * - `toGrpcServiceDefinition(service)`: a grpc.ServiceDefinition with paths
 *   `/sigil.admin.v1.X/Method`, (de)serialization through toBinary/fromBinary.
 * - `addService(server, service, impl, options)`: registers typed async
 *   handlers. Thrown errors become gRPC statuses through ./status.ts; one
 *   structured log line per RPC (never request or response bodies). A
 *   request that is not valid protobuf, holds U+0000 in a string or an
 *   out-of-range Timestamp answers INVALID_ARGUMENT before the `before`
 *   hook (authentication) and the handler (./request-check.ts).
 * - `makeClient(service, address, credentials)`: a small typed client
 *   (promise-returning unary calls, async-iterable server streams) for tests
 *   and the CLI.
 *
 * Only unary and server-streaming methods are supported (the admin API has no
 * client-streaming or bidi methods); registering a service with such a method
 * throws.
 */
import { forwardedPeer, type TrustProxy } from "../core/client-address.js";
import { once } from "node:events";
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
import { SigilError } from "../core/errors.js";
import { requestContext, requestIdFrom, type RequestLogFields } from "../logger.js";
import { encodeStatusDetails, errorDetails, STATUS_DETAILS_TRAILER } from "./error-details.js";
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

/** Options of `addService`. */
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

/**
 * What the server-side request deserializer yields for bytes that are not a
 * valid message: grpc-js answers a throwing deserializer with INTERNAL, but a
 * malformed request is the caller's fault (INVALID_ARGUMENT), so the failure
 * is carried to the call handler instead.
 */
class MalformedRequest {
  constructor(readonly typeName: string) {}
}

function lenientDeserializer<D extends DescMessage>(schema: D): (bytes: Buffer) => MessageShape<D> | MalformedRequest {
  return (bytes) => {
    try {
      return fromBinary(schema, bytes);
    } catch {
      return new MalformedRequest(schema.typeName);
    }
  };
}

/** The decoded, checked request, or INVALID_ARGUMENT (malformed bytes, NUL in a string, Timestamp out of range). */
export function checkedRequest(method: DescMethod, request: unknown): AnyMessage {
  if (request instanceof MalformedRequest) {
    throw SigilError.invalidArgument(`the request is not a valid ${request.typeName} message`);
  }
  const msg = request as AnyMessage;
  checkRequest(method.input, msg);
  return msg;
}

function supported(method: DescMethod): void {
  if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
    throw new Error(`${methodPath(method)}: ${method.methodKind} methods are not supported by the admin adapter`);
  }
}

/**
 * A grpc-js service definition for a protobuf-es service: keys are the proto
 * method names ("GetOrganization"), `originalName` the localName.
 */
export function toGrpcServiceDefinition(service: DescService, opts: { lenientRequests?: boolean } = {}): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<AnyMessage | MalformedRequest, AnyMessage>> = {};
  for (const method of service.methods) {
    supported(method);
    const serializeRequest = serializer(method.input);
    definition[method.name] = {
      path: methodPath(method),
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: (value) => {
        if (value instanceof MalformedRequest) throw new Error("a malformed request cannot be serialized");
        return serializeRequest(value);
      },
      requestDeserialize: opts.lenientRequests ? lenientDeserializer(method.input) : deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.localName,
    };
  }
  return definition as grpc.ServiceDefinition;
}

// ---------------------------------------------------------------------------
// Server side

type AnyMessage = MessageShape<DescMessage>;
type AnyUnary = UnaryHandler<DescMessage, DescMessage>;
type AnyServerStreaming = ServerStreamingHandler<DescMessage, DescMessage>;

interface CallLike {
  metadata: grpc.Metadata;
  getPeer(): string;
  getDeadline(): grpc.Deadline;
  on(event: "cancelled", listener: () => void): unknown;
  readonly cancelled: boolean;
  sendMetadata(responseMetadata: grpc.Metadata): void;
}

function makeContext(method: DescMethod, call: CallLike, trustProxy: boolean | TrustProxy = false): { ctx: CallContext; controller: AbortController } {
  const controller = new AbortController();
  call.on("cancelled", () => controller.abort(new Error("call cancelled")));
  if (call.cancelled) controller.abort(new Error("call cancelled"));
  const auth = call.metadata.get("authorization")[0];
  let peer = "unknown";
  try {
    peer = call.getPeer();
    if (trustProxy !== false) {
      const remote = /^(?:ipv[46]:)?\[?(.*?)\]?:(\d+)$/.exec(peer);
      peer = forwardedPeer(remote?.[1] ?? peer, Number(remote?.[2] ?? 0), call.metadata.get("x-forwarded-for").map(String), trustProxy);
    }
  } catch {
    // grpc-js throws when the socket is already gone
  }
  const ctx: CallContext = {
    service: method.parent.typeName,
    method: method.name,
    path: methodPath(method),
    metadata: call.metadata,
    authorization: typeof auth === "string" ? auth : auth?.toString("utf8"),
    peer,
    signal: controller.signal,
    deadline: call.getDeadline(),
    values: new ContextValues(),
    requestId: requestIdFrom(requestIdMetadata(call.metadata)),
  };
  // the request id goes back in the response headers, so even a failed call carries it
  const md = new grpc.Metadata();
  md.set("x-request-id", ctx.requestId);
  try {
    call.sendMetadata(md);
  } catch {
    // the call is already gone
  }
  return { ctx, controller };
}

function requestIdMetadata(md: grpc.Metadata): string | undefined {
  const v = md.get("x-request-id")[0];
  return typeof v === "string" ? v : undefined;
}

/** The log fields of a call: its request id, then the principal and organization once `before` authenticated it. */
export function callFields(ctx: CallContext): RequestLogFields {
  return { reqId: ctx.requestId };
}

export function addPrincipal(fields: RequestLogFields, ctx: CallContext, options: AddServiceOptions): void {
  const extra = options.logFields?.(ctx);
  if (extra?.principal !== undefined) fields.principal = extra.principal;
  if (extra?.organization !== undefined) fields.organization = extra.organization;
}

/** Maps a handler failure, logging exactly one line for the RPC (every protocol: gRPC here, Connect and gRPC-Web in ./connect.ts). */
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

/** The error grpc-js sends: code, message and the google.rpc.Status of `err` in `grpc-status-details-bin` (./error-details.ts). */
function statusError(status: GrpcStatus, err: unknown): Partial<grpc.StatusObject> & Error {
  const metadata = new grpc.Metadata();
  if (status.code !== grpc.status.CANCELLED) {
    metadata.set(STATUS_DETAILS_TRAILER, encodeStatusDetails(status.code, status.details, errorDetails(err)));
  }
  return Object.assign(new Error(status.details), { code: status.code, details: status.details, metadata });
}

function unaryCall(method: DescMethod, handler: AnyUnary, options: AddServiceOptions): grpc.handleUnaryCall<AnyMessage, AnyMessage> {
  const logger = options.logger ?? silentLogger;
  return (call, callback) => {
    const { ctx } = makeContext(method, call, options.trustProxy);
    const fields = callFields(ctx);
    const log = new RpcLog(logger, ctx, fields, options.metrics);
    void requestContext.run(fields, async () => {
      try {
        const request = checkedRequest(method, call.request);
        await options.before?.(ctx);
        addPrincipal(fields, ctx, options);
        const res = create(method.output, await handler(request, ctx));
        callback(null, res);
        log.done(grpc.status.OK);
      } catch (err) {
        const status = log.status(err);
        callback(statusError(status, err));
        log.done(status.code);
      }
    });
  };
}

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return typeof x === "object" && x !== null && Symbol.asyncIterator in x;
}

/** Resolves when `signal` aborts (never rejects). */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

function serverStreamingCall(
  method: DescMethod,
  handler: AnyServerStreaming,
  options: AddServiceOptions,
): grpc.handleServerStreamingCall<AnyMessage, AnyMessage> {
  const logger = options.logger ?? silentLogger;
  return (call) => {
    const { ctx } = makeContext(method, call, options.trustProxy);
    const fields = callFields(ctx);
    const log = new RpcLog(logger, ctx, fields, options.metrics);
    let sent = 0;
    const send = async (res: MessageInitShape<DescMessage>): Promise<void> => {
      ctx.signal.throwIfAborted();
      sent++;
      if (!call.write(create(method.output, res))) {
        await once(call, "drain", { signal: ctx.signal });
      }
    };
    void requestContext.run(fields, async () => {
      try {
        const request = checkedRequest(method, call.request);
        await options.before?.(ctx);
        addPrincipal(fields, ctx, options);
        const result = handler(request, ctx, send);
        if (isAsyncIterable(result)) {
          const it = result[Symbol.asyncIterator]();
          const stop = aborted(ctx.signal).then(() => "aborted" as const);
          for (;;) {
            const pending = it.next();
            pending.catch(() => undefined); // a rejection after cancellation is nobody's business
            const next = await Promise.race([pending, stop]);
            if (next === "aborted") {
              // let the generator run its finally blocks; don't wait for it
              void it.return?.()?.catch(() => undefined);
              break;
            }
            if (next.done) break;
            await send(next.value as MessageInitShape<DescMessage>);
          }
        } else {
          const done = Promise.resolve(result);
          done.catch(() => undefined); // send() rejects after cancellation; that is expected
          await Promise.race([done, aborted(ctx.signal)]);
        }
        if (ctx.signal.aborted) {
          log.done(grpc.status.CANCELLED, { messages: sent });
          return;
        }
        call.end();
        log.done(grpc.status.OK, { messages: sent });
      } catch (err) {
        const status = log.status(err);
        if (status.code !== grpc.status.CANCELLED) call.emit("error", statusError(status, err));
        log.done(status.code, { messages: sent });
      }
    });
  };
}

/**
 * Registers `impl` for `service` on a grpc-js server. Handlers are looked up
 * by the methods' localName (`getOrganization`); a missing handler answers
 * UNIMPLEMENTED.
 */
export function addService<S extends DescService>(
  server: grpc.Server,
  service: S,
  impl: ServiceImpl<S>,
  options: AddServiceOptions = {},
): void {
  addServiceUntyped(server, service, impl, options);
}

/** `addService` without the compile-time check (for `ServiceBinding`s). */
export function addServiceUntyped(server: grpc.Server, service: DescService, impl: object, options: AddServiceOptions = {}): void {
  const definition = toGrpcServiceDefinition(service, { lenientRequests: true });
  const handlers: grpc.UntypedServiceImplementation = {};
  const table = impl as Record<string, unknown>;
  for (const method of service.methods) {
    const handler = table[method.localName];
    if (typeof handler !== "function") continue; // grpc-js answers UNIMPLEMENTED
    const bound = handler.bind(impl) as AnyUnary & AnyServerStreaming;
    handlers[method.name] =
      method.methodKind === "unary" ? unaryCall(method, bound, options) : serverStreamingCall(method, bound, options);
  }
  server.addService(definition, handlers);
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
