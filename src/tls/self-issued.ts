/**
 * The listener certificate Sigil issues for itself when SIGIL_HTTPS_CERT is
 * unset (as step-ca does for its own listener): a short-lived server leaf
 * from the `default` intermediate for the host name of SIGIL_PUBLIC_URL,
 * renewed in-process when a third of its lifetime is left.
 *
 * It is an ordinary certificate: issued through ra/'s issueLeafInTx with a
 * system actor (source "system"), so its row and its cert_create audit entry
 * commit together, its serial is unique under the CA, it is listed by the
 * admin API and can be revoked. Its key is generated here and stored
 * encrypted under the master key, bound to the certificate id, like every
 * server-generated key; on start the newest valid one for the same names is
 * found again (src/db/store/listener-certificates.ts) and its key decrypted,
 * so a restart does not issue a new certificate every time. Several
 * instances on one database each find the same one, and a renewal first
 * looks for one another instance already issued.
 */
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { ipFromText, ipToText } from "../ca/ip.js";
import { exportPrivateKeyPkcs8, generateKeyPair, importPrivateKeyPkcs8, privateKeyToPem } from "../ca/keys.js";
import { SigilError } from "../core/errors.js";
import { caChainPems } from "../db/store/certificate-authorities.js";
import { readCertificateEncryptedKey } from "../db/store/certificates.js";
import { findListenerCertificates, type ListenerCertificateRow } from "../db/store/listener-certificates.js";
import type { Logger } from "../logger.js";
import { systemActor } from "../ra/actor.js";
import { loadCa } from "../ra/certificate-authorities/common.js";
import { inTransaction, type RaContext } from "../ra/context.js";
import { certKeyAad, issueLeafInTx } from "../ra/issuance.js";
import { checkTlsMaterial, type ListenerCertificateSource, type TlsMaterial, type TlsMaterialInfo } from "./material.js";

const DAY_MS = 86_400_000;
/** Lifetime of a self-issued listener certificate: short, like the OCSP signers, since renewal is automatic. */
export const LISTENER_VALIDITY_DAYS = 30;
/** Renewed when less than this fraction of its lifetime is left. */
export const RENEW_WHEN_LEFT = 1 / 3;
/** A failed renewal is tried again after this long (doubling, up to RETRY_MAX_MS). */
const RETRY_MIN_MS = 60_000;
const RETRY_MAX_MS = 3_600_000;
/** setTimeout's largest delay (2^31 - 1 ms, about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;
/** The audit name of the issuing actor. */
export const LISTENER_ACTOR = "https-listener";

export interface ListenerNames {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
}

/**
 * The names the listener certificate carries: the host of SIGIL_PUBLIC_URL
 * (a DNS name or an IP address, RFC 5280 §4.2.1.6), plus localhost,
 * 127.0.0.1 and ::1 when that host is a loopback one, so local clients can
 * reach it under any of those.
 */
export function listenerNames(publicUrl: string): ListenerNames {
  const host = new URL(publicUrl).hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  const loopback = host === "localhost" || host === "::1" || /^127\./.test(host);
  const dnsNames = isIP(host) ? [] : [host];
  const ipAddresses = isIP(host) ? [host] : [];
  if (loopback) {
    dnsNames.push("localhost");
    ipAddresses.push("127.0.0.1", "::1");
  }
  // not checkLeafNames: a one-label host (localhost, a container name) is fine for our own listener
  const canonical = ipAddresses.map((ip) => {
    const b = ipFromText(ip);
    const text = b && ipToText(b);
    if (!text) throw SigilError.config(`SIGIL_PUBLIC_URL: "${ip}" is not an IP address`, "SIGIL_PUBLIC_URL");
    return text;
  });
  return { commonName: host, dnsNames: [...new Set(dnsNames.map((d) => d.replace(/\.$/, "")))], ipAddresses: [...new Set(canonical)] };
}

function sameNames(row: Pick<ListenerCertificateRow, "dnsNames" | "ipAddresses">, names: ListenerNames): boolean {
  const key = (d: string[], i: string[]) => JSON.stringify([[...d].sort(), [...i].sort()]);
  return key(row.dnsNames, row.ipAddresses) === key(names.dnsNames, names.ipAddresses);
}

export interface SelfIssuedOptions {
  ra: RaContext;
  /** the issuing CA: the `default` organization's intermediate (bootstrap's intermediateCaId) */
  caId: string;
  /** the URL clients reach the HTTPS listener by (SIGIL_ACME_URL): its host names the certificate */
  publicUrl: string;
  logger: Logger;
  /** default LISTENER_VALIDITY_DAYS */
  validityDays?: number;
}

/** The current certificate: what is served, and when it is due for renewal. */
interface Held {
  id: string;
  material: TlsMaterial;
  info: TlsMaterialInfo;
  renewAt: Date;
  notAfter: Date;
}

export class SelfIssuedCertificate implements ListenerCertificateSource {
  readonly kind = "self-issued" as const;
  readonly names: ListenerNames;
  private held: Held | undefined;
  private readonly listeners: Array<(m: TlsMaterial) => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private running: Promise<boolean> | undefined;
  private closed = false;

  private constructor(private readonly opts: SelfIssuedOptions) {
    this.names = listenerNames(opts.publicUrl);
  }

  /**
   * The stored listener certificate when one for the same names has more
   * than a third of its lifetime left, else a new one. A CA that cannot
   * issue (revoked, expired, no leaves) stops start-up with a message that
   * says how to give the listener a certificate instead.
   */
  static async create(opts: SelfIssuedOptions): Promise<SelfIssuedCertificate> {
    const s = new SelfIssuedCertificate(opts);
    try {
      s.held = (await s.findStored()) ?? (await s.issue("no usable stored listener certificate"));
    } catch (e) {
      if (e instanceof SigilError && e.kind !== "internal") {
        throw SigilError.config(
          `SIGIL_HTTPS_CERT is unset and the default intermediate cannot issue the HTTPS listener certificate (${e.message}); set SIGIL_HTTPS_CERT and SIGIL_HTTPS_KEY`,
          "SIGIL_HTTPS_CERT",
        );
      }
      throw e;
    }
    return s;
  }

  current(): TlsMaterial {
    return this.mustHold().material;
  }

  info(): TlsMaterialInfo {
    return this.mustHold().info;
  }

  /** the certificates row id of what is served (tests, logs) */
  certificateId(): string {
    return this.mustHold().id;
  }

  /** when the served certificate is due for renewal */
  renewAt(): Date {
    return this.mustHold().renewAt;
  }

  onChange(listener: (m: TlsMaterial) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    this.schedule(this.mustHold().renewAt.getTime() - this.opts.ra.clock.now().getTime());
  }

  /** SIGHUP: the same check the timer makes (renew when due, adopt a fresher stored one). */
  reload(reason: string): Promise<boolean> {
    return this.checkRenewal(reason);
  }

  /**
   * Renews when due. Another instance on the same database may already have
   * renewed: a stored certificate for the same names that is not due yet is
   * adopted instead of issuing one more. Never throws: a failure is logged,
   * the current certificate stays, and the timer tries again later.
   */
  checkRenewal(reason = "renewal timer"): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      if (this.closed) return false;
      const held = this.mustHold();
      if (this.opts.ra.clock.now() < held.renewAt) {
        this.schedule(held.renewAt.getTime() - this.opts.ra.clock.now().getTime());
        return true;
      }
      try {
        const stored = await this.findStored();
        const next = stored && stored.id !== held.id ? stored : await this.issue(reason);
        this.replace(next, stored && stored.id !== held.id ? "adopted a listener certificate another instance issued" : "renewed");
        this.retryMs = RETRY_MIN_MS;
        this.schedule(next.renewAt.getTime() - this.opts.ra.clock.now().getTime());
        return true;
      } catch (e) {
        this.opts.logger.error({ err: e, retryInMs: this.retryMs, notAfter: held.notAfter.toISOString() }, "HTTPS listener certificate renewal failed; the current one stays in service");
        this.schedule(this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
        return false;
      }
    };
    const next = (this.running ?? Promise.resolve(true)).then(run, run);
    this.running = next;
    return next;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private mustHold(): Held {
    if (!this.held) throw new Error("the listener certificate is not loaded");
    return this.held;
  }

  private replace(next: Held, why: string): void {
    this.held = next;
    for (const l of this.listeners) l(next.material);
    this.opts.logger.info({ certificateId: next.id, ...next.info }, `HTTPS listener certificate ${why}`);
  }

  private schedule(inMs: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.checkRenewal(), Math.max(1_000, Math.min(inMs, MAX_TIMER_MS)));
    // the timer alone never keeps the process alive
    this.timer.unref();
  }

  /** the newest stored listener certificate for our names that is not due for renewal, with its key */
  private async findStored(): Promise<Held | undefined> {
    const { ra } = this.opts;
    const now = ra.clock.now();
    for (const row of await findListenerCertificates(ra.store, this.opts.caId, now)) {
      if (!sameNames(row, this.names)) continue;
      const renewAt = renewAtOf(row.notBefore, row.notAfter);
      if (renewAt <= now) return undefined; // the newest is due: issue
      const blob = await readCertificateEncryptedKey(ra.store, row.id);
      if (!blob) continue;
      let keyPem: string;
      try {
        keyPem = privateKeyToPem(importPrivateKeyPkcs8(await ra.secrets.open(ra.store, blob, certKeyAad(row.id))));
      } catch (e) {
        this.opts.logger.warn({ certificateId: row.id, error: (e as Error).message }, "a stored HTTPS listener key does not decrypt; issuing a new certificate");
        continue;
      }
      return this.held_(row.id, row.certificatePem, keyPem, row.notBefore, row.notAfter);
    }
    return undefined;
  }

  /** issues a new listener certificate (row and audit entry in one transaction) */
  private async issue(reason: string): Promise<Held> {
    const { ra } = this.opts;
    const keyPair = await generateKeyPair("p256");
    const days = this.opts.validityDays ?? LISTENER_VALIDITY_DAYS;
    const cert = await inTransaction(ra, async (tx) => {
      // FOR SHARE: a concurrent revocation or deletion of the CA waits for this issuance
      const ca = await loadCa(tx, this.opts.caId, { lock: "forShare" });
      return issueLeafInTx(ra, tx, systemActor(LISTENER_ACTOR), {
        ca,
        publicKey: keyPair.publicKey,
        type: "server",
        commonName: this.names.commonName,
        dnsNames: this.names.dnsNames,
        ipAddresses: this.names.ipAddresses,
        emails: [],
        notAfter: new Date(ra.clock.now().getTime() + days * DAY_MS),
        source: "system",
        privateKeyPkcs8: exportPrivateKeyPkcs8(keyPair.privateKey),
      });
    });
    this.opts.logger.info({ certificateId: cert.id, serial: cert.serial, names: [...cert.dnsNames, ...cert.ipAddresses], notAfter: cert.notAfter.toISOString(), reason }, "HTTPS listener certificate issued");
    return this.held_(cert.id, cert.certificatePem, privateKeyToPem(keyPair.privateKey), cert.notBefore, cert.notAfter);
  }

  /** the served chain: the leaf and its CA certificates without the self-signed root (clients hold that) */
  private async held_(id: string, leafPem: string, keyPem: string, notBefore: Date, notAfter: Date): Promise<Held> {
    const chain = (await caChainPems(this.opts.ra.store, this.opts.caId)).filter((pem) => {
      const c = new X509Certificate(pem);
      return !(c.subject === c.issuer && c.checkIssued(c));
    });
    const material: TlsMaterial = { certPem: [leafPem, ...chain].map((p) => (p.endsWith("\n") ? p : `${p}\n`)).join(""), keyPem };
    const info = checkTlsMaterial(material, this.opts.ra.clock.now());
    return { id, material, info, notAfter, renewAt: renewAtOf(notBefore, notAfter) };
  }
}

/** notAfter minus a third of the lifetime */
function renewAtOf(notBefore: Date, notAfter: Date): Date {
  return new Date(notAfter.getTime() - (notAfter.getTime() - notBefore.getTime()) * RENEW_WHEN_LEFT);
}
