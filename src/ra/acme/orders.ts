/**
 * ACME orders, authorizations and challenges (RFC 8555 §7.4, §7.5, §8):
 * newOrder with identifier policy and authorization reuse, reads scoped to
 * the owning account, authorization deactivation, challenge start (exactly
 * once), finalize (exactly one certificate), certificate chain.
 */
import { LockMode } from "@mikro-orm/core";
import { parseCsr } from "../../ca/csr.js";
import { checkLeafKeyPolicySpki } from "../../ca/keys.js";
import { uuidv7, randomToken } from "../../core/ids.js";
import type { AcmeAuthzStatus, AcmeChallengeStatus, AcmeChallengeType, AcmeOrderStatus, Identifier, IdentifierType } from "../../core/types.js";
import { AcmeAuthorization, CertificateAuthority } from "../../db/entities/index.js";
import { checkCsrAgainstOrder } from "../../policy/csr.js";
import { checkOrderIdentifiers, type IdentifierProblem } from "../../policy/identifiers.js";
import { sqlPool, statement } from "../../db/sql.js";
import { auditInsertSql, auditRowsParam } from "../../db/store/audit.js";
import { inSqlTransaction, inTransaction, type RaContext } from "../context.js";
import { signLeafInSqlTx, type IssuingCa } from "../issuance.js";
import { certificateInsertParams, certificateInsertSql } from "../../db/store/certificates.js";
import { accountActor, type AccountInfo } from "./accounts.js";
import type { ChallengeJob } from "./validation.js";
import type { DirectoryInfo } from "./directories.js";
import { AcmeError, acmeErr, storedProblem, type AcmeSubproblem } from "./errors.js";

const DAY = 86_400_000;
/** RFC 8555 §7.1.3 `expires` of a new order / pending authorization */
export const PENDING_LIFETIME_MS = 7 * DAY;
/** how long a valid authorization can be reused by its account */
export const VALID_AUTHZ_LIFETIME_MS = 30 * DAY;

export interface OrderInfo {
  id: string;
  status: AcmeOrderStatus;
  identifiers: Identifier[];
  authorizationIds: string[];
  notBefore: Date | null;
  notAfter: Date | null;
  expires: Date;
  error: Record<string, unknown> | null;
  certificateId: string | null;
}

export interface ChallengeInfo {
  id: string;
  authorizationId: string;
  type: AcmeChallengeType;
  token: string;
  status: AcmeChallengeStatus;
  validated: Date | null;
  error: Record<string, unknown> | null;
}

export interface AuthzInfo {
  id: string;
  identifier: Identifier;
  wildcard: boolean;
  status: AcmeAuthzStatus;
  expires: Date;
  challenges: ChallengeInfo[];
}

interface OrderRow {
  id: string;
  account_id: string;
  status: AcmeOrderStatus;
  identifiers: Identifier[];
  authorization_ids: string[];
  not_before: Date | null;
  not_after: Date | null;
  expires: Date;
  error: Record<string, unknown> | null;
  certificate_id: string | null;
}

/** an order past `expires` that never reached valid reads as invalid (§7.1.6) */
function effectiveOrderStatus(status: AcmeOrderStatus, expires: Date, now: Date): AcmeOrderStatus {
  return (status === "pending" || status === "ready") && expires <= now ? "invalid" : status;
}

/** raw queries return timestamps as strings */
function toDate(v: Date | string): Date;
function toDate(v: Date | string | null): Date | null;
function toDate(v: Date | string | null): Date | null {
  return v === null ? null : v instanceof Date ? v : new Date(v);
}

function orderFromRow(r: OrderRow, now: Date): OrderInfo {
  const expires = toDate(r.expires);
  return {
    id: r.id,
    status: effectiveOrderStatus(r.status, expires, now),
    identifiers: r.identifiers,
    authorizationIds: r.authorization_ids,
    notBefore: toDate(r.not_before),
    notAfter: toDate(r.not_after),
    expires,
    error: r.error,
    certificateId: r.certificate_id,
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

/** RFC 8555 §7.4 newOrder */
export async function newOrder(
  ctx: RaContext,
  dir: DirectoryInfo,
  account: AccountInfo,
  payload: { identifiers?: unknown; notBefore?: unknown; notAfter?: unknown },
): Promise<OrderInfo> {
  const checked = checkOrderIdentifiers(payload.identifiers, dir);
  if (!checked.ok) throw identifierProblems(checked.problems, checked.detail);
  const now = ctx.clock.now();
  const notBefore = parseTime(payload.notBefore, "notBefore");
  const notAfter = parseTime(payload.notAfter, "notAfter");
  const maxNotAfter = now.getTime() + dir.maxValidityDays * DAY;
  if (notAfter && (notAfter.getTime() <= now.getTime() || notAfter.getTime() > maxNotAfter + 60_000)) {
    throw acmeErr.malformed(`notAfter must be in the future and at most ${dir.maxValidityDays} days from now`);
  }
  if (notBefore && (notBefore.getTime() > (notAfter?.getTime() ?? maxNotAfter) || notBefore.getTime() < now.getTime() - DAY)) {
    throw acmeErr.malformed("notBefore must be before notAfter and not more than a day in the past");
  }
  const ids = checked.identifiers;
  type Reusable = { id: string; identifier_type: IdentifierType; identifier_value: string; wildcard: boolean; expires: Date | string };
  /** the order, its new authorizations and challenges, its audit entry, given the authorizations reused */
  const plan = (reusable: Reusable[]) => {
    const authzIds: string[] = [];
    const newAuthz: Array<{ id: string; identifier_type: IdentifierType; identifier_value: string; wildcard: boolean }> = [];
    const newChallenges: Array<{ id: string; authorization_id: string; type: AcmeChallengeType; token: string }> = [];
    let expires = now.getTime() + PENDING_LIFETIME_MS;
    let reused = 0;
    for (const id of ids) {
      const hit = reusable.find((r) => r.identifier_type === id.identifier.type && r.identifier_value === id.authzValue && r.wildcard === id.wildcard);
      if (hit) {
        authzIds.push(hit.id);
        reused++;
        expires = Math.min(expires, toDate(hit.expires).getTime());
        continue;
      }
      const authzId = uuidv7();
      newAuthz.push({ id: authzId, identifier_type: id.identifier.type, identifier_value: id.authzValue, wildcard: id.wildcard });
      // §8.1: tokens of at least 128 bits of entropy
      for (const type of id.challengeTypes) newChallenges.push({ id: uuidv7(), authorization_id: authzId, type, token: randomToken(32) });
      authzIds.push(authzId);
    }
    const order: OrderInfo = {
      id: uuidv7(),
      status: newAuthz.length ? "pending" : "ready",
      identifiers: ids.map((i) => i.identifier),
      authorizationIds: authzIds,
      notBefore,
      notAfter,
      expires: new Date(expires),
      error: null,
      certificateId: null,
    };
    const audit = ctx.audit.row(accountActor(account), {
      action: "acme_order_create",
      organizationId: account.organizationId,
      resourceType: "acme_order",
      resourceId: order.id,
      detail: {
        directory: dir.name,
        identifiers: order.identifiers.map((i) => `${i.type}:${i.value}`),
        authorizationIds: authzIds,
        reusedAuthorizations: reused,
      },
    });
    const params = [
      account.id,
      new Date(now.getTime() + PENDING_LIFETIME_MS),
      new Date(),
      JSON.stringify(newAuthz),
      JSON.stringify(newChallenges),
      order.id,
      dir.id,
      order.status,
      JSON.stringify(order.identifiers),
      JSON.stringify(authzIds),
      notBefore,
      notAfter,
      order.expires,
      auditRowsParam([audit]),
    ];
    return { order, audit, params };
  };
  // reuse this account's valid authorizations (§7.4: "the server MAY reuse"), looked up
  // on all three columns of the (account_id, identifier_type, identifier_value) index
  const reuseKeys = [[...new Set(ids.map((i) => i.identifier.type))], [...new Set(ids.map((i) => i.authzValue))], new Date(now.getTime() + DAY)];
  const sql = sqlPool(ctx.orm);
  // first, one round trip: everything new, written only if nothing could be reused
  const fresh = plan([]);
  const [created] = await sql.query<{ created: boolean }>(CREATE_ORDER_UNLESS_REUSABLE, [...fresh.params, ...reuseKeys]);
  if (created?.created) {
    ctx.audit.published([fresh.audit]);
    return fresh.order;
  }
  // some authorization may be reused: read them, then write the order with them
  const reusable = await sql.query<Reusable>(REUSABLE_AUTHZ, [account.id, ...reuseKeys]);
  const { order, audit, params } = plan(reusable);
  // authorizations, challenges, order and audit entry: one statement, so they commit together
  await sql.query(CREATE_ORDER, params);
  ctx.audit.published([audit]);
  return order;
}

const REUSABLE_AUTHZ = statement(
  "sigil_acme_reusable_authz",
  `select id, identifier_type, identifier_value, wildcard, expires from acme_authorizations
    where account_id = $1 and identifier_type = any($2::varchar[]) and identifier_value = any($3::varchar[])
      and status = 'valid' and expires > $4
    order by expires desc`,
);

const CREATE_ORDER = statement(
  "sigil_acme_order_create",
  `with az as (insert into acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires, created_at, updated_at)
                select id, $1, identifier_type, identifier_value, wildcard, 'pending', $2, $3, $3
                  from jsonb_to_recordset($4::jsonb) as r(id uuid, identifier_type varchar, identifier_value varchar, wildcard boolean)),
        ch as (insert into acme_challenges (id, authorization_id, type, token, status, attempts, created_at, updated_at)
                select id, authorization_id, type, token, 'pending', 0, $3, $3
                  from jsonb_to_recordset($5::jsonb) as r(id uuid, authorization_id uuid, type varchar, token varchar)),
        o as (insert into acme_orders (id, account_id, directory_id, status, identifiers, authorization_ids, not_before, not_after, expires, created_at, updated_at)
                values ($6, $1, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13, $3, $3)),
        au as (${auditInsertSql("$14")})
   select 1`,
);

/**
 * CREATE_ORDER ($1-$14) unless the account has a valid authorization that
 * might be reused (REUSABLE_AUTHZ on $15-$17; wildcard not compared): all
 * CTEs read that one snapshot, so either all rows are written or none.
 */
const CREATE_ORDER_UNLESS_REUSABLE = statement(
  "sigil_acme_order_create_fresh",
  `with reuse as (select 1 from acme_authorizations
                   where account_id = $1 and identifier_type = any($15::varchar[]) and identifier_value = any($16::varchar[])
                     and status = 'valid' and expires > $17 limit 1),
        az as (insert into acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires, created_at, updated_at)
                select id, $1, identifier_type, identifier_value, wildcard, 'pending', $2, $3, $3
                  from jsonb_to_recordset($4::jsonb) as r(id uuid, identifier_type varchar, identifier_value varchar, wildcard boolean)
                 where not exists (select 1 from reuse)),
        ch as (insert into acme_challenges (id, authorization_id, type, token, status, attempts, created_at, updated_at)
                select id, authorization_id, type, token, 'pending', 0, $3, $3
                  from jsonb_to_recordset($5::jsonb) as r(id uuid, authorization_id uuid, type varchar, token varchar)
                 where not exists (select 1 from reuse)),
        o as (insert into acme_orders (id, account_id, directory_id, status, identifiers, authorization_ids, not_before, not_after, expires, created_at, updated_at)
                select $6, $1, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13, $3, $3
                 where not exists (select 1 from reuse)),
        au as (${auditInsertSql("$14")} where not exists (select 1 from reuse))
   select not exists (select 1 from reuse) as created`,
);

const ORDER_COLUMNS = "id, account_id, status, identifiers, authorization_ids, not_before, not_after, expires, error, certificate_id";

const GET_ORDER = statement("sigil_acme_order_get", `select ${ORDER_COLUMNS} from acme_orders where id = $1 and account_id = $2`);

/** an order of this account; another account's order is not found (404), like an unknown one */
export async function getOrder(ctx: RaContext, account: AccountInfo, id: string): Promise<OrderInfo> {
  const rows = await sqlPool(ctx.orm).query<OrderRow>(GET_ORDER, [id, account.id]);
  if (!rows[0]) throw acmeErr.notFound();
  return orderFromRow(rows[0], ctx.clock.now());
}

/**
 * RFC 8555 §7.1.2.1 orders list, newest first, keyset-paginated on
 * (created_at, id), which the (account_id, created_at) index serves; the
 * cursor is the last order id of the previous page.
 */
export async function listOrders(ctx: RaContext, account: AccountInfo, cursor: string | undefined, pageSize: number): Promise<{ ids: string[]; next?: string }> {
  const after = cursor ? "and (created_at, id) < (select created_at, id from acme_orders where id = ? and account_id = ?)" : "";
  const rows = await ctx.orm.em.getConnection().execute<Array<{ id: string }>>(
    `select id from acme_orders where account_id = ? ${after} order by created_at desc, id desc limit ?`,
    cursor ? [account.id, cursor, account.id, pageSize + 1] : [account.id, pageSize + 1],
  );
  const ids = rows.slice(0, pageSize).map((r) => r.id);
  return rows.length > pageSize ? { ids, next: ids[ids.length - 1] } : { ids };
}

interface AuthzChallengeRow {
  a_id: string;
  account_id: string;
  identifier_type: IdentifierType;
  identifier_value: string;
  wildcard: boolean;
  a_status: AcmeAuthzStatus;
  expires: Date;
  c_id: string;
  type: AcmeChallengeType;
  token: string;
  c_status: AcmeChallengeStatus;
  validated: Date | null;
  error: Record<string, unknown> | null;
}

function authzFromRows(rows: AuthzChallengeRow[], now: Date): AuthzInfo {
  const r = rows[0]!;
  let status = r.a_status;
  if ((status === "pending" || status === "valid") && new Date(r.expires) <= now) status = "expired";
  return {
    id: r.a_id,
    identifier: { type: r.identifier_type, value: r.identifier_value },
    wildcard: r.wildcard,
    status,
    expires: toDate(r.expires),
    challenges: rows.map((c) => ({
      id: c.c_id,
      authorizationId: r.a_id,
      type: c.type,
      token: c.token,
      status: c.c_status,
      validated: toDate(c.validated),
      error: c.error,
    })),
  };
}

const AUTHZ_SELECT = `select a.id a_id, a.account_id, a.identifier_type, a.identifier_value, a.wildcard, a.status a_status, a.expires,
  c.id c_id, c.type, c.token, c.status c_status, c.validated, c.error
  from acme_authorizations a join acme_challenges c on c.authorization_id = a.id`;

const GET_AUTHZ = statement("sigil_acme_authz_get", `${AUTHZ_SELECT} where a.id = $1 and a.account_id = $2 order by c.type`);

/** RFC 8555 §7.5: an authorization of this account with its challenges (one query) */
export async function getAuthz(ctx: RaContext, account: AccountInfo, id: string): Promise<AuthzInfo> {
  const rows = await sqlPool(ctx.orm).query<AuthzChallengeRow>(GET_AUTHZ, [id, account.id]);
  if (!rows.length) throw acmeErr.notFound();
  return authzFromRows(rows, ctx.clock.now());
}

/** §7.5.2 deactivation: pending or valid -> deactivated; the orders using it become invalid */
export async function deactivateAuthz(ctx: RaContext, account: AccountInfo, id: string): Promise<AuthzInfo> {
  await inTransaction(ctx, async (tx) => {
    const a = await tx.em.findOne(AcmeAuthorization, { id, account: account.id }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!a) throw acmeErr.notFound();
    if (a.status !== "pending" && a.status !== "valid") throw acmeErr.malformed(`the authorization is ${a.status}; only pending or valid ones can be deactivated`);
    const was = a.status;
    a.status = "deactivated";
    tx.audit(accountActor(account), {
      action: "acme_authz_deactivate",
      organizationId: account.organizationId,
      resourceType: "acme_authorization",
      resourceId: a.id,
      detail: { identifier: `${a.identifierType}:${a.identifierValue}`, wildcard: a.wildcard, previousStatus: was },
    });
    await tx.em.flush();
    await invalidateOrdersOf(tx.em, account.id, id, storedProblem("unauthorized", "an authorization of this order was deactivated"), ctx.clock.now());
  });
  return getAuthz(ctx, account, id);
}

/** orders of the account that use `authzId` and can still change become invalid with `error` */
export async function invalidateOrdersOf(
  em: { execute: (sql: string, params: unknown[], method?: "all" | "get" | "run") => Promise<unknown> },
  accountId: string,
  authzId: string,
  error: Record<string, unknown>,
  now: Date,
): Promise<void> {
  await em.execute(
    `update acme_orders set status = 'invalid', error = ?::jsonb, updated_at = ?
      where account_id = ? and status in ('pending', 'ready') and authorization_ids @> ?::jsonb`,
    [JSON.stringify(error), now, accountId, JSON.stringify([authzId])],
    "run",
  );
}

/**
 * RFC 8555 §7.5.1: the client asks for a challenge to be validated. Moves it
 * pending -> processing with one conditional UPDATE, so of concurrent POSTs
 * exactly one `started` is true (and starts a validation).
 */
export async function startChallenge(
  ctx: RaContext,
  account: AccountInfo,
  challengeId: string,
): Promise<{ challenge: ChallengeInfo; started: boolean; job?: ChallengeJob }> {
  const now = ctx.clock.now();
  const updated = await sqlPool(ctx.orm).query<ChallengeRow & { attempts: number; identifier_type: IdentifierType; identifier_value: string }>(
    START_CHALLENGE,
    [now, challengeId, account.id],
  );
  const r = updated[0];
  if (!r) return { challenge: await getChallenge(ctx, account, challengeId), started: false };
  return {
    challenge: challengeFromRow(r),
    started: true,
    // what the validation needs, so it does not read it again
    job: {
      type: r.type,
      token: r.token,
      authorization_id: r.authorization_id,
      identifier_type: r.identifier_type,
      identifier_value: r.identifier_value,
      account_id: account.id,
      organization_id: account.organizationId,
      key_thumbprint: account.keyThumbprint,
      attempts: r.attempts,
    },
  };
}

const START_CHALLENGE = statement(
  "sigil_acme_challenge_start",
  `update acme_challenges c set status = 'processing', processing_since = $1, attempts = c.attempts + 1, updated_at = $1
     from acme_authorizations a
    where c.id = $2 and a.id = c.authorization_id and a.account_id = $3 and c.status = 'pending'
      and a.status = 'pending' and a.expires > $1
      and not exists (select 1 from acme_challenges o where o.authorization_id = a.id and o.id <> c.id and o.status <> 'pending')
    returning c.id, c.authorization_id, c.type, c.token, c.status, c.validated, c.error, c.attempts, a.identifier_type, a.identifier_value`,
);

export interface ChallengeRow {
  id: string;
  authorization_id: string;
  type: AcmeChallengeType;
  token: string;
  status: AcmeChallengeStatus;
  validated: Date | string | null;
  error: Record<string, unknown> | null;
}

const CHALLENGE_COLUMNS = "c.id, c.authorization_id, c.type, c.token, c.status, c.validated, c.error";

export function challengeFromRow(r: ChallengeRow): ChallengeInfo {
  return { id: r.id, authorizationId: r.authorization_id, type: r.type, token: r.token, status: r.status, validated: toDate(r.validated), error: r.error };
}

const GET_CHALLENGE = statement(
  "sigil_acme_challenge_get",
  `select ${CHALLENGE_COLUMNS} from acme_challenges c join acme_authorizations a on a.id = c.authorization_id where c.id = $1 and a.account_id = $2`,
);

export async function getChallenge(ctx: RaContext, account: AccountInfo, challengeId: string): Promise<ChallengeInfo> {
  const rows = await sqlPool(ctx.orm).query<ChallengeRow>(GET_CHALLENGE, [challengeId, account.id]);
  if (!rows[0]) throw acmeErr.notFound();
  return challengeFromRow(rows[0]);
}

/**
 * RFC 8555 §7.4 finalize. The CSR is parsed and its key checked first
 * (badCSR / badPublicKey); then, under a row lock on the order, the order
 * must be ready (orderNotReady), the CSR must name exactly its identifiers,
 * and it moves ready -> processing -> valid with its certificate issued in
 * the same transaction: two concurrent finalizes give exactly one
 * certificate (the second waits for the lock and finds the order valid).
 */
export async function finalizeOrder(
  ctx: RaContext,
  dir: DirectoryInfo,
  account: AccountInfo,
  orderId: string,
  csrDer: Buffer,
  recent?: RecentCertificates,
): Promise<OrderInfo> {
  const csr = parseCsr(csrDer);
  checkLeafKeyPolicySpki(csr.publicKeySpki);
  // raw SQL, two round trips: BEGIN with the order locked and the CA row read;
  // one statement writing the certificate, the order and both audit entries, with COMMIT
  return inSqlTransaction(ctx, async (tx) => {
    const rows = await tx.query<FinalizeRow>(FINALIZE_LOCK, [orderId, account.id, dir.caId]);
    const order = rows[0];
    if (!order) throw acmeErr.notFound();
    const now = ctx.clock.now();
    const info = orderFromRow(order, now);
    if (info.status !== "ready") throw acmeErr.orderNotReady(info.status);
    // RFC 8555 §7.1.6: an order is ready only while all its authorizations are
    // valid; one deactivated (§7.5.2) or expired since then blocks issuance
    if (order.authz_not_valid > 0) {
      throw new AcmeError("failedPrecondition", "orderNotReady", "an authorization of this order is no longer valid", { status: 403 });
    }
    checkCsrAgainstOrder(csr, info.identifiers);
    if (!order.ca_id) throw new AcmeError("internal", "serverInternal", "the directory's CA does not exist");
    const maxNotAfter = new Date(now.getTime() + dir.maxValidityDays * DAY);
    const notAfter = info.notAfter && info.notAfter < maxNotAfter ? info.notAfter : maxNotAfter;
    const actor = accountActor(account);
    const cn = csr.commonName?.toLowerCase();
    const ca: IssuingCa = {
      id: order.ca_id,
      organizationId: order.ca_organization_id,
      status: order.ca_status,
      allowLeafCerts: order.ca_allow_leaf_certs,
      notAfter: toDate(order.ca_not_after),
      updatedAt: toDate(order.ca_updated_at),
      certificatePem: order.ca_certificate_pem,
      crlBaseUrl: order.ca_crl_base_url,
    };
    const { leaf, row } = await signLeafInSqlTx(
      ctx,
      tx,
      actor,
      ca,
      {
        publicKey: csr.publicKey,
        type: dir.certificateKind,
        commonName: cn,
        dnsNames: info.identifiers.filter((i) => i.type === "dns").map((i) => i.value),
        ipAddresses: info.identifiers.filter((i) => i.type === "ip").map((i) => i.value),
        emails: [],
        notBefore: info.notBefore ?? undefined,
        notAfter,
        source: "acme",
        acmeAccountId: account.id,
        acmeOrderId: info.id,
      },
    );
    tx.audit(actor, {
      action: "acme_order_finalize",
      organizationId: account.organizationId,
      resourceType: "acme_order",
      resourceId: info.id,
      detail: { certificateId: leaf.id, serial: leaf.serial },
    });
    // a serial collision ((issuer_id, serial) is unique) fails this statement and the transaction
    await tx.commitWith(FINALIZE_WRITE, [...certificateInsertParams(row), leaf.id, now, info.id, tx.takeAudit()]);
    tx.afterCommit(() => recent?.put(leaf.id, { accountId: account.id, issuerId: ca.id, pem: leaf.pem }));
    return { ...info, status: "valid", certificateId: leaf.id };
  });
}

interface FinalizeRow extends OrderRow {
  ca_id: string | null;
  ca_organization_id: string;
  ca_status: CertificateAuthority["status"];
  ca_allow_leaf_certs: boolean;
  ca_not_after: string;
  ca_updated_at: string;
  ca_certificate_pem: string;
  ca_crl_base_url: string | null;
  /** authorizations of the order that were deactivated or expired after it became ready */
  authz_not_valid: number;
}

/** the order, locked (two finalizes: the second waits, then finds it valid), with the directory's CA row */
const FINALIZE_LOCK = statement(
  "sigil_acme_finalize_lock",
  `select ${ORDER_COLUMNS.split(", ")
    .map((c) => `o.${c}`)
    .join(", ")}, ca.id ca_id, ca.organization_id ca_organization_id, ca.status ca_status, ca.allow_leaf_certs ca_allow_leaf_certs,
          ca.not_after ca_not_after, ca.updated_at ca_updated_at, ca.certificate_pem ca_certificate_pem, ca.crl_base_url ca_crl_base_url,
          (select count(*)::int from acme_authorizations a
            where a.id in (select jsonb_array_elements_text(o.authorization_ids)::uuid)
              and (a.status <> 'valid' or a.expires <= now())) authz_not_valid
     from acme_orders o left join certificate_authorities ca on ca.id = $3
    where o.id = $1 and o.account_id = $2
      for update of o`,
);

/** $1-$19 the certificate (signLeafInSqlTx), $20 its id, $21 now, $22 the order, $23 the audit rows */
const FINALIZE_WRITE = statement(
  "sigil_acme_finalize_write",
  `with cert as (${certificateInsertSql(1)}),
        o as (update acme_orders set status = 'valid', certificate_id = $20, updated_at = $21 where id = $22),
        au as (${auditInsertSql("$23")})
   select 1`,
);

/**
 * Certificates this process issued lately, put once their row committed. A
 * certificate never changes (revocation does not touch its PEM), so the
 * download that follows a finalize needs no query; a miss (issued by another
 * instance, or aged out) reads the row.
 */
export class RecentCertificates {
  private readonly map = new Map<string, { accountId: string; issuerId: string; pem: string }>();
  constructor(private readonly max = 1024) {}

  put(id: string, cert: { accountId: string; issuerId: string; pem: string }): void {
    this.map.set(id, cert);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }

  get(id: string): { accountId: string; issuerId: string; pem: string } | undefined {
    return this.map.get(id);
  }
}

/** the issuing CAs above a certificate, leaf-side first, the root excluded (§7.4.2) */
export class ChainCache {
  private readonly cache = new Map<string, { at: number; pems: string[] }>();
  constructor(private readonly ttlMs = 60_000) {}

  async get(ctx: RaContext, caId: string): Promise<string[]> {
    const hit = this.cache.get(caId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.pems;
    const rows = await ctx.orm.em.getConnection().execute<Array<{ id: string; parent_id: string | null; certificate_pem: string; depth: number }>>(
      `with recursive chain(id, parent_id, certificate_pem, depth) as (
         select id, parent_id, certificate_pem, 0 from certificate_authorities where id = ?
         union all
         select c.id, c.parent_id, c.certificate_pem, chain.depth + 1 from certificate_authorities c join chain on c.id = chain.parent_id where chain.depth < 10)
       select * from chain order by depth`,
      [caId],
    );
    const pems = rows.filter((r) => r.parent_id !== null).map((r) => r.certificate_pem);
    this.cache.set(caId, { at: Date.now(), pems });
    return pems;
  }
}

function normalizePem(pem: string): string {
  const s = pem.replace(/\r\n?/g, "\n").trim();
  return `${s}\n`;
}

const GET_CERTIFICATE = statement("sigil_acme_certificate_get", `select certificate_pem, issuer_id from certificates where id = $1 and acme_account_id = $2`);

/** RFC 8555 §7.4.2: the PEM chain (leaf, then intermediates) of a certificate this account ordered */
export async function certificateChain(
  ctx: RaContext,
  chains: ChainCache,
  account: AccountInfo,
  certId: string,
  recent?: RecentCertificates,
): Promise<string> {
  const hit = recent?.get(certId);
  const r =
    hit && hit.accountId === account.id
      ? { certificate_pem: hit.pem, issuer_id: hit.issuerId }
      : (await sqlPool(ctx.orm).query<{ certificate_pem: string; issuer_id: string }>(GET_CERTIFICATE, [certId, account.id]))[0];
  if (!r) throw acmeErr.notFound();
  const chain = await chains.get(ctx, r.issuer_id);
  return [r.certificate_pem, ...chain].map(normalizePem).join("");
}
