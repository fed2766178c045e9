/**
 * PKCS#10 certification requests (RFC 2986), parsed with a small DER walker
 * (this is on the finalize hot path) and verified with node:crypto.
 *
 *   CertificationRequest ::= SEQUENCE {
 *     certificationRequestInfo CertificationRequestInfo,
 *     signatureAlgorithm AlgorithmIdentifier,
 *     signature BIT STRING }
 *   CertificationRequestInfo ::= SEQUENCE {
 *     version INTEGER { v1(0) }, subject Name,
 *     subjectPKInfo SubjectPublicKeyInfo, attributes [0] Attributes }
 */
import { sign, verify, constants as cryptoConstants, type KeyObject } from "node:crypto";
import { SigilError } from "../core/errors.js";
import {
  children,
  ctxCons,
  ctxPrim,
  derBitString,
  derBoolean,
  derOctetString,
  derOid,
  derUtf8,
  seq,
  set,
  toPem,
  DerError,
  expectNode,
  fromPem,
  rawOf,
  readNode,
  readOid,
  TAG,
  valueOf,
  type DerNode,
} from "./der.js";
import { ipFromText, ipToText } from "./ip.js";
import { importSpki, spkiOf } from "./keys.js";

export interface ParsedCsr {
  publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER exactly as in the CSR (RFC 5280 §4.1.2.7) */
  publicKeySpki: Buffer;
  /** the subject's last commonName (the most specific RDN), if any */
  commonName?: string;
  /** dNSName SANs, lower-cased, duplicates removed, in CSR order */
  dnsNames: string[];
  /** iPAddress SANs in canonical text (IPv4 dotted, IPv6 RFC 5952) */
  ipAddresses: string[];
  /** rfc822Name SANs */
  emails: string[];
  /** the CSR asks for basicConstraints cA=TRUE (RFC 5280 §4.2.1.9); the caller refuses it */
  requestsCa: boolean;
  /** dotted OID of the CSR's signature algorithm */
  signatureAlgorithm: string;
}

export const CSR_MESSAGES = {
  unparseable: "CSR is not a valid PKCS#10 request",
  badSignature: "CSR signature is invalid",
  sha1: "CSR is signed with SHA-1, which is not accepted",
  unsupportedSignature: (oid: string) => `CSR signature algorithm ${oid} is not supported`,
  badPublicKey: "CSR public key could not be parsed",
  badVersion: "CSR version must be v1 (0)",
  duplicateExtension: (oid: string) => `CSR requests extension ${oid} more than once`,
  unsupportedSan: (what: string) => `CSR subjectAltName contains a ${what} name, which is not supported`,
  badIp: "CSR subjectAltName contains an iPAddress that is neither 4 nor 16 octets",
  nonAscii: "CSR subjectAltName contains a non-ASCII dNSName or rfc822Name",
  notPem: "CSR PEM has no CERTIFICATE REQUEST block",
} as const;

const OID_CN = "2.5.4.3";
const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14"; // RFC 2985 §5.4.2
const OID_SAN = "2.5.29.17";
const OID_BASIC_CONSTRAINTS = "2.5.29.19";

type Hash = "sha256" | "sha384" | "sha512";
interface SigSpec {
  hash: Hash | null;
  pss?: { saltLength: number };
}

// RFC 5758 §3.2 (ECDSA), RFC 4055 §5 (RSA PKCS#1 v1.5), RFC 8410 §3 (Ed25519)
const SIG_ALGS: Record<string, SigSpec> = {
  "1.2.840.10045.4.3.2": { hash: "sha256" },
  "1.2.840.10045.4.3.3": { hash: "sha384" },
  "1.2.840.10045.4.3.4": { hash: "sha512" },
  "1.2.840.113549.1.1.11": { hash: "sha256" },
  "1.2.840.113549.1.1.12": { hash: "sha384" },
  "1.2.840.113549.1.1.13": { hash: "sha512" },
  "1.3.101.112": { hash: null },
};
const SHA1_SIG_ALGS = new Set(["1.2.840.113549.1.1.5", "1.2.840.10045.4.1", "1.3.14.3.2.29"]);
const OID_RSASSA_PSS = "1.2.840.113549.1.1.10";
const OID_MGF1 = "1.2.840.113549.1.1.8";
const HASH_OIDS: Record<string, Hash> = {
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

/** the DER of the first CERTIFICATE REQUEST (or NEW CERTIFICATE REQUEST) PEM block */
export function csrDerFromPem(pem: string): Buffer {
  const der = fromPem(pem, "CERTIFICATE REQUEST") ?? fromPem(pem, "NEW CERTIFICATE REQUEST");
  if (!der) throw SigilError.badCsr(CSR_MESSAGES.notPem);
  return der;
}

/**
 * The three top-level pieces of a CSR without any checks beyond framing:
 * the signed bytes, the signature algorithm OID and the signature. Throws badCsr.
 */
export function csrSignedParts(der: Buffer): { certificationRequestInfo: Buffer; signatureAlgorithm: string; signature: Buffer } {
  const { cri, sigAlg, sig } = frame(der);
  const { oid } = signatureSpec(der, sigAlg);
  return { certificationRequestInfo: rawOf(der, cri), signatureAlgorithm: oid, signature: der.subarray(sig.valueStart + 1, sig.end) };
}

function frame(der: Buffer): { cri: DerNode; sigAlg: DerNode; sig: DerNode } {
  let parts: { cri: DerNode; sigAlg: DerNode; sig: DerNode };
  try {
    const outer = expectNode(der, 0, TAG.SEQUENCE, der.length, "CertificationRequest");
    if (outer.end !== der.length) throw new DerError("trailing data");
    const cri = expectNode(der, outer.valueStart, TAG.SEQUENCE, outer.end, "CertificationRequestInfo");
    const sigAlg = expectNode(der, cri.end, TAG.SEQUENCE, outer.end, "signatureAlgorithm");
    const sig = expectNode(der, sigAlg.end, TAG.BIT_STRING, outer.end, "signature");
    if (sig.end !== outer.end) throw new DerError("trailing data in CertificationRequest");
    parts = { cri, sigAlg, sig };
  } catch (e) {
    throw wrap(e);
  }
  return parts;
}

/**
 * Parses a DER CSR and verifies its self-signature (RFC 2986 §3 proof of
 * possession). Throws SigilError.badCsr for anything malformed or a bad
 * signature. Key policy is not applied here (see checkLeafKeyPolicy).
 */
export function parseCsr(der: Buffer): ParsedCsr {
  const { cri, sigAlg, sig } = frame(der);

  // signature algorithm and value
  const { oid: signatureAlgorithm, spec } = signatureSpec(der, sigAlg);
  if (sig.end - sig.valueStart < 2 || der[sig.valueStart] !== 0) throw SigilError.badCsr(CSR_MESSAGES.unparseable);
  const signature = der.subarray(sig.valueStart + 1, sig.end);

  // CertificationRequestInfo fields
  let version: DerNode, subject: DerNode, spkiNode: DerNode, attrs: DerNode | undefined;
  try {
    version = expectNode(der, cri.valueStart, TAG.INTEGER, cri.end, "version");
    subject = expectNode(der, version.end, TAG.SEQUENCE, cri.end, "subject");
    spkiNode = expectNode(der, subject.end, TAG.SEQUENCE, cri.end, "subjectPKInfo");
    if (spkiNode.end < cri.end) {
      attrs = expectNode(der, spkiNode.end, 0xa0, cri.end, "attributes");
      if (attrs.end !== cri.end) throw new DerError("trailing data in CertificationRequestInfo");
    }
  } catch (e) {
    throw wrap(e);
  }
  if (version.end - version.valueStart !== 1 || der[version.valueStart] !== 0) throw SigilError.badCsr(CSR_MESSAGES.badVersion);

  const publicKeySpki = Buffer.from(rawOf(der, spkiNode));
  let publicKey: KeyObject;
  try {
    publicKey = importSpki(publicKeySpki);
  } catch (e) {
    throw new SigilError("badCsr", CSR_MESSAGES.badPublicKey, { cause: e });
  }

  // RFC 2986 §4.2: the signature covers the DER of certificationRequestInfo
  let ok = false;
  try {
    const key = spec.pss
      ? { key: publicKey, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: spec.pss.saltLength }
      : publicKey.asymmetricKeyType === "ec"
        ? { key: publicKey, dsaEncoding: "der" as const }
        : publicKey;
    ok = verify(spec.hash, rawOf(der, cri), key, signature);
  } catch {
    ok = false; // algorithm / key mismatch and the like
  }
  if (!ok) throw SigilError.badCsr(CSR_MESSAGES.badSignature);

  const out: ParsedCsr = {
    publicKey,
    publicKeySpki,
    dnsNames: [],
    ipAddresses: [],
    emails: [],
    requestsCa: false,
    signatureAlgorithm,
  };
  try {
    const cn = readCommonName(der, subject);
    if (cn !== undefined) out.commonName = cn;
    if (attrs) readAttributes(der, attrs, out);
  } catch (e) {
    throw wrap(e);
  }
  return out;
}

function wrap(e: unknown): SigilError {
  if (e instanceof SigilError) return e;
  return new SigilError("badCsr", CSR_MESSAGES.unparseable, { cause: e });
}

function signatureSpec(der: Buffer, sigAlg: DerNode): { oid: string; spec: SigSpec } {
  let oid: string;
  let params: DerNode | undefined;
  try {
    const algNodes = children(der, sigAlg);
    oid = readOid(der, algNodes[0]!);
    params = algNodes[1];
  } catch (e) {
    throw wrap(e);
  }
  if (SHA1_SIG_ALGS.has(oid)) throw SigilError.badCsr(CSR_MESSAGES.sha1);
  const spec = SIG_ALGS[oid];
  if (spec) return { oid, spec };
  if (oid === OID_RSASSA_PSS && params) {
    try {
      return { oid, spec: pssSpec(der, params) };
    } catch (e) {
      if (e instanceof SigilError) throw e;
      throw wrap(e);
    }
  }
  throw SigilError.badCsr(CSR_MESSAGES.unsupportedSignature(oid));
}

/**
 * RFC 4055 §3.1 RSASSA-PSS-params; only SHA-2 hashes with MGF1 over the same
 * hash and trailerField 1 are accepted (the defaults are SHA-1: refused).
 */
function pssSpec(der: Buffer, params: DerNode): SigSpec {
  if (params.tag !== TAG.SEQUENCE) throw new DerError("bad RSASSA-PSS params");
  let hash: Hash | undefined;
  let mgfHash: Hash | undefined;
  let saltLength = 20;
  for (const f of children(der, params)) {
    const inner = readNode(der, f.valueStart, f.end);
    if (f.tag === 0xa0) {
      hash = HASH_OIDS[readOid(der, children(der, inner)[0]!)];
    } else if (f.tag === 0xa1) {
      const mgf = children(der, inner);
      if (readOid(der, mgf[0]!) !== OID_MGF1 || !mgf[1]) throw new DerError("unsupported PSS mask generation");
      mgfHash = HASH_OIDS[readOid(der, children(der, mgf[1])[0]!)];
    } else if (f.tag === 0xa2) {
      const v = valueOf(der, inner);
      saltLength = v.length > 4 ? -1 : v.reduce((a, b) => a * 256 + b, 0);
    } else if (f.tag === 0xa3) {
      const v = valueOf(der, inner);
      if (v.length !== 1 || v[0] !== 1) throw new DerError("unsupported PSS trailer field");
    }
  }
  if (!hash || mgfHash !== hash || saltLength < 0) throw SigilError.badCsr(CSR_MESSAGES.unsupportedSignature("RSASSA-PSS with these parameters"));
  return { hash, pss: { saltLength } };
}

/** RFC 5280 §4.1.2.4 Name: SEQUENCE OF SET OF AttributeTypeAndValue; returns the last CN */
function readCommonName(der: Buffer, name: DerNode): string | undefined {
  let cn: string | undefined;
  for (const rdn of children(der, name)) {
    if (rdn.tag !== TAG.SET) throw new DerError("RDN is not a SET");
    for (const atv of children(der, rdn)) {
      const [type, value] = children(der, atv);
      if (!type || !value) throw new DerError("bad AttributeTypeAndValue");
      if (readOid(der, type) === OID_CN) cn = decodeDirectoryString(der, value);
    }
  }
  return cn;
}

/** RFC 5280 §4.1.2.4 DirectoryString and the IA5 form some encoders use */
function decodeDirectoryString(der: Buffer, n: DerNode): string {
  const v = valueOf(der, n);
  switch (n.tag) {
    case TAG.UTF8_STRING:
      return v.toString("utf8");
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.TELETEX_STRING:
      return v.toString("latin1");
    case TAG.BMP_STRING: {
      const swapped = Buffer.from(v);
      if (swapped.length % 2) throw new DerError("odd BMPString");
      return swapped.swap16().toString("utf16le");
    }
    case TAG.UNIVERSAL_STRING: {
      let s = "";
      for (let i = 0; i + 3 < v.length; i += 4) s += String.fromCodePoint(v.readUInt32BE(i));
      return s;
    }
    default:
      throw new DerError(`unsupported string type 0x${n.tag.toString(16)}`);
  }
}

/** RFC 2986 §4.1 attributes; RFC 2985 §5.4.2 extensionRequest carries Extensions */
function readAttributes(der: Buffer, attrs: DerNode, out: ParsedCsr): void {
  const seen = new Set<string>();
  for (const attr of children(der, attrs)) {
    const [type, values] = children(der, attr);
    if (!type || !values || values.tag !== TAG.SET) throw new DerError("bad Attribute");
    if (readOid(der, type) !== OID_EXTENSION_REQUEST) continue;
    for (const exts of children(der, values)) {
      if (exts.tag !== TAG.SEQUENCE) throw new DerError("bad Extensions");
      for (const ext of children(der, exts)) {
        const fields = children(der, ext);
        const oid = readOid(der, fields[0]!);
        const value = fields[fields.length - 1]!;
        if (value.tag !== TAG.OCTET_STRING) throw new DerError("bad Extension");
        if (seen.has(oid)) throw SigilError.badCsr(CSR_MESSAGES.duplicateExtension(oid));
        seen.add(oid);
        if (oid === OID_SAN) readSan(der, value, out);
        else if (oid === OID_BASIC_CONSTRAINTS) out.requestsCa = readRequestsCa(der, value);
      }
    }
  }
}

/** RFC 5280 §4.2.1.9 BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLen INTEGER OPTIONAL } */
function readRequestsCa(der: Buffer, octets: DerNode): boolean {
  const bc = expectNode(der, octets.valueStart, TAG.SEQUENCE, octets.end, "BasicConstraints");
  const first = children(der, bc)[0];
  return first !== undefined && first.tag === TAG.BOOLEAN && der[first.valueStart] !== 0;
}

const SAN_NAMES: Record<number, string> = {
  0xa0: "otherName",
  0x86: "URI",
  0xa4: "directoryName",
  0x88: "registeredID",
  0xa3: "x400Address",
  0xa5: "ediPartyName",
};

/** RFC 5280 §4.2.1.6 GeneralNames */
function readSan(der: Buffer, octets: DerNode, out: ParsedCsr): void {
  const names = expectNode(der, octets.valueStart, TAG.SEQUENCE, octets.end, "GeneralNames");
  for (const gn of children(der, names)) {
    const v = valueOf(der, gn);
    switch (gn.tag) {
      case 0x82: {
        // dNSName [2] IA5String
        const s = ascii(v).toLowerCase();
        if (!out.dnsNames.includes(s)) out.dnsNames.push(s);
        break;
      }
      case 0x87: {
        // iPAddress [7] OCTET STRING
        const s = ipToText(v);
        if (s === undefined) throw SigilError.badCsr(CSR_MESSAGES.badIp);
        if (!out.ipAddresses.includes(s)) out.ipAddresses.push(s);
        break;
      }
      case 0x81: {
        // rfc822Name [1] IA5String
        const s = ascii(v);
        if (!out.emails.includes(s)) out.emails.push(s);
        break;
      }
      default:
        throw SigilError.badCsr(CSR_MESSAGES.unsupportedSan(SAN_NAMES[gn.tag] ?? `tag 0x${gn.tag.toString(16)}`));
    }
  }
}

function ascii(v: Buffer): string {
  for (const b of v) if (b < 0x20 || b > 0x7e) throw SigilError.badCsr(CSR_MESSAGES.nonAscii);
  return v.toString("latin1");
}

export interface CsrRequest {
  privateKey: KeyObject;
  commonName?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  emails?: string[];
  /** ask for basicConstraints cA=TRUE (for tests of the refusal) */
  requestCa?: boolean;
}

/**
 * Builds and signs a PKCS#10 CSR (RFC 2986) the way ACME clients do: subject
 * CN, SANs in an extensionRequest attribute, ecdsa-with-SHA256/384 for EC keys,
 * sha256WithRSAEncryption for RSA. For tests, benchmarks and the admin API's
 * server-side key generation; not on any hot path.
 */
export function createCsr(req: CsrRequest): { der: Buffer; pem: string } {
  const key = req.privateKey;
  const type = key.asymmetricKeyType;
  let sigAlg: Buffer;
  let hash: "sha256" | "sha384";
  if (type === "ec") {
    hash = key.asymmetricKeyDetails?.namedCurve === "secp384r1" ? "sha384" : "sha256";
    sigAlg = seq(derOid(hash === "sha384" ? "1.2.840.10045.4.3.3" : "1.2.840.10045.4.3.2"));
  } else if (type === "rsa") {
    hash = "sha256";
    sigAlg = seq(derOid("1.2.840.113549.1.1.11"), Buffer.from([0x05, 0x00]));
  } else throw SigilError.invalidArgument(`createCsr does not support ${String(type)} keys`, "privateKey");

  const subject =
    req.commonName === undefined ? seq() : seq(set(seq(derOid(OID_CN), derUtf8(req.commonName))));
  const names: Buffer[] = [];
  for (const d of req.dnsNames ?? []) names.push(ctxPrim(2, Buffer.from(d, "latin1")));
  for (const ip of req.ipAddresses ?? []) {
    const b = ipFromText(ip);
    if (!b) throw SigilError.invalidArgument(`not an IP address: ${ip}`, "ipAddresses");
    names.push(ctxPrim(7, b));
  }
  for (const e of req.emails ?? []) names.push(ctxPrim(1, Buffer.from(e, "latin1")));
  const exts: Buffer[] = [];
  if (names.length) exts.push(seq(derOid(OID_SAN), derOctetString(seq(...names))));
  if (req.requestCa) exts.push(seq(derOid(OID_BASIC_CONSTRAINTS), derBoolean(true), derOctetString(seq(derBoolean(true)))));
  const attrs = exts.length ? [seq(derOid(OID_EXTENSION_REQUEST), set(seq(...exts)))] : [];
  const cri = seq(Buffer.from([0x02, 0x01, 0x00]), subject, spkiOf(key), ctxCons(0, ...attrs));
  const signature = type === "ec" ? sign(hash, cri, { key, dsaEncoding: "der" }) : sign(hash, cri, key);
  const der = seq(cri, sigAlg, derBitString(signature));
  return { der, pem: toPem(der, "CERTIFICATE REQUEST") };
}
