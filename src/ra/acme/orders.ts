/**
 * ACME orders (RFC 8555 §7.1.3, §7.4): newOrder with identifier policy and
 * authorization reuse, reads scoped to the owning account, the orders list.
 * Authorizations, challenges, finalize and certificate download have their
 * own modules (authorizations.ts, challenges.ts, finalize.ts,
 * certificate-download.ts), imported from there.
 */
import { uuidv7, randomToken } from "../../core/ids.js";
import { findReusableAuthorizations, type AcmeAuthorizationRow } from "../../db/store/acme-authorizations.js";
import {
  createOrder,
  createOrderUnlessReusable,
  findOrder,
  listOrderIds,
  type AcmeOrderRow,
  type NewAuthorizationRow,
  type NewChallengeRow,
  type NewOrderRows,
  type ReuseQuery,
} from "../../db/store/acme-orders.js";
import { checkOrderIdentifiers, type IdentifierProblem } from "../../policy/identifiers.js";
import { inSqlTransaction, type RaContext } from "../context.js";
import { accountActor, type AccountInfo } from "./accounts.js";
import { isFreeReplacement, recordReplacement, resolveReplaces } from "./replaces.js";
import { spendNewOrder, withSpent } from "./rate-limits.js";
import type { DirectoryInfo } from "./directories.js";
import { AcmeError, acmeErr, type AcmeSubproblem } from "./errors.js";
import { checkOrderProfileIdentifiers, newOrderProfile, validityText } from "./profiles.js";
import { effectiveOrderStatus, pendingExpires, reuseValidAfter } from "./transitions.js";
import { validityWithin } from "../../policy/engine.js";

const DAY = 86_400_000;

/** an order as the client sees it: the stored row without its account, with expiry applied (orderInfo) */
export type OrderInfo = Omit<AcmeOrderRow, "accountId">;

/** the order as the client sees it now: expiry applied (§7.1.6) */
export function orderInfo(r: AcmeOrderRow, now: Date): OrderInfo {
  return {
    id: r.id,
    status: effectiveOrderStatus(r.status, r.expires, now),
    identifiers: r.identifiers,
    authorizationIds: r.authorizationIds,
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    expires: r.expires,
    error: r.error,
    certificateId: r.certificateId,
    replaces: r.replaces ?? null,
    profile: r.profile ?? null,
  };
}

function parseTime(v: unknown, field: string): Date | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw acmeErr.malformed(`${field} must be an RFC 3339 date-time`);
  const d = new Date(v);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d\d-\d\dT/.test(v)) throw acmeErr.malformed(`${field} must be an RFC 3339 date-time`);
  return d;
}

function identifierProblems(problems: IdentifierProblem[], detail?: string): AcmeError {
  if (!problems.length) return acmeErr.malformed(detail ?? "bad identifiers");
  const subproblems: AcmeSubproblem[] = problems.map((p) => ({ type: p.kind, detail: p.detail, identifier: p.identifier }));
  // §6.7.1: the top-level type is the subproblems' when they agree; rejectedIdentifier wins otherwise
  const kinds = new Set(problems.map((p) => p.kind));
  const top = kinds.size === 1 ? problems[0]!.kind : kinds.has("rejectedIdentifier") ? "rejectedIdentifier" : "malformed";
  const msg = problems.length === 1 ? problems[0]!.detail : `${problems.length} identifiers were refused`;
  const kind = top === "rejectedIdentifier" ? "rejectedIdentifier" : "invalidArgument";
  return new AcmeError(kind, top, msg, { subproblems });
}

/**
 * RFC 8555 §7.4 newOrder within the rate limits (docs/rate-limits.md): the
 * pending-authorizations cap and a new-orders-per-account token, given back
 * when no order is written. RFC 9773 §5 replacement orders are exempt from
 * new orders (a `replaces` that does not check out fails the order).
 */
export async function newOrder(
  ctx: RaContext,
  dir: DirectoryInfo,
  account: AccountInfo,
  payload: { identifiers?: unknown; notBefore?: unknown; notAfter?: unknown; replaces?: unknown; profile?: string },
): Promise<OrderInfo> {
  // review 2 M1: only a certificate's first replacement order is exempt (asked only when the limit is in force)
  const replacement = payload.replaces !== undefined && payload.replaces !== null ? () => isFreeReplacement(ctx, dir, account, payload.replaces) : false;
  const spent = await spendNewOrder(ctx, dir, account, { replacement });
  const order = await withSpent(spent, () => createNewOrder(ctx, dir, account, payload));
  // its finalize on this instance spends certificates without reading the order back
  ctx.rateLimits?.rememberOrder(dir, account.id, order);
  return order;
}

/** RFC 8555 §7.4 newOrder */
async function createNewOrder(
  ctx: RaContext,
  dir: DirectoryInfo,
  account: AccountInfo,
  payload: { identifiers?: unknown; notBefore?: unknown; notAfter?: unknown; replaces?: unknown; profile?: string },
): Promise<OrderInfo> {
  // draft-ietf-acme-profiles-00 §4: the profile named (invalidProfile if not offered) or the default
  const profile = newOrderProfile(dir, payload.profile);
  const checked = checkOrderIdentifiers(payload.identifiers, dir);
  if (!checked.ok) throw identifierProblems(checked.problems, checked.detail);
  checkOrderProfileIdentifiers(profile, checked.identifiers.map((i) => i.identifier));
  const now = ctx.clock.now();
  const notBefore = parseTime(payload.notBefore, "notBefore");
  const notAfter = parseTime(payload.notAfter, "notAfter");
  const maxNotAfter = now.getTime() + profile.validityMs;
  // the shared policy engine's validity rule (src/policy/engine.ts), a minute of slack for the client's clock
  if (notAfter && (notAfter.getTime() <= now.getTime() || !validityWithin(notAfter.getTime() - now.getTime(), profile.validityMs + 60_000))) {
    throw acmeErr.malformed(`notAfter must be in the future and at most ${validityText(profile.validityMs)} from now`);
  }
  if (notBefore && (notBefore.getTime() > (notAfter?.getTime() ?? maxNotAfter) || notBefore.getTime() < now.getTime() - DAY)) {
    throw acmeErr.malformed("notBefore must be before notAfter and not more than a day in the past");
  }
  const ids = checked.identifiers;
  // RFC 9773 §5: the certificate this order replaces, checked (null when the client names none)
  const replaces = await resolveReplaces(ctx, dir, account, ids.map((i) => i.identifier), payload.replaces);
  const actor = accountActor(account);
  /** the order, its new authorizations and challenges, its audit entry, given the authorizations reused */
  const plan = (reusable: AcmeAuthorizationRow[]): { order: OrderInfo; rows: NewOrderRows } => {
    const authzIds: string[] = [];
    const newAuthz: NewAuthorizationRow[] = [];
    const newChallenges: NewChallengeRow[] = [];
    let expires = pendingExpires(now, profile.orderLifetimeMs).getTime();
    let reused = 0;
    for (const id of ids) {
      const hit = reusable.find((r) => r.identifierType === id.identifier.type && r.identifierValue === id.authzValue && r.wildcard === id.wildcard);
      if (hit) {
        authzIds.push(hit.id);
        reused++;
        // §7.1.3: the order expires no later than the authorizations it uses
        expires = Math.min(expires, hit.expires.getTime());
        continue;
      }
      const authzId = uuidv7();
      newAuthz.push({ id: authzId, identifierType: id.identifier.type, identifierValue: id.authzValue, wildcard: id.wildcard });
      // §8.1: tokens of at least 128 bits of entropy
      for (const type of id.challengeTypes) newChallenges.push({ id: uuidv7(), authorizationId: authzId, type, token: randomToken(32) });
      authzIds.push(authzId);
    }
    const order: OrderInfo = {
      id: uuidv7(),
      // §7.1.6: an order whose authorizations are all (reused and) valid is ready at once
      status: newAuthz.length ? "pending" : "ready",
      identifiers: ids.map((i) => i.identifier),
      authorizationIds: authzIds,
      notBefore,
      notAfter,
      expires: new Date(expires),
      error: null,
      certificateId: null,
      replaces: replaces?.certId ?? null,
      profile: profile.name,
    };
    const audit = ctx.audit.row(actor, {
      action: "acme_order_create",
      organizationId: account.organizationId,
      resourceType: "acme_order",
      resourceId: order.id,
      detail: {
        directory: dir.name,
        identifiers: order.identifiers.map((i) => `${i.type}:${i.value}`),
        authorizationIds: authzIds,
        reusedAuthorizations: reused,
        ...(profile.name ? { profile: profile.name } : {}),
        ...(replaces ? { replaces: replaces.certId, replacesCertificateId: replaces.certificateId } : {}),
      },
    });
    const rows: NewOrderRows = {
      id: order.id,
      accountId: account.id,
      directoryId: dir.id,
      status: order.status,
      identifiers: order.identifiers,
      authorizationIds: authzIds,
      notBefore,
      notAfter,
      expires: order.expires,
      newAuthorizations: newAuthz,
      newAuthorizationsExpire: pendingExpires(now, profile.pendingAuthorizationLifetimeMs),
      profile: profile.name,
      newChallenges,
      now,
      audit,
    };
    return { order, rows };
  };
  // reuse this account's valid authorizations (§7.4: "the server MAY reuse")
  const reuse: ReuseQuery = {
    accountId: account.id,
    identifierTypes: [...new Set(ids.map((i) => i.identifier.type))],
    identifierValues: [...new Set(ids.map((i) => i.authzValue))],
    // the profile's reuse period (docs/profiles.md)
    validAfter: reuseValidAfter(now, profile.authorizationReuseMs),
  };
  if (replaces) {
    // RFC 9773 §5: the order and its mark as the replacement commit together, or neither (replaces.ts)
    const { order, rows } = await inSqlTransaction(ctx, async (tx) => {
      const planned = plan(await findReusableAuthorizations(tx, reuse));
      await createOrder(tx, planned.rows);
      await recordReplacement(tx, planned.order.id, replaces, now);
      return planned;
    });
    ctx.audit.published([rows.audit]);
    return order;
  }
  // first, one round trip: everything new, written only if nothing could be reused
  const fresh = plan([]);
  if (await createOrderUnlessReusable(ctx.store, fresh.rows, reuse)) {
    ctx.audit.published([fresh.rows.audit]);
    return fresh.order;
  }
  // some authorization may be reused: read them, then write the order with them
  const { order, rows } = plan(await findReusableAuthorizations(ctx.store, reuse));
  // authorizations, challenges, order and audit entry: one statement, so they commit together
  await createOrder(ctx.store, rows);
  ctx.audit.published([rows.audit]);
  return order;
}

/**
 * An order read ahead in the kid request's nonce + account statement
 * (src/db/store/nonces.ts; null: the account has no order of that id). The
 * transport carries it from its JWS chain to getOrder without looking inside.
 */
export type PrefetchedOrder = AcmeOrderRow | null;

/**
 * RFC 8555 §7.1.3 the order, read for its account (another account's reads
 * as unknown). `prefetched`: the row the request's first round trip read
 * with its nonce and account, for this id and account, so the poll costs
 * no second round trip.
 */
export async function getOrder(ctx: RaContext, account: AccountInfo, id: string, prefetched?: { id: string; row: PrefetchedOrder }): Promise<OrderInfo> {
  const r = prefetched && prefetched.id === id && (prefetched.row === null || prefetched.row.accountId === account.id) ? prefetched.row : await findOrder(ctx.store, id, account.id);
  if (!r) throw acmeErr.notFound();
  return orderInfo(r, ctx.clock.now());
}

/**
 * RFC 8555 §7.1.2.1 orders list, newest first, keyset-paginated on
 * (created_at, id); the cursor is the last order id of the previous page.
 */
export async function listOrders(ctx: RaContext, account: AccountInfo, cursor: string | undefined, pageSize: number): Promise<{ ids: string[]; next?: string }> {
  const rows = await listOrderIds(ctx.store, account.id, cursor, pageSize + 1);
  const ids = rows.slice(0, pageSize);
  return rows.length > pageSize ? { ids, next: ids[ids.length - 1] } : { ids };
}
