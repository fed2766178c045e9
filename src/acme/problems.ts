/**
 * The only place SigilErrors become RFC 8555 §6.7 problem documents
 * (RFC 7807, application/problem+json). Internal errors reach the client as a
 * generic serverInternal; the cause goes to the log.
 */
import { isSigilError, type SigilErrorKind } from "../core/errors.js";
import { AcmeError, type AcmeProblemType, type AcmeSubproblem } from "../ra/acme/errors.js";

export const PROBLEM_PREFIX = "urn:ietf:params:acme:error:";
export const GENERIC_INTERNAL = "the server had an internal error; try again later";
export const GENERIC_UNAVAILABLE = "the server cannot answer now; retry after the Retry-After delay";
/** seconds a client should wait before retrying an answer the server could not give (RFC 9110 §10.2.3) */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/**
 * The HTTP statuses the ACME edge answers with outside problem types (RFC 8555
 * §6.2 415, RFC 9110 §15.5.6 405, §15.5.14 413, §15.6.4 503), kept here so
 * that the router and jws.ts carry no literal error status.
 */
export const EDGE_STATUS = { notFound: 404, methodNotAllowed: 405, payloadTooLarge: 413, unsupportedMediaType: 415, unavailable: 503 } as const;

export interface ProblemDocument {
  type: string;
  detail: string;
  status: number;
  subproblems?: Array<{ type: string; detail: string; identifier?: { type: string; value: string } }>;
  /** RFC 8555 §6.7 badSignatureAlgorithm */
  algorithms?: string[];
}

export interface RenderedProblem {
  status: number;
  body: ProblemDocument;
  /** 409 conflict on keyChange / an existing account: where it is */
  location?: string;
  /** true when the cause must be logged (internal) */
  internal: boolean;
  /** RFC 9110 §10.2.3 Retry-After seconds (503 unavailable, 429 rateLimited) */
  retryAfter?: number;
  /** RFC 8555 §6.6: a Link rel="help" target (rateLimited: the operator's rate-limit documentation) */
  helpUrl?: string;
}

/** HTTP status of each ACME problem type when the error does not say */
const TYPE_STATUS: Record<AcmeProblemType, number> = {
  accountDoesNotExist: 400,
  // RFC 9773 §5: 409 Conflict
  alreadyReplaced: 409,
  alreadyRevoked: 400,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  caa: 403,
  compound: 403,
  connection: 400,
  dns: 400,
  externalAccountRequired: 400,
  incorrectResponse: 403,
  invalidContact: 400,
  invalidProfile: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
  userActionRequired: 403,
};

/** SigilError kinds that carry no ACME hint */
function typeOfKind(kind: SigilErrorKind, field?: string): { type: AcmeProblemType; status?: number } {
  switch (kind) {
    case "invalidArgument":
      return field === "reason" ? { type: "badRevocationReason" } : { type: "malformed" };
    case "notFound":
      return { type: "malformed", status: 404 };
    case "alreadyExists":
      return { type: "malformed", status: 409 };
    case "failedPrecondition":
      return { type: "malformed", status: 403 };
    case "permissionDenied":
    case "unauthenticated":
      return { type: "unauthorized" };
    case "resourceExhausted":
      return { type: "rateLimited" };
    case "unavailable":
      // RFC 8555 §6.7 has no type for it: serverInternal with 503 (the client retries after Retry-After)
      return { type: "serverInternal", status: 503 };
    case "badCsr":
      return { type: "badCSR" };
    case "badPublicKey":
      return { type: "badPublicKey" };
    case "rejectedIdentifier":
      return { type: "rejectedIdentifier" };
    case "alreadyRevoked":
      return { type: "alreadyRevoked" };
    case "config":
    case "internal":
      return { type: "serverInternal" };
    default: {
      const never: never = kind;
      return { type: never };
    }
  }
}

export function renderProblem(e: unknown): RenderedProblem {
  if (e instanceof AcmeError) {
    if (e.acmeType === "serverInternal") return internal();
    if (e.kind === "unavailable") return unavailable();
    const status = e.status ?? TYPE_STATUS[e.acmeType];
    const body: ProblemDocument = { type: PROBLEM_PREFIX + e.acmeType, detail: e.message, status };
    if (e.subproblems?.length) body.subproblems = e.subproblems.map(sub);
    if (e.algorithms) body.algorithms = e.algorithms;
    return { status, body, location: e.location, internal: false, ...(e.retryAfter !== undefined ? { retryAfter: e.retryAfter } : {}), ...(e.helpUrl ? { helpUrl: e.helpUrl } : {}) };
  }
  if (isSigilError(e)) {
    if (e.kind === "unavailable") return unavailable();
    const { type, status: s } = typeOfKind(e.kind, e.field);
    if (type === "serverInternal") return internal();
    const status = s ?? TYPE_STATUS[type];
    return { status, body: { type: PROBLEM_PREFIX + type, detail: e.message, status }, internal: false };
  }
  return internal();
}

function sub(s: AcmeSubproblem): NonNullable<ProblemDocument["subproblems"]>[number] {
  return { type: PROBLEM_PREFIX + s.type, detail: s.detail, ...(s.identifier ? { identifier: s.identifier } : {}) };
}

/**
 * RFC 8555 §6.5 / §7.2: an answer the server cannot give with a fresh nonce
 * (the database is unavailable) is a 503 serverInternal with Retry-After,
 * never a success without Replay-Nonce.
 */
export function unavailable(): RenderedProblem {
  const status = EDGE_STATUS.unavailable;
  return {
    status,
    body: { type: PROBLEM_PREFIX + "serverInternal", detail: GENERIC_UNAVAILABLE, status },
    internal: true,
    retryAfter: UNAVAILABLE_RETRY_AFTER_SECONDS,
  };
}

/** §6.2: a POST whose Content-Type is not application/jose+json */
export const unsupportedMediaType = () =>
  new AcmeError("invalidArgument", "malformed", "Content-Type must be application/jose+json", { status: EDGE_STATUS.unsupportedMediaType });
/** a request body above the configured limit */
export const payloadTooLarge = (limit: number) =>
  new AcmeError("invalidArgument", "malformed", `request body exceeds ${limit} bytes`, { status: EDGE_STATUS.payloadTooLarge });
/** §6.3: resources other than the directory and newNonce are read with POST-as-GET (the caller sets Allow, RFC 9110 §15.5.6) */
export const methodNotAllowed = (m = "read this resource with POST-as-GET (RFC 8555 §6.3)") =>
  new AcmeError("invalidArgument", "malformed", m, { status: EDGE_STATUS.methodNotAllowed });
/** a path under a directory that names no ACME resource */
export const noSuchResource = () => new AcmeError("notFound", "malformed", "no such ACME resource", { status: EDGE_STATUS.notFound });

/** What the edge writes for a rendered problem (a Koa context fits). */
export interface ProblemSink {
  status: number;
  type: string;
  body: unknown;
  set(field: string, value: string): void;
  /** adds a header value (Link: the edge already set rel="index") */
  append?(field: string, value: string): void;
}

/** writes a problem document answer (RFC 7807 application/problem+json) */
export function sendProblem(ctx: ProblemSink, p: RenderedProblem): void {
  ctx.status = p.status;
  ctx.type = "application/problem+json";
  ctx.body = p.body;
  if (p.location) ctx.set("Location", p.location);
  if (p.retryAfter !== undefined) ctx.set("Retry-After", String(p.retryAfter));
  // RFC 8555 §6.6: rateLimited answers point at the server's rate-limit documentation
  if (p.helpUrl) {
    const link = `<${p.helpUrl}>;rel="help"`;
    if (ctx.append) ctx.append("Link", link);
    else ctx.set("Link", link);
  }
}

function internal(): RenderedProblem {
  return { status: 500, body: { type: PROBLEM_PREFIX + "serverInternal", detail: GENERIC_INTERNAL, status: 500 }, internal: true };
}

