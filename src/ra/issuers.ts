import type { EntityManager } from "@mikro-orm/postgresql";
import { importPrivateKeyPkcs8 } from "../ca/keys.js";
import type { MasterKeyRing } from "../ca/key-encryption.js";
import { loadIssuer, type Issuer, type PublicUrls } from "../ca/signer.js";
import { CertificateAuthority } from "../db/entities/index.js";
import { statement, type Queryable } from "../db/sql.js";
import { SigilError } from "../core/errors.js";

/** what loading an issuer needs of its CA row (an entity or a raw row) */
export type IssuerCa = Pick<CertificateAuthority, "id" | "updatedAt" | "certificatePem" | "crlBaseUrl">;

const CA_KEY = statement("sigil_ca_key", `select encrypted_private_key from certificate_authorities where id = $1`);

/** AAD that binds an encrypted CA key to its row, so a key blob cannot be swapped between CAs. */
export function caKeyAad(caId: string): string {
  return `ca:${caId}`;
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
    private readonly keyRing: MasterKeyRing,
    private readonly publicUrl: string,
  ) {}

  async get(em: EntityManager, ca: IssuerCa): Promise<Issuer> {
    // em.execute runs inside the caller's transaction, if any: a fresh pool
    // connection would deadlock the single-connection embedded database
    return this.load(ca, () => em.execute<{ encrypted_private_key: string }[]>(`select encrypted_private_key from certificate_authorities where id = ?`, [ca.id]));
  }

  /** the same, reading a missing key through `q` (the caller's SqlTx inside a raw transaction) */
  async getVia(q: Queryable, ca: IssuerCa): Promise<Issuer> {
    return this.load(ca, () => q.query<{ encrypted_private_key: string }>(CA_KEY, [ca.id]));
  }

  private async load(ca: IssuerCa, readKey: () => Promise<Array<{ encrypted_private_key: string }>>): Promise<Issuer> {
    const version = ca.updatedAt.getTime();
    const hit = this.cache.get(ca.id);
    if (hit && hit.version === version) return hit.issuer;
    const row = await readKey();
    if (!row[0]) throw SigilError.notFound("certificate authority not found");
    const pkcs8 = this.keyRing.decrypt(row[0].encrypted_private_key, caKeyAad(ca.id));
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
