/**
 * ACME authorizations (RFC 8555 §7.5): reads scoped to the owning account
 * (with their challenges), and deactivation by the client (§7.5.2), which
 * invalidates the orders using the authorization in the same transaction.
 */
import type { AcmeAuthzStatus, Identifier } from "../../core/types.js";
import { commitAuthorizationDeactivated, findAuthorization, lockAuthorization, type AcmeAuthorizationRow, type AcmeChallengeRow } from "../../db/store/acme-authorizations.js";
import { inSqlTransaction, type RaContext } from "../context.js";
import { accountActor, type AccountInfo } from "./accounts.js";
import { challengeInfo, type ChallengeInfo } from "./challenges.js";
import { acmeErr, storedProblem } from "./errors.js";
import { canDeactivateAuthz, DEACTIVATABLE_AUTHZ_STATUSES, effectiveAuthzStatus, ORDER_STATUSES_INVALIDATED_BY_AUTHZ } from "./transitions.js";

export interface AuthzInfo {
  id: string;
  identifier: Identifier;
  wildcard: boolean;
  status: AcmeAuthzStatus;
  expires: Date;
  challenges: ChallengeInfo[];
}

/** the error the orders of a deactivated authorization carry (RFC 8555 §7.1.3) */
export const DEACTIVATED_ORDER_ERROR = "an authorization of this order was deactivated";

/** RFC 8555 §7.5: an authorization of this account with its challenges (one query) */
/**
 * An authorization (with its challenges) read ahead in the kid request's
 * nonce + account statement (src/db/store/nonces.ts; null: the account has
 * none of that id). The transport carries it to getAuthz without looking inside.
 */
export type PrefetchedAuthz = { authorization: AcmeAuthorizationRow; challenges: AcmeChallengeRow[] } | null;

/**
 * RFC 8555 §7.5 the authorization, read for its account (another account's
 * reads as unknown). `prefetched`: what the request's first round trip read
 * with its nonce and account for this id, so the read costs no second round trip.
 */
export async function getAuthz(ctx: RaContext, account: AccountInfo, id: string, prefetched?: { id: string; row: PrefetchedAuthz }): Promise<AuthzInfo> {
  const usable = prefetched && prefetched.id === id && (prefetched.row === null || prefetched.row.authorization.accountId === account.id);
  const found = usable ? prefetched.row : await findAuthorization(ctx.store, id, account.id);
  if (!found) throw acmeErr.notFound();
  const a = found.authorization;
  return {
    id: a.id,
    identifier: { type: a.identifierType, value: a.identifierValue },
    wildcard: a.wildcard,
    status: effectiveAuthzStatus(a.status, a.expires, ctx.clock.now()),
    expires: a.expires,
    challenges: found.challenges.map(challengeInfo),
  };
}

/**
 * §7.5.2 deactivation: pending or valid -> deactivated; the orders using it
 * that can still change become invalid. Two round trips: BEGIN with the
 * authorization locked; the change, its orders and the audit entry with
 * COMMIT.
 */
export async function deactivateAuthz(ctx: RaContext, account: AccountInfo, id: string): Promise<AuthzInfo> {
  await inSqlTransaction(ctx, async (tx) => {
    const a = await lockAuthorization(tx, id, account.id);
    if (!a) throw acmeErr.notFound();
    const now = ctx.clock.now();
    // the effective status (RFC 8555 §7.1.6: past expires it is expired), so the answer is the
    // same before and after the clean-up job writes it: an expired authorization is not deactivated
    const status = effectiveAuthzStatus(a.status, a.expires, now);
    if (!canDeactivateAuthz(status)) throw acmeErr.malformed(`the authorization is ${status}; only pending or valid ones can be deactivated`);
    tx.audit(accountActor(account), {
      action: "acme_authz_deactivate",
      organizationId: account.organizationId,
      resourceType: "acme_authorization",
      resourceId: a.id,
      detail: { identifier: `${a.identifierType}:${a.identifierValue}`, wildcard: a.wildcard, previousStatus: a.status },
    });
    await commitAuthorizationDeactivated(tx, {
      id: a.id,
      accountId: account.id,
      now,
      fromStatuses: DEACTIVATABLE_AUTHZ_STATUSES,
      orderStatuses: ORDER_STATUSES_INVALIDATED_BY_AUTHZ,
      orderError: storedProblem("unauthorized", DEACTIVATED_ORDER_ERROR),
    });
  });
  return getAuthz(ctx, account, id);
}
