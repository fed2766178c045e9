/**
 * openssl as the independent judge of what certbot received.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { requireTool, run, type RunResult } from "./tools.js";

export type Purpose = "sslserver" | "sslclient";

/**
 * `openssl verify -CAfile root -untrusted chain [-purpose p] cert`.
 * Resolves with the result; `ok` is true only for exit 0 and "cert: OK".
 */
export async function opensslVerify(opts: { rootPem: string; chainPem: string; certPem: string; purpose?: Purpose }): Promise<RunResult & { ok: boolean }> {
  const openssl = requireTool("openssl");
  const args = ["verify", "-CAfile", opts.rootPem, "-untrusted", opts.chainPem];
  if (opts.purpose) args.push("-purpose", opts.purpose);
  args.push(opts.certPem);
  const r = await run(openssl, args);
  return { ...r, ok: r.code === 0 && /: OK\s*$/.test(r.stdout) };
}

/** the certificate's serial as lower-case hex without leading zeros */
export function serialOf(certPath: string): string {
  return normalizeSerial(new X509Certificate(readFileSync(certPath)).serialNumber);
}

export function normalizeSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, "");
}

/** DNS names in the certificate's subjectAltName */
export function dnsNamesOf(certPath: string): string[] {
  const san = new X509Certificate(readFileSync(certPath)).subjectAltName ?? "";
  return san
    .split(/,\s*/)
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4))
    .sort();
}

/** extended key usage OIDs of the certificate */
export function ekuOf(certPath: string): string[] {
  return new X509Certificate(readFileSync(certPath)).keyUsage ?? [];
}

/** the certificates of a PEM bundle, in order */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** the OCSP responder URL in the certificate's authorityInfoAccess (RFC 5280 §4.2.2.1) */
export async function ocspUriOf(certPath: string): Promise<string> {
  const r = await run(requireTool("openssl"), ["x509", "-noout", "-ocsp_uri", "-in", certPath]);
  const uri = r.stdout.trim();
  if (r.code !== 0 || !uri) throw new Error(`no OCSP URI in ${certPath}: ${r.stderr}`);
  return uri;
}

/**
 * Asks the certificate's OCSP responder with `openssl ocsp` (response
 * signature checked against the root). Resolves with the status openssl
 * prints ("good", "revoked", "unknown"), the reason line if any and the output.
 */
export async function opensslOcsp(opts: { certPem: string; issuerPem: string; rootPem: string }): Promise<{ status: string; reason?: string; verified: boolean; output: string }> {
  const url = await ocspUriOf(opts.certPem);
  const r = await run(requireTool("openssl"), ["ocsp", "-issuer", opts.issuerPem, "-cert", opts.certPem, "-url", url, "-CAfile", opts.rootPem, "-timeout", "10"]);
  const output = r.stdout + r.stderr;
  const m = /: (good|revoked|unknown)\b/.exec(r.stdout);
  const reason = /Reason: (\w+)/.exec(r.stdout)?.[1];
  return { status: m?.[1] ?? "(none)", reason, verified: /Response verify OK/.test(output), output };
}
