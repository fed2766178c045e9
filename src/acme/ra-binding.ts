/**
 * The ACME port (./ra-port.ts) bound to the registration authority: the
 * one file of src/acme that calls src/ra functions. Each operation is the
 * ra/acme function of the same name with the RaContext (and the caches the
 * transport keeps for it) filled in.
 */
import type { Logger } from "../logger.js";
import { changeAccountKey, findAccountById, newAccount, updateAccount } from "../ra/acme/accounts.js";
import { deactivateAuthz, getAuthz } from "../ra/acme/authorizations.js";
import { certificateChain, ChainCache, RecentCertificates } from "../ra/acme/certificate-download.js";
import { getChallenge, startChallenge } from "../ra/acme/challenges.js";
import { DirectoryCache } from "../ra/acme/directories.js";
import { finalizeOrder } from "../ra/acme/finalize.js";
import { verifyKeyChange } from "../ra/acme/inner-jws.js";
import { getOrder, listOrders, newOrder } from "../ra/acme/orders.js";
import { CaKeyIdentifierCache, renewalInfo } from "../ra/acme/renewal-info.js";
import { revokeCertificate } from "../ra/acme/revoke.js";
import { directoryRateLimitViews } from "../ra/acme/rate-limits.js";
import { ValidationScheduler, type ValidationSchedulerOptions } from "../ra/acme/validation.js";
import type { RaContext } from "../ra/context.js";
import type { ChallengeValidator } from "../validation/types.js";
import { NonceStore, type NonceStoreOptions } from "./nonces.js";
import type { AcmeRa } from "./ra-port.js";

export interface AcmeRaBindingOptions {
  /** performs http-01 / dns-01 / tls-alpn-01 checks (src/validation) */
  validator: ChallengeValidator;
  logger: Logger;
  /** how long directory rows are cached (default 5 s) */
  directoryCacheMs?: number;
  nonces?: NonceStoreOptions;
  validation?: ValidationSchedulerOptions;
  /** RFC 9773 §4.3 Retry-After of renewalInfo answers before jitter (SIGIL_ARI_RETRY_AFTER_SECONDS; default 6 h) */
  renewalInfoRetryAfterSeconds?: number;
}

/** the port as bound to ra, with its concrete nonce store, directory cache and validation scheduler */
export interface BoundAcmeRa extends AcmeRa {
  nonces: NonceStore;
  directories: DirectoryCache;
  validations: ValidationScheduler;
}

/** Builds the ACME port on `ra` (no timers run until `start()`). */
export function bindAcmeRa(ra: RaContext, opts: AcmeRaBindingOptions): BoundAcmeRa {
  const { logger } = opts;
  const nonces = new NonceStore(ra.store, ra.clock, opts.nonces);
  const directories = new DirectoryCache(ra, opts.directoryCacheMs);
  const validations = new ValidationScheduler(ra, opts.validator, logger, opts.validation);
  const chains = new ChainCache();
  // finalize puts what it issued, the download that follows reads it without a query
  const recentCertificates = new RecentCertificates();
  // RFC 8659: finalize's CAA recheck looks up through the validator's resolver
  const caaChecker = opts.validator.checkCaa ? { checkCaa: opts.validator.checkCaa.bind(opts.validator), logger } : undefined;
  // RFC 9773 §4.1: CA key identifiers, matched against a certID's AKI
  const caKeyIds = new CaKeyIdentifierCache();
  return {
    directories,
    nonces,
    accounts: { findById: (directoryId, id) => findAccountById(ra, directoryId, id) },
    validations,
    newAccount: (dir, req) => newAccount(ra, dir, req),
    updateAccount: (account, update) => updateAccount(ra, account, update),
    verifyKeyChange: (input) => verifyKeyChange(input),
    changeAccountKey: (account, newJwk, newThumbprint, accountUrl) => changeAccountKey(ra, account, newJwk, newThumbprint, accountUrl),
    newOrder: (dir, account, payload) => newOrder(ra, dir, account, payload),
    getOrder: (account, id, prefetched) => getOrder(ra, account, id, prefetched),
    listOrders: (account, cursor, pageSize) => listOrders(ra, account, cursor, pageSize),
    finalizeOrder: (dir, account, orderId, csrDer) => finalizeOrder(ra, dir, account, orderId, csrDer, recentCertificates, caaChecker),
    certificateChain: (account, certificateId) => certificateChain(ra, chains, account, certificateId, recentCertificates),
    getAuthz: (account, id, prefetched) => getAuthz(ra, account, id, prefetched),
    deactivateAuthz: (account, id) => deactivateAuthz(ra, account, id),
    getChallenge: (account, id) => getChallenge(ra, account, id),
    startChallenge: (account, id, dir) => startChallenge(ra, account, id, dir),
    revokeCertificate: (dir, auth, certificateDer, reason) => revokeCertificate(ra, dir, auth, certificateDer, reason),
    renewalInfo: (dir, certId) => renewalInfo(ra, caKeyIds, dir, certId, { retryAfterSeconds: opts.renewalInfoRetryAfterSeconds }),
    rateLimits: (dir) => directoryRateLimitViews(ra, dir),
    start() {
      nonces.startCleanup((e) => logger.error({ err: e }, "nonce cleanup failed"));
      validations.startSweeper();
    },
    async close() {
      nonces.stop();
      await validations.close();
    },
  };
}
