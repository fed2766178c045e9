/**
 * RFC 9773 §5 `replaces` in newOrder: the certID of the certificate the
 * new order replaces. The checks §5 asks for ("the identified certificate
 * and the newOrder request correspond to the same ACME account, ... share
 * at least one identifier, and ... the identified certificate has not
 * already been marked as replaced by a different order that is not
 * invalid"), with Boulder's problem types as the guide:
 *
 * - not a string, or not a certID (§4.1) -> 400 malformed;
 * - no such certificate among the directory's organization's live CAs -> 404 malformed
 *   (as an unknown renewalInfo certID, §4.1);
 * - another account's certificate -> 403 unauthorized;
 * - no identifier in common -> 400 malformed;
 * - already replaced by an order that is not invalid -> 409 alreadyReplaced (§7.4).
 *   A pending or ready replacing order that has expired is invalid (RFC 8555
 *   §7.1.6) and frees the certificate; so does one that failed. So does one
 *   left pending or ready for REPLACEMENT_ABANDONED_MS (the client gave up:
 *   with 30-day order lifetimes it would otherwise answer alreadyReplaced for
 *   a month) and one stuck processing for REPLACEMENT_STUCK_MS (a finalize
 *   that crashed): the next replacement stores it invalid (review 2 LOW).
 *
 * The replacement order is written in one transaction with its mark
 * (acme_orders.replaces_certificate_id): the partial unique index makes a
 * concurrent second replacement fail there, and it is answered
 * alreadyReplaced with nothing written. Finalize records the replaced
 * certificate as the new one's renewed_from.
 */
import type { Identifier } from "../../core/types.js";
import { isUniqueViolation } from "../../db/store/constraint-errors.js";
import { expireStaleReplacingOrders, findReplacedCertificate, hasEverBeenReplaced, hasReplacingOrder, markOrderReplaces } from "../../db/store/acme-replacements.js";
import type { Session } from "../../db/store/session.js";
import type { RaContext } from "../context.js";
import type { AccountInfo } from "./accounts.js";
import type { DirectoryInfo } from "./directories.js";
import { AcmeError, acmeErr } from "./errors.js";
import { CaKeyIdentifierCache, issuersByKeyIdentifier, parseCertId } from "./renewal-info.js";

/** Fixed user-facing messages of the `replaces` checks. */
export const REPLACES_MESSAGES = {
  notString: "replaces must be a certID string (RFC 9773 §5)",
  otherAccount: "the certificate named in replaces was not issued to this account",
  noSharedIdentifier: "the order shares no identifier with the certificate named in replaces",
  alreadyReplaced: "the certificate named in replaces already has a replacement order that is not invalid",
} as const;

/** RFC 9773 §7.4 alreadyReplaced, 409 */
export const alreadyReplaced = () => new AcmeError("alreadyExists", "alreadyReplaced", REPLACES_MESSAGES.alreadyReplaced, { status: 409 });

/** The certificate a newOrder replaces. */
export interface Replaced {
  /** the certID as the client sent it (the order reflects it, §5) */
  certId: string;
  certificateId: string;
}

/** a pending or ready replacing order older than this no longer holds its certificate (stored invalid by the next replacement) */
export const REPLACEMENT_ABANDONED_MS = 24 * 3_600_000;
/** a replacing order processing (finalize signing) untouched this long is stuck: it no longer holds its certificate */
export const REPLACEMENT_STUCK_MS = 3_600_000;

function staleBounds(now: Date) {
  return { now, pendingCreatedBefore: new Date(now.getTime() - REPLACEMENT_ABANDONED_MS), processingUpdatedBefore: new Date(now.getTime() - REPLACEMENT_STUCK_MS) };
}

/** certificate key identifiers for certIDs; a CA certificate never changes, so one cache serves every directory */
const defaultCache = new CaKeyIdentifierCache();

function sameIdentifier(ids: Identifier[], dnsNames: string[], ipAddresses: string[]): boolean {
  const dns = new Set(dnsNames.map((n) => n.toLowerCase()));
  const ips = new Set(ipAddresses.map((n) => n.toLowerCase()));
  return ids.some((i) => (i.type === "dns" ? dns.has(i.value.toLowerCase()) : i.type === "ip" ? ips.has(i.value.toLowerCase()) : false));
}

/**
 * Resolves and checks the newOrder's `replaces` (undefined / null: none).
 * Answers the certificate, or throws the problem §5 calls for.
 */
export async function resolveReplaces(
  ctx: RaContext,
  dir: DirectoryInfo,
  account: AccountInfo,
  identifiers: Identifier[],
  value: unknown,
  cache: CaKeyIdentifierCache = defaultCache,
): Promise<Replaced | null> {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || value.length > 255) throw acmeErr.malformed(REPLACES_MESSAGES.notString);
  const id = parseCertId(value);
  const issuers = await issuersByKeyIdentifier(ctx, cache, dir.organizationId, id.keyIdentifier);
  const cert = await findReplacedCertificate(
    ctx.store,
    issuers.map((ca) => ca.id),
    id.serialHex,
    dir.organizationId,
  );
  if (!cert) throw acmeErr.notFound();
  if (cert.acmeAccountId !== account.id) throw acmeErr.unauthorized(REPLACES_MESSAGES.otherAccount);
  if (!sameIdentifier(identifiers, cert.dnsNames, cert.ipAddresses)) throw acmeErr.malformed(REPLACES_MESSAGES.noSharedIdentifier);
  // an early answer for the common case; the unique index decides under concurrency
  if (await hasReplacingOrder(ctx.store, cert.id, staleBounds(ctx.clock.now()))) throw alreadyReplaced();
  return { certId: value, certificateId: cert.id };
}

/**
 * Whether a newOrder naming `value` in `replaces` is exempt from
 * new-orders-per-account (docs/rate-limits.md; review 2 M1): only the first
 * replacement order of a certificate is. A replacement whose order became
 * invalid (an authorization deactivated, a failed validation, expiry) frees
 * the certificate (RFC 9773 §5), and the retry pays a token like any order,
 * so "replace, deactivate, repeat" is no way around the limit. A `replaces`
 * that names no certificate of this account is not exempt (and fails the
 * order, which gives the token back).
 */
export async function isFreeReplacement(
  ctx: RaContext,
  dir: DirectoryInfo,
  account: AccountInfo,
  value: unknown,
  cache: CaKeyIdentifierCache = defaultCache,
): Promise<boolean> {
  if (typeof value !== "string" || value.length > 255) return false;
  let id: ReturnType<typeof parseCertId>;
  try {
    id = parseCertId(value);
  } catch {
    return false;
  }
  const issuers = await issuersByKeyIdentifier(ctx, cache, dir.organizationId, id.keyIdentifier);
  const cert = await findReplacedCertificate(
    ctx.store,
    issuers.map((ca) => ca.id),
    id.serialHex,
    dir.organizationId,
  );
  if (!cert || cert.acmeAccountId !== account.id) return false;
  return !(await hasEverBeenReplaced(ctx.store, cert.id));
}

/**
 * In the replacement order's transaction, after the order row is written:
 * frees the certificate from expired replacing orders, then marks this
 * order as its replacement (alreadyReplaced when another holds it).
 */
export async function recordReplacement(tx: Session, orderId: string, replaced: Replaced, now: Date): Promise<void> {
  await expireStaleReplacingOrders(tx, replaced.certificateId, staleBounds(now));
  try {
    await markOrderReplaces(tx, orderId, replaced.certId, replaced.certificateId);
  } catch (e) {
    if (isUniqueViolation(e)) throw alreadyReplaced();
    throw e;
  }
}
