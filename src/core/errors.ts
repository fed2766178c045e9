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

/** One bad input field (google.rpc.BadRequest.FieldViolation at the admin edge). */
export interface FieldViolation {
  /** the field's path as the client spelled it ("filter.username", "dns_names[2]") */
  field: string;
  /** why it is bad (never echoes a secret value) */
  description: string;
}

/** A state that prevents the change (google.rpc.PreconditionFailure.Violation at the admin edge). */
export interface PreconditionViolation {
  /** a stable UPPER_SNAKE_CASE type, e.g. "CA_HAS_CHILDREN" */
  type: string;
  /** what the precondition is about, e.g. "certificate_authorities/<id>" */
  subject: string;
  /** how it failed */
  description: string;
}

export interface SigilErrorOptions {
  /** the input field the error is about, when there is one */
  field?: string;
  /** the underlying cause, for the log only */
  cause?: unknown;
  /** every bad field when a check looked at several (the first is also `field`) */
  violations?: readonly FieldViolation[];
  /** a stable UPPER_SNAKE_CASE reason refining `kind` (google.rpc.ErrorInfo.reason); default derived from `kind` */
  reason?: string;
  /** when the client may try again, in milliseconds (google.rpc.RetryInfo; lockouts, rate limits) */
  retryAfterMs?: number;
  /** the states that prevent the change (failedPrecondition) */
  preconditions?: readonly PreconditionViolation[];
}

export class SigilError extends Error {
  readonly kind: SigilErrorKind;
  readonly field?: string;
  /** every bad field (at least `field` when set); empty when the error is not about fields */
  readonly violations: readonly FieldViolation[];
  /** a stable reason refining `kind`, when one was given */
  readonly reason?: string;
  /** when the client may try again (milliseconds), when known */
  readonly retryAfterMs?: number;
  /** the states that prevent the change, when known */
  readonly preconditions: readonly PreconditionViolation[];

  constructor(kind: SigilErrorKind, message: string, options: SigilErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SigilError";
    this.kind = kind;
    const violations = options.violations ?? [];
    this.field = options.field ?? violations[0]?.field;
    this.violations =
      violations.length > 0 ? violations : this.field !== undefined && this.field !== "" && kind !== "config" ? [{ field: this.field, description: message }] : [];
    if (options.reason !== undefined) this.reason = options.reason;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    this.preconditions = options.preconditions ?? [];
  }

  /**
   * INVALID_ARGUMENT naming every bad field: the message is the first
   * violation ("field: description"), followed by "(and N more)" when there
   * are several; `field` is the first field.
   */
  static invalidArguments(violations: readonly FieldViolation[]): SigilError {
    if (violations.length === 0) throw new Error("invalidArguments needs at least one violation");
    const first = violations[0]!;
    const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : "";
    return new SigilError("invalidArgument", `${first.field}: ${first.description}${more}`, { violations, field: first.field });
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
  static failedPrecondition(message: string, precondition?: { type: string; subject: string }): SigilError {
    return new SigilError("failedPrecondition", message, {
      ...(precondition ? { reason: precondition.type, preconditions: [{ ...precondition, description: message }] } : {}),
    });
  }
  /** FAILED_PRECONDITION naming every state that prevents the change; the message is the first one's. */
  static preconditionsFailed(violations: readonly PreconditionViolation[]): SigilError {
    const first = violations[0];
    if (!first) throw new Error("preconditionsFailed needs at least one violation");
    return new SigilError("failedPrecondition", first.description, { reason: first.type, preconditions: violations });
  }
  static permissionDenied(message = "permission denied"): SigilError {
    return new SigilError("permissionDenied", message);
  }
  static unauthenticated(message = "authentication required"): SigilError {
    return new SigilError("unauthenticated", message);
  }
  static resourceExhausted(message: string, retry?: { retryAfterMs: number; reason?: string }): SigilError {
    return new SigilError("resourceExhausted", message, retry ? { retryAfterMs: retry.retryAfterMs, reason: retry.reason } : {});
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

/**
 * Collects every bad field of one input before failing, so a client learns
 * all of them at once (google.rpc.BadRequest lists each).
 *
 * @example
 * const v = new Violations();
 * if (!name) v.add("name", "required");
 * if (ttl < 0) v.add("ttl", "must not be negative");
 * v.throwIfAny(); // SigilError.invalidArguments([...]) when any was added
 */
export class Violations {
  readonly list: FieldViolation[] = [];
  add(field: string, description: string): this {
    this.list.push({ field, description });
    return this;
  }
  /** Runs `check`; a SigilError invalidArgument it throws is recorded (all its violations), anything else rethrown. */
  collect(check: () => void): this {
    try {
      check();
    } catch (e) {
      if (!(e instanceof SigilError) || e.kind !== "invalidArgument" || e.violations.length === 0) throw e;
      this.list.push(...e.violations);
    }
    return this;
  }
  /** Runs `check` like `collect` and returns its result, or undefined when it failed with violations. */
  take<T>(check: () => T): T | undefined {
    let out: T | undefined;
    this.collect(() => {
      out = check();
    });
    return out;
  }
  get size(): number {
    return this.list.length;
  }
  throwIfAny(): void {
    if (this.list.length === 1) {
      const only = this.list[0]!;
      throw SigilError.invalidArgument(only.description, only.field);
    }
    if (this.list.length > 1) throw SigilError.invalidArguments(this.list);
  }
}

export function isSigilError(e: unknown, kind?: SigilErrorKind): e is SigilError {
  return e instanceof SigilError && (kind === undefined || e.kind === kind);
}

/** exhaustive-switch helper */
export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${String(x)}`);
}
