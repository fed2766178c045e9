/**
 * acme_orders and acme_order_authorizations (RFC 8555 §7.1.3, §7.4): the
 * statement that creates an order with its new authorizations, challenges,
 * order-authorization rows and audit entry (one round trip, one snapshot),
 * reads scoped to the owning account, the orders list, and finalize's lock
 * and write (pipelined: BEGIN with the lock, COMMIT with the write). What
 * an authorization's outcome does to its orders is in acme-authorizations.ts.
 *
 * "The orders using authorization X" and "the authorizations of order Y"
 * are lookups in acme_order_authorizations by key, never a scan of the
 * account's orders: the hot path does not slow down as orders accumulate
 * (test/integration/acme/hot-path-explain.test.ts).
 */
import type { AcmeChallengeType, AcmeOrderStatus, Identifier, IdentifierType } from "../../core/types.js";
import { AcmeOrder, type CertificateAuthority } from "../entities/index.js";
import { statement } from "../sql.js";
import { auditInsertSql, auditRowsParam, type AuditRow } from "./audit-sql.js";
import { certificateInsertParams, certificateInsertSql, type NewCertificateRow } from "./certificates.js";
import { emOf, pipelineOf, sqlOf, takeQueuedAudit, type Session, type SqlTx } from "./session.js";
import { toDate } from "./acme-authorizations.js";
import { filterOnly } from "./filter-only.js";

/** An order as stored. */
export interface AcmeOrderRow {
  id: string;
  accountId: string;
  /** as stored: expiry is not applied (ra/acme/transitions.ts effectiveOrderStatus) */
  status: AcmeOrderStatus;
  identifiers: Identifier[];
  /** in the order of the identifiers (the wire order) */
  authorizationIds: string[];
  notBefore: Date | null;
  notAfter: Date | null;
  expires: Date;
  error: Record<string, unknown> | null;
  certificateId: string | null;
  /** draft-ietf-acme-profiles-00 §4: the profile the order was placed under (null: before profiles, or a directory without any) */
  profile?: string | null;
  /** RFC 9773 §5: the certID the newOrder named in `replaces` (null when none) */
  replaces?: string | null;
  /** the certificate that certID resolved to */
  replacesCertificateId?: string | null;
}

interface OrderSqlRow {
  id: string;
  account_id: string;
  status: AcmeOrderStatus;
  identifiers: Identifier[];
  authorization_ids: string[];
  not_before: Date | string | null;
  not_after: Date | string | null;
  expires: Date | string;
  error: Record<string, unknown> | null;
  certificate_id: string | null;
  replaces: string | null;
  replaces_certificate_id: string | null;
  profile: string | null;
}

/** the columns an order read selects (table acme_orders) */
export const ORDER_COLUMNS = ["id", "account_id", "status", "identifiers", "authorization_ids", "not_before", "not_after", "expires", "error", "certificate_id", "replaces", "replaces_certificate_id", "profile"] as const;

function orderFromSql(r: OrderSqlRow): AcmeOrderRow {
  return {
    id: r.id,
    accountId: r.account_id,
    status: r.status,
    identifiers: r.identifiers,
    authorizationIds: r.authorization_ids,
    notBefore: toDate(r.not_before),
    notAfter: toDate(r.not_after),
    expires: toDate(r.expires),
    error: r.error,
    certificateId: r.certificate_id,
    replaces: r.replaces,
    replacesCertificateId: r.replaces_certificate_id,
    profile: r.profile,
  };
}

/**
 * An order read carried in another statement (the nonce + account round trip
 * of a kid request, src/db/store/nonces.ts): ORDER_COLUMNS of `alias`, each
 * named `o_<column>` so they do not collide with the statement's own columns.
 */
export function prefixedOrderSelectList(alias: string): string {
  return ORDER_COLUMNS.map((c) => `${alias}.${c} as o_${c}`).join(", ");
}

/** the order of a row selected with prefixedOrderSelectList (null when its o_id is null: no such order of the account) */
export function orderFromPrefixedRow(r: Record<string, unknown>): AcmeOrderRow | null {
  if (r.o_id === null || r.o_id === undefined) return null;
  const row: Record<string, unknown> = {};
  for (const c of ORDER_COLUMNS) row[c] = r[`o_${c}`];
  return orderFromSql(row as unknown as OrderSqlRow);
}

// ---- creating an order -------------------------------------------------------------------

/** A new authorization of a new order (pending, with the order's pending expiry). */
export interface NewAuthorizationRow {
  id: string;
  identifierType: IdentifierType;
  /** without the "*." of a wildcard identifier */
  identifierValue: string;
  wildcard: boolean;
}

/** A new challenge of a new authorization (pending, no attempts). */
export interface NewChallengeRow {
  id: string;
  authorizationId: string;
  type: AcmeChallengeType;
  /** RFC 8555 §8.1: at least 128 bits of entropy, base64url */
  token: string;
}

/** Everything a new order writes. */
export interface NewOrderRows {
  id: string;
  accountId: string;
  directoryId: string;
  status: AcmeOrderStatus;
  identifiers: Identifier[];
  /** reused and new ones, in the order of the identifiers */
  authorizationIds: string[];
  notBefore: Date | null;
  notAfter: Date | null;
  expires: Date;
  /** draft-ietf-acme-profiles-00 §4: the order's profile (null: the directory has none) */
  profile?: string | null;
  newAuthorizations: NewAuthorizationRow[];
  /** `expires` of the new (pending) authorizations */
  newAuthorizationsExpire: Date;
  newChallenges: NewChallengeRow[];
  /** created_at / updated_at of every row */
  now: Date;
  audit: AuditRow;
}

/** Which valid authorizations of the account could be reused by a new order. */
export interface ReuseQuery {
  accountId: string;
  identifierTypes: IdentifierType[];
  identifierValues: string[];
  /** only authorizations still valid after this time */
  validAfter: Date;
}

/**
 * The CTEs that write an order ($1-$15), each guarded by `guard` (empty, or
 * a where clause): the new authorizations, their challenges, the order, its
 * rows in acme_order_authorizations (reused and new), its audit entry. The
 * foreign keys are checked at the end of the statement, so rows may refer
 * to rows its sibling CTEs insert.
 */
function orderWriteCtes(guard: string): string {
  const where = guard ? ` where ${guard}` : "";
  return `az as (insert into acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires, created_at, updated_at)
                select id, $1, identifier_type, identifier_value, wildcard, 'pending', $2, $3, $3
                  from jsonb_to_recordset($4::jsonb) as r(id uuid, identifier_type varchar, identifier_value varchar, wildcard boolean)${where}),
        ch as (insert into acme_challenges (id, authorization_id, type, token, status, attempts, created_at, updated_at)
                select id, authorization_id, type, token, 'pending', 0, $3, $3
                  from jsonb_to_recordset($5::jsonb) as r(id uuid, authorization_id uuid, type varchar, token varchar)${where}),
        o as (insert into acme_orders (id, account_id, directory_id, status, identifiers, authorization_ids, not_before, not_after, expires, profile, created_at, updated_at)
                select $6, $1, $7, $8, $9::jsonb, $10::jsonb, $11, $12, $13, $15::varchar, $3, $3${where}),
        oa as (insert into acme_order_authorizations (order_id, authorization_id)
                select distinct $6::uuid, x.id::uuid from jsonb_array_elements_text($10::jsonb) x(id)${where}),
        au as (${auditInsertSql("$14")}${where})`;
}

function orderWriteParams(o: NewOrderRows): unknown[] {
  return [
    o.accountId,
    o.newAuthorizationsExpire,
    o.now,
    JSON.stringify(
      o.newAuthorizations.map((a) => ({ id: a.id, identifier_type: a.identifierType, identifier_value: a.identifierValue, wildcard: a.wildcard })),
    ),
    JSON.stringify(o.newChallenges.map((c) => ({ id: c.id, authorization_id: c.authorizationId, type: c.type, token: c.token }))),
    o.id,
    o.directoryId,
    o.status,
    JSON.stringify(o.identifiers),
    JSON.stringify(o.authorizationIds),
    o.notBefore,
    o.notAfter,
    o.expires,
    auditRowsParam([o.audit]),
    o.profile ?? null,
  ];
}

/** how many parameters orderWriteParams gives ($1-$N); reuseParams follow it */
const ORDER_WRITE_PARAM_COUNT = 15;
const reuseParam = (i: number): string => `$${ORDER_WRITE_PARAM_COUNT + i}`;

/**
 * the account's valid authorizations for these identifiers, on all three columns of the (account_id, identifier_type, identifier_value) index;
 * status and expiry as filters only (filter-only.ts: the generic plan read every live authorization through the expiry index)
 */
const REUSABLE_WHERE = `account_id = $1 and identifier_type = any(${reuseParam(1)}::varchar[]) and identifier_value = any(${reuseParam(2)}::varchar[])
      and ${filterOnly("status = 'valid'")} and ${filterOnly(`expires > ${reuseParam(3)}`)}`;

const CREATE_ORDER = statement("sigil_acme_orders_create", `with ${orderWriteCtes("")} select 1`);

/**
 * CREATE_ORDER unless the account has a valid authorization that might be
 * reused (reuseParams after the write parameters; wildcard not compared): all CTEs read one snapshot, so
 * either every row is written or none.
 */
const CREATE_ORDER_UNLESS_REUSABLE = statement(
  "sigil_acme_orders_create_fresh",
  `with reuse as (select 1 from acme_authorizations where ${REUSABLE_WHERE} limit 1),
        ${orderWriteCtes("not exists (select 1 from reuse)")}
   select not exists (select 1 from reuse) as created`,
);

function reuseParams(q: ReuseQuery): unknown[] {
  return [q.identifierTypes, q.identifierValues, q.validAfter];
}

/**
 * Writes the order with everything new, in one statement, unless some
 * authorization might be reused (then nothing is written): whether it was.
 * `order.accountId` must be `reuse.accountId`.
 */
export async function createOrderUnlessReusable(s: Session, order: NewOrderRows, reuse: ReuseQuery): Promise<boolean> {
  if (order.accountId !== reuse.accountId) throw new Error("store: the reuse query is for another account");
  const [r] = await sqlOf(s).query<{ created: boolean }>(CREATE_ORDER_UNLESS_REUSABLE, [...orderWriteParams(order), ...reuseParams(reuse)]);
  return r?.created === true;
}

/** Writes the order, its new authorizations and challenges and its audit entry in one statement. */
export async function createOrder(s: Session, order: NewOrderRows): Promise<void> {
  await sqlOf(s).query(CREATE_ORDER, orderWriteParams(order));
}

// ---- reading -----------------------------------------------------------------------------

const GET_ORDER = statement("sigil_acme_orders_get", `select ${ORDER_COLUMNS.join(", ")} from acme_orders where id = $1 and account_id = $2`);

/** An order of this account (undefined for another account's, like an unknown one). */
export async function findOrder(s: Session, id: string, accountId: string): Promise<AcmeOrderRow | undefined> {
  const [r] = await sqlOf(s).query<OrderSqlRow>(GET_ORDER, [id, accountId]);
  return r && orderFromSql(r);
}

const LIST_FIRST = statement("sigil_acme_orders_list_first", `select id from acme_orders where account_id = $1 order by created_at desc, id desc limit $2`);
const LIST_AFTER = statement(
  "sigil_acme_orders_list_after",
  `select id from acme_orders where account_id = $1 and (created_at, id) < (select created_at, id from acme_orders where id = $3 and account_id = $1)
    order by created_at desc, id desc limit $2`,
);

/**
 * Up to `limit` order ids of the account, newest first, after the order
 * `cursor` (keyset on (created_at, id), which the (account_id, created_at)
 * index serves).
 */
export async function listOrderIds(s: Session, accountId: string, cursor: string | undefined, limit: number): Promise<string[]> {
  const rows = cursor
    ? await sqlOf(s).query<{ id: string }>(LIST_AFTER, [accountId, limit, cursor])
    : await sqlOf(s).query<{ id: string }>(LIST_FIRST, [accountId, limit]);
  return rows.map((r) => r.id);
}

// ---- finalize ----------------------------------------------------------------------------

/** What issuing needs of the directory's CA row, read (and share-locked) with the order. */
export interface FinalizeCaRow {
  id: string;
  organizationId: string;
  status: CertificateAuthority["status"];
  allowLeafCerts: boolean;
  notAfter: Date;
  updatedAt: Date;
  certificatePem: string;
  crlBaseUrl: string | null;
}

/** The order locked for finalize, with its CA and the state of its authorizations. */
export interface FinalizeLock {
  order: AcmeOrderRow;
  ca: FinalizeCaRow;
  /** authorizations of the order not valid at `now` (deactivated, or expired after the order became ready) */
  authzNotValid: number;
}

/**
 * The order FOR UPDATE (two finalizes: the second waits, then finds it
 * valid) and the directory's CA FOR SHARE, as admin issuance locks it: a
 * revocation or deletion of the CA (which updates its row) waits until the
 * certificate is written, or, if it committed first, this statement sees
 * the CA revoked. (The certificate's foreign key alone takes only FOR KEY
 * SHARE, which an update of the status does not wait for.)
 *
 * The authorizations not valid are counted over the order's rows in
 * acme_order_authorizations, each authorization read by primary key in a
 * per-row subquery: as a join, the generic plan hashed a sequential scan of
 * every authorization (the estimate of "authorizations of one order" is a
 * guess before the table is analyzed) to count the one or two of this order.
 */
export const FINALIZE_LOCK = statement(
  "sigil_acme_orders_finalize_lock",
  `select ${ORDER_COLUMNS.map((c) => `o.${c}`).join(", ")},
          ca.id ca_id, ca.organization_id ca_organization_id, ca.status ca_status, ca.allow_leaf_certs ca_allow_leaf_certs,
          ca.not_after ca_not_after, ca.updated_at ca_updated_at, ca.certificate_pem ca_certificate_pem, ca.crl_base_url ca_crl_base_url,
          (select (count(*) filter (where (select a.status <> 'valid' or a.expires <= $4 from acme_authorizations a where a.id = oa.authorization_id)))::int
             from acme_order_authorizations oa where oa.order_id = o.id) authz_not_valid
     from acme_orders o join certificate_authorities ca on ca.id = $3
    where o.id = $1 and o.account_id = $2
      for update of o for share of ca`,
);

interface FinalizeSqlRow extends OrderSqlRow {
  ca_id: string;
  ca_organization_id: string;
  ca_status: CertificateAuthority["status"];
  ca_allow_leaf_certs: boolean;
  ca_not_after: Date | string;
  ca_updated_at: Date | string;
  ca_certificate_pem: string;
  ca_crl_base_url: string | null;
  authz_not_valid: number;
}

/**
 * Opens finalize's transaction (BEGIN travels with this statement): the
 * order of this account locked, with the CA share-locked; undefined when
 * the account has no such order (or the CA does not exist).
 */
export async function lockOrderForFinalize(tx: SqlTx, q: { orderId: string; accountId: string; caId: string; now: Date }): Promise<FinalizeLock | undefined> {
  const [r] = await pipelineOf(tx).query<FinalizeSqlRow>(FINALIZE_LOCK, [q.orderId, q.accountId, q.caId, q.now]);
  if (!r) return undefined;
  return {
    order: orderFromSql(r),
    ca: {
      id: r.ca_id,
      organizationId: r.ca_organization_id,
      status: r.ca_status,
      allowLeafCerts: r.ca_allow_leaf_certs,
      notAfter: toDate(r.ca_not_after),
      updatedAt: toDate(r.ca_updated_at),
      certificatePem: r.ca_certificate_pem,
      crlBaseUrl: r.ca_crl_base_url,
    },
    authzNotValid: r.authz_not_valid,
  };
}

/** $1-$19 the certificate, $20 its id, $21 now, $22 the order, $23 the audit rows */
export const FINALIZE_WRITE = statement(
  "sigil_acme_orders_finalize_write",
  `with cert as (${certificateInsertSql(1)}),
        o as (update acme_orders set status = 'valid', certificate_id = $20, updated_at = $21 where id = $22),
        au as (${auditInsertSql("$23")})
   select 1`,
);

/**
 * The certificate row, the order valid with it and the transaction's
 * queued audit entries, in one statement sent with COMMIT; resolves once
 * committed. A serial collision ((issuer_id, serial) is unique) fails it
 * and the transaction.
 */
export async function commitFinalizedOrder(tx: SqlTx, q: { certificate: NewCertificateRow; orderId: string; now: Date }): Promise<void> {
  await pipelineOf(tx).commitWith(FINALIZE_WRITE, [...certificateInsertParams(q.certificate), q.certificate.id, q.now, q.orderId, takeQueuedAudit(tx)]);
}

/** every statement of this module, for tests that check their plans (test/integration/acme/hot-path-explain.test.ts) */
export const ACME_ORDER_STATEMENTS = {
  create: CREATE_ORDER,
  createUnlessReusable: CREATE_ORDER_UNLESS_REUSABLE,
  get: GET_ORDER,
  listFirst: LIST_FIRST,
  listAfter: LIST_AFTER,
  finalizeLock: FINALIZE_LOCK,
  finalizeWrite: FINALIZE_WRITE,
} as const;

/** the parameters of ACME_ORDER_STATEMENTS.create ($1-$15; createUnlessReusable adds reuseParams as $16-$18) */
export { orderWriteParams, reuseParams };

export interface OrderListFilter {
  directoryId?: string;
  accountId?: string;
  /** orders of the organization's directories */
  organizationId?: string;
  status?: AcmeOrderStatus;
}

/**
 * A page of the orders of accounts (entities, oldest first): the admin
 * plane's read-only view of an account's or directory's orders.
 */
export async function listOrderEntities(s: Session, f: OrderListFilter, page: { limit: number; offset: number }): Promise<{ items: AcmeOrder[]; total: number }> {
  const where: { directory?: string | { organization: string }; account?: string; status?: AcmeOrderStatus } = {};
  if (f.directoryId) where.directory = f.directoryId;
  else if (f.organizationId) where.directory = { organization: f.organizationId };
  if (f.accountId) where.account = f.accountId;
  if (f.status) where.status = f.status;
  const [items, total] = await emOf(s).findAndCount(AcmeOrder, where, { orderBy: { createdAt: "asc", id: "asc" }, limit: page.limit, offset: page.offset });
  return { items, total };
}
