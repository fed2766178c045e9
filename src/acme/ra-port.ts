/**
 * What the ACME transport needs of the registration authority, and nothing
 * more: the operations its routes call, the directory lookup, the nonce
 * store and the validation scheduler. The routes see only this port (the
 * domain declares the small interface it needs; tests pass fakes of it).
 * `bindAcmeRa` (./ra-binding.ts) builds it from src/ra/acme; only that
 * file calls ra functions. The types below are ra's data shapes, imported
 * as types.
 */
import type { JWK } from "jose";
import type { AccountInfo, NewAccountRequest } from "../ra/acme/accounts.js";
import type { AuthzInfo, PrefetchedAuthz } from "../ra/acme/authorizations.js";
import type { ChallengeInfo } from "../ra/acme/challenges.js";
import type { DirectoryInfo } from "../ra/acme/directories.js";
import type { KeyChangeInput, VerifiedKeyChange } from "../ra/acme/inner-jws.js";
import type { OrderInfo, PrefetchedOrder } from "../ra/acme/orders.js";
import type { RenewalInfo } from "../ra/acme/renewal-info.js";
import type { RateLimitView } from "../ra/acme/rate-limits.js";
import type { RevocationAuth } from "../ra/acme/revoke.js";
import type { ChallengeJob } from "../ra/acme/validation.js";
import type { AccountLookup, NonceChecker } from "./jws.js";

export type { AccountInfo, AuthzInfo, ChallengeInfo, ChallengeJob, DirectoryInfo, OrderInfo, RenewalInfo, RevocationAuth };

/** RFC 8555 §6.5 nonces: issued on every response, consumed by the JWS chain */
export interface AcmeNonces extends NonceChecker {
  /** a fresh, stored nonce; rejects with SigilError kind "unavailable" when none can be stored */
  issue(): Promise<string>;
}

/** ACME directories by the name in the URL */
export interface AcmeDirectories {
  get(name: string): Promise<DirectoryInfo | null>;
}

/** challenge validations, run outside the request (§7.5.1) */
export interface AcmeValidations {
  /**
   * starts validating a challenge startChallenge moved to processing and waits
   * a little for the outcome: the challenge as this run recorded it; true when
   * the validation ended in time without this run recording it (read it
   * again); false when it goes on in the background
   */
  scheduleAndWait(challengeId: string, job?: ChallengeJob): Promise<ChallengeInfo | boolean>;
  /** settles when no validation is running (tests) */
  idle(): Promise<void>;
}

/** what startChallenge answers: the challenge, and the validation job when this call started it */
export interface StartedChallenge {
  challenge: ChallengeInfo;
  started: boolean;
  job?: ChallengeJob;
}

/** The registration authority as the ACME routes use it. */
export interface AcmeRa {
  directories: AcmeDirectories;
  nonces: AcmeNonces;
  /** the account read of a kid request that did not go through the nonce round trip */
  accounts: AccountLookup;
  validations: AcmeValidations;

  // §7.3 accounts
  newAccount(dir: DirectoryInfo, req: NewAccountRequest): Promise<{ account: AccountInfo; created: boolean }>;
  updateAccount(account: AccountInfo, update: { contact?: unknown; status?: unknown; termsOfServiceAgreed?: unknown }): Promise<AccountInfo>;
  /** §7.3.5 the inner JWS of a key rollover */
  verifyKeyChange(input: KeyChangeInput): Promise<VerifiedKeyChange>;
  changeAccountKey(account: AccountInfo, newJwk: JWK, newThumbprint: string, accountUrl: (id: string) => string): Promise<AccountInfo>;

  // §7.4 orders
  newOrder(dir: DirectoryInfo, account: AccountInfo, payload: { identifiers?: unknown; notBefore?: unknown; notAfter?: unknown; replaces?: unknown; profile?: string }): Promise<OrderInfo>;
  /** `prefetched`: the order the JWS chain read with the nonce and account (AccountRequest.prefetchedOrder) */
  getOrder(account: AccountInfo, id: string, prefetched?: { id: string; row: PrefetchedOrder }): Promise<OrderInfo>;
  listOrders(account: AccountInfo, cursor: string | undefined, pageSize: number): Promise<{ ids: string[]; next?: string }>;
  finalizeOrder(dir: DirectoryInfo, account: AccountInfo, orderId: string, csrDer: Buffer): Promise<OrderInfo>;
  /** §7.4.2 the PEM chain */
  certificateChain(account: AccountInfo, certificateId: string): Promise<string>;

  // §7.5 authorizations and challenges
  /** `prefetched`: the authorization the JWS chain read with the nonce and account (AccountRequest.prefetchedAuthz) */
  getAuthz(account: AccountInfo, id: string, prefetched?: { id: string; row: PrefetchedAuthz }): Promise<AuthzInfo>;
  deactivateAuthz(account: AccountInfo, id: string): Promise<AuthzInfo>;
  getChallenge(account: AccountInfo, id: string): Promise<ChallengeInfo>;
  /** `dir`: the request's directory (its failed-validations rate limit) */
  startChallenge(account: AccountInfo, id: string, dir?: DirectoryInfo): Promise<StartedChallenge>;

  // §7.6 revocation
  revokeCertificate(dir: DirectoryInfo, auth: RevocationAuth, certificateDer: Buffer, reason: unknown): Promise<void>;

  // RFC 9773 renewal information
  /** §4.2 the suggested window of the certificate `certId` (§4.1) names; 400 malformed certID, 404 unknown */
  renewalInfo(dir: DirectoryInfo, certId: string): Promise<RenewalInfo>;

  /** the rate limits in force in a directory (docs/rate-limits.md), for its rate-limits page; absent: none listed */
  rateLimits?(dir: DirectoryInfo): RateLimitView[];

  /** starts the background work (nonce cleanup, validation sweeper) */
  start(): void;
  /** stops the timers, aborts and awaits running validations */
  close(): Promise<void>;
}
