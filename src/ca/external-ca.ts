/**
 * Checking what an offline root hands back: CA certificates (the signed
 * intermediate and its issuer chain) and CRLs signed outside Sigil. Pure
 * parsing and signature verification (pkijs for the structure, node:crypto
 * for signatures); the decisions are the RA's
 * (src/ra/certificate-authorities/external-parent.ts).
 */
import { createPublicKey, verify, X509Certificate, type KeyObject } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { SigilError } from "../core/errors.js";
import type { KeyAlgorithm } from "../core/types.js";
import { children, expectNode, fromPem, rawOf, readOid, TAG } from "./der.js";
import { keyAlgorithmOf } from "./keys.js";
import { serialToHex } from "./serial.js";

const OID = {
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  crlNumber: "2.5.29.20",
  deltaCrlIndicator: "2.5.29.27",
  issuingDistributionPoint: "2.5.29.28",
} as const;

/** A parsed CA certificate, as activation checks it. */
export interface CaCertificateInfo {
  der: Buffer;
  x509: X509Certificate;
  /** SubjectPublicKeyInfo DER */
  spki: Buffer;
  publicKey: KeyObject;
  keyAlgorithm: KeyAlgorithm | undefined;
  /** RFC 5280 §4.2.1.9 cA */
  isCa: boolean;
  /** RFC 5280 §4.2.1.3 keyCertSign; true when keyUsage is absent (§4.2.1.3 leaves it unconstrained) */
  keyCertSign: boolean;
  /** pathLenConstraint; null when unlimited */
  pathLength: number | null;
  notBefore: Date;
  notAfter: Date;
  /** lower-case hex, as CA rows store it */
  serial: string;
  /** the issuer and subject Name DER */
  issuerDer: Buffer;
  subjectDer: Buffer;
}

/** The first CERTIFICATE block of `pem` as DER, or undefined. */
export function certificateDerFromPem(pem: string): Buffer | undefined {
  return fromPem(pem, "CERTIFICATE");
}

/** Parses a certificate; throws invalidArgument naming `field` when it is not one. */
export function inspectCaCertificate(der: Buffer, field: string): CaCertificateInfo {
  let cert: pkijs.Certificate;
  let x509: X509Certificate;
  let spki: Buffer;
  let issuerDer: Buffer;
  let subjectDer: Buffer;
  try {
    x509 = new X509Certificate(der);
    cert = pkijs.Certificate.fromBER(der);
    // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, SPKI, ...
    const outer = expectNode(der, 0, TAG.SEQUENCE);
    const tbs = expectNode(der, outer.valueStart, TAG.SEQUENCE, outer.end);
    const f = children(der, tbs);
    const o = f[0]!.tag === 0xa0 ? 1 : 0;
    issuerDer = Buffer.from(rawOf(der, f[o + 2]!));
    subjectDer = Buffer.from(rawOf(der, f[o + 4]!));
    spki = Buffer.from(rawOf(der, f[o + 5]!));
  } catch (e) {
    throw new SigilError("invalidArgument", "not a valid X.509 certificate", { field, cause: e });
  }
  const ext = (oid: string): pkijs.Extension | undefined => cert.extensions?.find((x) => x.extnID === oid);
  const bcExt = ext(OID.basicConstraints);
  const bc = bcExt?.parsedValue instanceof pkijs.BasicConstraints ? bcExt.parsedValue : undefined;
  const pl = bc?.pathLenConstraint;
  const pathLength = pl === undefined ? null : typeof pl === "number" ? pl : pl.valueBlock.valueDec;
  let keyCertSign = true;
  const kuExt = ext(OID.keyUsage);
  if (kuExt) {
    const bits = kuExt.parsedValue instanceof asn1js.BitString ? new Uint8Array(kuExt.parsedValue.valueBlock.valueHexView) : new Uint8Array();
    keyCertSign = ((bits[0] ?? 0) & 0x04) !== 0; // bit 5 (RFC 5280 §4.2.1.3)
  }
  const publicKey = createPublicKey({ key: spki, format: "der", type: "spki" });
  return {
    der,
    x509,
    spki,
    publicKey,
    keyAlgorithm: keyAlgorithmOf(publicKey),
    isCa: bc?.cA === true,
    keyCertSign,
    pathLength,
    notBefore: cert.notBefore.value,
    notAfter: cert.notAfter.value,
    serial: serialToHex(Buffer.from(cert.serialNumber.valueBlock.valueHexView)),
    issuerDer,
    subjectDer,
  };
}

/**
 * Whether `child` was issued by `issuer`: the issuer name equals the
 * issuer's subject and the signature verifies with its key (RFC 5280
 * §6.1.3 (a)(1), (a)(4)).
 */
export function issuedBy(child: CaCertificateInfo, issuer: CaCertificateInfo): boolean {
  return child.issuerDer.equals(issuer.subjectDer) && child.x509.verify(issuer.publicKey);
}

/** An imported CRL, checked (RFC 5280 §5). */
export interface CheckedCrl {
  der: Buffer;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  entryCount: number;
}

/** What is wrong with an imported CRL (the RA maps it to INVALID_ARGUMENT on its field). */
export class CrlImportError extends Error {
  override readonly name = "CrlImportError";
}

/** node:crypto verify parameters per CRL signatureAlgorithm OID (RFC 5758 §3.2, RFC 4055 §5) */
const SIGNATURE_HASH: Record<string, { hash: string; ecdsa: boolean }> = {
  "1.2.840.10045.4.3.2": { hash: "sha256", ecdsa: true },
  "1.2.840.10045.4.3.3": { hash: "sha384", ecdsa: true },
  "1.2.840.10045.4.3.4": { hash: "sha512", ecdsa: true },
  "1.2.840.113549.1.1.11": { hash: "sha256", ecdsa: false },
  "1.2.840.113549.1.1.12": { hash: "sha384", ecdsa: false },
  "1.2.840.113549.1.1.13": { hash: "sha512", ecdsa: false },
};

/**
 * Parses `input` (DER, or PEM "X509 CRL") and checks it as a complete CRL of
 * the CA `issuer`: v2, issuer name = the CA's subject, signature by the CA's
 * key, a CRLNumber (RFC 5280 §5.2.3 MUST), a nextUpdate (§5.1.2.5), not a
 * delta CRL (§5.2.4) nor a partitioned one (§5.2.5). Throws CrlImportError.
 */
export function checkImportedCrl(input: Buffer, issuer: CaCertificateInfo): CheckedCrl {
  const text = input.subarray(0, 64).toString("latin1");
  const der = text.includes("-----BEGIN") ? fromPem(input.toString("latin1"), "X509 CRL") : input;
  if (!der || der.length === 0) throw new CrlImportError("not a CRL (DER, or PEM with an X509 CRL block)");
  let crl: pkijs.CertificateRevocationList;
  let tbsDer: Buffer;
  let sigOid: string;
  let signature: Buffer;
  let issuerDer: Buffer;
  try {
    // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
    const outer = expectNode(der, 0, TAG.SEQUENCE);
    if (outer.end !== der.length) throw new Error("trailing data after the CRL");
    const [tbs, alg, sig] = children(der, outer);
    if (!tbs || !alg || !sig || sig.tag !== TAG.BIT_STRING) throw new Error("CertificateList");
    tbsDer = Buffer.from(rawOf(der, tbs));
    sigOid = readOid(der, children(der, alg)[0]!);
    if (der[sig.valueStart] !== 0) throw new Error("signature BIT STRING");
    signature = Buffer.from(der.subarray(sig.valueStart + 1, sig.end));
    // TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature, issuer, thisUpdate, ... }
    const f = children(der, tbs);
    const o = f[0]!.tag === TAG.INTEGER ? 1 : 0;
    issuerDer = Buffer.from(rawOf(der, f[o + 1]!));
    crl = pkijs.CertificateRevocationList.fromBER(der);
  } catch {
    throw new CrlImportError("not a valid CRL (RFC 5280 §5.1)");
  }
  if (crl.version !== 1) throw new CrlImportError("not a v2 CRL (RFC 5280 §5.1.2.1)");
  if (!issuerDer.equals(issuer.subjectDer)) throw new CrlImportError("the CRL's issuer is not this CA's subject");
  const scheme = SIGNATURE_HASH[sigOid];
  if (!scheme) throw new CrlImportError(`the CRL's signature algorithm ${sigOid} is not supported`);
  let ok = false;
  try {
    ok = verify(scheme.hash, tbsDer, scheme.ecdsa ? { key: issuer.publicKey, dsaEncoding: "der" } : issuer.publicKey, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new CrlImportError("the CRL's signature does not verify with this CA's key");
  const ext = (oid: string) => crl.crlExtensions?.extensions.find((e) => e.extnID === oid);
  if (ext(OID.deltaCrlIndicator)) throw new CrlImportError("a delta CRL cannot be imported; import a complete CRL (RFC 5280 §5.2.4)");
  if (ext(OID.issuingDistributionPoint)) throw new CrlImportError("a partitioned CRL (issuingDistributionPoint) cannot be imported (RFC 5280 §5.2.5)");
  const numberExt = ext(OID.crlNumber);
  const numberValue: unknown = numberExt?.parsedValue;
  let crlNumber: bigint | undefined;
  if (numberValue instanceof asn1js.Integer) crlNumber = numberValue.toBigInt();
  else if (numberExt) {
    try {
      crlNumber = (asn1js.fromBER(numberExt.extnValue.valueBlock.valueHexView).result as asn1js.Integer).toBigInt();
    } catch {
      crlNumber = undefined;
    }
  }
  if (crlNumber === undefined) throw new CrlImportError("the CRL has no CRL number (RFC 5280 §5.2.3)");
  if (crlNumber < 0n) throw new CrlImportError("the CRL number is negative (RFC 5280 §5.2.3)");
  if (!crl.nextUpdate) throw new CrlImportError("the CRL has no nextUpdate (RFC 5280 §5.1.2.5)");
  return {
    der: Buffer.from(der),
    crlNumber,
    thisUpdate: crl.thisUpdate.value,
    nextUpdate: crl.nextUpdate.value,
    entryCount: crl.revokedCertificates?.length ?? 0,
  };
}
