/**
 * RFC 8555 §7.4.2 certificate download: the PEM chain of a certificate the
 * account ordered, served from memory right after finalize when possible.
 */
import { caChainPems } from "../../db/store/certificate-authorities.js";
import { findAccountCertificate } from "../../db/store/certificates.js";
import type { RaContext } from "../context.js";
import type { AccountInfo } from "./accounts.js";
import { acmeErr } from "./errors.js";
import { InFlight } from "./in-flight.js";

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
  /** one read per CA at a time (issue 11: a miss under load was one read per download in flight) */
  private readonly loads = new InFlight<string, string[]>();
  constructor(private readonly ttlMs = 60_000) {}

  async get(ctx: RaContext, caId: string): Promise<string[]> {
    const hit = this.cache.get(caId);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.pems;
    return this.loads.run(caId, async () => {
      // the CA, then its issuers up to the root (the last one), which clients already hold
      const pems = (await caChainPems(ctx.store, caId)).slice(0, -1);
      this.cache.set(caId, { at: Date.now(), pems });
      return pems;
    });
  }
}

function normalizePem(pem: string): string {
  const s = pem.replace(/\r\n?/g, "\n").trim();
  return `${s}\n`;
}

/** RFC 8555 §7.4.2: the PEM chain (leaf, then intermediates) of a certificate this account ordered */
export async function certificateChain(
  ctx: RaContext,
  chains: ChainCache,
  account: AccountInfo,
  certId: string,
  recent?: RecentCertificates,
): Promise<string> {
  const hit = recent?.get(certId);
  const r = hit && hit.accountId === account.id ? { certificatePem: hit.pem, issuerId: hit.issuerId } : await findAccountCertificate(ctx.store, certId, account.id);
  if (!r) throw acmeErr.notFound();
  const chain = await chains.get(ctx, r.issuerId);
  return [r.certificatePem, ...chain].map(normalizePem).join("");
}
