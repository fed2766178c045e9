/**
 * The signer: CA certificates, leaf certificates and CRLs (RFC 5280).
 *
 * Structures are written as DER bytes (./der.ts) and signed with node:crypto.
 * loadIssuer() parses a CA certificate once (pkijs, plus the raw bytes that
 * must be copied verbatim) and pre-encodes every part of a leaf
 * TBSCertificate that does not vary per certificate, so issueLeaf() only
 * encodes serial, validity, subject, SPKI, SKI and SAN, then signs.
 *
 * Signing goes through a SigningKey (./key-store.ts): this module never
 * holds private key material, whether the key is in the database or in a
 * PKCS#11 token.
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import * as pkijs from "pkijs";
import * as asn1js from "asn1js";
import { SigilError } from "../core/errors.js";
import type { KeyAlgorithm, LeafType, RevocationReason } from "../core/types.js";
import {
  children,
  ctxCons,
  ctxPrim,
  derBitString,
  derBoolean,
  derInteger,
  derOctetString,
  derOid,
  derPrintable,
  derTime,
  derUnsignedInteger,
  derUtf8,
  expectNode,
  lengthOfLength,
  rawOf,
  seq,
  set,
  TAG,
  timeSize,
  tlv,
  toPem,
  writeLength,
  writeTime,
} from "./der.js";
import { ipFromText } from "./ip.js";
import type { SigningKey } from "./key-store.js";
import { checkLeafKeyPolicySpki, inspectSpki, keyAlgorithmOf, spkiOf } from "./keys.js";
import { normalizeSerial } from "./serial.js";
import { ENTRIES_HEAD_ROOM, RevokedCertificatesWriter, writeEntryColumns, writeEntryObjects, type CrlEntryColumns } from "./crl-entries.js";

export { RevokedCertificatesWriter, type CrlEntryColumns } from "./crl-entries.js";

// ---------------------------------------------------------------- public types

/** A subject or issuer name. Encoded C, O, OU, CN in that order (RFC 5280 §4.1.2.4). */
export interface DistinguishedName {
  /** 1..64 characters (RFC 5280 Appendix A ub-common-name) */
  commonName: string;
  /** up to 64 characters */
  organization?: string;
  /** up to 64 characters */
  organizationalUnit?: string;
  /** two-letter ISO 3166 code, encoded as PrintableString */
  country?: string;
}

/** Where relying parties fetch things; each present URL goes into the certificates an issuer signs. */
export interface PublicUrls {
  /** RFC 5280 §4.2.1.13 CRL distribution point */
  crlUrl?: string;
  /** RFC 5280 §4.2.2.1 AIA caIssuers (the issuer's certificate, DER) */
  caIssuersUrl?: string;
  /** RFC 5280 §4.2.2.1 AIA OCSP responder (RFC 6960) */
  ocspUrl?: string;
}

export interface SignedCertificate {
  der: Buffer;
  pem: string;
}

/** A CA ready to sign; built once by loadIssuer() and reused. */
export interface Issuer {
  readonly certificateDer: Buffer;
  readonly pem: string;
  /** the certificate's subject Name DER, copied verbatim into what it issues */
  readonly subjectDer: Buffer;
  readonly serial: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** basicConstraints pathLenConstraint; null when unlimited */
  readonly pathLength: number | null;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly subjectKeyIdentifier: Buffer;
  /** the CA key's signing handle (database or PKCS#11 key store) */
  readonly signingKey: SigningKey;
  readonly urls: PublicUrls;
}

export type { LeafType } from "../core/types.js";

export interface LeafParams {
  /** the subject's key, or its SubjectPublicKeyInfo DER (e.g. ParsedCsr.publicKeySpki) */
  publicKey: KeyObject | Buffer;
  type: LeafType;
  /** subject CN; when absent the subject is empty and the SAN critical (RFC 5280 §4.2.1.6) */
  commonName?: string;
  dnsNames: string[];
  /** IPv4 or IPv6 text */
  ipAddresses: string[];
  emails: string[];
  serial: Buffer;
  notBefore: Date;
  /** clamped to the issuer's notAfter */
  notAfter: Date;
  /**
   * RFC 5280 §4.2.1.3 key usages (an ACME profile's); absent: digitalSignature,
   * plus keyEncipherment for RSA keys. keyEncipherment is written only for RSA
   * keys and keyAgreement only for EC keys (RFC 8813 §3, RFC 5480 §3).
   */
  keyUsages?: readonly LeafKeyUsage[];
}

/** the key usages a leaf may carry (LeafParams.keyUsages) */
export type LeafKeyUsage = "digitalSignature" | "keyEncipherment" | "keyAgreement";

export interface CrlEntry {
  serial: Buffer;
  revokedAt: Date;
  /** RFC 5280 §5.3.1; unspecified (0) or absent means no reasonCode extension */
  reason?: RevocationReason;
}

export interface CrlParams {
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: CrlEntry[];
}

// ---------------------------------------------------------------- OIDs and fixed encodings

const OID = {
  commonName: "2.5.4.3",
  country: "2.5.4.6",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  crlNumber: "2.5.29.20",
  reasonCode: "2.5.29.21",
  crlDistributionPoints: "2.5.29.31",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  authorityInfoAccess: "1.3.6.1.5.5.7.1.1",
  ocsp: "1.3.6.1.5.5.7.48.1",
  caIssuers: "1.3.6.1.5.5.7.48.2",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  ecdsaWithSha384: "1.2.840.10045.4.3.3",
  sha256WithRsa: "1.2.840.113549.1.1.11",
} as const;

/** [0] EXPLICIT Version v3(2) (RFC 5280 §4.1.2.1) */
const VERSION_V3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
/** Version v2(1) of TBSCertList (RFC 5280 §5.1.2.1) */
const CRL_VERSION_V2 = Buffer.from([0x02, 0x01, 0x01]);
const EMPTY_NAME = Buffer.from([0x30, 0x00]);

interface SignatureAlgorithm {
  /** AlgorithmIdentifier DER */
  algId: Buffer;
}

/**
 * RFC 5758 §3.2: ecdsa-with-SHA256 / -SHA384 with parameters absent;
 * RFC 4055 §5: sha256WithRSAEncryption with NULL parameters. The key
 * store signs with the same scheme for the key's algorithm
 * (signatureHashOf in ./key-store.ts).
 */
function signatureAlgorithmFor(alg: KeyAlgorithm): SignatureAlgorithm {
  switch (alg) {
    case "p256":
      return { algId: seq(derOid(OID.ecdsaWithSha256)) };
    case "p384":
      return { algId: seq(derOid(OID.ecdsaWithSha384)) };
    case "rsa2048":
    case "rsa3072":
    case "rsa4096":
      return { algId: seq(derOid(OID.sha256WithRsa), Buffer.from([0x05, 0x00])) };
    default: {
      const never: never = alg;
      throw SigilError.internal(`no signature algorithm for ${String(never)}`);
    }
  }
}

/** Certificate / CertificateList ::= SEQUENCE { tbs, signatureAlgorithm, signatureValue BIT STRING } */
function wrapSigned(tbs: Buffer, sa: SignatureAlgorithm, key: SigningKey): Buffer {
  return seq(tbs, sa.algId, derBitString(key.sign(tbs)));
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } (RFC 5280 §4.1) */
function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  // X.690 §11.5: a DEFAULT value is omitted in DER, so critical=FALSE is never written
  return critical ? seq(derOid(oid), derBoolean(true), derOctetString(value)) : seq(derOid(oid), derOctetString(value));
}

/** RFC 5280 §4.2.1.9 */
function basicConstraintsExt(ca: boolean, pathLength: number | null): Buffer {
  const parts: Buffer[] = [];
  if (ca) parts.push(derBoolean(true));
  if (ca && pathLength !== null) parts.push(derInteger(pathLength));
  return extension(OID.basicConstraints, true, seq(...parts));
}

const KU = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
} as const;

/** RFC 5280 §4.2.1.3, a named BIT STRING: X.690 §11.2.2 trailing zero bits removed */
function keyUsageExt(bits: number[]): Buffer {
  const max = Math.max(...bits);
  const bytes = Buffer.alloc((max >> 3) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  const unused = 7 - (max & 7);
  return extension(OID.keyUsage, true, derBitString(bytes, unused));
}

/** BasicConstraints || KeyUsage || ExtKeyUsage with a profile's key usages (LeafParams.keyUsages) */
function customLeadExts(type: LeafType, usages: readonly LeafKeyUsage[], rsa: boolean): Buffer {
  const bits = usages.filter((u) => (u === "keyEncipherment" ? rsa : u === "keyAgreement" ? !rsa : true)).map((u) => KU[u]);
  if (!bits.length) bits.push(KU.digitalSignature);
  return Buffer.concat([LEAF_BC, keyUsageExt(bits), extKeyUsageExt(type)]);
}

/** RFC 5280 §4.2.1.12 */
function extKeyUsageExt(type: LeafType): Buffer {
  const oids = type === "server" ? [OID.serverAuth] : type === "client" ? [OID.clientAuth] : [OID.serverAuth, OID.clientAuth];
  return extension(OID.extKeyUsage, false, seq(...oids.map(derOid)));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING value */
export function keyIdentifierOf(spki: Buffer): Buffer {
  return createHash("sha1").update(inspectSpki(spki).publicKeyBits).digest();
}

function skiExt(keyId: Buffer): Buffer {
  return extension(OID.subjectKeyIdentifier, false, derOctetString(keyId));
}

/** RFC 5280 §4.2.1.1: AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING } */
function akiExt(keyId: Buffer): Buffer {
  return extension(OID.authorityKeyIdentifier, false, seq(ctxPrim(0, keyId)));
}

/**
 * Whether the signer writes `url` as a GeneralName uniformResourceIdentifier
 * (RFC 5280 §4.2.1.6: an IA5String URI; here an absolute http(s) URL of
 * printable ASCII without spaces). What accepts a CA's URLs ahead of signing
 * (the CRL base URL) uses this, so it refuses exactly what signing would.
 */
export function isSignableUrl(url: string): boolean {
  return /^https?:\/\/[\x21-\x7e]+$/.test(url);
}

function checkUrl(url: string, field: string): Buffer {
  if (!isSignableUrl(url)) {
    throw SigilError.invalidArgument(`${field} must be an absolute http(s) URL in ASCII`, field);
  }
  return Buffer.from(url, "latin1");
}

/** RFC 5280 §4.2.1.13 and §4.2.2.1; the DER of the extensions the urls call for */
function urlExtensions(urls: PublicUrls): Buffer[] {
  const out: Buffer[] = [];
  if (urls.crlUrl) {
    // DistributionPoint { distributionPoint [0] { fullName [0] { uniformResourceIdentifier [6] } } }
    const uri = ctxPrim(6, checkUrl(urls.crlUrl, "crlUrl"));
    out.push(extension(OID.crlDistributionPoints, false, seq(seq(ctxCons(0, ctxCons(0, uri))))));
  }
  const access: Buffer[] = [];
  if (urls.ocspUrl) access.push(seq(derOid(OID.ocsp), ctxPrim(6, checkUrl(urls.ocspUrl, "ocspUrl"))));
  if (urls.caIssuersUrl) access.push(seq(derOid(OID.caIssuers), ctxPrim(6, checkUrl(urls.caIssuersUrl, "caIssuersUrl"))));
  if (access.length) out.push(extension(OID.authorityInfoAccess, false, seq(...access)));
  return out;
}

// ---------------------------------------------------------------- names

const UB_NAME = 64; // RFC 5280 Appendix A: ub-common-name, ub-organization-name, ub-organizational-unit-name

function checkDnString(v: string, field: string): void {
  if (v.length === 0 || v.length > UB_NAME) {
    throw SigilError.invalidArgument(`${field} must be 1 to ${UB_NAME} characters`, field);
  }
  if (/[\u0000-\u001f\u007f]/.test(v)) throw SigilError.invalidArgument(`${field} contains control characters`, field);
}

/** RFC 5280 §4.1.2.4: UTF8String for DirectoryString, PrintableString for countryName */
export function encodeName(dn: DistinguishedName): Buffer {
  const rdn = (oid: string, value: Buffer): Buffer => set(seq(derOid(oid), value));
  const rdns: Buffer[] = [];
  if (dn.country !== undefined) {
    if (!/^[A-Z]{2}$/.test(dn.country)) throw SigilError.invalidArgument("country must be a two-letter ISO 3166 code", "country");
    rdns.push(rdn(OID.country, derPrintable(dn.country)));
  }
  if (dn.organization !== undefined) {
    checkDnString(dn.organization, "organization");
    rdns.push(rdn(OID.organization, derUtf8(dn.organization)));
  }
  if (dn.organizationalUnit !== undefined) {
    checkDnString(dn.organizationalUnit, "organizationalUnit");
    rdns.push(rdn(OID.organizationalUnit, derUtf8(dn.organizationalUnit)));
  }
  checkDnString(dn.commonName, "commonName");
  rdns.push(rdn(OID.commonName, derUtf8(dn.commonName)));
  return seq(...rdns);
}

// ---------------------------------------------------------------- CA certificates

function validity(notBefore: Date, notAfter: Date): Buffer {
  if (!(notBefore.getTime() < notAfter.getTime())) {
    throw SigilError.invalidArgument("notBefore must be before notAfter", "notAfter");
  }
  // RFC 5280 §4.1.2.5
  return seq(derTime(notBefore), derTime(notAfter));
}

function caKeyAlgorithm(publicKey: KeyObject): KeyAlgorithm {
  const alg = keyAlgorithmOf(publicKey);
  if (!alg) throw SigilError.badPublicKey("CA keys must be P-256, P-384, RSA 2048, RSA 3072 or RSA 4096");
  return alg;
}

function checkPathLength(pathLength: number | null | undefined): number | null {
  if (pathLength === undefined || pathLength === null) return null;
  if (!Number.isInteger(pathLength) || pathLength < 0 || pathLength > 255) {
    throw SigilError.invalidArgument("pathLength must be an integer from 0 to 255, or null for no limit", "pathLength");
  }
  return pathLength;
}

/** RFC 5280 §4.2.1.3: keyCertSign + cRLSign; digitalSignature so the CA can sign OCSP responses itself */
const CA_KEY_USAGE = keyUsageExt([KU.digitalSignature, KU.keyCertSign, KU.cRLSign]);

function caTbs(p: {
  serial: Buffer;
  sa: SignatureAlgorithm;
  issuerName: Buffer;
  subjectName: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  pathLength: number | null;
  authorityKeyId: Buffer;
  urls: PublicUrls;
}): Buffer {
  const ski = keyIdentifierOf(p.spki);
  const exts = [
    basicConstraintsExt(true, p.pathLength),
    CA_KEY_USAGE,
    skiExt(ski),
    akiExt(p.authorityKeyId),
    ...urlExtensions(p.urls),
  ];
  return seq(
    VERSION_V3,
    derUnsignedInteger(normalizeSerial(p.serial)),
    p.sa.algId,
    p.issuerName,
    validity(p.notBefore, p.notAfter),
    p.subjectName,
    p.spki,
    ctxCons(3, seq(...exts)),
  );
}

/**
 * A self-signed root CA certificate: BasicConstraints critical cA=TRUE (with
 * pathLen when given), KeyUsage critical, SKI, and AKI equal to the SKI.
 */
export async function createRootCa(p: {
  subject: DistinguishedName;
  /** the new CA's key, from a key store */
  signingKey: SigningKey;
  serial: Buffer;
  notBefore: Date;
  notAfter: Date;
  pathLength?: number | null;
}): Promise<SignedCertificate> {
  const alg = caKeyAlgorithm(p.signingKey.publicKey);
  const sa = signatureAlgorithmFor(alg);
  const spki = p.signingKey.spki;
  const name = encodeName(p.subject);
  const tbs = caTbs({
    serial: p.serial,
    sa,
    issuerName: name,
    subjectName: name,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    spki,
    pathLength: checkPathLength(p.pathLength),
    authorityKeyId: keyIdentifierOf(spki),
    urls: {},
  });
  const der = wrapSigned(tbs, sa, p.signingKey);
  return { der, pem: toPem(der, "CERTIFICATE") };
}

/**
 * A subordinate CA certificate signed by `issuer`. Its validity must lie
 * within the issuer's and its pathLength must be below the issuer's
 * (RFC 5280 §4.2.1.9); the issuer's CRL DP and AIA URLs are included.
 */
export async function issueSubordinateCa(
  issuer: Issuer,
  p: {
    /** the subject, or (signing a CSR: src/ca/csr-builder.ts readCaCsr) its Name DER copied verbatim */
    subject: DistinguishedName | { der: Buffer };
    publicKey: KeyObject;
    serial: Buffer;
    notBefore: Date;
    notAfter: Date;
    pathLength: number | null;
  },
): Promise<SignedCertificate> {
  const st = stateOf(issuer);
  caKeyAlgorithm(p.publicKey);
  if (p.notBefore.getTime() < issuer.notBefore.getTime()) {
    throw SigilError.invalidArgument(`notBefore must not be before the issuer's notBefore (${issuer.notBefore.toISOString()})`, "notBefore");
  }
  if (p.notAfter.getTime() > issuer.notAfter.getTime()) {
    throw SigilError.invalidArgument(`notAfter must not be after the issuer's notAfter (${issuer.notAfter.toISOString()})`, "notAfter");
  }
  const pathLength = checkPathLength(p.pathLength);
  if (issuer.pathLength !== null && (pathLength === null || pathLength >= issuer.pathLength)) {
    throw SigilError.invalidArgument(
      issuer.pathLength === 0
        ? "the issuer's path length is 0: it cannot issue subordinate CAs"
        : `pathLength must be below the issuer's path length ${issuer.pathLength} (at most ${issuer.pathLength - 1})`,
      "pathLength",
    );
  }
  const tbs = caTbs({
    serial: p.serial,
    sa: st.sa,
    issuerName: issuer.subjectDer,
    subjectName: "der" in p.subject ? p.subject.der : encodeName(p.subject),
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    spki: spkiOf(p.publicKey),
    pathLength,
    authorityKeyId: issuer.subjectKeyIdentifier,
    urls: issuer.urls,
  });
  const der = wrapSigned(tbs, st.sa, issuer.signingKey);
  return { der, pem: toPem(der, "CERTIFICATE") };
}

// ---------------------------------------------------------------- issuer loading

interface IssuerState {
  sa: SignatureAlgorithm;
  /** signatureAlgorithm || issuer Name, between serial and validity in a TBSCertificate */
  algAndName: Buffer;
  /** per leaf type and key kind: BasicConstraints || KeyUsage || ExtKeyUsage */
  leadExts: Record<LeafType, { rsa: Buffer; ec: Buffer }>;
  /** AKI || CRL DP || AIA */
  trailExts: Buffer;
  /** CRL: AKI extension */
  crlAki: Buffer;
}

const states = new WeakMap<Issuer, IssuerState>();

function stateOf(issuer: Issuer): IssuerState {
  const st = states.get(issuer);
  if (!st) throw SigilError.internal("issuer was not created by loadIssuer()");
  return st;
}

const LEAF_BC = basicConstraintsExt(false, null);
const LEAF_KU_EC = keyUsageExt([KU.digitalSignature]);
const LEAF_KU_RSA = keyUsageExt([KU.digitalSignature, KU.keyEncipherment]);

/**
 * Parses a CA certificate once and precomputes what signing needs. Refuses
 * certificates that are not CAs (RFC 5280 §4.2.1.9 cA, §4.2.1.3
 * keyCertSign) and a signing key that does not match the certificate.
 */
export function loadIssuer(p: { certificateDer: Buffer; signingKey: SigningKey; urls?: PublicUrls }): Issuer {
  const der = Buffer.from(p.certificateDer);
  let cert: pkijs.Certificate;
  let subjectDer: Buffer;
  let spki: Buffer;
  try {
    cert = pkijs.Certificate.fromBER(der);
    // raw bytes, copied verbatim into issued certificates (RFC 5280 §7.1 name matching)
    const outer = expectNode(der, 0, TAG.SEQUENCE);
    const tbs = expectNode(der, outer.valueStart, TAG.SEQUENCE, outer.end);
    const f = children(der, tbs);
    const o = f[0]!.tag === 0xa0 ? 1 : 0;
    subjectDer = Buffer.from(rawOf(der, f[o + 4]!));
    spki = Buffer.from(rawOf(der, f[o + 5]!));
  } catch (e) {
    throw new SigilError("invalidArgument", "CA certificate could not be parsed", { field: "certificateDer", cause: e });
  }
  const ext = (oid: string): pkijs.Extension | undefined => cert.extensions?.find((x) => x.extnID === oid);

  const bcExt = ext(OID.basicConstraints);
  const bc = bcExt?.parsedValue instanceof pkijs.BasicConstraints ? bcExt.parsedValue : undefined;
  if (!bc?.cA) throw SigilError.invalidArgument("certificate is not a CA (basicConstraints cA is not TRUE)", "certificateDer");
  const pl = bc.pathLenConstraint;
  const pathLength = pl === undefined ? null : typeof pl === "number" ? pl : pl.valueBlock.valueDec;

  const kuExt = ext(OID.keyUsage);
  if (kuExt?.parsedValue instanceof asn1js.BitString) {
    const bytes = new Uint8Array(kuExt.parsedValue.valueBlock.valueHexView);
    if (((bytes[0] ?? 0) & (0x80 >> KU.keyCertSign)) === 0) {
      throw SigilError.invalidArgument("CA certificate's key usage lacks keyCertSign", "certificateDer");
    }
  }

  let ski: Buffer;
  const skiExtension = ext(OID.subjectKeyIdentifier);
  if (skiExtension?.parsedValue instanceof asn1js.OctetString) {
    ski = Buffer.from(skiExtension.parsedValue.valueBlock.valueHexView);
  } else ski = keyIdentifierOf(spki);

  const certKey = createPublicKey({ key: spki, format: "der", type: "spki" });
  if (!p.signingKey.spki.equals(certKey.export({ type: "spki", format: "der" }))) {
    throw SigilError.invalidArgument("CA private key does not match the CA certificate", "privateKey");
  }
  const keyAlgorithm = caKeyAlgorithm(certKey);
  const sa = signatureAlgorithmFor(keyAlgorithm);
  const urls: PublicUrls = { ...(p.urls ?? {}) };
  const aki = akiExt(ski);
  const trailExts = Buffer.concat([aki, ...urlExtensions(urls)]);
  const lead = (t: LeafType): { rsa: Buffer; ec: Buffer } => ({
    rsa: Buffer.concat([LEAF_BC, LEAF_KU_RSA, extKeyUsageExt(t)]),
    ec: Buffer.concat([LEAF_BC, LEAF_KU_EC, extKeyUsageExt(t)]),
  });

  const issuer: Issuer = Object.freeze({
    certificateDer: der,
    pem: toPem(der, "CERTIFICATE"),
    subjectDer,
    serial: Buffer.from(cert.serialNumber.valueBlock.valueHexView),
    notBefore: cert.notBefore.value,
    notAfter: cert.notAfter.value,
    pathLength,
    keyAlgorithm,
    subjectKeyIdentifier: ski,
    signingKey: p.signingKey,
    urls,
  });
  states.set(issuer, {
    sa,
    algAndName: Buffer.concat([sa.algId, subjectDer]),
    leadExts: { server: lead("server"), client: lead("client"), dual: lead("dual") },
    trailExts,
    crlAki: aki,
  });
  return issuer;
}

// ---------------------------------------------------------------- leaves

const SAN_LIMIT = 100;

function sanName(tag: number, value: string, field: string): Buffer {
  if (value.length === 0 || value.length > 253 || !/^[\x21-\x7e]+$/.test(value)) {
    throw SigilError.invalidArgument(`${field} entry "${value}" is not a printable ASCII name`, field);
  }
  return ctxPrim(tag, Buffer.from(value, "latin1"));
}

/** RFC 5280 §4.2.1.6 GeneralNames: dNSName [2], iPAddress [7], rfc822Name [1] */
function encodeSan(p: LeafParams): Buffer {
  const names: Buffer[] = [];
  for (const d of p.dnsNames) names.push(sanName(2, d, "dnsNames"));
  for (const ip of p.ipAddresses) {
    const b = ipFromText(ip);
    if (!b) throw SigilError.invalidArgument(`ipAddresses entry "${ip}" is not an IP address`, "ipAddresses");
    names.push(ctxPrim(7, b));
  }
  for (const e of p.emails) {
    if (!e.includes("@")) throw SigilError.invalidArgument(`emails entry "${e}" is not an email address`, "emails");
    names.push(sanName(1, e, "emails"));
  }
  return seq(...names);
}

/**
 * Signs a leaf certificate (synchronous). Applies the leaf key policy,
 * clamps notAfter to the issuer's, and writes: BasicConstraints critical
 * cA=FALSE, KeyUsage critical (digitalSignature, plus keyEncipherment for RSA
 * keys only), EKU for the type, SKI, AKI, CRL DP / AIA from the issuer's
 * URLs, and the SAN (critical when the subject is empty).
 */
export function issueLeaf(issuer: Issuer, p: LeafParams): SignedCertificate {
  const st = stateOf(issuer);
  const spki = Buffer.isBuffer(p.publicKey) ? p.publicKey : spkiOf(p.publicKey);
  const keyInfo = checkLeafKeyPolicySpki(spki);

  const nameCount = p.dnsNames.length + p.ipAddresses.length + p.emails.length;
  if (nameCount === 0) throw SigilError.invalidArgument("a certificate needs at least one DNS name, IP address or email", "dnsNames");
  if (nameCount > SAN_LIMIT) throw SigilError.invalidArgument(`at most ${SAN_LIMIT} names per certificate`, "dnsNames");

  let subject: Buffer = EMPTY_NAME;
  if (p.commonName !== undefined) {
    checkDnString(p.commonName, "commonName");
    subject = seq(set(seq(derOid(OID.commonName), derUtf8(p.commonName))));
  }

  const notAfter = p.notAfter.getTime() > issuer.notAfter.getTime() ? issuer.notAfter : p.notAfter;
  if (!(p.notBefore.getTime() < notAfter.getTime())) {
    throw SigilError.invalidArgument("notBefore must be before notAfter (after clamping to the issuer's notAfter)", "notAfter");
  }
  const validityBytes = Buffer.allocUnsafe(timeSize(p.notBefore) + timeSize(notAfter) + 2);
  validityBytes[0] = TAG.SEQUENCE;
  validityBytes[1] = validityBytes.length - 2;
  writeTime(validityBytes, writeTime(validityBytes, 2, p.notBefore), notAfter);

  const skiValue = createHash("sha1").update(keyInfo.publicKeyBits).digest();
  const san = extension(OID.subjectAltName, subject === EMPTY_NAME, encodeSan(p));
  const lead = st.leadExts[p.type];
  if (!lead) throw SigilError.invalidArgument(`unknown certificate type ${String(p.type)}`, "type");
  const leadExts = p.keyUsages ? customLeadExts(p.type, p.keyUsages, keyInfo.kind === "rsa") : keyInfo.kind === "rsa" ? lead.rsa : lead.ec;
  const exts = tlv(0xa3, tlv(TAG.SEQUENCE, leadExts, skiExt(skiValue), st.trailExts, san));

  const tbs = seq(
    VERSION_V3,
    derUnsignedInteger(normalizeSerial(p.serial)),
    st.algAndName,
    validityBytes,
    subject,
    spki,
    exts,
  );
  const der = wrapSigned(tbs, st.sa, issuer.signingKey);
  return { der, pem: toPem(der, "CERTIFICATE") };
}

// ---------------------------------------------------------------- CRLs

/**
 * Signs a v2 CRL (RFC 5280 §5) with CRLNumber and AKI extensions and one
 * entry per revoked certificate (reasonCode omitted for unspecified, §5.3.1).
 * `entries` may be objects, the columns a store reads, or a
 * RevokedCertificatesWriter (./crl-entries.ts) a store has already streamed
 * the rows into; either way the list is encoded once (one writing pass), then
 * wrapped and signed (one copy, one hash).
 */
export function signCrl(
  issuer: Issuer,
  p: CrlParams | (Omit<CrlParams, "entries"> & { entries: CrlEntryColumns | RevokedCertificatesWriter }),
): Buffer {
  const st = stateOf(issuer);
  if (!(p.thisUpdate.getTime() < p.nextUpdate.getTime())) {
    throw SigilError.invalidArgument("nextUpdate must be after thisUpdate", "nextUpdate");
  }
  // RFC 5280 §5.2.3: CRLNumber is a non-negative integer of at most 20 octets
  if (p.crlNumber < 0n || p.crlNumber >= 1n << 159n) {
    throw SigilError.invalidArgument("crlNumber must be non-negative and fit in 20 octets", "crlNumber");
  }
  const e = p.entries;
  const written = e instanceof RevokedCertificatesWriter ? e : Array.isArray(e) ? writeEntryObjects(e) : writeEntryColumns(e);
  const listLen = written.bytes.length;

  const head = Buffer.concat([CRL_VERSION_V2, st.algAndName, derTime(p.thisUpdate), derTime(p.nextUpdate)]);
  const crlExts = ctxCons(0, seq(st.crlAki, extension(OID.crlNumber, false, derInteger(p.crlNumber))));
  // RFC 5280 §5.1.2.6: revokedCertificates is absent when there are none
  const listHeader = written.count === 0 ? 0 : 1 + lengthOfLength(listLen);
  const tbsLen = head.length + listHeader + listLen + crlExts.length;
  const tbsHeader = 1 + lengthOfLength(tbsLen);
  const maxSig = 8 + 1024; // BIT STRING header + up to RSA 8192
  const room = 6; // outer SEQUENCE header, written after signing
  const before = room + tbsHeader + head.length + listHeader;
  const after = crlExts.length + st.sa.algId.length + maxSig;

  // the TBSCertList around the entries where the writer left them (no copy of the list), unless
  // that would keep much unused memory alive with the CRL; else one buffer of the exact size
  let buf: Buffer;
  let o: number;
  const inPlace = before <= ENTRIES_HEAD_ROOM && written.slack - after <= (listLen >> 3) + 64 * 1024;
  if (inPlace) {
    const f = written.frame(after);
    buf = f.buf;
    o = f.start - before + room;
  } else {
    buf = Buffer.allocUnsafe(before + listLen + after);
    o = room;
  }
  const tbsStart = o;
  buf[o++] = TAG.SEQUENCE;
  o = writeLength(buf, o, tbsLen);
  o += head.copy(buf, o);
  if (written.count > 0) {
    buf[o++] = TAG.SEQUENCE;
    o = writeLength(buf, o, listLen);
    if (inPlace) o += listLen;
    else o += written.bytes.copy(buf, o);
  }
  o += crlExts.copy(buf, o);
  const tbsEnd = o;

  const sig = issuer.signingKey.sign(buf.subarray(tbsStart, tbsEnd));
  o += st.sa.algId.copy(buf, o);
  buf[o++] = TAG.BIT_STRING;
  o = writeLength(buf, o, sig.length + 1);
  buf[o++] = 0;
  o += sig.copy(buf, o);
  const outerLen = o - tbsStart;
  const hdr = 1 + lengthOfLength(outerLen);
  const start = tbsStart - hdr;
  buf[start] = TAG.SEQUENCE;
  writeLength(buf, start + 1, outerLen);
  return buf.subarray(start, o);
}

/** PEM of a CRL (RFC 7468 §6) */
export function crlToPem(der: Buffer): string {
  return toPem(der, "X509 CRL");
}

