import { DatabaseKeyStore, type GeneratedKey, type KeyStorage, type KeyStore, type SigningKey } from "../ca/key-store.js";
import type { Pkcs11KeyStore } from "../ca/pkcs11.js";
import type { KeyAlgorithm } from "../core/types.js";
import type { SecretVault } from "./secrets.js";
import { isSignableUrl, loadIssuer, type Issuer, type PublicUrls } from "../ca/signer.js";
import type { CertificateAuthority } from "../db/entities/index.js";
import { readCaKeyHolder } from "../db/store/certificate-authorities.js";
import type { OrmTx, Session } from "../db/store/session.js";
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

/** The key stores CA keys live in: always the database, a PKCS#11 token when SIGIL_PKCS11_MODULE is set. */
export interface CaKeyStores {
  database: DatabaseKeyStore;
  pkcs11?: Pkcs11KeyStore;
}

/** the refusal when a CA asks for PKCS#11 and the server has no token */
export const NO_PKCS11_MESSAGE = "key storage PKCS#11 needs a token: this server has no SIGIL_PKCS11_MODULE configured";

/** The store for `storage`; PKCS#11 without a configured token is FAILED_PRECONDITION. */
export function caKeyStore(stores: CaKeyStores, storage: KeyStorage): KeyStore {
  switch (storage) {
    case "database":
      return stores.database;
    case "pkcs11":
      if (!stores.pkcs11) throw SigilError.failedPrecondition(NO_PKCS11_MESSAGE, { type: "KEY_STORAGE", subject: "pkcs11" });
      return stores.pkcs11;
    default: {
      const never: never = storage;
      throw SigilError.invalidArgument(`unknown key storage ${String(never)}`, "key_storage");
    }
  }
}

/** A new CA key, generated in its store before the CA row's transaction opens. */
export interface NewCaKey {
  readonly storage: KeyStorage;
  readonly signingKey: SigningKey;
  /**
   * The CA row's key columns, inside the row's transaction: a database key
   * sealed under the organization's data key and bound to the row id
   * (caKeyAad), a PKCS#11 key by its reference.
   */
  columns(tx: OrmTx, organizationId: string): Promise<{ keyStorage: KeyStorage; keyReference: string | null; encryptedPrivateKey: string | null }>;
  /** drops the key when its CA row was not written (a PKCS#11 key would otherwise stay in the token) */
  discard(): void;
}

/**
 * Generates a CA key for the CA row `caId` in the chosen store (the label
 * names the CA in the token). Call `discard()` when the creating
 * transaction fails.
 */
export async function generateCaKey(stores: CaKeyStores, secrets: SecretVault, storage: KeyStorage, alg: KeyAlgorithm, caId: string): Promise<NewCaKey> {
  const store = caKeyStore(stores, storage);
  const generated: GeneratedKey = await store.generate(alg, `sigil-ca-${caId}`);
  return {
    storage,
    signingKey: generated.signingKey,
    async columns(tx, organizationId) {
      if (generated.pkcs8) {
        return { keyStorage: storage, keyReference: null, encryptedPrivateKey: await secrets.seal(tx, organizationId, generated.pkcs8, caKeyAad(caId)) };
      }
      return { keyStorage: storage, keyReference: generated.reference, encryptedPrivateKey: null };
    },
    discard: () => store.discard(generated),
  };
}

/** the CA's key is not in the database: what the export refuses with */
export const HSM_KEY_NOT_EXPORTABLE =
  "this CA's key is held in a PKCS#11 token (HSM) and was created non-extractable: it cannot be exported";

/**
 * Pre-parsed signing contexts by CA id. Loading an issuer means opening the
 * key in its store (decrypting a database key, finding a token key by its
 * reference) and parsing the certificate: done once, reused for every
 * certificate, and refreshed when the CA row changes (updatedAt).
 */
export class IssuerCache {
  private readonly cache = new Map<string, { version: number; issuer: Issuer }>();

  constructor(
    private readonly secrets: SecretVault,
    private readonly publicUrl: string,
    readonly keyStores: CaKeyStores = { database: new DatabaseKeyStore() },
  ) {}

  /**
   * The issuer of a CA, from cache or loaded: a missing key is read through
   * `s` (inside a transaction, that transaction's session: a second
   * connection would wait for ever on the single-connection embedded database).
   */
  async get(s: Session, ca: IssuerCa): Promise<Issuer> {
    const version = ca.updatedAt.getTime();
    const hit = this.cache.get(ca.id);
    if (hit && hit.version === version) return hit.issuer;
    const issuer = loadIssuer({
      certificateDer: pemToDer(ca.certificatePem),
      signingKey: await this.openKey(s, ca.id),
      urls: caPublicUrls(ca, this.publicUrl),
    });
    this.cache.set(ca.id, { version, issuer });
    return issuer;
  }

  /** The CA's signing key from its store. */
  private async openKey(s: Session, caId: string): Promise<SigningKey> {
    const holder = await readCaKeyHolder(s, caId);
    if (!holder) throw SigilError.notFound("certificate authority not found");
    switch (holder.storage) {
      case "pkcs11": {
        if (!this.keyStores.pkcs11) {
          throw SigilError.failedPrecondition("this CA's key is in a PKCS#11 token and this server has no SIGIL_PKCS11_MODULE configured");
        }
        if (!holder.reference) throw SigilError.internal(`CA ${caId} has PKCS#11 key storage but no key reference`);
        return this.keyStores.pkcs11.open({ storage: "pkcs11", reference: holder.reference });
      }
      case "database": {
        if (!holder.encryptedPrivateKey) throw SigilError.failedPrecondition("this server does not hold the CA's private key (an offline key)");
        const pkcs8 = await this.secrets.open(s, holder.encryptedPrivateKey, caKeyAad(caId));
        return this.keyStores.database.open({ storage: "database", pkcs8 });
      }
      default: {
        const never: never = holder.storage;
        throw SigilError.internal(`unknown key storage ${String(never)}`);
      }
    }
  }

  invalidate(caId: string): void {
    this.cache.delete(caId);
  }
}

export function pemToDer(pem: string): Buffer {
  const b64 = pem.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, "").replace(/\s+/g, "");
  return Buffer.from(b64, "base64");
}
