/**
 * Keys a leaf certificate must never carry: a CA's own key (a leaf with its
 * issuer's key would let whoever holds the leaf key sign as the CA, and a CA
 * key must sign, never be certified for TLS), and, for ACME, the account key
 * that signed the order (RFC 8555 §11.1: "the server MUST verify that the
 * public key in the CSR is not the same as the account key").
 *
 * Keys are compared by identity, not by encoding: the RFC 7638 thumbprint
 * input (the required JWK members in lexicographic order). The same EC key
 * has a compressed and an uncompressed SubjectPublicKeyInfo, and an RSA key
 * can be DER-encoded with or without NULL parameters, so comparing bytes
 * would let a CSR carry the account key in another encoding.
 */
import type { KeyObject } from "node:crypto";
import { SigilError } from "../core/errors.js";

export const KEY_REUSE_MESSAGES = {
  caKey: "the CSR's public key is a certificate authority's key; a leaf needs a key of its own",
  accountKey: "the CSR's public key is the ACME account key (RFC 8555 §11.1); use a separate key for the certificate",
} as const;

/** A public key's identity: the RFC 7638 §3.2 canonical JSON of its required members. */
export type KeyIdentity = string;

interface PublicJwkMembers {
  kty?: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
}

/** The identity of a public JWK (RFC 7638 §3.2 required members; unknown key types by every member given). */
export function jwkIdentity(jwk: PublicJwkMembers): KeyIdentity {
  switch (jwk.kty) {
    case "EC":
      return JSON.stringify({ crv: jwk.crv, kty: "EC", x: jwk.x, y: jwk.y });
    case "RSA":
      return JSON.stringify({ e: jwk.e, kty: "RSA", n: jwk.n });
    case "OKP":
      return JSON.stringify({ crv: jwk.crv, kty: "OKP", x: jwk.x });
    default:
      return JSON.stringify(jwk);
  }
}

/** The identity of a public key object, whatever encoding it was read from. */
export function keyIdentity(key: KeyObject): KeyIdentity {
  return jwkIdentity(key.export({ format: "jwk" }) as PublicJwkMembers);
}

/** Throws SigilError.badCsr when the CSR's key is one of the CA keys or the account key. */
export function checkLeafKeyNotReused(csrKey: KeyIdentity, forbidden: { caKeys?: readonly KeyIdentity[]; accountKey?: KeyIdentity }): void {
  if (forbidden.accountKey !== undefined && csrKey === forbidden.accountKey) throw SigilError.badCsr(KEY_REUSE_MESSAGES.accountKey);
  if (forbidden.caKeys?.includes(csrKey)) throw SigilError.badCsr(KEY_REUSE_MESSAGES.caKey);
}
