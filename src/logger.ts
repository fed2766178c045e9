import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Fields of the request or RPC being served (its request id; on RPCs the
 * principal once authenticated), carried through its async context so
 * every line logged while serving it, in any layer, names the request.
 * The HTTP app and the gRPC adapter `run` each request in it.
 */
export interface RequestLogFields {
  reqId: string;
  principal?: string;
  organization?: string;
}

export const requestContext = new AsyncLocalStorage<RequestLogFields>();

/** a client-supplied request id we keep: short, and only characters safe in a header and a log line */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The request id to use: the client's X-Request-Id (HTTP) / x-request-id (gRPC) when sane, else a new UUID. */
export function requestIdFrom(value: string | string[] | undefined): string {
  const v = Array.isArray(value) ? value[0] : value;
  return v !== undefined && SANE_REQUEST_ID.test(v) ? v : randomUUID();
}

/** a user agent as the access line logs it: printable ASCII, at most 256 characters (then "...") */
export function loggedUserAgent(ua: string | undefined): string | undefined {
  if (!ua) return undefined;
  const clean = ua.replace(/[^\x20-\x7e]/g, "?");
  return clean.length > 256 ? `${clean.slice(0, 256)}...` : clean;
}

/** The fields of the current request, for pino's mixin (none outside a request). */
function requestMixin(): Record<string, unknown> {
  const r = requestContext.getStore();
  if (r === undefined) return {};
  const out: Record<string, unknown> = { reqId: r.reqId };
  if (r.principal !== undefined) out.principal = r.principal;
  if (r.organization !== undefined) out.organization = r.organization;
  return out;
}

/**
 * Structured logging: one JSON line per request/RPC. Keys and fields that
 * could carry secrets are redacted wherever they appear, and errors (the
 * `err` / `error` keys every module logs them under) go through
 * `serializeError`, which never writes SQL values.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: "sigil" },
    // ISO 8601 times ("time":"2026-01-01T00:00:00.000Z"): what log pipelines parse without configuration
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: requestMixin,
    serializers: { err: serializeError, error: serializeError },
    redact: {
      paths: [
        "password",
        "*.password",
        "token",
        "*.token",
        "refreshToken",
        "*.refreshToken",
        "hmacKey",
        "*.hmacKey",
        "privateKey",
        "*.privateKey",
        "authorization",
        "*.authorization",
        "headers.authorization",
      ],
      censor: "[redacted]",
    },
  };
  // a destination only in tests (to read the lines); stdout otherwise
  return destination === undefined ? pino(options) : pino(options, destination);
}

// ---------------------------------------------------------------------------
// Error serialization without SQL values

/**
 * Error properties copied into the log. Everything else an error carries is
 * left out on purpose: the PostgreSQL `detail` ("Key (key_hash)=(...) already
 * exists"), `where`, `internalQuery` and `hint` quote values, and MikroORM /
 * knex errors copy their whole cause onto themselves.
 */
const KEPT_FIELDS = ["code", "errno", "syscall", "severity", "schema", "table", "column", "dataType", "constraint", "routine", "kind", "field"] as const;

/** causes followed at most (a cycle or a very deep chain stops here) */
const MAX_CAUSE_DEPTH = 5;
/** characters of a statement shape kept */
const MAX_STATEMENT = 1000;

/** SQL the ORM puts in front of the driver's message ("<query with values> - <message>") */
const SQL_START = /^\s*(select|insert|update|delete|with|begin|commit|rollback|savepoint|release|create|alter|drop|set|lock|truncate|values|call|do|copy|explain)\b/i;

export interface SerializedError {
  type: string;
  message: string;
  stack?: string;
  /** the statement with every literal replaced by ? (never the values) */
  statement?: string;
  cause?: SerializedError | string;
  errors?: Array<SerializedError | string>;
  [field: string]: unknown;
}

/**
 * A log-safe form of an error: its type, a message without SQL values, the
 * statement's shape (literals replaced by `?`), the stack frames (not the
 * stack's copy of the message), the PostgreSQL fields that name things
 * (code, table, constraint, ...), and the cause chain treated the same way.
 */
export function serializeError(err: unknown): SerializedError | string {
  return serialize(err, 0);
}

function serialize(err: unknown, depth: number): SerializedError | string {
  if (!(err instanceof Error)) return typeof err === "string" ? sanitizeText(err).message : safeString(err);
  const { message, statement } = sanitizeText(err.message);
  const type = err.constructor?.name || err.name || "Error";
  const out: SerializedError = { type, message };
  if (statement !== undefined) out.statement = statement;
  const frames = typeof err.stack === "string" ? err.stack.split("\n").filter((l) => /^\s+at /.test(l)) : [];
  if (frames.length > 0) out.stack = `${type}: ${message}\n${frames.join("\n")}`;
  const record = err as unknown as Record<string, unknown>;
  for (const key of KEPT_FIELDS) {
    const v = record[key];
    if (typeof v === "string" || typeof v === "number") out[key] = v;
  }
  if (err.cause !== undefined && depth < MAX_CAUSE_DEPTH) out.cause = serialize(err.cause, depth + 1);
  if (err instanceof AggregateError && depth < MAX_CAUSE_DEPTH) out.errors = err.errors.slice(0, 10).map((e) => serialize(e, depth + 1));
  return out;
}

function safeString(v: unknown): string {
  try {
    return sanitizeText(String(v)).message;
  } catch {
    return "[unprintable]";
  }
}

/**
 * Splits an ORM message "<query> - <driver message>" into the query's shape
 * and the driver message, and removes the values PostgreSQL quotes in its
 * own messages.
 */
export function sanitizeText(text: string): { message: string; statement?: string } {
  if (SQL_START.test(text)) {
    const at = endOfStatement(text);
    if (at >= 0) return { message: sanitizePgMessage(text.slice(at + 3)), statement: statementShape(text.slice(0, at)) };
    return { message: "[statement]", statement: statementShape(text) };
  }
  return { message: sanitizePgMessage(text) };
}

/** Where the statement ends: the first " - " outside quoted literals and identifiers (-1 if none). */
function endOfStatement(text: string): number {
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote !== undefined) {
      if (ch === quote) {
        if (text[i + 1] === quote) i++; // '' or "" escape
        else quote = undefined;
      }
    } else if (ch === "'" || ch === '"') {
      quote = ch;
    } else if (ch === " " && text.startsWith(" - ", i)) {
      return i;
    }
  }
  return -1;
}

/** PostgreSQL message templates that quote the offending value (or a piece of the statement). */
const PG_VALUE_PATTERNS: Array<[RegExp, string]> = [
  // invalid input syntax for type uuid: "..."; invalid input value for enum x: "..."; date/time field value out of range: "..."
  // (PostgreSQL does not double quotes inside the value, so everything from `: "` to the end of the line is the value)
  [/(: )".*$/, "$1[value]"],
  // time zone "..." not recognized; invalid value "..." for "YYYY"; unit "..." not recognized; any other quoted value
  [/(\b(?:time zone|value|unit|type modifier|format|locale) )"[^\n]*?"(?= (?:not recognized|for|is|cannot))/g, "$1[value]"],
  // value "..." is out of range for type integer
  [/\bvalue "(?:[^"]|"")*" is out of range/g, "value [value] is out of range"],
  // syntax error at or near "..."
  [/(\bat or near )"(?:[^"]|"")*"/g, "$1[fragment]"],
  // invalid byte sequence for encoding "UTF8": 0x00
  [/(invalid byte sequence for encoding "[^"]*": ).*$/, "$1[bytes]"],
  // Key (col)=(value) already exists, should a detail ever be folded into a message
  [/(\bKey \([^)]*\)=\().*?(\)( already exists| is not present| conflicts))/g, "$1[value]$2"],
];

function sanitizePgMessage(message: string): string {
  // the ORM appends "\n - detail: Key (name)=(value) already exists." (and hint, where): values, so dropped
  let out = message.split(/\n - (?:detail|hint|where|internal query|internalQuery):/i)[0]!;
  for (const [re, to] of PG_VALUE_PATTERNS) out = out.replace(re, to);
  return out;
}

/**
 * The statement with every literal replaced by `?`: quoted strings (also
 * E'..', X'..', B'..'), dollar-quoted strings and numbers outside
 * identifiers. Identifiers ("quoted" or bare) and placeholders ($1) stay.
 */
export function statementShape(sql: string): string {
  const shaped = sql
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, "?")
    .replace(/(?<![\w$])[EeXxBbNn]?'(?:[^']|'')*'?/g, "?")
    .replace(/(?<![\w$."])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w"])/g, "?")
    .replace(/\s+/g, " ")
    .trim();
  return shaped.length > MAX_STATEMENT ? `${shaped.slice(0, MAX_STATEMENT)}...` : shaped;
}
