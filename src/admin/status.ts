/**
 * The one place where errors become gRPC statuses (ARCHITECTURE.md: only the
 * edges translate SigilError). Client-facing kinds keep their message (with
 * the offending field named); `config`, `internal` and anything that is not a
 * SigilError become INTERNAL with the fixed message "internal error" and no
 * detail, and the cause goes to the log only.
 */
import { status as GrpcCode } from "@grpc/grpc-js";
import { assertNever, isSigilError, type SigilError } from "../core/errors.js";

/** The only message a client ever sees for an internal error. */
export const INTERNAL_ERROR_MESSAGE = "internal error";

/** A gRPC status: what the client receives. */
export interface GrpcStatus {
  code: GrpcCode;
  details: string;
}

/** Called with the cause of every error that is reported as INTERNAL. */
export type InternalErrorSink = (cause: unknown) => void;

/**
 * Maps any thrown value to the gRPC status sent to the client.
 *
 * @param err what the handler threw
 * @param onInternal receives `err` when the result is INTERNAL (for the log);
 *   nothing about `err` reaches the client in that case
 */
export function toGrpcStatus(err: unknown, onInternal?: InternalErrorSink): GrpcStatus {
  if (!isSigilError(err)) {
    onInternal?.(err);
    return { code: GrpcCode.INTERNAL, details: INTERNAL_ERROR_MESSAGE };
  }
  const kind = err.kind;
  switch (kind) {
    case "invalidArgument":
    case "badCsr":
    case "badPublicKey":
    case "rejectedIdentifier":
      return { code: GrpcCode.INVALID_ARGUMENT, details: withField(err) };
    case "notFound":
      return { code: GrpcCode.NOT_FOUND, details: err.message };
    case "alreadyExists":
      return { code: GrpcCode.ALREADY_EXISTS, details: withField(err) };
    case "failedPrecondition":
    case "alreadyRevoked": // the resource's state forbids the change
      return { code: GrpcCode.FAILED_PRECONDITION, details: err.message };
    case "permissionDenied":
      return { code: GrpcCode.PERMISSION_DENIED, details: err.message };
    case "unauthenticated":
      return { code: GrpcCode.UNAUTHENTICATED, details: err.message };
    case "resourceExhausted":
      return { code: GrpcCode.RESOURCE_EXHAUSTED, details: err.message };
    case "unavailable":
      onInternal?.(err);
      return { code: GrpcCode.UNAVAILABLE, details: "the service is unavailable; retry later" };
    case "config":
    case "internal":
      onInternal?.(err);
      return { code: GrpcCode.INTERNAL, details: INTERNAL_ERROR_MESSAGE };
    default:
      return assertNever(kind);
  }
}

/** "email: must be a valid address": the field first, unless already there. */
function withField(err: SigilError): string {
  const field = err.field;
  if (field === undefined || field === "" || err.message.startsWith(`${field}:`)) {
    return err.message;
  }
  return `${field}: ${err.message}`;
}

/** The name of a status code ("NOT_FOUND"), for logs. */
export function codeName(code: GrpcCode): string {
  return GrpcCode[code] ?? String(code);
}
