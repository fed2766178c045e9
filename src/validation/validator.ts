/**
 * The ChallengeValidator: dispatches by challenge type (RFC 8555 §8.3 http-01,
 * §8.4 dns-01, RFC 8737 tls-alpn-01, draft-ietf-acme-dns-account-label
 * dns-account-01, draft-ietf-acme-dns-persist-02 dns-persist-01), retries transient failures (connection
 * problems, timeouts, DNS problems) until its deadline, and always resolves
 * with an outcome (RFC 8555 §7.5.1: the result is recorded on the challenge).
 * Every connection target passes the network policy first (RFC 8555 §10.2),
 * and concurrent validations are capped server-wide and per account.
 */
import { systemClock, type Clock } from "../core/clock.js";
import { checkCaaWithRetry } from "./caa.js";
import { ValidationAborted, type CheckContext, type CheckResult } from "./common.js";
import { checkDns01 } from "./dns01.js";
import { checkDnsAccount01 } from "./dnsaccount01.js";
import { checkDnsPersist01 } from "./dnspersist01.js";
import { checkHttp01 } from "./http01.js";
import { createDnsResolver, createHttpFetcher, createTlsDialer, type DnsResolver, type HttpFetcher, type TlsDialer } from "./network.js";
import { ValidationLimiter, validationLimits, type ValidationLimits } from "./limiter.js";
import { defaultNetworkPolicy, intersectPolicies, type NetworkPolicy } from "./network-policy.js";
import { checkTlsAlpn01 } from "./tlsalpn01.js";
import type { ChallengeValidator, ValidationOutcome, ValidationRequest } from "./types.js";

export interface RetryOptions {
  /** attempts at most, including the first (default 3) */
  attempts: number;
  /** pause between attempts (default 1000 ms) */
  delayMs: number;
  /** no attempt starts after this long since the first one, and network operations are cut at it (default 30 000 ms) */
  deadlineMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 3, delayMs: 1000, deadlineMs: 30_000 };

/** Where unexpected failures are reported (a pino Logger fits). */
export interface ValidatorLogger {
  error(obj: object, msg: string): void;
}

export interface ChallengeValidatorDeps {
  resolver: DnsResolver;
  fetcher: HttpFetcher;
  dialer: TlsDialer;
  /** port http-01 connects to (SIGIL_VALIDATION_HTTP_PORT, default 80) */
  httpPort: number;
  /** port tls-alpn-01 and https redirects connect to (SIGIL_VALIDATION_TLS_PORT, default 443) */
  tlsPort: number;
  /** retry policy (default DEFAULT_RETRY) */
  retry?: RetryOptions;
  /** time limit of one connection or HTTP exchange (default 10 000 ms; never beyond the deadline) */
  timeoutMs?: number;
  /** time source for the deadline (default the system clock) */
  clock?: Clock;
  /** waits between attempts (default a timer that an abort cuts short) */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** receives the cause of serverInternal outcomes (default: none) */
  logger?: ValidatorLogger;
  /**
   * the addresses validations may connect to unless a validate call passes
   * its own (default: SIGIL_VALIDATION_ALLOWED_NETWORKS of the process
   * environment, read once here; unset means "public,private")
   */
  networkPolicy?: NetworkPolicy;
  /** caps on concurrent validations (defaults in limiter.ts: 64 in all, 8 per account) */
  limits?: Partial<ValidationLimits>;
}

const INTERNAL_DETAIL = "the validation could not be performed";
const ABORTED_DETAIL = "the validation was cancelled";
const BUSY_DETAIL = "too many validations are waiting; the challenge could not be validated now";

export function createChallengeValidator(deps: ChallengeValidatorDeps): ChallengeValidator {
  const retry = deps.retry ?? DEFAULT_RETRY;
  const clock = deps.clock ?? systemClock;
  const sleep = deps.sleep ?? defaultSleep;
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const serverPolicy = deps.networkPolicy ?? defaultNetworkPolicy();
  const limiter = new ValidationLimiter(validationLimits(deps.limits));

  const attempt = (req: ValidationRequest, remainingMs: number, signal: AbortSignal | undefined, networkPolicy: NetworkPolicy): Promise<CheckResult> => {
    const ctx: CheckContext = {
      resolver: deps.resolver,
      fetcher: deps.fetcher,
      dialer: deps.dialer,
      httpPort: deps.httpPort,
      tlsPort: deps.tlsPort,
      timeoutMs: Math.max(1, Math.min(timeoutMs, remainingMs)),
      networkPolicy,
      signal,
    };
    switch (req.type) {
      case "http-01":
        return checkHttp01(req, ctx);
      case "dns-01":
        return checkDns01(req, ctx);
      case "tls-alpn-01":
        return checkTlsAlpn01(req, ctx);
      case "dns-account-01":
        return checkDnsAccount01(req, ctx);
      case "dns-persist-01":
        return checkDnsPersist01(req, ctx, clock.now());
      default: {
        const never: never = req.type;
        return Promise.resolve({ outcome: { status: "invalid", error: { type: "malformed", detail: `unsupported challenge type ${String(never)}` } }, transient: false });
      }
    }
  };

  return {
    // RFC 8659 / RFC 8657 (src/validation/caa.ts) on this validator's resolver, a DNS failure retried as a challenge's is;
    // the whole check (every label of the climb, every retry) within the validation deadline, else a dns refusal
    async checkCaa(req, signal) {
      const bounds = boundedSignal(signal, Math.max(1, retry.deadlineMs));
      try {
        return await checkCaaWithRetry(req, deps.resolver, { attempts: retry.attempts, delayMs: retry.delayMs, sleep }, bounds.signal);
      } finally {
        bounds.dispose();
      }
    },
    async validate(req, signal, options) {
      const aborted: ValidationOutcome = { status: "invalid", error: { type: "serverInternal", detail: ABORTED_DETAIL } };
      // a directory's override narrows the server's policy, never widens it
      const networkPolicy = options?.networkPolicy ? intersectPolicies(serverPolicy, options.networkPolicy) : serverPolicy;
      let release: (() => void) | undefined;
      let unbound: (() => void) | undefined;
      try {
        const slot = await limiter.acquire(req.accountId, signal);
        // a full queue is the server's problem, not the client's: retried later, never invalid
        if (slot === "full") return { status: "deferred", reason: BUSY_DETAIL };
        release = slot;
        // the deadline runs from the start of the first attempt, not from the wait for a slot, and
        // bounds the whole validation (every redirect hop, address and lookup), not each operation
        const started = clock.now().getTime();
        // one controller aborted by the deadline or by the caller's signal, both undone in `finally`
        // (AbortSignal.timeout + AbortSignal.any keep a timer, weak references and a finalizer per
        // validation alive until they are collected)
        const bounds = boundedSignal(signal, Math.max(1, retry.deadlineMs));
        unbound = bounds.dispose;
        const { deadline, signal: bounded } = bounds;
        const timedOut: ValidationOutcome = {
          status: "invalid",
          error: { type: "connection", detail: `the validation did not finish within ${Math.round(retry.deadlineMs / 1000)} s` },
        };
        for (let n = 1; ; n++) {
          if (signal?.aborted) return aborted;
          if (deadline.aborted) return timedOut;
          const remaining = started + retry.deadlineMs - clock.now().getTime();
          let result: CheckResult;
          try {
            result = await attempt(req, remaining, bounded, networkPolicy);
          } catch (e) {
            if (deadline.aborted && !signal?.aborted) return timedOut;
            throw e;
          }
          if (deadline.aborted && !signal?.aborted) return timedOut;
          if (!result.transient || n >= Math.max(1, retry.attempts)) return result.outcome;
          // no further attempt if it could not start before the deadline
          if (clock.now().getTime() + retry.delayMs >= started + retry.deadlineMs) return result.outcome;
          await sleep(retry.delayMs, signal);
        }
      } catch (e) {
        if (e instanceof ValidationAborted || signal?.aborted) return aborted;
        deps.logger?.error({ err: e, type: req.type, identifier: req.identifier }, "challenge validation failed unexpectedly");
        return { status: "invalid", error: { type: "serverInternal", detail: INTERNAL_DETAIL } };
      } finally {
        unbound?.();
        release?.();
      }
    },
  };
}

/**
 * The signal an attempt gets: aborted when `ms` have passed (with a
 * TimeoutError, as AbortSignal.timeout) or when the caller's signal aborts
 * (with its reason, as AbortSignal.any); `deadline.aborted` tells whether the
 * deadline passed. `dispose` stops the timer and unlinks the caller's signal.
 */
function boundedSignal(caller: AbortSignal | undefined, ms: number): { signal: AbortSignal; deadline: { readonly aborted: boolean }; dispose: () => void } {
  const ctl = new AbortController();
  const deadline = { aborted: false };
  const timer = setTimeout(() => {
    deadline.aborted = true;
    ctl.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
  }, ms);
  timer.unref();
  const onAbort = () => ctl.abort(caller!.reason);
  if (caller?.aborted) onAbort();
  else caller?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: ctl.signal,
    deadline,
    dispose: () => {
      clearTimeout(timer);
      caller?.removeEventListener("abort", onAbort);
    },
  };
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The configuration fields the default validator needs (a SigilConfig fits). */
export interface DefaultValidatorConfig {
  /** SIGIL_VALIDATION_HTTP_PORT */
  validationHttpPort: number;
  /** SIGIL_VALIDATION_TLS_PORT */
  validationTlsPort: number;
  /** SIGIL_DNS_SERVERS; empty means the system resolver */
  dnsServers: readonly string[];
  /** SIGIL_VALIDATION_ALLOWED_NETWORKS; unset: the process environment's, else "public,private" */
  validationAllowedNetworks?: NetworkPolicy;
  /** SIGIL_VALIDATION_MAX_CONCURRENT (default 64) */
  validationMaxConcurrent?: number;
  /** SIGIL_VALIDATION_MAX_PER_ACCOUNT (default 8) */
  validationMaxPerAccount?: number;
}

/** The validator on the real network: node:dns Resolver, node:http(s) fetcher, node:tls dialer. */
export function createDefaultValidator(
  config: DefaultValidatorConfig,
  opts: Pick<ChallengeValidatorDeps, "retry" | "timeoutMs" | "clock" | "sleep" | "logger"> = {},
): ChallengeValidator {
  return createChallengeValidator({
    ...opts,
    resolver: createDnsResolver(config.dnsServers),
    fetcher: createHttpFetcher(),
    dialer: createTlsDialer(),
    httpPort: config.validationHttpPort,
    tlsPort: config.validationTlsPort,
    networkPolicy: config.validationAllowedNetworks,
    limits: { maxConcurrent: config.validationMaxConcurrent, maxPerAccount: config.validationMaxPerAccount },
  });
}
