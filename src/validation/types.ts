import type { AcmeChallengeType, Identifier } from "../core/types.js";
import type { NetworkPolicy } from "./network-policy.js";

/**
 * The contract between ra/ (which schedules validations and records their
 * outcome) and validation/ (which performs them). RFC 8555 §8.
 */

/** RFC 8555 §6.7 error types a validation can end with (urn:ietf:params:acme:error:<type>). */
export type ValidationErrorType = "connection" | "dns" | "incorrectResponse" | "unauthorized" | "tls" | "malformed" | "serverInternal";

export interface ValidationRequest {
  type: AcmeChallengeType;
  /** the authorization's identifier ("*." already stripped for wildcards) */
  identifier: Identifier;
  /** the challenge token (RFC 8555 §8.1) */
  token: string;
  /** token || '.' || base64url(JWK thumbprint of the account key) (RFC 8555 §8.1) */
  keyAuthorization: string;
  /**
   * the ACME account the challenge belongs to: validations of one account
   * beyond the per-account cap wait for that account's earlier ones
   * (unset: only the server-wide cap applies)
   */
  accountId?: string;
}

/** Per-validation options. */
export interface ValidateOptions {
  /** the addresses this validation may connect to (default the server's, SIGIL_VALIDATION_ALLOWED_NETWORKS) */
  networkPolicy?: NetworkPolicy;
}

export type ValidationOutcome =
  | { status: "valid" }
  | {
      status: "invalid";
      /** detail is short and never echoes large response bodies */
      error: { type: ValidationErrorType; detail: string };
    }
  /**
   * Not validated now, through no fault of the client (the validation queue
   * is full): the challenge stays processing and is retried later (the
   * sweeper), never turned invalid.
   */
  | { status: "deferred"; reason: string };

/**
 * Performs one challenge validation, retrying transient failures until its
 * own deadline, and resolves with the final outcome (it never rejects).
 */
export interface ChallengeValidator {
  validate(req: ValidationRequest, signal?: AbortSignal, options?: ValidateOptions): Promise<ValidationOutcome>;
}
