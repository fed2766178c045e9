/**
 * The JWS algorithms Sigil accepts, and what each needs of its key: one list
 * for the outer JWS of every ACME request (src/acme/jws.ts) and the inner JWS
 * of a key rollover (src/ra/acme/inner-jws.ts), so the two can never drift
 * apart. Pure data (no I/O): it lives in core/ because both the transport and
 * ra/ read it, and ra/ must not import the transport.
 */

/** RFC 8555 §6.2: asymmetric signatures only, never `none` or a MAC */
export const ACCEPTED_ALGS = ["RS256", "ES256", "ES384", "ES512", "EdDSA"] as const;
export type AcceptedAlg = (typeof ACCEPTED_ALGS)[number];

/** RFC 8555 §7.3.4: an External Account Binding is MACed with the EAB key (RFC 7518 §3.2) */
export const EAB_ALGS = ["HS256", "HS384", "HS512"] as const;
export type EabAlg = (typeof EAB_ALGS)[number];

/** RFC 7518 §3.1 / RFC 8037 §3.1: the key an accepted alg needs, and how node:crypto verifies it */
export interface AlgSpec {
  kty: "RSA" | "EC" | "OKP";
  crv?: string;
  /** node:crypto digest; null for EdDSA (the hash is part of the scheme) */
  hash: string | null;
  /** ECDSA signatures are R || S (RFC 7518 §3.4), not DER */
  p1363?: boolean;
  minRsaBits?: number;
}

export const ALG_SPECS: Readonly<Record<AcceptedAlg, AlgSpec>> = {
  RS256: { kty: "RSA", hash: "sha256", minRsaBits: 2048 },
  ES256: { kty: "EC", crv: "P-256", hash: "sha256", p1363: true },
  ES384: { kty: "EC", crv: "P-384", hash: "sha384", p1363: true },
  ES512: { kty: "EC", crv: "P-521", hash: "sha512", p1363: true },
  EdDSA: { kty: "OKP", crv: "Ed25519", hash: null },
};

/** RFC 7518 §3.2: the HMAC digest of each EAB alg */
export const EAB_HASHES: Readonly<Record<EabAlg, string>> = { HS256: "sha256", HS384: "sha384", HS512: "sha512" };

export function isAcceptedAlg(alg: unknown): alg is AcceptedAlg {
  return typeof alg === "string" && (ACCEPTED_ALGS as readonly string[]).includes(alg);
}

export function isEabAlg(alg: unknown): alg is EabAlg {
  return typeof alg === "string" && (EAB_ALGS as readonly string[]).includes(alg);
}
