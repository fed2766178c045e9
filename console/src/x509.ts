// A small DER reader for showing a certificate (RFC 5280 §4.1) in the
// console: the fields an operator reads, not a validating parser (the
// server built and signed the certificate; this only displays it).

interface Tlv {
  tag: number;
  start: number; // first content byte
  end: number; // one past the last content byte
  children?: Tlv[];
}

function readTlv(b: Uint8Array, at: number): Tlv & { next: number } {
  const tag = b[at];
  let len = b[at + 1];
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++];
  }
  const t: Tlv & { next: number } = { tag, start: p, end: p + len, next: p + len };
  if (p + len > b.length) throw new Error("truncated DER");
  // constructed (SEQUENCE, SET, [n] constructed): parse the children
  if (tag & 0x20) {
    t.children = [];
    let q = p;
    while (q < p + len) {
      const c = readTlv(b, q);
      t.children.push(c);
      q = c.next;
    }
  }
  return t;
}

const OIDS: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.6": "C",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.5": "serialNumber",
  "1.2.840.113549.1.9.1": "emailAddress",
  "1.2.840.10045.2.1": "EC",
  "1.2.840.113549.1.1.1": "RSA",
  "1.3.101.112": "Ed25519",
  "1.2.840.10045.3.1.7": "P-256",
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "P-521",
  "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
  "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
  "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "2.5.29.14": "subjectKeyIdentifier",
  "2.5.29.15": "keyUsage",
  "2.5.29.17": "subjectAltName",
  "2.5.29.19": "basicConstraints",
  "2.5.29.31": "cRLDistributionPoints",
  "2.5.29.32": "certificatePolicies",
  "2.5.29.35": "authorityKeyIdentifier",
  "2.5.29.37": "extKeyUsage",
  "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
  "1.3.6.1.5.5.7.48.1": "OCSP",
  "1.3.6.1.5.5.7.48.2": "caIssuers",
  "1.3.6.1.4.1.11129.2.4.2": "CT precertificate SCTs",
  "1.3.6.1.5.5.7.1.24": "TLS Feature",
};

function oid(b: Uint8Array, t: Tlv): string {
  const out: number[] = [];
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      if (out.length === 0) out.push(Math.min(2, Math.floor(v / 40)), v - Math.min(2, Math.floor(v / 40)) * 40);
      else out.push(v);
      v = 0;
    }
  }
  return out.join(".");
}

const named = (o: string) => OIDS[o] ?? o;
const hex = (b: Uint8Array, s: number, e: number, sep = "") =>
  Array.from(b.subarray(s, e), (x) => x.toString(16).padStart(2, "0")).join(sep);
const text = (b: Uint8Array, t: Tlv) => new TextDecoder().decode(b.subarray(t.start, t.end));

function time(b: Uint8Array, t: Tlv): string {
  const s = text(b, t);
  // UTCTime YYMMDDHHMMSSZ (years 1950-2049) or GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280 §4.1.2.5)
  const full = t.tag === 0x17 ? (Number(s.slice(0, 2)) >= 50 ? "19" : "20") + s : s;
  return `${full.slice(0, 4)}-${full.slice(4, 6)}-${full.slice(6, 8)} ${full.slice(8, 10)}:${full.slice(10, 12)}:${full.slice(12, 14)} UTC`;
}

function dn(b: Uint8Array, t: Tlv): string {
  // RFC 4514 order: the last RDN first
  return (t.children ?? [])
    .map((rdn) =>
      (rdn.children ?? [])
        .map((atv) => `${named(oid(b, atv.children![0]))}=${text(b, atv.children![1])}`)
        .join("+"),
    )
    .reverse()
    .join(", ");
}

function generalNames(b: Uint8Array, seq: Tlv): string[] {
  return (seq.children ?? []).map((g) => {
    switch (g.tag & 0x1f) {
      case 1:
        return `email:${text(b, g)}`;
      case 2:
        return `DNS:${text(b, g)}`;
      case 6:
        return `URI:${text(b, g)}`;
      case 7: {
        const n = g.end - g.start;
        if (n === 4) return `IP:${Array.from(b.subarray(g.start, g.end)).join(".")}`;
        const words: string[] = [];
        for (let i = g.start; i < g.end; i += 2) words.push(((b[i] << 8) | b[i + 1]).toString(16));
        return `IP:${words.join(":").replace(/(^|:)0(:0)+(:|$)/, "::")}`;
      }
      default:
        return `[${g.tag & 0x1f}]`;
    }
  });
}

const KEY_USAGE = ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"];

function extensionValue(b: Uint8Array, name: string, v: Tlv): string {
  try {
    const inner = readTlv(b, v.start);
    switch (name) {
      case "subjectAltName":
        return generalNames(b, inner).join(", ");
      case "basicConstraints": {
        const c = inner.children ?? [];
        const ca = c.length > 0 && c[0].tag === 0x01 && b[c[0].start] !== 0;
        const path = c.find((x) => x.tag === 0x02);
        return `CA:${ca ? "TRUE" : "FALSE"}${path ? `, pathlen:${b[path.start]}` : ""}`;
      }
      case "keyUsage": {
        const unused = b[inner.start];
        const bits: string[] = [];
        for (let i = 0; i < (inner.end - inner.start - 1) * 8 - unused; i++)
          if (b[inner.start + 1 + (i >> 3)] & (0x80 >> (i & 7))) bits.push(KEY_USAGE[i] ?? `bit${i}`);
        return bits.join(", ");
      }
      case "extKeyUsage":
        return (inner.children ?? []).map((o) => named(oid(b, o))).join(", ");
      case "subjectKeyIdentifier":
        return hex(b, inner.start, inner.end, ":");
      case "authorityKeyIdentifier": {
        const k = (inner.children ?? []).find((x) => (x.tag & 0x1f) === 0);
        return k ? hex(b, k.start, k.end, ":") : "";
      }
      case "cRLDistributionPoints":
      case "authorityInfoAccess": {
        const uris: string[] = [];
        const walk = (t: Tlv) => {
          if (t.tag === 0x86) uris.push(text(b, t));
          t.children?.forEach(walk);
        };
        walk(inner);
        return uris.join(", ");
      }
      default:
        return `${v.end - v.start} bytes`;
    }
  } catch {
    return `${v.end - v.start} bytes`;
  }
}

export interface DecodedCertificate {
  version: number;
  serial: string;
  signatureAlgorithm: string;
  issuer: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  publicKey: string;
  extensions: { name: string; critical: boolean; value: string }[];
  sha256: string;
}

export function pemToDer(pem: string): Uint8Array {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The first certificate of a PEM text, decoded for display. */
export async function decodeCertificate(pem: string): Promise<DecodedCertificate> {
  const b = pemToDer(pem);
  const cert = readTlv(b, 0);
  const tbs = cert.children![0];
  const f = tbs.children!;
  let i = 0;
  let version = 1;
  if (f[0].tag === 0xa0) {
    version = b[f[0].children![0].start] + 1;
    i = 1;
  }
  const serial = f[i];
  const sigAlg = f[i + 1];
  const issuer = f[i + 2];
  const validity = f[i + 3];
  const subject = f[i + 4];
  const spki = f[i + 5];
  const keyAlg = spki.children![0].children!;
  let publicKey = named(oid(b, keyAlg[0]));
  if (keyAlg[1]?.tag === 0x06) publicKey += ` ${named(oid(b, keyAlg[1]))}`;
  if (publicKey === "RSA") {
    const bits = spki.children![1];
    const rsa = readTlv(b, bits.start + 1);
    const mod = rsa.children![0];
    let n = mod.end - mod.start;
    if (b[mod.start] === 0) n--;
    publicKey += ` ${n * 8} bits`;
  }
  const extensions: DecodedCertificate["extensions"] = [];
  const extWrap = f.find((x) => x.tag === 0xa3);
  for (const ext of extWrap?.children?.[0].children ?? []) {
    const c = ext.children!;
    const name = named(oid(b, c[0]));
    const critical = c[1].tag === 0x01 && b[c[1].start] !== 0;
    const value = c[c.length - 1];
    extensions.push({ name, critical, value: extensionValue(b, name, value) });
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", b.subarray(0, cert.end) as Uint8Array<ArrayBuffer>));
  return {
    version,
    serial: hex(b, serial.start, serial.end).replace(/^00(?=[89a-f])/, ""),
    signatureAlgorithm: named(oid(b, sigAlg.children![0])),
    issuer: dn(b, issuer),
    subject: dn(b, subject),
    notBefore: time(b, validity.children![0]),
    notAfter: time(b, validity.children![1]),
    publicKey,
    extensions,
    sha256: hex(digest, 0, digest.length, ":").toUpperCase(),
  };
}

export interface DecodedCrl {
  /** cRLNumber (RFC 5280 §5.2.3), decimal; undefined when the CRL has none */
  number?: string;
  thisUpdate: string;
  nextUpdate?: string;
  /** entries in revokedCertificates */
  revoked: number;
}

/** A DER CertificateList (RFC 5280 §5.1): the facts the CA tree shows. */
export function decodeCrl(b: Uint8Array): DecodedCrl {
  const tbs = readTlv(b, 0).children![0];
  const f = tbs.children!;
  // version is optional (v2 CRLs carry it: INTEGER 1)
  let i = f[0].tag === 0x02 ? 1 : 0;
  i += 2; // signature, issuer
  const thisUpdate = time(b, f[i++]);
  let nextUpdate: string | undefined;
  if (f[i] && (f[i].tag === 0x17 || f[i].tag === 0x18)) nextUpdate = time(b, f[i++]);
  let revoked = 0;
  if (f[i]?.tag === 0x30) revoked = f[i++].children?.length ?? 0;
  let number: string | undefined;
  const ext = f[i]?.tag === 0xa0 ? f[i].children?.[0].children : undefined;
  for (const e of ext ?? []) {
    const c = e.children!;
    if (oid(b, c[0]) !== "2.5.29.20") continue;
    const int = readTlv(b, c[c.length - 1].start);
    let n = 0n;
    for (let k = int.start; k < int.end; k++) n = n * 256n + BigInt(b[k]);
    number = n.toString();
  }
  return { number, thisUpdate, nextUpdate, revoked };
}
