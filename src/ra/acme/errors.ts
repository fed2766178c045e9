import { SigilError, type SigilErrorKind } from "../../core/errors.js";

/**
 * RFC 8555 §6.7 error types (urn:ietf:params:acme:error:<type>) plus the
 * RFC 8555 §7.3.4 / §7.6 ones. ra/acme raises SigilErrors; when the generic
 * SigilError kind does not say precisely which ACME problem applies, the
 * error carries an `acmeType` hint. Only acme/problems.ts turns either into a
 * problem document.
 */
export type AcmeProblemType =
  | "accountDoesNotExist"
  // RFC 9773 §7.4: the certificate named in `replaces` already has a replacement order
  | "alreadyReplaced"
  | "alreadyRevoked"
  | "badCSR"
  | "badNonce"
  | "badPublicKey"
  | "badRevocationReason"
  | "badSignatureAlgorithm"
  | "caa"
  | "compound"
  | "connection"
  | "dns"
  | "externalAccountRequired"
  | "incorrectResponse"
  | "invalidContact"
  /** draft-ietf-acme-profiles-00 §6.3 */
  | "invalidProfile"
  | "malformed"
  | "orderNotReady"
  | "rateLimited"
  | "rejectedIdentifier"
  | "serverInternal"
  | "tls"
  | "unauthorized"
  | "unsupportedContact"
  | "unsupportedIdentifier"
  | "userActionRequired";

export interface AcmeSubproblem {
  type: AcmeProblemType;
  detail: string;
  identifier?: { type: string; value: string };
}

/** A SigilError that knows its exact RFC 8555 problem type (and HTTP status when it is not the default). */
export class AcmeError extends SigilError {
  readonly acmeType: AcmeProblemType;
  readonly status?: number;
  readonly subproblems?: AcmeSubproblem[];
  /** RFC 8555 §7.3.5: Location of the account that already holds a key (409) */
  readonly location?: string;
  /** RFC 8555 §6.7 badSignatureAlgorithm: the algorithms we accept */
  readonly algorithms?: string[];
  /** RFC 8555 §6.6 rateLimited: seconds until a retry can succeed (Retry-After) */
  readonly retryAfter?: number;
  /** RFC 8555 §6.6 rateLimited: the operator's documentation (Link rel="help") */
  readonly helpUrl?: string;

  constructor(
    kind: SigilErrorKind,
    acmeType: AcmeProblemType,
    message: string,
    extra: { status?: number; subproblems?: AcmeSubproblem[]; location?: string; algorithms?: string[]; retryAfter?: number; helpUrl?: string; cause?: unknown } = {},
  ) {
    super(kind, message, { cause: extra.cause });
    this.acmeType = acmeType;
    this.status = extra.status;
    this.subproblems = extra.subproblems;
    this.location = extra.location;
    this.algorithms = extra.algorithms;
    this.retryAfter = extra.retryAfter;
    this.helpUrl = extra.helpUrl;
  }
}

/** Fixed user-facing messages, next to the rules that use them. */
export const ACME_MESSAGES = {
  notFound: "no such object",
  accountDoesNotExist: "no account with this key or kid in this directory",
  accountDeactivated: "the account is not valid (deactivated or revoked)",
  eabRequired: "this directory requires an external account binding (RFC 8555 §7.3.4)",
  eabInvalid: "the external account binding is invalid",
  eabUsed: "the external account binding key has already been used",
  orderNotReady: (status: string) => `the order is ${status}, not ready`,
  orderExpired: "the order has expired",
  authzNoLongerValid: "an authorization of this order is no longer valid",
  tosRequired: "the terms of service must be agreed to",
} as const;

export const acmeErr = {
  notFound: () => new AcmeError("notFound", "malformed", ACME_MESSAGES.notFound, { status: 404 }),
  malformed: (m: string) => new AcmeError("invalidArgument", "malformed", m),
  unauthorized: (m: string) => new AcmeError("permissionDenied", "unauthorized", m),
  accountDoesNotExist: () => new AcmeError("notFound", "accountDoesNotExist", ACME_MESSAGES.accountDoesNotExist, { status: 400 }),
  orderNotReady: (status: string) => new AcmeError("failedPrecondition", "orderNotReady", ACME_MESSAGES.orderNotReady(status), { status: 403 }),
  /** RFC 8555 §7.1.6: a ready order one of whose authorizations was deactivated or expired since */
  authzNoLongerValid: () => new AcmeError("failedPrecondition", "orderNotReady", ACME_MESSAGES.authzNoLongerValid, { status: 403 }),
  externalAccountRequired: () => new AcmeError("failedPrecondition", "externalAccountRequired", ACME_MESSAGES.eabRequired),
  invalidContact: (m: string) => new AcmeError("invalidArgument", "invalidContact", m),
  unsupportedContact: (m: string) => new AcmeError("invalidArgument", "unsupportedContact", m),
  badRevocationReason: (m: string) => new AcmeError("invalidArgument", "badRevocationReason", m),
  unsupportedIdentifier: (m: string) => new AcmeError("invalidArgument", "unsupportedIdentifier", m),
  /** draft-ietf-acme-profiles-00 §4: a profile not advertised, incompatible with the request, or no longer issued under */
  invalidProfile: (m: string, subproblems?: AcmeSubproblem[]) => new AcmeError("invalidArgument", "invalidProfile", m, { subproblems }),
  userActionRequired: (m: string) => new AcmeError("failedPrecondition", "userActionRequired", m, { status: 403 }),
  conflict: (m: string, location: string) => new AcmeError("alreadyExists", "malformed", m, { status: 409, location }),
};

const PREFIX = "urn:ietf:params:acme:error:";
/** RFC 8555 §7.1.3 / §8: an `error` stored on an order or challenge (an RFC 7807 document) */
export function storedProblem(type: AcmeProblemType, detail: string, subproblems?: AcmeSubproblem[]): Record<string, unknown> {
  return {
    type: PREFIX + type,
    detail,
    ...(subproblems?.length ? { subproblems: subproblems.map((s) => ({ ...s, type: PREFIX + s.type })) } : {}),
  };
}
