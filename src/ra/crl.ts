/**
 * The CRL publisher (RFC 5280 §5): builds, numbers, signs and stores each
 * CA's CRL, and hands relying parties the stored bytes.
 *
 * - Numbering (RFC 5280 §5.2.3): `certificate_authorities.crl_number` is
 *   incremented with `UPDATE ... RETURNING` (which takes the row lock) in the
 *   same transaction that reads the revoked certificates and stores the new
 *   CRL. A second instance generating concurrently waits on that lock, then
 *   gets the next number and a newer snapshot: numbers strictly increase and a
 *   higher number never lists less than a lower one.
 * - Regeneration: debounced (default 1 s) after `events.certificateRevoked`,
 *   and by the periodic job (`refreshDue`) before nextUpdate, at least every
 *   24 hours (reissueAfterMs), and whenever a revocation committed that the
 *   stored CRL does not list. That last case covers an instance that revoked
 *   and died before its debounced rebuild (the event only reaches the
 *   instance that revoked): a trigger bumps `revocation_generations` in every
 *   revoking transaction, each CRL stores the generation it covers (read
 *   before its revoked rows), and the job, cheap enough to run every few
 *   seconds (a join of the CA, CRL and generation rows, one per CA), rebuilds
 *   any CRL behind. Under the CA row lock it looks again, so several
 *   instances noticing the same CA publish one CRL, not one each.
 * - Serving: `current()` reads the stored CRL (a one-row metadata query per
 *   request, the DER only when the number changed), never re-signs per GET.
 *
 * Policy on expired certificates (RFC 5280 §3.3 allows removing an entry once
 * the certificate has expired): an entry is dropped once it has appeared on
 * one CRL issued after the certificate's notAfter. Concretely an entry is
 * listed when notAfter >= the previous CRL's thisUpdate, or when it was
 * revoked after that CRL (less a grace period, so a revocation committed
 * while the previous CRL was being built is always listed at least once).
 * This keeps CRLs from growing without bound while every revocation is
 * published at least once after expiry (relying parties validating at a past
 * time still see it on that CRL).
 *
 * A revoked intermediate is listed on its parent's CRL: it is a Certificate
 * row of type "ca" issued by the parent. A revoked (or expired) CA's own CRL is
 * still served; an expired CA's CRL is no longer reissued (all its
 * certificates have expired with it, RFC 5280 §6.1.3).
 */
import { hash } from "node:crypto";
import { SigilError, isSigilError } from "../core/errors.js";
import { isRevocationReason } from "../core/types.js";
import { RevokedCertificatesWriter, signCrl } from "../ca/signer.js";
import { caExists, findCa, lockCa } from "../db/store/certificate-authorities.js";
import {
  dueCrlCaIds,
  findCrlDer,
  findCrlMeta,
  isCrlDue,
  nextCrlNumber,
  revocationGeneration,
  saveCrl,
  storedCrlState,
  streamRevokedEntries,
  type DueWindow,
} from "../db/store/crls.js";
import type { OrmTx } from "../db/store/session.js";
import type { Logger } from "../logger.js";
import { inTransaction, type RaContext } from "./context.js";

const HOUR_MS = 3_600_000;

export interface CrlPublisherOptions {
  /** nextUpdate - thisUpdate in hours (SIGIL_CRL_LIFETIME_HOURS, default 168) */
  lifetimeHours: number;
  /** delay between a revocation and the regenerated CRL; further revocations in the window join it. Default 1000 ms */
  debounceMs?: number;
  /** reissue when the stored CRL is older than this; default 24 h (the issue asks for at least daily) */
  reissueAfterMs?: number;
  /** see the expiry policy above; default 1 h */
  expiredEntryGraceMs?: number;
  logger?: Logger;
}

/** A CRL as stored and served. */
export interface PublishedCrl {
  caId: string;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  /** CertificateList DER */
  der: Buffer;
  /** strong ETag, quoted */
  etag: string;
  entryCount: number;
}

export class CrlPublisher {
  private readonly lifetimeMs: number;
  private readonly debounceMs: number;
  private readonly reissueAfterMs: number;
  private readonly graceMs: number;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** in-process serialization of generations per CA (the DB lock serializes across instances) */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** the last DER read from storage, per CA, so a GET costs one metadata query */
  private readonly cache = new Map<string, PublishedCrl>();
  private closed = false;

  constructor(
    private readonly ctx: RaContext,
    private readonly opts: CrlPublisherOptions,
  ) {
    this.lifetimeMs = opts.lifetimeHours * HOUR_MS;
    this.debounceMs = opts.debounceMs ?? 1000;
    this.reissueAfterMs = Math.min(opts.reissueAfterMs ?? 24 * HOUR_MS, this.lifetimeMs / 2);
    this.graceMs = opts.expiredEntryGraceMs ?? HOUR_MS;
  }

  /** Regenerates the CA's CRL `debounceMs` from now (revocations in between join the same CRL). */
  schedule(caId: string, delayMs = this.debounceMs): void {
    if (this.closed || this.timers.has(caId)) return;
    const t = setTimeout(() => {
      this.timers.delete(caId);
      this.generate(caId).catch((e: unknown) => {
        if (isSigilError(e, "notFound")) return;
        this.opts.logger?.error({ err: e, caId }, "CRL generation failed; retrying in 10 s");
        this.schedule(caId, 10_000);
      });
    }, delayMs);
    t.unref();
    this.timers.set(caId, t);
  }

  /** Builds, numbers, signs and stores a new CRL for the CA (serialized per CA in this process). */
  generate(caId: string): Promise<PublishedCrl> {
    return this.chain(caId, () => this.generateNow(caId, false) as Promise<PublishedCrl>);
  }

  /**
   * Like generate(), but only when the CA's CRL is still due once its row is
   * locked (DUE in src/db/store/crls.ts); undefined when another instance (or generation) got
   * there first. What the periodic job calls.
   */
  generateIfDue(caId: string): Promise<PublishedCrl | undefined> {
    return this.chain(caId, () => this.generateNow(caId, true));
  }

  private chain<T>(caId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(caId) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    this.chains.set(caId, run);
    void run.finally(() => {
      if (this.chains.get(caId) === run) this.chains.delete(caId);
    }).catch(() => undefined);
    return run;
  }

  /** the due rule of the store (src/db/store/crls.ts): none yet, old or near nextUpdate, or behind a revocation */
  private dueWindow(): DueWindow {
    return { now: this.ctx.clock.now(), reissueAfterMs: this.reissueAfterMs };
  }

  private async generateNow(caId: string, onlyIfDue: boolean): Promise<PublishedCrl | undefined> {
    // the signing key is loaded (and cached) before the transaction, so the transaction holds its
    // CA row lock only while it numbers, reads and stores
    const ca = await findCa(this.ctx.store, caId, { includeDeleted: true });
    if (!ca) throw SigilError.notFound("certificate authority not found");
    // an offline root's CRL is signed offline and imported (src/ra/certificate-authorities/external-parent.ts);
    // a pending intermediate has no certificate to sign one under
    if (ca.offlineKey || ca.status === "pending_activation") throw SigilError.notFound("this CA has no CRL signed by Sigil");
    const issuer = await this.ctx.issuers.get(this.ctx.store, ca);
    const published = await inTransaction(this.ctx, async (tx): Promise<PublishedCrl | undefined> => {
      if (onlyIfDue) {
        // lock first, then look (a new statement sees what the previous lock holder committed)
        await lockCa(tx, caId);
        if (!(await isCrlDue(tx, caId, this.dueWindow()))) return undefined;
      }
      // RFC 5280 §5.2.3: the increment takes the CA row lock until commit
      const crlNumber = await nextCrlNumber(tx, caId);
      if (crlNumber === undefined) throw SigilError.notFound("certificate authority not found");
      // the clock is read after the lock, so a higher number never has an earlier thisUpdate
      const thisUpdate = floorToSecond(this.ctx.clock.now());
      const nextUpdate = new Date(thisUpdate.getTime() + this.lifetimeMs);
      const previous = await storedCrlState(tx, caId);
      // read before the revoked rows: a revocation this count includes is visible to the next statement
      // (READ COMMITTED); one committed later bumps the generation past what is stored (DUE in src/db/store/crls.ts)
      const generation = await revocationGeneration(tx, caId);
      const entries = await this.revokedEntries(tx, caId, previous?.thisUpdate, previous?.entryCount ?? 0);
      const der = signCrl(issuer, { crlNumber, thisUpdate, nextUpdate, entries });
      const etag = `"${crlNumber.toString(16)}-${hash("sha256", der, "hex").slice(0, 32)}"`;
      await saveCrl(tx, {
        caId,
        crlNumber,
        thisUpdate,
        nextUpdate,
        der,
        etag,
        entryCount: entries.count,
        revocationGeneration: generation,
        createdAt: this.ctx.clock.now(),
      });
      return { caId, crlNumber, thisUpdate, nextUpdate, der, etag, entryCount: entries.count };
    });
    if (!published) return undefined;
    const cached = this.cache.get(caId);
    if (!cached || cached.crlNumber < published.crlNumber) this.cache.set(caId, published);
    this.opts.logger?.info({ caId, crlNumber: published.crlNumber.toString(), entries: published.entryCount }, "CRL published");
    return published;
  }

  /**
   * RFC 5280 §5.1.2.6 entries under the expiry policy in this file's header, encoded as
   * PostgreSQL streams them (reading and encoding overlap; a million rows never sit in memory
   * as rows or columns).
   */
  private async revokedEntries(tx: OrmTx, caId: string, previousThisUpdate: Date | undefined, previousCount: number): Promise<RevokedCertificatesWriter> {
    // sized for the previous CRL's entries: lists change little between two CRLs
    const writer = new RevokedCertificatesWriter(previousCount);
    await streamRevokedEntries(
      tx,
      caId,
      previousThisUpdate && { notAfterFrom: previousThisUpdate, revokedAfter: new Date(previousThisUpdate.getTime() - this.graceMs) },
      // RFC 5280 §5.3.1: a stored value that is no CRLReason is listed without a reasonCode
      (hex, from, to, seconds, reason) => writer.addHex(hex, from, to, seconds * 1000, isRevocationReason(reason) ? reason : 0),
    );
    return writer;
  }

  /**
   * The CA's current CRL from storage; undefined when there is no such CA.
   * Generates one when none is stored yet, or when the stored one is past
   * its nextUpdate and the CA has not expired (the periodic job normally
   * prevents that).
   */
  async current(caId: string): Promise<PublishedCrl | undefined> {
    const m = await findCrlMeta(this.ctx.store, caId);
    if (!m) {
      if (!(await caExists(this.ctx.store, caId))) return undefined;
      // concurrent first GETs share one generation instead of each numbering its own CRL
      // (the periodic job's generateIfDue in flight may resolve to undefined: then generate)
      const inFlight = this.chains.get(caId) as Promise<PublishedCrl | undefined> | undefined;
      const generated = inFlight ? inFlight.catch(() => undefined).then((r) => r ?? this.generate(caId)) : this.generate(caId);
      // none imported yet for an offline-key CA, or a pending CA: nothing to serve (404)
      return generated.catch((e: unknown) => (isSigilError(e, "notFound") ? undefined : Promise.reject(e)));
    }
    const now = this.ctx.clock.now();
    // an imported CRL past its nextUpdate is still the newest there is: served as it is
    if (m.nextUpdate <= now && m.caNotAfter > now && !m.caOfflineKey) return this.generate(caId);
    const hit = this.cache.get(caId);
    if (hit && hit.crlNumber === m.crlNumber) return hit;
    const stored = await findCrlDer(this.ctx.store, caId);
    if (!stored) return undefined;
    const published: PublishedCrl = {
      caId,
      crlNumber: stored.crlNumber,
      thisUpdate: m.thisUpdate,
      nextUpdate: m.nextUpdate,
      der: stored.der,
      etag: m.etag,
      entryCount: m.entryCount,
    };
    // a concurrent writer may have replaced the row between the two reads: re-read the metadata next time
    if (published.crlNumber === m.crlNumber) this.cache.set(caId, published);
    return published;
  }

  /**
   * The periodic job: regenerates every CA's CRL that is missing, older than
   * reissueAfterMs, within reissueAfterMs of its nextUpdate (RFC 5280
   * §5.1.2.5: a new CRL is issued before nextUpdate), or missing a committed
   * revocation (DUE in src/db/store/crls.ts). Expired CAs are skipped once they have a CRL, unless
   * one of their certificates was revoked since. Returns the number regenerated.
   */
  async refreshDue(): Promise<number> {
    const due = await dueCrlCaIds(this.ctx.store, this.dueWindow());
    let n = 0;
    for (const id of due) {
      if (this.closed) break;
      try {
        if (await this.generateIfDue(id)) n++;
      } catch (e) {
        this.opts.logger?.error({ err: e, caId: id }, "periodic CRL generation failed");
      }
    }
    return n;
  }

  /** Stops scheduling and waits for generations in flight. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.chains.values()]);
  }
}

/** DER times carry whole seconds (RFC 5280 §5.1.2.4); keep Last-Modified equal to thisUpdate */
function floorToSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}
