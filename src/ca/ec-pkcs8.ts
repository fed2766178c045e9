/**
 * PKCS#8 (RFC 5208) DER of a P-256 or P-384 private key without OpenSSL 3's
 * encoder: `KeyObject.export({ type: "pkcs8", format: "der" })` looks up an
 * encoder on every call, which costs several times the key generation
 * itself (admin IssueCertificate exports every server-generated key). The
 * JWK export reads the key's numbers directly; the DER around them is fixed
 * for a named curve, and is byte for byte what OpenSSL writes
 * (test/unit/ca/ec-pkcs8.test.ts): PrivateKeyInfo { version 0,
 * AlgorithmIdentifier { id-ecPublicKey, namedCurve }, OCTET STRING {
 * ECPrivateKey (RFC 5915 §3) { version 1, privateKey, [1] publicKey } } },
 * parameters left out of the ECPrivateKey as RFC 5915 §3 allows when the
 * AlgorithmIdentifier names the curve.
 */
import type { KeyObject } from "node:crypto";
import { exportPrivateKeyPkcs8 } from "./keys.js";

/** per JWK "crv": the DER before d, between d and the point (04 || x || y), and the coordinate size */
const TEMPLATES: Record<string, { head: Buffer; mid: Buffer; size: number }> = {
  "P-256": {
    // SEQ(135) INT 0, SEQ { OID 1.2.840.10045.2.1, OID 1.2.840.10045.3.1.7 }, OCTET STRING(109) SEQ(107) INT 1, OCTET STRING(32)
    head: Buffer.from("308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420", "hex"),
    // [1](68) BIT STRING(66) 0 unused bits, 04
    mid: Buffer.from("a14403420004", "hex"),
    size: 32,
  },
  "P-384": {
    // SEQ(182) INT 0, SEQ { OID 1.2.840.10045.2.1, OID 1.3.132.0.34 }, OCTET STRING(158) SEQ(155) INT 1, OCTET STRING(48)
    head: Buffer.from("3081b6020100301006072a8648ce3d020106052b8104002204819e30819b0201010430", "hex"),
    // [1](100) BIT STRING(98) 0 unused bits, 04
    mid: Buffer.from("a16403620004", "hex"),
    size: 48,
  },
};

/** PKCS#8 DER of a private key: P-256 and P-384 from their JWK numbers, anything else through exportPrivateKeyPkcs8. */
export function privateKeyPkcs8Der(key: KeyObject): Buffer {
  if (key.type !== "private" || key.asymmetricKeyType !== "ec") return exportPrivateKeyPkcs8(key);
  const jwk = key.export({ format: "jwk" });
  const t = jwk.crv ? TEMPLATES[jwk.crv] : undefined;
  if (!t || !jwk.d || !jwk.x || !jwk.y) return exportPrivateKeyPkcs8(key);
  const d = Buffer.from(jwk.d, "base64url");
  const x = Buffer.from(jwk.x, "base64url");
  const y = Buffer.from(jwk.y, "base64url");
  // JWK numbers are full length (RFC 7518 §6.2.1.2, §6.2.2.1); anything else is not this template's shape
  if (d.length !== t.size || x.length !== t.size || y.length !== t.size) return exportPrivateKeyPkcs8(key);
  return Buffer.concat([t.head, d, t.mid, x, y]);
}
