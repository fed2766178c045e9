/**
 * RFC 9773 ACME Renewal Information (ARI), GET only: the suggested renewal
 * window of a certificate named by its certID (§4.1). The window rule is the
 * pure `suggestedWindow`; `renewalInfo` finds the certificate (issuer by key
 * identifier among the CAs of the directory's organization, then the serial)
 * and applies it.
 */
import { X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { normalizeSerial, serialToHex } from "../../ca/serial.js";
import { keyIdentifierOf } from "../../ca/signer.js";
import { findCertificateCampaignWindow } from "../../db/store/renewal-campaigns.js";
import { findCertificateByIssuerSerial, findOrganizationCas, type RenewalInfoCaRow } from "../../db/store/renewal-info.js";
import type { RaContext } from "../context.js";
import { pemToDer } from "../issuers.js";
import type { DirectoryInfo } from "./directories.js";
import { acmeErr } from "./errors.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** RFC 9773 §4.3: how long a client should wait before asking again (6 h), before jitter; SIGIL_ARI_RETRY_AFTER_SECONDS */
export const RENEWAL_INFO_RETRY_AFTER_SECONDS = 21_600;

/** what the window rule needs of a certificate and its issuer */
export interface RenewalSubject {
  notBefore: Date;
  notAfter: Date;
  /** the certificate is revoked */
  revoked: boolean;
  /** the certificate has expired (optional: derived from notAfter and now when absent) */
  expired?: boolean;
  /** the issuing CA is revoked */
  issuerRevoked: boolean;
  issuerNotAfter: Date;
}

/** RFC 9773 §4.2 suggestedWindow */
export interface SuggestedWindow {
  start: Date;
  end: Date;
}

/**
 * The suggested renewal window (RFC 9773 §4.2). A certificate that should be
 * replaced now (revoked, expired, or its issuer revoked or expiring before it) gets a
 * window in the past, which §4.2 tells clients to treat as "renew
 * immediately": end one minute ago, start an hour before that. Otherwise the
 * window is centred at 2/3 of the validity period (1/2 for certificates
 * valid less than 10 days) and extends ±1% of the validity, at least one
 * minute either side.
 */
export function suggestedWindow(s: RenewalSubject, now: Date): SuggestedWindow {
  const expired = s.expired ?? s.notAfter.getTime() <= now.getTime();
  if (s.revoked || expired || s.issuerRevoked || s.issuerNotAfter.getTime() < s.notAfter.getTime()) {
    const end = now.getTime() - MINUTE;
    return { start: new Date(end - HOUR), end: new Date(end) };
  }
  const from = s.notBefore.getTime();
  const validity = Math.max(0, s.notAfter.getTime() - from);
  const centre = from + (validity < 10 * DAY ? validity / 2 : (validity * 2) / 3);
  const half = Math.max(validity / 100, MINUTE);
  return { start: new Date(Math.floor(centre - half)), end: new Date(Math.ceil(centre + half)) };
}

/** RFC 9773 §4.3 Retry-After: `base` seconds (default 6 h) with ±10% jitter, so clients do not poll in step; at least 1 */
export function renewalRetryAfterSeconds(random: () => number = Math.random, base: number = RENEWAL_INFO_RETRY_AFTER_SECONDS): number {
  return Math.max(1, Math.round(base * (0.9 + 0.2 * random())));
}

/**
 * RFC 9773 §4.2 with an operator's campaign (review 2 M2): a campaign never
 * delays a renewal. When the certificate's own window already says "renew
 * now" (its end is not after `now`: revoked, expired, issuer revoked or
 * expiring first) that window is answered as is. Otherwise the window is
 * min(starts) .. min(ends), the end capped at the certificate's notAfter
 * (renewing after expiry is no renewal): each bound is the earlier of the
 * two, so neither the start nor the end moves later. `fromCampaign` when
 * the campaign changed the answer (its explanationURL is then given).
 */
export function withCampaign(
  own: SuggestedWindow,
  campaign: SuggestedWindow | null,
  at: { now?: Date; notAfter?: Date } = {},
): { window: SuggestedWindow; fromCampaign: boolean } {
  if (!campaign) return { window: own, fromCampaign: false };
  if (at.now && own.end.getTime() <= at.now.getTime()) return { window: own, fromCampaign: false };
  const start = Math.min(own.start.getTime(), campaign.start.getTime());
  let end = Math.min(own.end.getTime(), campaign.end.getTime());
  if (at.notAfter) end = Math.min(end, at.notAfter.getTime());
  // both bounds are at most their own counterparts; an end at or before the start (notAfter cap) keeps a one-minute window
  if (end <= start) end = start + MINUTE;
  if (start === own.start.getTime() && end === own.end.getTime()) return { window: own, fromCampaign: false };
  return { window: { start: new Date(start), end: new Date(end) }, fromCampaign: true };
}

/**
 * RFC 9773 §4.3 / RFC 9111 §5.2.2.1: how long caches may keep a renewalInfo
 * answer. Retry-After tells the client when to ask again (6 h); a cache
 * kept that long would hide a revocation or a new campaign from a client
 * that asks sooner (after an incident notice, a restart): at most 5 minutes.
 */
export const RENEWAL_INFO_CACHE_MAX_AGE_SECONDS = 300;

/** the Cache-Control max-age of an answer whose Retry-After is `retryAfterSeconds` */
export function renewalInfoMaxAge(retryAfterSeconds: number): number {
  return Math.max(0, Math.min(retryAfterSeconds, RENEWAL_INFO_CACHE_MAX_AGE_SECONDS));
}

/** RFC 9773 §4.1 certID, decoded: the AKI keyIdentifier and the serial in its stored hex form */
export interface CertId {
  keyIdentifier: Buffer;
  serialHex: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

/**
 * RFC 9773 §4.1: certID = base64url(AKI keyIdentifier) "." base64url(serial),
 * the serial being the content octets of the DER INTEGER (with the leading
 * 0x00 when the high bit is set). Anything else is malformed (400).
 */
export function parseCertId(certId: string): CertId {
  const parts = certId.split(".");
  if (parts.length !== 2 || !parts.every((p) => p.length > 0 && B64URL.test(p))) {
    throw acmeErr.malformed("certID must be two base64url parts separated by a dot (RFC 9773 §4.1)");
  }
  const keyIdentifier = Buffer.from(parts[0]!, "base64url");
  const serial = Buffer.from(parts[1]!, "base64url");
  if (!keyIdentifier.length || !serial.length) throw acmeErr.malformed("certID has an empty part (RFC 9773 §4.1)");
  // a positive INTEGER in minimal DER form (X.690 §8.3.2): no sign bit, no redundant leading zero
  if ((serial[0]! & 0x80) !== 0) throw acmeErr.malformed("certID serial is not a positive DER integer");
  if (serial.length > 1 && serial[0] === 0 && (serial[1]! & 0x80) === 0) throw acmeErr.malformed("certID serial is not a minimal DER integer");
  let magnitude: Buffer;
  try {
    magnitude = normalizeSerial(serial);
  } catch {
    throw acmeErr.malformed("certID serial is not a positive serial number of at most 20 octets");
  }
  return { keyIdentifier, serialHex: serialToHex(magnitude) };
}

/** the SubjectKeyIdentifier of a CA certificate (or RFC 5280 §4.2.1.2 method 1 when it has none) */
export function subjectKeyIdentifierOf(certificatePem: string): Buffer {
  const der = pemToDer(certificatePem);
  const cert = pkijs.Certificate.fromBER(der);
  const ext = cert.extensions?.find((x) => x.extnID === "2.5.29.14");
  if (ext?.parsedValue instanceof asn1js.OctetString) return Buffer.from(ext.parsedValue.valueBlock.valueHexView);
  return keyIdentifierOf(new X509Certificate(der).publicKey.export({ type: "spki", format: "der" }));
}

/** SubjectKeyIdentifiers by CA id: a CA's certificate never changes, so an entry never goes stale */
export class CaKeyIdentifierCache {
  private readonly map = new Map<string, Buffer>();
  constructor(private readonly max = 4096) {}

  of(ca: Pick<RenewalInfoCaRow, "id" | "certificatePem">): Buffer {
    let ski = this.map.get(ca.id);
    if (!ski) {
      ski = subjectKeyIdentifierOf(ca.certificatePem);
      this.map.set(ca.id, ski);
      if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
    }
    return ski;
  }
}

/** what a renewalInfo GET answers */
export interface RenewalInfo {
  suggestedWindow: SuggestedWindow;
  /** RFC 9773 §4.2 explanationURL: the renewal campaign's, when its window is answered */
  explanationUrl?: string;
  retryAfterSeconds: number;
}

/** How renewalInfo answers: SIGIL_ARI_RETRY_AFTER_SECONDS, and the jitter's randomness (tests). */
export interface RenewalInfoOptions {
  retryAfterSeconds?: number;
  random?: () => number;
}

/** The live CAs of the organization whose SubjectKeyIdentifier is `keyIdentifier` (RFC 9773 §4.1 certID AKI). */
export async function issuersByKeyIdentifier(
  ctx: RaContext,
  cache: CaKeyIdentifierCache,
  organizationId: string,
  keyIdentifier: Buffer,
): Promise<RenewalInfoCaRow[]> {
  return (await findOrganizationCas(ctx.store, organizationId)).filter((ca) => {
    try {
      return cache.of(ca).equals(keyIdentifier);
    } catch {
      return false;
    }
  });
}

/**
 * RFC 9773 §4.2: the renewal information of the certificate `certId` names,
 * among the certificates of the directory's organization's live CAs; a
 * certificate we do not know (or another organization's, or of a deleted
 * CA) is 404 (§4.1). A member of an operator's renewal campaign
 * (src/ra/renewal-campaigns.ts) answers the campaign's window and
 * explanationURL when that makes the window earlier (withCampaign: min of
 * the starts .. min of the ends, capped at notAfter; "renew now" kept).
 */
export async function renewalInfo(
  ctx: RaContext,
  cache: CaKeyIdentifierCache,
  dir: DirectoryInfo,
  certId: string,
  opts: RenewalInfoOptions = {},
): Promise<RenewalInfo> {
  const id = parseCertId(certId);
  for (const ca of await issuersByKeyIdentifier(ctx, cache, dir.organizationId, id.keyIdentifier)) {
    const cert = await findCertificateByIssuerSerial(ctx.store, ca.id, id.serialHex, dir.organizationId);
    if (!cert) continue;
    const own = suggestedWindow(
      { notBefore: cert.notBefore, notAfter: cert.notAfter, revoked: cert.status === "revoked", issuerRevoked: ca.status === "revoked", issuerNotAfter: ca.notAfter },
      ctx.clock.now(),
    );
    const campaign = await findCertificateCampaignWindow(ctx.store, cert.id);
    const { window, fromCampaign } = withCampaign(own, campaign, { now: ctx.clock.now(), notAfter: cert.notAfter });
    const retryAfterSeconds = renewalRetryAfterSeconds(opts.random, opts.retryAfterSeconds);
    return fromCampaign && campaign?.explanationUrl
      ? { suggestedWindow: window, explanationUrl: campaign.explanationUrl, retryAfterSeconds }
      : { suggestedWindow: window, retryAfterSeconds };
  }
  throw acmeErr.notFound();
}
