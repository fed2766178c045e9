/**
 * Keys a leaf certificate must never carry, pure: a CA's own key (a leaf
 * with its issuer's key would let whoever holds the leaf key sign as the CA,
 * and a CA key must sign, never be certified for TLS), and, for ACME, the
 * account key that signed the order (RFC 8555 §11.1: "the server MUST
 * verify that the public key in the CSR is not the same as the account
 * key"). Keys are compared as DER SubjectPublicKeyInfo.
 */
import { SigilError } from "../core/errors.js";

export const KEY_REUSE_MESSAGES = {
  caKey: "the CSR's public key is a certificate authority's key; a leaf needs a key of its own",
  accountKey: "the CSR's public key is the ACME account key (RFC 8555 §11.1); use a separate key for the certificate",
} as const;

/** Throws SigilError.badCsr when `csrSpki` is one of the CA keys or the account key. */
export function checkLeafKeyNotReused(csrSpki: Uint8Array, forbidden: { caSpkis?: readonly Uint8Array[]; accountSpki?: Uint8Array }): void {
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
  if (forbidden.accountSpki && same(csrSpki, forbidden.accountSpki)) throw SigilError.badCsr(KEY_REUSE_MESSAGES.accountKey);
  for (const ca of forbidden.caSpkis ?? []) if (same(csrSpki, ca)) throw SigilError.badCsr(KEY_REUSE_MESSAGES.caKey);
}
