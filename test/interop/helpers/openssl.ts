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
