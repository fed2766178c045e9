/**
 * Synchronous import of a raw SEC 1 EC point (SEC 1 §2.3.3/§2.3.4) into a
 * KeyObject, the cheapest route OpenSSL 3 offers for a CSR's new key.
 *
 * Why: every CSR brings a key never seen before, and importing it is half of
 * what parsing a CSR costs (docs/benchmarks.md "Signer"). Node 20's public
 * synchronous importers are both slower: the DER decoder (OSSL_DECODER, ~140
 * µs) and JWK (~85 µs: EC_KEY_set_public_key_affine_coordinates runs
 * EC_KEY_check_key, a full scalar multiplication by the group order). The raw
 * route (EC_POINT_oct2point + EC_KEY_set_public_key, ~25 µs) is what WebCrypto's
 * importKey("raw") uses, but WebCrypto only hands it out behind a promise, and
 * parseCsr is synchronous for all its callers.
 *
 * So this reaches the same native importer through the KeyObject's own
 * handle class (KeyObjectHandle.prototype.initECRaw), which is not a public
 * API. It is guarded: on first use a probe checks that the handle class and
 * method exist, that the generator point imports to the same key as through
 * JWK and that an off-curve point is refused; if any of that fails (another
 * Node version), importEcPointRaw returns undefined for good and callers use
 * JWK, which is slower and checks the same things.
 *
 * What is checked (EC_POINT_oct2point; SP 800-56A Rev. 3 §5.6.2.3.4):
 * coordinates below the field prime, the point on the curve, a compressed
 * point decompressed (refused when X has no square root). The callers admit
 * only 02/03/04 forms of the curve's exact length, so the point at infinity
 * (00) never gets here. The multiplication by the order that the full
 * validation (§5.6.2.3.3 step 4) adds is implied for P-256, P-384 and P-521:
 * their cofactor is 1, so every point on the curve other than the point at
 * infinity has the group's prime order (SEC 2 §2.4.2, §2.5.1, §2.6.1).
 */
import { createPublicKey, type KeyObject } from "node:crypto";

type RawImporter = (curve: string, point: Buffer) => KeyObject | "refused";

let importer: RawImporter | null | undefined;

/**
 * The public key of `point` on the OpenSSL-named `curve` (prime256v1,
 * secp384r1, secp521r1); "refused" when OpenSSL refuses the point (off the
 * curve, coordinate out of range, no square root); undefined when the raw
 * route is not available on this Node (use JWK).
 */
export function importEcPointRaw(curve: string, point: Buffer): KeyObject | "refused" | undefined {
  if (importer === undefined) importer = probe();
  return importer === null ? undefined : importer(curve, point);
}

/** whether this Node offers the raw route (for the benchmark's report and a test) */
export function rawEcPointImportAvailable(): boolean {
  if (importer === undefined) importer = probe();
  return importer !== null;
}

// SEC 2 §2.4.2: the P-256 base point G
const P256_GX = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
const P256_GY = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

function probe(): RawImporter | null {
  try {
    const viaJwk = createPublicKey({
      key: { kty: "EC", crv: "P-256", x: Buffer.from(P256_GX, "hex").toString("base64url"), y: Buffer.from(P256_GY, "hex").toString("base64url") },
      format: "jwk",
    });
    const sample = viaJwk as unknown as Record<symbol, unknown>;
    const kHandle = Object.getOwnPropertySymbols(sample).find((s) => s.description === "kHandle");
    if (!kHandle) return null;
    const Handle = (sample[kHandle] as { constructor?: unknown } | undefined)?.constructor as (new () => { initECRaw?: unknown }) | undefined;
    const PublicKeyObject = Object.getPrototypeOf(sample)?.constructor as (new (handle: unknown) => KeyObject) | undefined;
    if (typeof Handle !== "function" || typeof PublicKeyObject !== "function") return null;
    if (typeof Handle.prototype.initECRaw !== "function") return null;

    const candidate: RawImporter = (curve, point) => {
      const h = new Handle() as { initECRaw(curve: string, point: Buffer): boolean };
      return h.initECRaw(curve, point) === true ? new PublicKeyObject(h) : "refused";
    };

    const g = Buffer.from("04" + P256_GX + P256_GY, "hex");
    const viaRaw = candidate("prime256v1", g);
    if (viaRaw === "refused" || viaRaw.type !== "public" || viaRaw.asymmetricKeyType !== "ec" || !viaRaw.equals(viaJwk)) return null;
    // (Gx, Gy + 1) is not on the curve
    const offCurve = Buffer.from(g);
    offCurve[64]! += 1;
    if (candidate("prime256v1", offCurve) !== "refused") return null;
    return candidate;
  } catch {
    return null;
  }
}
