/**
 * Wiring of the relying-party side: the CRL publisher, the OCSP responder,
 * the AIA reader, their periodic jobs (CRL refresh, which also catches
 * revocations another instance committed but never published; expiry
 * marking; OCSP cache poll and signer renewal) and the router. `startSigil` calls
 * `createRelyingParty`, mounts `router` and closes it on shutdown.
 */
import type Router from "@koa/router";
import type { Logger } from "../logger.js";
import { CaCertificates } from "../ra/ca-certificates.js";
import type { RaContext } from "../ra/context.js";
import { CrlPublisher } from "../ra/crl.js";
import { markExpired } from "../ra/expiry.js";
import { OcspResponder, type OcspResponderOptions } from "../ra/ocsp.js";
import { buildPublicRouter } from "./router.js";

export { buildPublicRouter } from "./router.js";

export interface RelyingPartyOptions {
  /** SIGIL_CRL_LIFETIME_HOURS */
  crlLifetimeHours: number;
  /** SIGIL_CRL_DEBOUNCE_MS: debounce between a revocation and the new CRL (default 1000 ms) */
  crlDebounceMs?: number;
  /** how often the expiry job runs (default 60 s) */
  jobIntervalMs?: number;
  /** SIGIL_CRL_CHECK_MS: how often the CRL refresh job looks for CRLs that are due or miss a revocation (default 5 s; one cheap query) */
  crlCheckMs?: number;
  /** SIGIL_OCSP_POLL_MS: how often the OCSP cache looks for revocations made by other instances (default 2 s) */
  ocspPollMs?: number;
  /** response and signer lifetimes (SIGIL_OCSP_RESPONSE_HOURS, SIGIL_OCSP_SIGNER_DAYS, SIGIL_OCSP_SIGNER_RENEW_DAYS); defaults in OcspResponderOptions */
  ocsp?: Omit<OcspResponderOptions, "logger">;
  logger?: Logger;
}

export interface RelyingParty {
  router: Router;
  crls: CrlPublisher;
  ocsp: OcspResponder;
  caCertificates: CaCertificates;
  /** runs the periodic jobs once now, then on their intervals */
  start(): void;
  close(): Promise<void>;
}

export function createRelyingParty(ra: RaContext, opts: RelyingPartyOptions): RelyingParty {
  const logger = opts.logger;
  const crls = new CrlPublisher(ra, { lifetimeHours: opts.crlLifetimeHours, debounceMs: opts.crlDebounceMs, logger });
  const ocsp = new OcspResponder(ra, { ...opts.ocsp, logger });
  const caCertificates = new CaCertificates(ra);
  ra.events.certificateRevoked.push((caId) => {
    ocsp.invalidate(caId);
    crls.schedule(caId);
  });
  const router = buildPublicRouter({ crls, ocsp, caCertificates, clock: ra.clock, logger });

  const timers: NodeJS.Timeout[] = [];
  const running = new Set<Promise<unknown>>();
  let closed = false;
  /** runs `fn` now and every `ms`, never two at once, and not after close() */
  const every = (name: string, ms: number, fn: () => Promise<unknown>): void => {
    let busy = false;
    const tick = (): void => {
      if (busy || closed) return;
      busy = true;
      const p = fn()
        .catch((e: unknown) => logger?.error({ err: e, job: name }, "periodic job failed"))
        .finally(() => {
          busy = false;
          running.delete(p);
        });
      running.add(p);
    };
    tick();
    const t = setInterval(tick, ms);
    t.unref();
    timers.push(t);
  };

  return {
    router,
    crls,
    ocsp,
    caCertificates,
    start() {
      const interval = opts.jobIntervalMs ?? 60_000;
      every("expiry", interval, async () => {
        const r = await markExpired(ra);
        if (r.certificates || r.cas) logger?.info(r, "marked expired");
      });
      every("crl-refresh", opts.crlCheckMs ?? 5_000, () => crls.refreshDue());
      every("ocsp-poll", opts.ocspPollMs ?? 2_000, () => ocsp.poll());
      every("ocsp-signer-renewal", 3_600_000, () => ocsp.renewDueSigners());
    },
    async close() {
      closed = true;
      for (const t of timers) clearInterval(t);
      await Promise.allSettled([...running]);
      await crls.close();
    },
  };
}
