import { findPublishedCaCertificate } from "../db/store/certificate-authorities.js";
import type { RaContext } from "./context.js";
import { pemToDer } from "./issuers.js";

/** A CA certificate as relying parties fetch it (RFC 5280 §4.2.2.1 AIA caIssuers). */
export interface PublishedCaCertificate {
  der: Buffer;
  pem: string;
  /** when the CA row was created: Last-Modified */
  createdAt: Date;
}

/**
 * Read side for AIA: a CA's certificate by id. A CA id names one certificate
 * for ever (re-keying creates a new CA), so entries are cached without expiry.
 */
export class CaCertificates {
  private readonly cache = new Map<string, PublishedCaCertificate>();

  constructor(private readonly ctx: RaContext) {}

  /** undefined when there is no such CA */
  async get(caId: string): Promise<PublishedCaCertificate | undefined> {
    const hit = this.cache.get(caId);
    if (hit) return hit;
    const r = await findPublishedCaCertificate(this.ctx.store, caId);
    // a pending_activation CA has no certificate yet (not cached: it gets one at activation)
    if (!r || !r.certificatePem) return undefined;
    const pem = r.certificatePem.endsWith("\n") ? r.certificatePem : `${r.certificatePem}\n`;
    const out = { der: pemToDer(pem), pem, createdAt: r.createdAt };
    this.cache.set(caId, out);
    return out;
  }
}
