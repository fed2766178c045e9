/**
 * The ACME state rules in one place (RFC 8555 §7.1.6), pure: no I/O, time
 * is always passed in (the injected clock's `now`). The store modules'
 * statements apply the same rules in SQL; they take the statuses and times
 * these functions name as parameters, so a rule changes here, not in SQL.
 *
 *   order:          pending -> ready -> processing -> valid, or -> invalid
 *   authorization:  pending -> valid | invalid; pending/valid -> deactivated
 *                   (§7.5.2); pending/valid past `expires` reads as expired
 *   challenge:      pending -> processing -> valid | invalid
 */
import type { AcmeAuthzStatus, AcmeChallengeStatus, AcmeOrderStatus } from "../../core/types.js";

const DAY = 86_400_000;
/** RFC 8555 §7.1.3 `expires` of a new order / pending authorization */
export const PENDING_LIFETIME_MS = 7 * DAY;
/** how long a valid authorization can be reused by its account */
export const VALID_AUTHZ_LIFETIME_MS = 30 * DAY;
/** a reused authorization must stay valid at least this long (the order's own expiry follows it) */
export const REUSE_MIN_REMAINING_MS = DAY;

/** order statuses an authorization failing (invalid, deactivated) still changes: they become invalid */
export const ORDER_STATUSES_INVALIDATED_BY_AUTHZ: readonly AcmeOrderStatus[] = ["pending", "ready"];
/** authorization statuses a client may deactivate (§7.5.2) */
export const DEACTIVATABLE_AUTHZ_STATUSES: readonly AcmeAuthzStatus[] = ["pending", "valid"];

/** §7.1.6: an order past `expires` that never reached valid (or processing) reads as invalid */
export function effectiveOrderStatus(status: AcmeOrderStatus, expires: Date, now: Date): AcmeOrderStatus {
  return (status === "pending" || status === "ready") && expires <= now ? "invalid" : status;
}

/** §7.1.6: a pending or valid authorization past `expires` reads as expired */
export function effectiveAuthzStatus(status: AcmeAuthzStatus, expires: Date, now: Date): AcmeAuthzStatus {
  return (status === "pending" || status === "valid") && expires <= now ? "expired" : status;
}

/** whether an authorization counts as valid now (valid and not past `expires`) */
export function authzIsValid(a: { status: AcmeAuthzStatus; expires: Date }, now: Date): boolean {
  return effectiveAuthzStatus(a.status, a.expires, now) === "valid";
}

/**
 * §7.1.6 "all authorizations valid, so the order is ready": a pending order
 * whose every authorization is valid now becomes ready; anything else
 * stays as it is.
 */
export function orderStatusAfterAuthzValid(order: AcmeOrderStatus, authzs: ReadonlyArray<{ status: AcmeAuthzStatus; expires: Date }>, now: Date): AcmeOrderStatus {
  return order === "pending" && authzs.length > 0 && authzs.every((a) => authzIsValid(a, now)) ? "ready" : order;
}

/**
 * §7.1.6 "an authorization became invalid (or was deactivated), so its
 * orders are invalid": a pending or ready order becomes invalid; a
 * processing, valid or invalid one keeps its status.
 */
export function orderStatusAfterAuthzFailed(order: AcmeOrderStatus): AcmeOrderStatus {
  return ORDER_STATUSES_INVALIDATED_BY_AUTHZ.includes(order) ? "invalid" : order;
}

/** §7.5.2: only pending or valid authorizations can be deactivated */
export function canDeactivateAuthz(status: AcmeAuthzStatus): boolean {
  return DEACTIVATABLE_AUTHZ_STATUSES.includes(status);
}

/**
 * §7.4 finalize: what blocks it, in the order a client should hear about it
 * (undefined = the order may be finalized). `authzNotValid` counts the
 * order's authorizations that are no longer valid now (deactivated, or
 * expired since the order became ready).
 */
export function finalizeBlocker(order: { status: AcmeOrderStatus; expires: Date }, authzNotValid: number, now: Date): { status: AcmeOrderStatus } | "authzNotValid" | undefined {
  const status = effectiveOrderStatus(order.status, order.expires, now);
  if (status !== "ready") return { status };
  return authzNotValid > 0 ? "authzNotValid" : undefined;
}

/** §8.2: a challenge can be started only while it, its siblings and its (unexpired) authorization are pending */
export function challengeCanStart(challenge: AcmeChallengeStatus, authz: { status: AcmeAuthzStatus; expires: Date }, siblingsStarted: boolean, now: Date): boolean {
  return challenge === "pending" && !siblingsStarted && effectiveAuthzStatus(authz.status, authz.expires, now) === "pending";
}

/** when an authorization validated now stops being reusable */
export function validAuthzExpires(now: Date): Date {
  return new Date(now.getTime() + VALID_AUTHZ_LIFETIME_MS);
}

/** `expires` of a new pending order or authorization (the lifetime: the order's profile's, default 7 days) */
export function pendingExpires(now: Date, lifetimeMs: number = PENDING_LIFETIME_MS): Date {
  return new Date(now.getTime() + lifetimeMs);
}

/**
 * the earliest `expires` a reusable authorization may have: valid a while
 * longer (REUSE_MIN_REMAINING_MS), and, with a reuse period (the order's
 * profile's, at most VALID_AUTHZ_LIFETIME_MS), validated within that
 * period: an authorization validated at t expires at t +
 * VALID_AUTHZ_LIFETIME_MS, so "t >= now - reuse" is "expires >= now +
 * VALID_AUTHZ_LIFETIME_MS - reuse"
 */
export function reuseValidAfter(now: Date, reusePeriodMs: number = VALID_AUTHZ_LIFETIME_MS): Date {
  const sinceValidation = VALID_AUTHZ_LIFETIME_MS - Math.min(reusePeriodMs, VALID_AUTHZ_LIFETIME_MS);
  return new Date(now.getTime() + Math.max(REUSE_MIN_REMAINING_MS, sinceValidation));
}
