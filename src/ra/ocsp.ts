/**
 * The OCSP responder (RFC 6960): answers good, revoked (time and reason) or
 * unknown for serials a CA issued, signed by a delegated responder
 * certificate that Sigil issues under that CA and renews itself (RFC 6960
 * §4.2.2.2, id-kp-OCSPSigning + id-pkix-ocsp-nocheck). Each one is recorded
 * as a certificates row of type "ocsp" in the transaction that issues it, so
 * its serial is unique among everything the CA signed (the admin plane does
 * not list them; see ra/certificates.ts).
 *
 * - Status source: the certificates table, the same rows the CRL is built
 *   from, so OCSP and CRL agree. "expired" is bookkeeping, not a revocation
 *   state: an expired, unrevoked certificate is answered good, and a revoked
 *   one stays revoked (RFC 6960 §2.2 is about revocation status).
 *   Serials the CA never issued are answered unknown (RFC 6960 §2.2).
 * - Cache: signed responses (requests without a nonce and with one CertID)
 *   and per-serial SingleResponses are kept in memory until the status can
 *   have changed: a local revocation event drops the CA's entries at once;
 *   revocations made by another instance are noticed through the CA's
 *   revocation generation, which a trigger bumps in the revoking transaction
 *   (so even when that instance dies before publishing a CRL), and its CRL
 *   number (`poll()`, every pollMs). A response is re-signed once half its
 *   validity has passed.
 *   "unknown" answers are never cached (the certificate may be issued next).
 * - Nonce (RFC 6960 §4.4.1, RFC 8954): echoed verbatim; such responses are
 *   signed per request from the cached SingleResponses.
 * - A CertID whose issuer hashes are not this CA's gets `unauthorized`
 *   (RFC 6960 §2.3: the responder is not authoritative for it); a request
 *   that does not parse gets `malformedRequest`.
 * - A revoked CA's responder keeps answering (its certificates' status is
 *   still meaningful); an expired CA's responder keeps its last signer and,
 *   when that has run out, signs with the CA key (RFC 6960 §4.2.2.2 case 1).
 */
import {
  certIdMatches,
  encodeSingleResponse,
  issueOcspResponderCertificate,
  issuerHashes,
  MalformedOcspRequest,
  ocspErrorResponse,
  ocspSigningKey,
  parseOcspRequest,
  signOcspResponse,
  type CertId,
  type CertStatus,
  type IssuerHashes,
  type OcspResponseStatus,
  type OcspSigningKey,
} from "../ca/ocsp.js";
import { newSerial, serialToHex } from "../ca/serial.js";
import type { Issuer } from "../ca/signer.js";
import { uuidv7 } from "../core/ids.js";
import { isRevocationReason } from "../core/types.js";
import type { CertificateAuthority, OcspSigner } from "../db/entities/index.js";
import { findCa, lockCa } from "../db/store/certificate-authorities.js";
import { findRevocationState } from "../db/store/certificates.js";
import { revocationGeneration, revocationStates } from "../db/store/crls.js";
import { createOcspSigner, newestOcspSigner } from "../db/store/ocsp-signers.js";
import type { Logger } from "../logger.js";
import { systemActor } from "./actor.js";
import { inTransaction, type RaContext, type Tx } from "./context.js";
import { pemToDer } from "./issuers.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface OcspResponderOptions {
  /** nextUpdate - thisUpdate of responses; default 24 h */
  responseLifetimeMs?: number;
  /** lifetime of a delegated signing certificate; default 30 days (short: it cannot be revoked, RFC 6960 §4.2.2.2.1) */
  signerLifetimeMs?: number;
  /** issue a new signing certificate when the current one has less than this left; default 10 days */
  signerRenewBeforeMs?: number;
  /** cached responses kept at most (oldest dropped first); default 100 000 */
  maxCachedResponses?: number;
  logger?: Logger;
}

/** What the transport renders: an OCSPResponse DER and, for cacheable successes, its validity. */
export interface OcspAnswer {
  status: OcspResponseStatus;
  der: Buffer;
  /** set for successful responses without a nonce (HTTP caching, RFC 5019 §6.2) */
  thisUpdate?: Date;
  nextUpdate?: Date;
  /** true when the whole response came from the responder's cache (no signing, no database read) */
  cached?: boolean;
}

/** AAD binding a stored responder key to its ocsp_signers row. */
export function ocspSignerKeyAad(id: string): string {
  return `ocsp-signer:${id}`;
}

interface CachedSingle {
  single: Buffer;
  thisUpdate: Date;
  nextUpdate: Date;
  refreshAt: number;
}

interface CaState {
  caId: string;
  organizationId: string;
  hashes: IssuerHashes;
  signer: OcspSigningKey;
  /** when the signer should be replaced (ms) */
  signerRenewAt: number;
  /** the CA's crl_number when this state was built (see poll()) */
  crlNumber: bigint;
  /** the CA's revocation_generations.generation, read before any status this state caches (see poll()) */
  revocationGeneration: bigint;
}

export class OcspResponder {
  private readonly responseLifetimeMs: number;
  private readonly signerLifetimeMs: number;
  private readonly signerRenewBeforeMs: number;
  private readonly maxCached: number;
  private readonly states = new Map<string, Promise<CaState>>();
  /** key: caId + CertID hex (+ "|full" for whole responses) */
  private readonly singles = new Map<string, CachedSingle>();
  private readonly fulls = new Map<string, { answer: OcspAnswer; refreshAt: number }>();
  /**
   * key: caId + the request DER (latin1): the `fulls` key it was answered under. The same
   * bytes always parse to the same single CertID without a nonce, so a repeated request
   * finds its cached response without parsing (`cachedAnswer`, the HTTP GET fast path).
   */
  private readonly requests = new Map<string, string>();
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly ctx: RaContext,
    private readonly opts: OcspResponderOptions = {},
  ) {
    this.responseLifetimeMs = opts.responseLifetimeMs ?? DAY_MS;
    this.signerLifetimeMs = opts.signerLifetimeMs ?? 30 * DAY_MS;
    this.signerRenewBeforeMs = opts.signerRenewBeforeMs ?? 10 * DAY_MS;
    this.maxCached = opts.maxCachedResponses ?? 100_000;
  }

  /**
   * Answers an OCSPRequest for CA `caId`; undefined when Sigil has no such CA
   * (the transport answers 404). Never throws for bad input.
   */
  async respond(caId: string, requestDer: Buffer): Promise<OcspAnswer | undefined> {
    const hit = this.cachedAnswer(caId, requestDer);
    if (hit) return hit;
    let state: CaState | undefined;
    try {
      state = await this.state(caId);
    } catch (e) {
      this.opts.logger?.error({ err: e, caId }, "OCSP responder could not load the CA");
      return { status: "internalError", der: ocspErrorResponse("internalError") };
    }
    if (!state) return undefined;

    let certIds: CertId[];
    let nonce: Buffer | undefined;
    try {
      ({ certIds, nonce } = parseOcspRequest(requestDer));
    } catch (e) {
      if (e instanceof MalformedOcspRequest) return { status: "malformedRequest", der: ocspErrorResponse("malformedRequest") };
      throw e;
    }
    // RFC 6960 §2.3: not authoritative for a certificate of another issuer
    const hashes = state.hashes;
    if (!certIds.every((id) => certIdMatches(id, hashes))) {
      return { status: "unauthorized", der: ocspErrorResponse("unauthorized") };
    }

    const now = this.ctx.clock.now().getTime();
    const fullKey = certIds.length === 1 && !nonce ? `${caId}|${certIds[0]!.der.toString("hex")}` : undefined;
    if (fullKey) {
      const hit = this.fulls.get(fullKey);
      if (hit && hit.refreshAt > now) {
        this.rememberRequest(caId, requestDer, fullKey);
        return hit.answer;
      }
    }
    try {
      const generation = this.generations.get(caId) ?? 0;
      if (state.signerRenewAt <= now) state = await this.renewSigner(state);
      const singles: CachedSingle[] = [];
      let cacheable = true;
      for (const id of certIds) {
        const s = await this.single(state, id, now, generation);
        if (!s.cached) cacheable = false;
        singles.push(s.entry);
      }
      const producedAt = new Date(Math.floor(now / 1000) * 1000);
      const der = signOcspResponse({ signer: state.signer, producedAt, responses: singles.map((s) => s.single), ...(nonce ? { nonce } : {}) });
      if (nonce) return { status: "successful", der };
      const first = singles[0]!;
      if (fullKey && cacheable && (this.generations.get(caId) ?? 0) === generation) {
        const answer: OcspAnswer = { status: "successful", der, thisUpdate: first.thisUpdate, nextUpdate: first.nextUpdate, cached: true };
        this.put(this.fulls, fullKey, { answer, refreshAt: first.refreshAt });
        this.rememberRequest(caId, requestDer, fullKey);
      }
      return { status: "successful", der, thisUpdate: first.thisUpdate, nextUpdate: first.nextUpdate };
    } catch (e) {
      this.opts.logger?.error({ err: e, caId }, "OCSP response failed");
      return { status: "internalError", der: ocspErrorResponse("internalError") };
    }
  }

  /**
   * Remembers the request bytes of an answer just cached (this CA is authoritative
   * for its one CertID, checked by the caller), when they are in the plain shape
   * clients send. A request may also carry a requestorName, a signature and
   * extensions that parseOcspRequest ignores, so one certificate has any number
   * of distinct encodings: bounding each remembered request's size bounds the map
   * by its count (review F1: 8 KB variants of one request filled ~0.9 GB).
   */
  private rememberRequest(caId: string, requestDer: Buffer, fullKey: string): void {
    if (requestDer.length <= MAX_REMEMBERED_REQUEST_BYTES) this.put(this.requests, requestKey(caId, requestDer), fullKey);
  }

  /**
   * The cached whole response to exactly these request bytes (one CertID, no
   * nonce, asked before), synchronously and without parsing; undefined when
   * `respond` has to build or re-sign it. The returned answer is shared: read only.
   */
  cachedAnswer(caId: string, requestDer: Buffer): OcspAnswer | undefined {
    const fullKey = this.requests.get(requestKey(caId, requestDer));
    if (fullKey === undefined) return undefined;
    const hit = this.fulls.get(fullKey);
    return hit && hit.refreshAt > this.ctx.clock.now().getTime() ? hit.answer : undefined;
  }

  /** the SingleResponse for one CertID, from cache or the database */
  private async single(state: CaState, id: CertId, now: number, generation: number): Promise<{ entry: CachedSingle; cached: boolean }> {
    const key = `${state.caId}|${id.der.toString("hex")}`;
    const hit = this.singles.get(key);
    if (hit && hit.refreshAt > now) return { entry: hit, cached: true };
    const row = await findRevocationState(this.ctx.store, state.caId, serialToHex(id.serial));
    let st: CertStatus;
    if (!row) st = { status: "unknown" };
    else if (row.status === "revoked" && row.revokedAt) {
      const reason = row.revocationReason;
      st = { status: "revoked", revokedAt: row.revokedAt, reason: reason !== null && isRevocationReason(reason) ? reason : null };
    } else st = { status: "good" };
    const thisUpdate = new Date(Math.floor(now / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.responseLifetimeMs);
    const entry: CachedSingle = {
      single: encodeSingleResponse(id.der, st, thisUpdate, nextUpdate),
      thisUpdate,
      nextUpdate,
      refreshAt: thisUpdate.getTime() + this.responseLifetimeMs / 2,
    };
    const cacheable = st.status !== "unknown" && (this.generations.get(state.caId) ?? 0) === generation;
    if (cacheable) this.put(this.singles, key, entry);
    return { entry, cached: cacheable };
  }

  private put<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > this.maxCached) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
  }

  /** Drops everything cached for the CA (a certificate it issued changed status). */
  invalidate(caId: string): void {
    this.generations.set(caId, (this.generations.get(caId) ?? 0) + 1);
    const prefix = `${caId}|`;
    for (const k of this.singles.keys()) if (k.startsWith(prefix)) this.singles.delete(k);
    for (const k of this.fulls.keys()) if (k.startsWith(prefix)) this.fulls.delete(k);
    for (const k of this.requests.keys()) if (k.startsWith(prefix)) this.requests.delete(k);
    this.states.delete(caId);
  }

  /**
   * Notices revocations committed by other instances: each bumps the CA's
   * revocation generation in its own transaction (a trigger), and its CRL
   * number shortly after. Cheap: one row per loaded CA.
   */
  async poll(): Promise<void> {
    if (this.states.size === 0) return;
    const rows = await revocationStates(this.ctx.store, [...this.states.keys()]);
    for (const r of rows) {
      const p = this.states.get(r.caId);
      if (!p) continue;
      const st = await p.catch(() => undefined);
      if (st && (st.revocationGeneration !== r.generation || st.crlNumber !== r.crlNumber)) this.invalidate(r.caId);
    }
  }

  /** Renews delegated signers that are due, for every CA loaded in this process (periodic job). */
  async renewDueSigners(): Promise<void> {
    const now = this.ctx.clock.now().getTime();
    for (const [caId, p] of this.states) {
      const st = await p.catch(() => undefined);
      if (st && st.signerRenewAt <= now) {
        try {
          await this.renewSigner(st);
        } catch (e) {
          this.opts.logger?.error({ err: e, caId }, "OCSP signer renewal failed");
        }
      }
    }
  }

  private state(caId: string): Promise<CaState | undefined> {
    let p = this.states.get(caId);
    if (!p) {
      const loading = this.loadState(caId);
      p = loading.then((s) => {
        if (!s) throw new NoSuchCa();
        return s;
      });
      this.states.set(caId, p);
      p.catch(() => {
        if (this.states.get(caId) === p) this.states.delete(caId);
      });
    }
    return p.catch((e: unknown) => {
      if (e instanceof NoSuchCa) return undefined;
      throw e;
    });
  }

  private async loadState(caId: string): Promise<CaState | undefined> {
    // before the CA row and any certificate status: a revocation committed after this read is noticed by poll()
    const generation = await revocationGeneration(this.ctx.store, caId);
    const ca = await findCa(this.ctx.store, caId, { includeDeleted: true });
    // RFC 6960 §2.3 unauthorized: an offline root's key is not here to sign with, a pending CA has no certificate
    if (!ca || ca.offlineKey || ca.status === "pending_activation") return undefined;
    const issuer = await this.ctx.issuers.get(this.ctx.store, ca);
    const { signer, renewAt } = await this.ensureSigner(ca, issuer);
    return {
      caId,
      organizationId: ca.organization.id,
      hashes: issuerHashes(issuer),
      signer,
      signerRenewAt: renewAt,
      crlNumber: BigInt(ca.crlNumber),
      revocationGeneration: generation,
    };
  }

  private async renewSigner(state: CaState): Promise<CaState> {
    const ca = await findCa(this.ctx.store, state.caId, { includeDeleted: true });
    if (!ca) throw new NoSuchCa();
    const issuer = await this.ctx.issuers.get(this.ctx.store, ca);
    const { signer, renewAt } = await this.ensureSigner(ca, issuer);
    const next = { ...state, signer, signerRenewAt: renewAt };
    this.states.set(state.caId, Promise.resolve(next));
    return next;
  }

  /**
   * The newest stored signer that is not due for renewal, else a new one
   * issued under a CA row lock (so two instances do not both issue). When
   * the CA can no longer issue one (expired), the newest signer still valid,
   * else the CA key itself (RFC 6960 §4.2.2.2: the CA may sign).
   */
  private async ensureSigner(ca: CertificateAuthority, issuer: Issuer): Promise<{ signer: OcspSigningKey; renewAt: number }> {
    const now = this.ctx.clock.now();
    const renewBy = new Date(now.getTime() + this.signerRenewBeforeMs);
    const usable = (s: OcspSigner | null | undefined) => s && s.notAfter > renewBy && s.notBefore <= now;
    // a revoked CA issues nothing more (its responder then signs with the CA key); neither does one about to expire
    const caCanIssue = ca.status === "active" && ca.notAfter.getTime() - now.getTime() > this.signerRenewBeforeMs;

    let row = await newestOcspSigner(this.ctx.store, ca.id);
    if (!usable(row) && caCanIssue) {
      row = await inTransaction(this.ctx, async (tx) => {
        // two instances do not both issue: the second waits here, then finds the first one's signer
        await lockCa(tx, ca.id);
        const again = await newestOcspSigner(tx, ca.id);
        if (usable(again)) return again;
        return this.issueSigner(tx, ca, issuer, now);
      });
    }
    if (row && row.notAfter > now) {
      const pkcs8 = await this.ctx.secrets.open(this.ctx.store, row.encryptedPrivateKey, ocspSignerKeyAad(row.id));
      const signer = ocspSigningKey(this.ctx.issuers.keyStores.database.open({ storage: "database", pkcs8 }), pemToDer(row.certificatePem));
      const renewAt = caCanIssue ? row.notAfter.getTime() - this.signerRenewBeforeMs : row.notAfter.getTime();
      return { signer, renewAt };
    }
    // the CA signs its own responses until it expires (no delegated signer can be issued)
    return { signer: ocspSigningKey(issuer.signingKey), renewAt: now.getTime() + HOUR_MS };
  }

  private async issueSigner(
    tx: Tx,
    ca: CertificateAuthority,
    issuer: Issuer,
    now: Date,
  ): Promise<OcspSigner> {
    // EC CAs get a P-256 responder key, RSA CAs an RSA 2048 one (what their relying parties already verify)
    // the responder's key is a database key (sealed in its ocsp_signers row) whatever holds the CA's; the CA key signs its certificate
    const key = await this.ctx.issuers.keyStores.database.generate(ca.keyAlgorithm.startsWith("rsa") ? "rsa2048" : "p256");
    const serial = newSerial(this.ctx.random);
    const notBefore = new Date(now.getTime() - 60_000);
    const notAfter = new Date(Math.min(now.getTime() + this.signerLifetimeMs, ca.notAfter.getTime()));
    const cert = issueOcspResponderCertificate(issuer, {
      publicKey: key.signingKey.publicKey,
      serial,
      notBefore,
      notAfter,
      commonName: `OCSP ${ca.id}`,
    });
    const id = uuidv7();
    // recorded with everything else the CA signed, in this transaction: the (issuer, serial) unique key
    // refuses a serial a leaf already has (the transaction then rolls back and the certificate is never used)
    const row = await createOcspSigner(tx, {
      id,
      caId: ca.id,
      organizationId: ca.organization.id,
      serial: serialToHex(serial),
      commonName: `OCSP ${ca.id}`,
      certificatePem: cert.pem,
      encryptedPrivateKey: await this.ctx.secrets.seal(tx, ca.organization.id, key.pkcs8!, ocspSignerKeyAad(id)),
      notBefore,
      notAfter,
      createdAt: now,
    });
    tx.audit(systemActor("ocsp-responder"), {
      action: "cert_create",
      organizationId: ca.organization.id,
      resourceType: "certificate",
      resourceId: id,
      detail: { serial: row.serial, issuerId: ca.id, purpose: "ocsp_signing", notAfter: notAfter.toISOString() },
    });
    this.opts.logger?.info({ caId: ca.id, serial: row.serial, notAfter }, "OCSP signing certificate issued");
    return row;
  }
}

class NoSuchCa extends Error {}

/**
 * The largest request `cachedAnswer` remembers: one CertID with a SHA-512 hash
 * pair and a 20-octet serial (RFC 5280 §4.1.2.2) and no optional fields is about
 * 190 bytes; larger requests are answered from the per-CertID cache after a parse.
 */
const MAX_REMEMBERED_REQUEST_BYTES = 256;

/** `requests` key: latin1 maps each byte to one character, the cheapest string form of the DER */
function requestKey(caId: string, requestDer: Buffer): string {
  return `${caId}|${requestDer.toString("latin1")}`;
}
