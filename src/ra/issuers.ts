import { importPrivateKeyPkcs8 } from "../ca/keys.js";
import type { SecretVault } from "./secrets.js";
import { isSignableUrl, loadIssuer, type Issuer, type PublicUrls } from "../ca/signer.js";
import type { CertificateAuthority } from "../db/entities/index.js";
import { readCaEncryptedKey } from "../db/store/certificate-authorities.js";
import type { Session } from "../db/store/session.js";
import { SigilError } from "../core/errors.js";

/** what loading an issuer needs of its CA row (an entity or a raw row) */
export type IssuerCa = Pick<CertificateAuthority, "id" | "updatedAt" | "certificatePem" | "crlBaseUrl">;

/** AAD that binds an encrypted CA key to its row, so a key blob cannot be swapped between CAs. */
export function caKeyAad(caId: string): string {
  return `ca:${caId}`;
}

/** longest CRL base URL (the crl_base_url column) */
export const MAX_CRL_BASE_URL = 512;

/**
 * Whether `url` may be a CA's CRL base URL: an absolute http(s) URL without
 * query or fragment, at most MAX_CRL_BASE_URL characters, such that every
 * URL caPublicUrls builds from it is one the signer writes (isSignableUrl).
 * The one rule for creating, importing and updating a CA, so a base URL the
 * signer would refuse (a space, a non-ASCII character) is refused when it is
 * given, naming crl_base_url, rather than when the CA next signs.
 */
export function isValidCrlBaseUrl(url: string): boolean {
  if (url.length > MAX_CRL_BASE_URL) return false;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.search || parsed.hash || url.includes("?") || url.includes("#")) return false;
  // a placeholder id: the URLs only differ by it, and ids are hex and dashes
  const urls = caPublicUrls({ id: "00000000-0000-0000-0000-000000000000", crlBaseUrl: url }, url);
  return [urls.crlUrl, urls.caIssuersUrl, urls.ocspUrl].every(isSignableUrl);
}

/**
 * The URLs a CA puts in what it signs (RFC 5280 §4.2.1.13 CRL DP, §4.2.2.1
 * AIA): its CRL, its own certificate and its OCSP responder. crl_base_url
 * overrides SIGIL_PUBLIC_URL.
 */
export function caPublicUrls(ca: Pick<CertificateAuthority, "id" | "crlBaseUrl">, publicUrl: string): Required<PublicUrls> {
  const base = (ca.crlBaseUrl ?? publicUrl).replace(/\/+$/, "");
  return {
    crlUrl: `${base}/crl/${ca.id}.crl`,
    caIssuersUrl: `${base}/ca/${ca.id}.cer`,
    ocspUrl: `${base}/ocsp/${ca.id}`,
  };
}

/**
 * Decrypted, pre-parsed signing contexts by CA id. Loading an issuer means a
 * key decryption and certificate parsing: done once, reused for every
 * certificate, and refreshed when the CA row changes (updatedAt).
 */
export class IssuerCache {
  private readonly cache = new Map<string, { version: number; issuer: Issuer }>();

  constructor(
    private readonly secrets: SecretVault,
    private readonly publicUrl: string,
  ) {}

  /**
   * The issuer of a CA, from cache or loaded: a missing key is read through
   * `s` (inside a transaction, that transaction's session: a second
   * connection would wait for ever on the single-connection embedded database).
   */
  async get(s: Session, ca: IssuerCa): Promise<Issuer> {
    return this.load(s, ca, () => readCaEncryptedKey(s, ca.id));
  }

  private async load(s: Session, ca: IssuerCa, readKey: () => Promise<string | undefined>): Promise<Issuer> {
    const version = ca.updatedAt.getTime();
    const hit = this.cache.get(ca.id);
    if (hit && hit.version === version) return hit.issuer;
    const blob = await readKey();
    if (!blob) throw SigilError.notFound("certificate authority not found");
    const pkcs8 = await this.secrets.open(s, blob, caKeyAad(ca.id));
    const issuer = loadIssuer({
      certificateDer: pemToDer(ca.certificatePem),
      privateKey: importPrivateKeyPkcs8(pkcs8),
      urls: caPublicUrls(ca, this.publicUrl),
    });
    this.cache.set(ca.id, { version, issuer });
    return issuer;
  }

  invalidate(caId: string): void {
    this.cache.delete(caId);
  }
}

export function pemToDer(pem: string): Buffer {
  const b64 = pem.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, "").replace(/\s+/g, "");
  return Buffer.from(b64, "base64");
}
