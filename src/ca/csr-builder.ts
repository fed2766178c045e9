/**
 * PKCS#10 certification requests for CA keys (RFC 2986), and reading one
 * back where the offline root signs it.
 *
 * A Sigil intermediate whose parent is outside Sigil (an offline root) has
 * its key made by Sigil and a CSR built here: the subject as the signer
 * encodes names (./signer.ts encodeName), and an extensionRequest (RFC 2985
 * §5.4.2) asking for basicConstraints cA=TRUE and keyUsage keyCertSign,
 * cRLSign (RFC 5280 §4.2.1.9, §4.2.1.3). The signer is anything with the
 * shape of a key store's signing handle, so a key that never leaves its
 * store can sign its own request.
 */
import { createPublicKey, sign, type KeyObject } from "node:crypto";
import { SigilError } from "../core/errors.js";
import type { KeyAlgorithm } from "../core/types.js";
import { parseCsr } from "./csr.js";
import { children, ctxCons, derBitString, derBoolean, derOctetString, derOid, expectNode, rawOf, seq, set, TAG, toPem } from "./der.js";
import { keyAlgorithmOf, spkiOf } from "./keys.js";
import { encodeName, type DistinguishedName } from "./signer.js";

/** What signs a CSR: a key store's signing handle, or keyObjectCsrSigner(). */
export interface CsrSigner {
  readonly algorithm: KeyAlgorithm;
  /** SubjectPublicKeyInfo DER of the key */
  readonly spki: Buffer;
  /** signs with the algorithm's scheme; ECDSA signatures as DER Ecdsa-Sig-Value (RFC 3279 §2.2.3) */
  sign(data: Buffer): Buffer;
}

/** A CsrSigner over a private KeyObject (the key held in this process). */
export function keyObjectCsrSigner(privateKey: KeyObject): CsrSigner {
  const publicKey = createPublicKey(privateKey);
  const algorithm = keyAlgorithmOf(publicKey);
  if (!algorithm) throw SigilError.badPublicKey("CA keys must be P-256, P-384, RSA 2048, RSA 3072 or RSA 4096");
  const hash = algorithm === "p384" ? "sha384" : "sha256";
  const ecdsa = algorithm === "p256" || algorithm === "p384";
  return {
    algorithm,
    spki: spkiOf(publicKey),
    sign: (data) => (ecdsa ? sign(hash, data, { key: privateKey, dsaEncoding: "der" }) : sign(hash, data, privateKey)),
  };
}

const OID = {
  extensionRequest: "1.2.840.113549.1.9.14", // RFC 2985 §5.4.2
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  sha256WithRsa: "1.2.840.113549.1.1.11",
} as const;

/** RFC 5758 §3.2 (parameters absent), RFC 4055 §5 (NULL parameters) */
function signatureAlgorithmId(alg: KeyAlgorithm): Buffer {
  switch (alg) {
    case "p256":
      return seq(derOid(OID.ecdsaWithSha256));
    case "p384":
      return seq(derOid(OID.ecdsaWithSha384));
    case "rsa2048":
    case "rsa3072":
    case "rsa4096":
      return seq(derOid(OID.sha256WithRsa), Buffer.from([0x05, 0x00]));
    default: {
      const never: never = alg;
      throw SigilError.internal(`no signature algorithm for ${String(never)}`);
    }
  }
}

/** Extension ::= SEQUENCE { extnID, critical TRUE, extnValue } (RFC 5280 §4.1) */
function criticalExtension(oid: string, value: Buffer): Buffer {
  return seq(derOid(oid), derBoolean(true), derOctetString(value));
}

/** keyUsage digitalSignature(0), keyCertSign(5), cRLSign(6): one octet 0x86, one unused bit (X.690 §11.2.2) */
const CA_KEY_USAGE = derBitString(Buffer.from([0x86]), 1);

/**
 * A CA's PKCS#10 request (RFC 2986 §4): version 0, the subject, the key's
 * SPKI, and an extensionRequest for a CA certificate (cA=TRUE, keyCertSign,
 * cRLSign). Path length and validity are the signer's choice, not asked for.
 */
export function buildCaCsr(p: { subject: DistinguishedName; signer: CsrSigner }): { der: Buffer; pem: string } {
  const exts = seq(criticalExtension(OID.basicConstraints, seq(derBoolean(true))), criticalExtension(OID.keyUsage, CA_KEY_USAGE));
  const attributes = ctxCons(0, seq(derOid(OID.extensionRequest), set(exts)));
  const cri = seq(Buffer.from([0x02, 0x01, 0x00]), encodeName(p.subject), p.signer.spki, attributes);
  const der = seq(cri, signatureAlgorithmId(p.signer.algorithm), derBitString(p.signer.sign(cri)));
  return { der, pem: toPem(der, "CERTIFICATE REQUEST") };
}

/** What signing a CA's CSR needs of it. */
export interface CaCsr {
  /** the subject Name DER, copied verbatim into the certificate */
  subjectDer: Buffer;
  /** SubjectPublicKeyInfo DER */
  spki: Buffer;
  publicKey: KeyObject;
  keyAlgorithm: KeyAlgorithm;
}

/**
 * Reads a CSR to be signed as a CA: its self-signature verified (RFC 2986 §3
 * proof of possession, badCsr otherwise), a CA key algorithm, a non-empty
 * subject. Requested extensions are not copied: the signer decides them.
 */
export function readCaCsr(der: Buffer): CaCsr {
  const parsed = parseCsr(der);
  const keyAlgorithm = keyAlgorithmOf(parsed.publicKey);
  if (!keyAlgorithm) throw SigilError.badCsr("the CSR's key is not a CA key (P-256, P-384, RSA 2048, RSA 3072 or RSA 4096)");
  // CertificationRequest ::= SEQUENCE { certificationRequestInfo SEQUENCE { version, subject, ... }, ... }
  const outer = expectNode(der, 0, TAG.SEQUENCE);
  const cri = expectNode(der, outer.valueStart, TAG.SEQUENCE, outer.end);
  const subject = children(der, cri)[1];
  if (!subject || subject.tag !== TAG.SEQUENCE) throw SigilError.badCsr("CSR is not a valid PKCS#10 request");
  const subjectDer = Buffer.from(rawOf(der, subject));
  if (subject.end - subject.valueStart === 0) throw SigilError.badCsr("a CA's CSR needs a subject (RFC 5280 §4.1.2.6)");
  return { subjectDer, spki: parsed.publicKeySpki, publicKey: parsed.publicKey, keyAlgorithm };
}
