/**
 * Public JWKs (RFC 7517/7518) in one canonical form, shared by the ACME
 * transport (the outer JWS, src/acme/jws.ts) and the registration authority
 * (the inner JWS of a key rollover and EAB, src/ra/acme/inner-jws.ts). Keys
 * are identified by the RFC 7638 thumbprint of their canonical JWK (the JWK
 * as node:crypto re-encodes the key), never by the text a client sent.
 * No I/O.
 */
import type { JWK } from "jose";
import type { KeyObject } from "node:crypto";

/** only the members RFC 7517/7518 define for public keys, so stored JWKs hold nothing else */
export function publicJwk(jwk: JWK): JWK {
  const out: JWK = { kty: jwk.kty };
  for (const f of ["crv", "x", "y", "n", "e"] as const) if (typeof jwk[f] === "string") out[f] = jwk[f];
  return out;
}

/** the public JWK of a key in its one canonical encoding, so that its RFC 7638 thumbprint identifies the key */
export function canonicalJwk(key: KeyObject): JWK {
  return publicJwk(key.export({ format: "jwk" }) as JWK);
}
