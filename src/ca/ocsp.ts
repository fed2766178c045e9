/**
 * OCSP wire formats (RFC 6960) written and read as DER bytes with ./der.ts:
 * parsing an OCSPRequest, building SingleResponses and a signed
 * BasicOCSPResponse, the fixed error responses, and the delegated OCSP
 * signing certificate (RFC 6960 §4.2.2.2). Hand-encoded so the responder's
 * cache path is a Map lookup and a cached buffer, and a fresh response (nonce)
 * one encoding pass plus one signature.
 */
import { createHash, type KeyObject } from "node:crypto";
import { SigilError } from "../core/errors.js";
import type { KeyAlgorithm, RevocationReason } from "../core/types.js";
import {
  children,
  ctxCons,
  ctxPrim,
  DerError,
  derBitString,
  derBoolean,

  derOctetString,
  derOid,
  derTime,
  derUnsignedInteger,
  derUtf8,
  expectNode,
  readNode,
  readOid,
  readUnsignedInteger,
  rawOf,
  seq,
  set,
  TAG,
  tlv,
  toPem,
  valueOf,
  type DerNode,
} from "./der.js";
import type { SigningKey } from "./key-store.js";
import { inspectSpki, spkiOf } from "./keys.js";
import { normalizeSerial } from "./serial.js";
import type { Issuer, SignedCertificate } from "./signer.js";

export const OCSP_OID = {
  /** RFC 6960 §4.2.1 id-pkix-ocsp-basic */
  basic: "1.3.6.1.5.5.7.48.1.1",
  /** RFC 6960 §4.4.1 / RFC 8954 id-pkix-ocsp-nonce */
  nonce: "1.3.6.1.5.5.7.48.1.2",
  /** RFC 6960 §4.2.2.2.1 id-pkix-ocsp-nocheck */
  noCheck: "1.3.6.1.5.5.7.48.1.5",
  /** RFC 5280 §4.2.1.12 id-kp-OCSPSigning */
  ocspSigning: "1.3.6.1.5.5.7.3.9",
} as const;

/** RFC 6960 §4.2.1 OCSPResponseStatus */
export type OcspResponseStatus = "successful" | "malformedRequest" | "internalError" | "tryLater" | "sigRequired" | "unauthorized";

const STATUS_CODE: Record<OcspResponseStatus, number> = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  // 4 is not used
  sigRequired: 5,
  unauthorized: 6,
};

/** The OCSPResponse of an error status: SEQUENCE { responseStatus ENUMERATED } with no responseBytes (RFC 6960 §4.2.1). */
export function ocspErrorResponse(status: Exclude<OcspResponseStatus, "successful">): Buffer {
  return Buffer.from([0x30, 0x03, TAG.ENUMERATED, 0x01, STATUS_CODE[status]]);
}

/** Hash algorithms a CertID may use (RFC 6960 §4.1.1; SHA-1 is what most clients send, RFC 5019 §2.1.1). */
export type CertIdHash = "sha1" | "sha256" | "sha384" | "sha512";
const HASH_OIDS: Record<string, CertIdHash> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
const HASH_LENGTH: Record<CertIdHash, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

/** RFC 6960 §4.1.1 CertID, with its exact bytes (the response echoes them). */
export interface CertId {
  hash: CertIdHash;
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  /** unsigned magnitude, leading zeros stripped */
  serial: Buffer;
  /** the CertID DER as received */
  der: Buffer;
}

export interface ParsedOcspRequest {
  certIds: CertId[];
  /** the nonce extension's extnValue as received (RFC 8954 §2.1), echoed verbatim */
  nonce?: Buffer;
}

/** Thrown for any request that is not a well-formed OCSPRequest; the responder answers malformedRequest. */
export class MalformedOcspRequest extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedOcspRequest";
  }
}

/** RFC 8954 §2.1: Nonce ::= OCTET STRING (SIZE(1..32)) */
export const MAX_NONCE_OCTETS = 32;
/** requests naming more certificates than this are refused (malformedRequest): bounds the work one request can cause */
export const MAX_CERT_IDS = 16;

/**
 * Parses an OCSPRequest (RFC 6960 §4.1.1). The optional signature is not
 * checked (we do not require signed requests, §4.1.2). Any structural error,
 * an unknown CertID hash, a CertID hash of the wrong length, a nonce outside
 * 1..32 octets (RFC 8954 §2.1) or trailing bytes make it malformed.
 */
export function parseOcspRequest(der: Buffer): ParsedOcspRequest {
  try {
    const outer = expectNode(der, 0, TAG.SEQUENCE, der.length, "OCSPRequest");
    if (outer.end !== der.length) throw new MalformedOcspRequest("trailing bytes after OCSPRequest");
    const top = children(der, outer);
    if (top.length < 1 || top.length > 2 || top[0]!.tag !== TAG.SEQUENCE) throw new MalformedOcspRequest("bad OCSPRequest");
    if (top[1] && top[1].tag !== 0xa0) throw new MalformedOcspRequest("bad optionalSignature");
    const tbs = children(der, top[0]!);
    let i = 0;
    if (tbs[i]?.tag === 0xa0) {
      // version [0] EXPLICIT Version DEFAULT v1: only v1 (0) exists
      const v = expectNode(der, tbs[i]!.valueStart, TAG.INTEGER, tbs[i]!.end);
      if (v.end - v.valueStart !== 1 || der[v.valueStart] !== 0) throw new MalformedOcspRequest("unsupported version");
      i++;
    }
    if (tbs[i]?.tag === 0xa1) i++; // requestorName [1] EXPLICIT GeneralName OPTIONAL
    const list = tbs[i++];
    if (!list || list.tag !== TAG.SEQUENCE) throw new MalformedOcspRequest("missing requestList");
    let nonce: Buffer | undefined;
    if (tbs[i]?.tag === 0xa2) {
      nonce = readNonce(der, tbs[i]!);
      i++;
    }
    if (i !== tbs.length) throw new MalformedOcspRequest("unexpected fields in TBSRequest");
    const requests = children(der, list);
    if (requests.length === 0) throw new MalformedOcspRequest("empty requestList");
    if (requests.length > MAX_CERT_IDS) throw new MalformedOcspRequest("too many requests");
    const certIds = requests.map((r) => {
      if (r.tag !== TAG.SEQUENCE) throw new MalformedOcspRequest("bad Request");
      const rc = children(der, r);
      if (rc.length < 1 || rc.length > 2 || (rc[1] && rc[1].tag !== 0xa0)) throw new MalformedOcspRequest("bad Request");
      return parseCertId(der, rc[0]!);
    });
    return nonce === undefined ? { certIds } : { certIds, nonce };
  } catch (e) {
    if (e instanceof MalformedOcspRequest) throw e;
    if (e instanceof DerError || e instanceof SigilError || e instanceof RangeError) throw new MalformedOcspRequest(e.message);
    throw e;
  }
}

function parseCertId(der: Buffer, node: DerNode): CertId {
  if (node.tag !== TAG.SEQUENCE) throw new MalformedOcspRequest("bad CertID");
  const f = children(der, node);
  if (f.length !== 4) throw new MalformedOcspRequest("bad CertID");
  const alg = children(der, expectNode(der, f[0]!.start, TAG.SEQUENCE, f[0]!.end));
  if (alg.length < 1 || alg.length > 2) throw new MalformedOcspRequest("bad hashAlgorithm");
  const hash = HASH_OIDS[readOid(der, alg[0]!)];
  if (!hash) throw new MalformedOcspRequest("unsupported CertID hash algorithm");
  if (f[1]!.tag !== TAG.OCTET_STRING || f[2]!.tag !== TAG.OCTET_STRING) throw new MalformedOcspRequest("bad CertID hashes");
  const issuerNameHash = valueOf(der, f[1]!);
  const issuerKeyHash = valueOf(der, f[2]!);
  if (issuerNameHash.length !== HASH_LENGTH[hash] || issuerKeyHash.length !== HASH_LENGTH[hash]) {
    throw new MalformedOcspRequest("CertID hash of the wrong length");
  }
  const serial = readUnsignedInteger(der, f[3]!);
  return { hash, issuerNameHash, issuerKeyHash, serial: normalizeSerial(serial), der: Buffer.from(rawOf(der, node)) };
}

/** requestExtensions [2] EXPLICIT Extensions: returns the nonce's extnValue, if any */
function readNonce(der: Buffer, wrapper: DerNode): Buffer | undefined {
  const exts = expectNode(der, wrapper.valueStart, TAG.SEQUENCE, wrapper.end);
  let nonce: Buffer | undefined;
  for (const ext of children(der, exts)) {
    if (ext.tag !== TAG.SEQUENCE) throw new MalformedOcspRequest("bad Extension");
    const parts = children(der, ext);
    if (parts.length < 2 || parts.length > 3) throw new MalformedOcspRequest("bad Extension");
    const oid = readOid(der, parts[0]!);
    const value = parts[parts.length - 1]!;
    if (value.tag !== TAG.OCTET_STRING) throw new MalformedOcspRequest("bad extnValue");
    if (oid !== OCSP_OID.nonce) continue; // other request extensions are ignored (RFC 6960 §4.4)
    const v = valueOf(der, value);
    // RFC 8954 §2.1: the extnValue holds a DER OCTET STRING of 1..32 octets.
    // Some clients put the raw nonce in extnValue; we accept that too and
    // measure the raw bytes.
    let size = v.length;
    try {
      const inner = readNode(v, 0);
      if (inner.tag === TAG.OCTET_STRING && inner.end === v.length) size = inner.end - inner.valueStart;
    } catch {
      /* raw nonce */
    }
    if (size < 1 || size > MAX_NONCE_OCTETS) throw new MalformedOcspRequest("nonce must be 1 to 32 octets (RFC 8954)");
    nonce = Buffer.from(v);
  }
  return nonce;
}

// ---------------------------------------------------------------- CertID matching

/** issuerNameHash and issuerKeyHash of a CA for each CertID hash algorithm (RFC 6960 §4.1.1) */
export type IssuerHashes = Record<CertIdHash, { name: Buffer; key: Buffer }>;

export function issuerHashes(issuer: Pick<Issuer, "subjectDer" | "certificateDer">): IssuerHashes {
  const keyBits = inspectSpki(spkiOfCertificate(issuer.certificateDer)).publicKeyBits;
  const h = (alg: CertIdHash) => ({
    name: createHash(alg).update(issuer.subjectDer).digest(),
    key: createHash(alg).update(keyBits).digest(),
  });
  return { sha1: h("sha1"), sha256: h("sha256"), sha384: h("sha384"), sha512: h("sha512") };
}

export function certIdMatches(id: CertId, hashes: IssuerHashes): boolean {
  const h = hashes[id.hash];
  return h.name.equals(id.issuerNameHash) && h.key.equals(id.issuerKeyHash);
}

/** the SubjectPublicKeyInfo DER of a certificate */
export function spkiOfCertificate(certDer: Buffer): Buffer {
  const outer = expectNode(certDer, 0, TAG.SEQUENCE);
  const tbs = expectNode(certDer, outer.valueStart, TAG.SEQUENCE, outer.end);
  const f = children(certDer, tbs);
  const o = f[0]!.tag === 0xa0 ? 1 : 0;
  return Buffer.from(rawOf(certDer, f[o + 5]!));
}

// ---------------------------------------------------------------- responses

/** X.690 GeneralizedTime YYYYMMDDHHMMSSZ: RFC 6960 uses GeneralizedTime for every time, without fractions (RFC 5280 §4.1.2.5.2) */
export function derGeneralizedTime(d: Date): Buffer {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const s = `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(s, "latin1"));
}

export type CertStatus =
  | { status: "good" }
  | { status: "revoked"; revokedAt: Date; reason?: RevocationReason | null }
  | { status: "unknown" };

/**
 * RFC 6960 §4.2.1 SingleResponse { certID, certStatus, thisUpdate, nextUpdate [0] EXPLICIT }.
 * certStatus: good [0] IMPLICIT NULL, revoked [1] IMPLICIT RevokedInfo
 * { revocationTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL },
 * unknown [2] IMPLICIT NULL.
 */
export function encodeSingleResponse(certIdDer: Buffer, st: CertStatus, thisUpdate: Date, nextUpdate: Date): Buffer {
  let status: Buffer;
  switch (st.status) {
    case "good":
      status = Buffer.from([0x80, 0x00]);
      break;
    case "unknown":
      status = Buffer.from([0x82, 0x00]);
      break;
    case "revoked": {
      const parts = [derGeneralizedTime(st.revokedAt)];
      // like the CRL (RFC 5280 §5.3.1), unspecified (0) is written as no reason
      if (st.reason !== undefined && st.reason !== null && st.reason !== 0) {
        parts.push(ctxCons(0, tlv(TAG.ENUMERATED, Buffer.from([st.reason]))));
      }
      status = tlv(0xa1, ...parts);
      break;
    }
    default: {
      const never: never = st;
      throw SigilError.internal(`unknown status ${String(never)}`);
    }
  }
  return seq(certIdDer, status, derGeneralizedTime(thisUpdate), ctxCons(0, derGeneralizedTime(nextUpdate)));
}

/** What signs responses: a delegated responder (or the CA itself). */
export interface OcspSigningKey {
  /** the responder's key (a key-store signing handle: the CA's own may be in a PKCS#11 token) */
  key: SigningKey;
  /** the signing certificate, included in `certs` when delegated; absent when the CA signs */
  certificateDer?: Buffer;
  /** SHA-1 of the signer's subjectPublicKey BIT STRING value: ResponderID byKey (RFC 6960 §4.2.2.3) */
  keyHash: Buffer;
  algorithm: KeyAlgorithm;
}

export function ocspSigningKey(key: SigningKey, certificateDer?: Buffer): OcspSigningKey {
  const spki = key.spki;
  const algorithm = key.algorithm;
  return {
    key,
    ...(certificateDer ? { certificateDer } : {}),
    keyHash: createHash("sha1").update(inspectSpki(spki).publicKeyBits).digest(),
    algorithm,
  };
}

const BASIC_OID_DER = derOid(OCSP_OID.basic);
const NONCE_OID_DER = derOid(OCSP_OID.nonce);

/**
 * A successful OCSPResponse carrying a signed BasicOCSPResponse
 * (RFC 6960 §4.2.1): ResponseData v1 with ResponderID byKey, producedAt, the
 * given SingleResponses and, when the request had one, the nonce extension
 * echoed (RFC 6960 §4.4.1, RFC 8954 §2.1); the delegated signer's
 * certificate in `certs` (§4.2.2.2).
 */
export function signOcspResponse(p: {
  signer: OcspSigningKey;
  producedAt: Date;
  responses: Buffer[];
  nonce?: Buffer;
}): Buffer {
  const sa = signatureAlgorithmFor(p.signer.algorithm);
  const parts = [ctxCons(2, derOctetString(p.signer.keyHash)), derGeneralizedTime(p.producedAt), seq(...p.responses)];
  if (p.nonce) parts.push(ctxCons(1, seq(seq(NONCE_OID_DER, derOctetString(p.nonce)))));
  const tbs = seq(...parts);
  const sig = p.signer.key.sign(tbs);
  const basic = p.signer.certificateDer
    ? seq(tbs, sa.algId, derBitString(sig), ctxCons(0, seq(p.signer.certificateDer)))
    : seq(tbs, sa.algId, derBitString(sig));
  // OCSPResponse { responseStatus successful, responseBytes [0] EXPLICIT { id-pkix-ocsp-basic, OCTET STRING } }
  return seq(Buffer.from([TAG.ENUMERATED, 0x01, 0x00]), ctxCons(0, seq(BASIC_OID_DER, derOctetString(basic))));
}

// ---------------------------------------------------------------- signatures

interface SignatureAlgorithm {
  algId: Buffer;
}

/** RFC 5758 §3.2 (ECDSA, parameters absent) and RFC 4055 §5 (RSA, NULL parameters); the same choice as signer.ts */
function signatureAlgorithmFor(alg: KeyAlgorithm): SignatureAlgorithm {
  switch (alg) {
    case "p256":
      return { algId: seq(derOid("1.2.840.10045.4.3.2")) };
    case "p384":
      return { algId: seq(derOid("1.2.840.10045.4.3.3")) };
    case "rsa2048":
    case "rsa3072":
    case "rsa4096":
      return { algId: seq(derOid("1.2.840.113549.1.1.11"), Buffer.from([0x05, 0x00])) };
    default: {
      const never: never = alg;
      throw SigilError.internal(`no signature algorithm for ${String(never)}`);
    }
  }
}


function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(derOid(oid), derBoolean(true), derOctetString(value)) : seq(derOid(oid), derOctetString(value));
}

// ---------------------------------------------------------------- the delegated responder certificate

/**
 * A delegated OCSP responder certificate issued by `issuer` (RFC 6960
 * §4.2.2.2): BasicConstraints critical cA=FALSE, KeyUsage critical
 * digitalSignature, ExtKeyUsage id-kp-OCSPSigning, id-pkix-ocsp-nocheck
 * (§4.2.2.2.1: relying parties do not check its revocation, so it carries no
 * CRL DP / AIA OCSP), SKI and AKI. Its lifetime should be short because it
 * cannot be revoked.
 */
export function issueOcspResponderCertificate(
  issuer: Issuer,
  p: { publicKey: KeyObject; serial: Buffer; notBefore: Date; notAfter: Date; commonName: string },
): SignedCertificate {
  const sa = signatureAlgorithmFor(issuer.keyAlgorithm);
  const notAfter = p.notAfter > issuer.notAfter ? issuer.notAfter : p.notAfter;
  if (!(p.notBefore < notAfter)) throw SigilError.invalidArgument("notBefore must be before notAfter", "notAfter");
  const spki = spkiOf(p.publicKey);
  const ski = createHash("sha1").update(inspectSpki(spki).publicKeyBits).digest();
  const exts = [
    extension("2.5.29.19", true, seq()), // basicConstraints cA FALSE (DEFAULT, omitted)
    extension("2.5.29.15", true, derBitString(Buffer.from([0x80]), 7)), // keyUsage digitalSignature
    extension("2.5.29.37", false, seq(derOid(OCSP_OID.ocspSigning))),
    extension(OCSP_OID.noCheck, false, Buffer.from([0x05, 0x00])), // NULL (RFC 6960 §4.2.2.2.1)
    extension("2.5.29.14", false, derOctetString(ski)),
    extension("2.5.29.35", false, seq(ctxPrim(0, issuer.subjectKeyIdentifier))),
  ];
  const tbs = seq(
    Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]), // v3
    derUnsignedInteger(normalizeSerial(p.serial)),
    sa.algId,
    issuer.subjectDer,
    seq(derTime(p.notBefore), derTime(notAfter)),
    seq(set(seq(derOid("2.5.4.3"), derUtf8(p.commonName)))),
    spki,
    ctxCons(3, seq(...exts)),
  );
  const der = seq(tbs, sa.algId, derBitString(issuer.signingKey.sign(tbs)));
  return { der, pem: toPem(der, "CERTIFICATE") };
}


