/**
 * The one error type that flows up from every layer. Only the edges translate
 * it: acme/problems.ts into RFC 8555 problem documents, admin/status.ts into
 * gRPC status codes. `internal` errors never reach a client with their detail.
 */
export type SigilErrorKind =
  | "invalidArgument" // bad input; `field` names it when there is one
  | "notFound"
  | "alreadyExists"
  | "failedPrecondition"
  | "permissionDenied"
  | "unauthenticated"
  | "resourceExhausted"
  | "badCsr"
  | "badPublicKey"
  | "rejectedIdentifier"
  | "alreadyRevoked"
  | "config"
  | "unavailable" // a dependency (the database) cannot answer now; the client should retry later
  | "internal";

export interface SigilErrorOptions {
  /** the input field the error is about, when there is one */
  field?: string;
  /** the underlying cause, for the log only */
  cause?: unknown;
}

export class SigilError extends Error {
  readonly kind: SigilErrorKind;
  readonly field?: string;

  constructor(kind: SigilErrorKind, message: string, options: SigilErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SigilError";
    this.kind = kind;
    this.field = options.field;
  }

  static invalidArgument(message: string, field?: string): SigilError {
    return new SigilError("invalidArgument", message, { field });
  }
  static notFound(message: string): SigilError {
    return new SigilError("notFound", message);
  }
  static alreadyExists(message: string, field?: string): SigilError {
    return new SigilError("alreadyExists", message, { field });
  }
  static failedPrecondition(message: string): SigilError {
    return new SigilError("failedPrecondition", message);
  }
  static permissionDenied(message = "permission denied"): SigilError {
    return new SigilError("permissionDenied", message);
  }
  static unauthenticated(message = "authentication required"): SigilError {
    return new SigilError("unauthenticated", message);
  }
  static resourceExhausted(message: string): SigilError {
    return new SigilError("resourceExhausted", message);
  }
  static badCsr(message: string): SigilError {
    return new SigilError("badCsr", message);
  }
  static badPublicKey(message: string): SigilError {
    return new SigilError("badPublicKey", message);
  }
  static rejectedIdentifier(message: string): SigilError {
    return new SigilError("rejectedIdentifier", message);
  }
  static alreadyRevoked(message = "the certificate is already revoked"): SigilError {
    return new SigilError("alreadyRevoked", message);
  }
  /** a configuration value is wrong; `variable` is the env var or field name */
  static config(message: string, variable: string): SigilError {
    return new SigilError("config", message, { field: variable });
  }
  /** the database (or another dependency) cannot answer now: 503 / UNAVAILABLE, retry later */
  static unavailable(message: string, cause?: unknown): SigilError {
    return new SigilError("unavailable", message, { cause });
  }

  static internal(message: string, cause?: unknown): SigilError {
    return new SigilError("internal", message, { cause });
  }
}

export function isSigilError(e: unknown, kind?: SigilErrorKind): e is SigilError {
  return e instanceof SigilError && (kind === undefined || e.kind === kind);
}

/** exhaustive-switch helper */
export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}
