/** Argument helpers shared by `sigil ca`, `sigil cert` and the admin-plane `sigil acme` commands. */
import { readFileSync, writeFileSync } from "node:fs";
import { KeyAlgorithm, PrivateKeyFormat, RevocationReason } from "../gen/sigil/admin/v1/common_pb.js";
import { optionalString, UsageError } from "./admin-client.js";
import { readStdin, type CliIo } from "./io.js";

export function arg(positionals: string[], i: number, name: string): string {
  const v = positionals[i];
  if (!v) throw new UsageError(`${name} is required`);
  return v;
}

const KEY_ALGORITHMS: Record<string, KeyAlgorithm> = {
  p256: KeyAlgorithm.P256,
  p384: KeyAlgorithm.P384,
  rsa2048: KeyAlgorithm.RSA2048,
  rsa3072: KeyAlgorithm.RSA3072,
  rsa4096: KeyAlgorithm.RSA4096,
};

export function keyAlgorithmArg(v: string | undefined): KeyAlgorithm {
  if (v === undefined) return KeyAlgorithm.UNSPECIFIED;
  const k = KEY_ALGORITHMS[v.toLowerCase().replace(/[-_]/g, "")];
  if (k === undefined) throw new UsageError(`--key must be one of ${Object.keys(KEY_ALGORITHMS).join(", ")}`);
  return k;
}

export function keyAlgorithmName(k: KeyAlgorithm): string {
  return Object.entries(KEY_ALGORITHMS).find(([, v]) => v === k)?.[0] ?? "-";
}

/** RFC 5280 §5.3.1 reason names (camelCase as in the RFC) or numbers. */
const REASONS: Record<string, RevocationReason> = {
  unspecified: RevocationReason.UNSPECIFIED,
  keycompromise: RevocationReason.KEY_COMPROMISE,
  cacompromise: RevocationReason.CA_COMPROMISE,
  affiliationchanged: RevocationReason.AFFILIATION_CHANGED,
  superseded: RevocationReason.SUPERSEDED,
  cessationofoperation: RevocationReason.CESSATION_OF_OPERATION,
  privilegewithdrawn: RevocationReason.PRIVILEGE_WITHDRAWN,
  aacompromise: RevocationReason.AA_COMPROMISE,
};

export function reasonArg(v: string | undefined): RevocationReason {
  if (v === undefined) return RevocationReason.UNSPECIFIED;
  if (/^\d+$/.test(v)) return Number(v) as RevocationReason;
  const r = REASONS[v.toLowerCase().replace(/[-_ ]/g, "")];
  if (r === undefined) throw new UsageError(`--reason must be one of keyCompromise, caCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, aACompromise (or the RFC 5280 number)`);
  return r;
}

export function reasonName(r: RevocationReason): string {
  return RevocationReason[r] ?? String(r);
}

export function formatArg(v: string | undefined): PrivateKeyFormat {
  if (v === undefined || v === "pem") return PrivateKeyFormat.PEM;
  if (v === "pkcs12" || v === "p12" || v === "pfx") return PrivateKeyFormat.PKCS12;
  throw new UsageError("--format must be pem or pkcs12");
}

/** Writes an exported key to --out (mode 0600), or PEM to stdout; PKCS#12 needs --out. */
export function writeKey(out: string | undefined, key: { case: "privateKeyPem"; value: string } | { case: "pkcs12"; value: Uint8Array } | { case: undefined; value?: undefined }): string {
  if (key.case === undefined) throw new Error("the server returned no key");
  if (out) {
    writeFileSync(out, key.case === "pkcs12" ? key.value : key.value, { mode: 0o600 });
    return `private key written to ${out}\n`;
  }
  if (key.case === "pkcs12") throw new UsageError("--out FILE is required for PKCS#12 (binary) output");
  return key.value;
}

/** The text of FILE ("-" for the command's stdin); a usage error when it cannot be read. */
export async function readInput(file: string, what: string, io: CliIo): Promise<string> {
  if (file === "-") return `${await readStdin(io)}\n`;
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

/**
 * `export-key ID [--format pem|pkcs12] [--password P] [--out FILE]`, shared
 * by `sigil ca` and `sigil cert`: the RPC request and where to write the key.
 */
export function exportKeyArgs(
  values: Record<string, unknown>,
  positionals: string[],
  json: boolean,
): { out: string | undefined; request: { id: string; format: PrivateKeyFormat; password: string } } {
  const format = formatArg(optionalString(values, "format"));
  const out = optionalString(values, "out");
  if (format === PrivateKeyFormat.PKCS12 && !out && !json) throw new UsageError("--out FILE is required for PKCS#12 (binary) output");
  return { out, request: { id: arg(positionals, 0, "ID"), format, password: optionalString(values, "password") ?? "" } };
}
