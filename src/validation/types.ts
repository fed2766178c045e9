import type { AcmeChallengeType, Identifier } from "../core/types.js";
import type { CaaChecker } from "./caa.js";
import type { NetworkPolicy } from "./network-policy.js";

/**
 * The contract between ra/ (which schedules validations and records their
 * outcome) and validation/ (which performs them). RFC 8555 §8.
 */

/** RFC 8555 §6.7 error types a validation can end with (urn:ietf:params:acme:error:<type>). */
export type ValidationErrorType = "connection" | "dns" | "incorrectResponse" | "unauthorized" | "tls" | "malformed" | "serverInternal" | "caa";

export interface ValidationRequest {
  type: AcmeChallengeType;
  /** the authorization's identifier ("*." already stripped for wildcards) */
  identifier: Identifier;
  /** the challenge token (RFC 8555 §8.1) */
  token: string;
  /** token || '.' || base64url(JWK thumbprint of the account key) (RFC 8555 §8.1) */
  keyAuthorization: string;
  /**
   * dns-account-01 and dns-persist-01: the account URL (RFC 8555 §7.3, the
   * Location newAccount answered with), which both bind the record to
   */
  accountUrl?: string;
  /** dns-persist-01 (draft-ietf-acme-dns-persist-02) only: what the record is checked against */
  persist?: DnsPersistParams;
  /**
   * the ACME account the challenge belongs to: validations of one account
   * beyond the per-account cap wait for that account's earlier ones
   * (unset: only the server-wide cap applies)
   */
  accountId?: string;
}

/** draft-ietf-acme-dns-persist-02 §4.1/§4.2: the values a _validation-persist record must match. */
export interface DnsPersistParams {
  /** §3.1 the challenge's issuerDomainNames (normalized: lower-case A-labels, no trailing dot) */
  issuerDomainNames: readonly string[];
  /** §4.1 the directory's accountHashPrefix */
  accountHashPrefix: string;
  /**
   * RFC 7638 thumbprints (unpadded base64url SHA-256) of the account's keys:
   * the current one first, then earlier ones newest first (§4.2)
   */
  keyThumbprints: readonly string[];
  /** the authorization is for "*.{identifier}": only a record with policy=wildcard validates it (§5) */
  wildcard: boolean;
}

/** Per-validation options. */
export interface ValidateOptions {
  /** the addresses this validation may connect to (default the server's, SIGIL_VALIDATION_ALLOWED_NETWORKS) */
  networkPolicy?: NetworkPolicy;
}

export type ValidationOutcome =
  | {
      status: "valid";
      /**
       * the authorization must not stay valid past this instant
       * (draft-ietf-acme-dns-persist-02 §4.1: the record's persistUntil)
       */
      notAfter?: Date;
    }
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
  /**
   * RFC 8659 CAA check on the validator's resolver (src/validation/caa.ts);
   * absent: this validator cannot check CAA (directories with CAA on then refuse)
   */
  checkCaa?: CaaChecker["checkCaa"];
}
