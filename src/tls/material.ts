/**
 * What the HTTPS listener serves: a certificate chain and its private key
 * (PEM), checked before use, and the interface both certificate sources
 * (files, self-issued) implement.
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { createSecureContext, type SecureContextOptions } from "node:tls";

/** TLS 1.2 is the floor: RFC 8555 §6.1 requires HTTPS, and RFC 8996 retires TLS 1.0/1.1. */
export const MIN_TLS_VERSION = "TLSv1.2" as const;

export interface TlsMaterial {
  /** the leaf first, then intermediates (never the root: clients hold it) */
  certPem: string;
  keyPem: string;
}

/** What a log line may say about a listener certificate (never the key). */
export interface TlsMaterialInfo {
  subject: string;
  subjectAltName: string;
  serialNumber: string;
  validTo: string;
  fingerprint256: string;
}

/** The secure-context options of the listener for this material. */
export function secureContextOptions(m: TlsMaterial): SecureContextOptions {
  return { cert: m.certPem, key: m.keyPem, minVersion: MIN_TLS_VERSION };
}

/**
 * Checks that the material is usable before it replaces what is served: the
 * PEM parses, the key matches the leaf (OpenSSL's own check in
 * createSecureContext) and the leaf has not expired. Throws with a message
 * that names no key material.
 */
export function checkTlsMaterial(m: TlsMaterial, now = new Date()): TlsMaterialInfo {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(m.certPem);
  if (!first) throw new Error("no PEM certificate found");
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(first[0]);
  } catch (e) {
    throw new Error(`the certificate does not parse (${(e as Error).message})`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(m.keyPem);
  } catch {
    // the parser's message could quote the input: keep it out of the log
    throw new Error("the private key does not parse as PEM");
  }
  if (!leaf.checkPrivateKey(key)) throw new Error("the private key does not match the certificate");
  try {
    createSecureContext(secureContextOptions(m));
  } catch (e) {
    throw new Error(`OpenSSL refuses the certificate and key (${(e as Error).message})`);
  }
  if (new Date(leaf.validTo) <= now) throw new Error(`the certificate expired at ${new Date(leaf.validTo).toISOString()}`);
  return describe(leaf);
}

function describe(c: X509Certificate): TlsMaterialInfo {
  return {
    subject: c.subject.replace(/\n/g, ", "),
    subjectAltName: c.subjectAltName ?? "",
    serialNumber: c.serialNumber,
    validTo: new Date(c.validTo).toISOString(),
    fingerprint256: c.fingerprint256,
  };
}

/**
 * A source of the listener's certificate. `current` is what the listener
 * serves; `onChange` is called with new material once it passed
 * checkTlsMaterial (the listener then calls server.setSecureContext, so new
 * connections get it and open ones keep theirs).
 */
export interface ListenerCertificateSource {
  readonly kind: "file" | "self-issued";
  current(): TlsMaterial;
  /** info of the current material, for logs and the banner */
  info(): TlsMaterialInfo;
  onChange(listener: (m: TlsMaterial) => void): void;
  /**
   * Reload now (SIGHUP): re-read the files, or for the self-issued one look
   * for a fresher stored certificate and renew when due. Never throws:
   * failure keeps the current material and resolves false.
   */
  reload(reason: string): Promise<boolean>;
  /** starts the periodic check (file poll, renewal timer) */
  start(): void;
  close(): Promise<void>;
}
