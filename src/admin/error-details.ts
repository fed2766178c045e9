/**
 * The google.rpc error model of the admin API (https://google.aip.dev/193):
 * next to the status code and message (./status.ts), every failed call
 * carries error details built here from the SigilError, the same for the
 * three protocols:
 *
 * - google.rpc.ErrorInfo: a stable `reason` (UPPER_SNAKE_CASE, domain
 *   ERROR_DOMAIN) for every error, so clients branch on it and not on text;
 * - google.rpc.BadRequest: every bad field (SigilError.violations), not just
 *   the first;
 * - google.rpc.RetryInfo: when the client may retry (login throttling, rate
 *   limits, UNAVAILABLE);
 * - google.rpc.PreconditionFailure: the state that prevents the change
 *   (a CA with children, the default profile, ...).
 *
 * gRPC sends them as a serialized google.rpc.Status in the
 * `grpc-status-details-bin` trailer (./grpc-adapter.ts); Connect and
 * gRPC-Web as Connect error details (./connect.ts). Internal errors get an
 * ErrorInfo with reason INTERNAL and nothing else: no detail of the cause
 * reaches a client.
 */
import { create, createRegistry, toBinary, fromBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { anyPack, anyUnpack, durationFromMs, type Any } from "@bufbuild/protobuf/wkt";
import { assertNever, isSigilError, type SigilError, type SigilErrorKind } from "../core/errors.js";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  PreconditionFailureSchema,
  RetryInfoSchema,
  type BadRequest,
  type ErrorInfo,
  type PreconditionFailure,
  type RetryInfo,
} from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";

/** google.rpc.ErrorInfo.domain of every Sigil error. */
export const ERROR_DOMAIN = "sigil.dev";

/** The gRPC trailer that carries a serialized google.rpc.Status. */
export const STATUS_DETAILS_TRAILER = "grpc-status-details-bin";

/** How long a client should wait after UNAVAILABLE (the database cannot answer now). */
export const UNAVAILABLE_RETRY_MS = 1000;

/**
 * The default ErrorInfo reason of each error kind (a SigilError may carry a
 * more precise `reason`, e.g. LOGIN_THROTTLED or CA_HAS_CHILDREN). Stable:
 * clients may rely on these strings; new ones are added, none renamed.
 */
export const KIND_REASONS: Readonly<Record<SigilErrorKind, string>> = {
  invalidArgument: "INVALID_ARGUMENT",
  notFound: "NOT_FOUND",
  alreadyExists: "ALREADY_EXISTS",
  failedPrecondition: "FAILED_PRECONDITION",
  permissionDenied: "PERMISSION_DENIED",
  unauthenticated: "UNAUTHENTICATED",
  resourceExhausted: "RESOURCE_EXHAUSTED",
  badCsr: "BAD_CSR",
  badPublicKey: "BAD_PUBLIC_KEY",
  rejectedIdentifier: "REJECTED_IDENTIFIER",
  alreadyRevoked: "ALREADY_REVOKED",
  config: "INTERNAL",
  unavailable: "UNAVAILABLE",
  internal: "INTERNAL",
};

/** The reason of anything that is not a client-facing SigilError. */
export const INTERNAL_REASON = "INTERNAL";

/** One error detail: a message and its schema (what Connect's OutgoingDetail takes). */
export interface ErrorDetail {
  desc: DescMessage;
  value: Message;
}

/** The detail messages Sigil sends and clients may decode. */
export const errorDetailRegistry = createRegistry(ErrorInfoSchema, BadRequestSchema, RetryInfoSchema, PreconditionFailureSchema);

function kindIsInternal(kind: SigilErrorKind): boolean {
  return kind === "internal" || kind === "config";
}

/** "email: must be valid" -> "must be valid" when the violation is about "email". */
function description(field: string, text: string): string {
  return text.startsWith(`${field}: `) ? text.slice(field.length + 2) : text;
}

/**
 * The error details of `err` for the client. `err` is what the handler
 * threw; anything but a client-facing SigilError gets only
 * ErrorInfo{reason: INTERNAL}.
 */
export function errorDetails(err: unknown): ErrorDetail[] {
  if (!isSigilError(err) || kindIsInternal(err.kind)) {
    return [{ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: INTERNAL_REASON, domain: ERROR_DOMAIN }) }];
  }
  return sigilErrorDetails(err);
}

function sigilErrorDetails(err: SigilError): ErrorDetail[] {
  const kind = err.kind;
  const out: ErrorDetail[] = [];
  const info: ErrorInfo = create(ErrorInfoSchema, { reason: err.reason ?? KIND_REASONS[kind], domain: ERROR_DOMAIN });
  if (err.field !== undefined && err.field !== "") info.metadata.field = err.field;
  out.push({ desc: ErrorInfoSchema, value: info });
  switch (kind) {
    case "invalidArgument":
    case "badCsr":
    case "badPublicKey":
    case "rejectedIdentifier":
    case "alreadyExists":
      if (err.violations.length > 0) {
        const br: BadRequest = create(BadRequestSchema, {
          fieldViolations: err.violations.map((v) => ({ field: v.field, description: description(v.field, v.description) })),
        });
        out.push({ desc: BadRequestSchema, value: br });
      }
      break;
    case "failedPrecondition":
    case "alreadyRevoked":
      if (err.preconditions.length > 0) {
        const pf: PreconditionFailure = create(PreconditionFailureSchema, { violations: err.preconditions.map((p) => ({ ...p })) });
        out.push({ desc: PreconditionFailureSchema, value: pf });
      }
      break;
    case "unavailable":
      break;
    case "permissionDenied":
      // issuance policies name every refused name as a field (src/ra/issuance-policies.ts)
      if (err.violations.length > 0) {
        out.push({ desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: err.violations.map((v) => ({ field: v.field, description: v.description })) }) });
      }
      break;
    case "notFound":
    case "unauthenticated":
    case "resourceExhausted":
      break;
    case "config":
    case "internal":
      break;
    default:
      assertNever(kind);
  }
  const retryMs = err.retryAfterMs ?? (kind === "unavailable" ? UNAVAILABLE_RETRY_MS : undefined);
  if (retryMs !== undefined) {
    const ri: RetryInfo = create(RetryInfoSchema, { retryDelay: durationFromMs(Math.max(0, Math.ceil(retryMs))) });
    out.push({ desc: RetryInfoSchema, value: ri });
  }
  return out;
}

/** The google.rpc.Status of a failed gRPC call, serialized for `grpc-status-details-bin`. */
export function encodeStatusDetails(code: number, message: string, details: readonly ErrorDetail[]): Buffer {
  const status = create(StatusSchema, {
    code,
    message,
    details: details.map((d) => anyPack(d.desc, d.value)),
  });
  const bytes = toBinary(StatusSchema, status);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The decoded google.rpc details of a status, for clients (the CLI). */
export interface DecodedDetails {
  errorInfo?: ErrorInfo;
  badRequest?: BadRequest;
  retryInfo?: RetryInfo;
  preconditionFailure?: PreconditionFailure;
  /** type URLs of details this client does not know */
  unknown: string[];
}

/** Sorts unpacked detail messages into `DecodedDetails`. */
export function sortDetails(messages: readonly Message[], unknown: string[] = []): DecodedDetails {
  const out: DecodedDetails = { unknown };
  for (const m of messages) {
    switch (m.$typeName) {
      case ErrorInfoSchema.typeName:
        out.errorInfo = m as ErrorInfo;
        break;
      case BadRequestSchema.typeName:
        out.badRequest = m as BadRequest;
        break;
      case RetryInfoSchema.typeName:
        out.retryInfo = m as RetryInfo;
        break;
      case PreconditionFailureSchema.typeName:
        out.preconditionFailure = m as PreconditionFailure;
        break;
      default:
        out.unknown.push(m.$typeName);
    }
  }
  return out;
}

/** Decodes `grpc-status-details-bin` (a google.rpc.Status); undefined when absent or not a Status. */
export function decodeStatusDetails(bin: Uint8Array | undefined): DecodedDetails | undefined {
  if (bin === undefined || bin.length === 0) return undefined;
  let anys: Any[];
  try {
    anys = fromBinary(StatusSchema, bin).details;
  } catch {
    return undefined;
  }
  const messages: Message[] = [];
  const unknown: string[] = [];
  for (const a of anys) {
    const m = anyUnpack(a, errorDetailRegistry);
    if (m) messages.push(m);
    else unknown.push(a.typeUrl);
  }
  return sortDetails(messages, unknown);
}
