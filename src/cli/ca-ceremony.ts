/**
 * `sigil ca` offline-root ceremony (docs/key-custody.md, "Offline root").
 *
 * Offline (no server, no database; run on the offline machine):
 *   init-offline-root   a root key and self-signed certificate into a passphrase-encrypted file
 *   sign-intermediate   signs a CSR a running Sigil produced (request-intermediate)
 *   sign-crl            signs the root's CRL
 * Online (through the admin API):
 *   request-intermediate  CreateIntermediateCertificateAuthority with external_parent: prints the CSR
 *   activate              ActivateIntermediateCertificateAuthority with the signed certificate and chain
 *   import-crl            ImportCertificateAuthorityCrl
 *
 * The passphrase comes from --passphrase-file FILE, $SIGIL_ROOT_PASSPHRASE, or
 * the terminal (asked twice by init-offline-root); never from a flag value.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { createRootCa, crlToPem, issueSubordinateCa, loadIssuer, signCrl, type CrlEntry } from "../ca/signer.js";
import { csrDerFromPem } from "../ca/csr.js";
import { readCaCsr } from "../ca/csr-builder.js";
import { fromPem } from "../ca/der.js";
import { generateKeyPair } from "../ca/keys.js";
import { keyObjectSigningKey } from "../ca/key-store.js";
import { checkPassphrase, encryptPrivateKeyPem, formatOfflineRootFile, openOfflineRootFile } from "../ca/offline-root-file.js";
import { newSerial } from "../ca/serial.js";
import { KEY_ALGORITHMS, REVOCATION_REASONS, type KeyAlgorithm, type RevocationReason } from "../core/types.js";
import { isSigilError } from "../core/errors.js";
import {
  ActivateIntermediateCertificateAuthorityResponseSchema,
  CertificateAuthorityService,
  CreateIntermediateCertificateAuthorityResponseSchema,
  ImportCertificateAuthorityCrlResponseSchema,
} from "../gen/sigil/admin/v1/certificate_authority_pb.js";
import { AdminCli, details, optionalInt, optionalString, parseCommand, required, runCli, UsageError } from "./admin-client.js";
import { caRow } from "./ca.js";
import type { CliIo } from "./io.js";
import { arg, keyAlgorithmArg, readInput } from "./pki-args.js";

export const CEREMONY_USAGE = `usage: sigil ca <ceremony command> [options]

offline (no server, no database):
  init-offline-root --out FILE --cn CN [--o ORG] [--ou UNIT] [--c CC] [--key p384|p256|rsa4096|...]
        [--days N (7300)] [--path-length N (1)] [--passphrase-file F] [--cert-out FILE]
        writes the encrypted root key and its certificate to FILE (0600), prints the root certificate
  sign-intermediate --root-key FILE --csr CSR.pem --out CERT.pem [--days N (1825)] [--path-length N (0)]
        [--crl-url URL] [--ca-issuers-url URL] [--passphrase-file F]
  sign-crl --root-key FILE --out CRL.pem [--revoked SERIAL[:REASON[:TIME]]]... [--crl-number N (thisUpdate
        in seconds)] [--days N (30) | --next-update TIME] [--der] [--passphrase-file F]

online (admin API):
  request-intermediate --org ORG_ID --name NAME --cn CN [--o ORG] [--ou UNIT] [--c CC] [--key ALG]
        [--no-leaf] [--crl-base-url URL] [--description TEXT] [--csr-out FILE]
  activate ID --cert CERT.pem --chain ROOT.pem [--chain ISSUER.pem ...]   (the issuer first, the root last)
  import-crl ID --crl CRL.pem|CRL.der

The passphrase: --passphrase-file FILE, $SIGIL_ROOT_PASSPHRASE, or asked on the terminal.
`;


const DAY_MS = 86_400_000;

function floorToSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

async function ask(io: CliIo, question: string): Promise<string> {
  if (!io.stdin?.isTTY) throw new UsageError("no terminal to ask for the passphrase on: use --passphrase-file or $SIGIL_ROOT_PASSPHRASE");
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  // the answer is not echoed
  const out = rl as unknown as { _writeToOutput?: (s: string) => void; output: NodeJS.WritableStream };
  out._writeToOutput = (s: string) => (s.includes(question) ? out.output.write(s) : undefined);
  try {
    return await new Promise((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    io.stderr.write("\n");
  }
}

async function passphrase(values: Record<string, unknown>, io: CliIo, confirm: boolean): Promise<string> {
  const file = optionalString(values, "passphrase-file");
  if (file) {
    try {
      return readFileSync(file, "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      throw new UsageError(`cannot read the passphrase file ${file}: ${(e as Error).message}`);
    }
  }
  if (io.env.SIGIL_ROOT_PASSPHRASE) return io.env.SIGIL_ROOT_PASSPHRASE;
  const first = await ask(io, "root key passphrase: ");
  if (confirm && (await ask(io, "again: ")) !== first) throw new UsageError("the passphrases differ");
  return first;
}

function keyAlgorithm(v: string | undefined): KeyAlgorithm {
  if (v === undefined) return "p384";
  const k = v.toLowerCase().replace(/[-_]/g, "") as KeyAlgorithm;
  if (!KEY_ALGORITHMS.includes(k)) throw new UsageError(`--key must be one of ${KEY_ALGORITHMS.join(", ")}`);
  return k;
}

function readFile(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

/** Writes a new file (never over an existing one: a key file is not replaced by mistake). */
function writeNew(file: string, data: string | Buffer, mode: number): void {
  if (existsSync(file)) throw new UsageError(`${file} exists; choose another --out (nothing was overwritten)`);
  writeFileSync(file, data, { mode, flag: "wx" });
}

async function openRoot(values: Record<string, unknown>, io: CliIo) {
  const file = required(values, "root-key");
  return openOfflineRootFile(readFile(file, "root key file").toString("utf8"), await passphrase(values, io, false));
}

function parseTime(v: string, name: string): Date {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new UsageError(`${name}: not a time (ISO 8601, e.g. 2027-01-01T00:00:00Z)`);
  return d;
}

const REASON_NAMES: Record<string, RevocationReason> = {
  unspecified: 0,
  keycompromise: 1,
  cacompromise: 2,
  affiliationchanged: 3,
  superseded: 4,
  cessationofoperation: 5,
  certificatehold: 6,
  removefromcrl: 8,
  privilegewithdrawn: 9,
  aacompromise: 10,
};

/** SERIAL[:REASON[:TIME]]: hex serial, an RFC 5280 §5.3.1 reason name or number, an ISO time (default now) */
function revokedEntry(spec: string, now: Date): CrlEntry {
  const [serialText = "", reasonText, ...rest] = spec.split(":");
  const timeText = rest.length ? rest.join(":") : undefined;
  const hex = serialText.toLowerCase().replace(/^0x/, "").replace(/[\s:]/g, "");
  if (!/^[0-9a-f]{1,40}$/.test(hex)) throw new UsageError(`--revoked ${spec}: the serial must be hexadecimal`);
  let reason: RevocationReason = 0;
  if (reasonText) {
    const n = /^\d+$/.test(reasonText) ? Number(reasonText) : REASON_NAMES[reasonText.toLowerCase()];
    if (n === undefined || !(REVOCATION_REASONS as readonly number[]).includes(n)) throw new UsageError(`--revoked ${spec}: unknown reason ${reasonText}`);
    reason = n as RevocationReason;
  }
  const revokedAt = timeText ? parseTime(timeText, `--revoked ${spec}`) : now;
  return { serial: Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex"), revokedAt: floorToSecond(revokedAt), reason };
}

/** `sigil ca init-offline-root`: the root key and certificate, made here and written encrypted. */
async function initOfflineRoot(values: Record<string, unknown>, io: CliIo): Promise<void> {
  const out = required(values, "out");
  if (existsSync(out)) throw new UsageError(`${out} exists; choose another --out (nothing was overwritten)`);
  const subject = {
    commonName: required(values, "cn"),
    ...(optionalString(values, "o") ? { organization: optionalString(values, "o") } : {}),
    ...(optionalString(values, "ou") ? { organizationalUnit: optionalString(values, "ou") } : {}),
    ...(optionalString(values, "c") ? { country: optionalString(values, "c") } : {}),
  };
  const days = optionalInt(values, "days") ?? 7300;
  if (days < 1 || days > 36_500) throw new UsageError("--days must be 1 to 36500");
  const pathLength = optionalInt(values, "path-length") ?? 1;
  const pass = await passphrase(values, io, true);
  checkPassphrase(pass);
  const alg = keyAlgorithm(optionalString(values, "key"));
  const keyPair = await generateKeyPair(alg);
  const now = new Date();
  const cert = await createRootCa({
    subject,
    signingKey: keyObjectSigningKey(keyPair.privateKey),
    serial: newSerial(),
    notBefore: floorToSecond(new Date(now.getTime() - 60_000)),
    notAfter: floorToSecond(new Date(now.getTime() + days * DAY_MS)),
    pathLength,
  });
  writeNew(out, formatOfflineRootFile(encryptPrivateKeyPem(keyPair.privateKey, pass), cert.pem), 0o600);
  const certOut = optionalString(values, "cert-out");
  if (certOut) writeNew(certOut, cert.pem, 0o644);
  io.stderr.write(`root key and certificate written to ${out} (keep it offline, with its passphrase apart)\n`);
  io.stdout.write(cert.pem);
}

/** `sigil ca sign-intermediate`: the root signs a CSR as a subordinate CA (RFC 5280 §4.2.1.9). */
async function signIntermediate(values: Record<string, unknown>, io: CliIo): Promise<void> {
  const out = required(values, "out");
  if (existsSync(out)) throw new UsageError(`${out} exists; choose another --out (nothing was overwritten)`);
  const csrPem = readFile(required(values, "csr"), "CSR").toString("utf8");
  const csr = readCaCsr(csrDerFromPem(csrPem));
  const root = await openRoot(values, io);
  const crlUrl = optionalString(values, "crl-url");
  const caIssuersUrl = optionalString(values, "ca-issuers-url");
  const issuer = loadIssuer({
    certificateDer: root.certificateDer,
    signingKey: keyObjectSigningKey(root.privateKey),
    urls: { ...(crlUrl ? { crlUrl } : {}), ...(caIssuersUrl ? { caIssuersUrl } : {}) },
  });
  const days = optionalInt(values, "days") ?? 1825;
  if (days < 1 || days > 36_500) throw new UsageError("--days must be 1 to 36500");
  const now = new Date();
  // RFC 5280 §6.1.3: within the root's validity
  const wantedStart = floorToSecond(new Date(now.getTime() - 60_000));
  const notBefore = wantedStart < issuer.notBefore ? issuer.notBefore : wantedStart;
  const wantedEnd = floorToSecond(new Date(now.getTime() + days * DAY_MS));
  const notAfter = wantedEnd > issuer.notAfter ? issuer.notAfter : wantedEnd;
  const cert = await issueSubordinateCa(issuer, {
    subject: { der: csr.subjectDer },
    publicKey: csr.publicKey,
    serial: newSerial(),
    notBefore,
    notAfter,
    pathLength: optionalInt(values, "path-length") ?? 0,
  });
  writeNew(out, cert.pem, 0o644);
  io.stderr.write(`intermediate certificate written to ${out}, valid until ${notAfter.toISOString()}\n`);
  io.stdout.write(cert.pem);
}

/** `sigil ca sign-crl`: the root's CRL (RFC 5280 §5), signed here. */
async function signRootCrl(values: Record<string, unknown>, io: CliIo): Promise<void> {
  const out = required(values, "out");
  if (existsSync(out)) throw new UsageError(`${out} exists; choose another --out (nothing was overwritten)`);
  const now = floorToSecond(new Date());
  const revoked = (values.revoked as string[] | undefined) ?? [];
  const entries = revoked.map((r) => revokedEntry(r, now));
  const nextText = optionalString(values, "next-update");
  const nextUpdate = nextText ? parseTime(nextText, "--next-update") : new Date(now.getTime() + (optionalInt(values, "days") ?? 30) * DAY_MS);
  const numberText = optionalString(values, "crl-number");
  if (numberText !== undefined && !/^\d{1,19}$/.test(numberText)) throw new UsageError("--crl-number must be a non-negative decimal integer");
  // RFC 5280 §5.2.3: numbers increase; thisUpdate in seconds does, one CRL per second
  const crlNumber = numberText !== undefined ? BigInt(numberText) : BigInt(Math.floor(now.getTime() / 1000));
  const root = await openRoot(values, io);
  const issuer = loadIssuer({ certificateDer: root.certificateDer, signingKey: keyObjectSigningKey(root.privateKey) });
  const der = signCrl(issuer, { crlNumber, thisUpdate: now, nextUpdate: floorToSecond(nextUpdate), entries });
  writeNew(out, values.der === true ? der : crlToPem(der), 0o644);
  io.stderr.write(`CRL number ${crlNumber} with ${entries.length} entr${entries.length === 1 ? "y" : "ies"} written to ${out}, next update ${floorToSecond(nextUpdate).toISOString()}\n`);
}

export async function runCaCeremony(sub: string, argv: string[], io: CliIo): Promise<number> {
  return runCli(CEREMONY_USAGE, io, async () => {
    const { values, positionals } = parseCommand(argv, {
      out: { type: "string" },
      "cert-out": { type: "string" },
      "csr-out": { type: "string" },
      cn: { type: "string" },
      o: { type: "string" },
      ou: { type: "string" },
      c: { type: "string" },
      key: { type: "string" },
      days: { type: "string" },
      "path-length": { type: "string" },
      "passphrase-file": { type: "string" },
      "root-key": { type: "string" },
      csr: { type: "string" },
      "crl-url": { type: "string" },
      "ca-issuers-url": { type: "string" },
      revoked: { type: "string", multiple: true },
      "crl-number": { type: "string" },
      "next-update": { type: "string" },
      der: { type: "boolean" },
      org: { type: "string" },
      name: { type: "string" },
      description: { type: "string" },
      "no-leaf": { type: "boolean" },
      "crl-base-url": { type: "string" },
      cert: { type: "string" },
      chain: { type: "string", multiple: true },
      crl: { type: "string" },
    });
    if (values.help) return void io.stdout.write(CEREMONY_USAGE);
    try {
      switch (sub) {
        case "init-offline-root":
          return void (await initOfflineRoot(values, io));
        case "sign-intermediate":
          return void (await signIntermediate(values, io));
        case "sign-crl":
          return void (await signRootCrl(values, io));
        default:
          break;
      }
    } catch (e) {
      // offline: a SigilError (bad CSR, wrong passphrase, ...) is the operator's to read
      if (isSigilError(e) && e.kind !== "internal") {
        io.stderr.write(`sigil: ${e.message}${e.field ? ` (${e.field})` : ""}\n`);
        return 1;
      }
      throw e;
    }
    const cli = AdminCli.open(values, io);
    try {
      switch (sub) {
        case "request-intermediate": {
          const r = await cli.call(CertificateAuthorityService, "createIntermediateCertificateAuthority", {
            externalParent: true,
            organizationId: required(values, "org"),
            name: required(values, "name"),
            description: optionalString(values, "description") ?? "",
            subject: { commonName: required(values, "cn"), organization: optionalString(values, "o") ?? "", organizationalUnit: optionalString(values, "ou") ?? "", country: optionalString(values, "c") ?? "" },
            keyAlgorithm: keyAlgorithmArg(optionalString(values, "key")),
            allowLeafCerts: values["no-leaf"] !== true,
            crlBaseUrl: optionalString(values, "crl-base-url") ?? "",
          });
          const csrOut = optionalString(values, "csr-out");
          if (csrOut) writeNew(csrOut, r.certificateAuthority!.csrPem, 0o644);
          cli.print(CreateIntermediateCertificateAuthorityResponseSchema, r, () => details(caRow(r.certificateAuthority!)) + (csrOut ? `CSR written to ${csrOut}\n` : r.certificateAuthority!.csrPem));
          return;
        }
        case "activate": {
          const chain = (values.chain as string[] | undefined) ?? [];
          if (chain.length === 0) throw new UsageError("--chain ROOT.pem is required (the issuer first, the root last)");
          const r = await cli.call(CertificateAuthorityService, "activateIntermediateCertificateAuthority", {
            id: arg(positionals, 0, "ID"),
            certificatePem: await readInput(required(values, "cert"), "certificate", io),
            chainPems: await Promise.all(chain.map((f) => readInput(f, "chain certificate", io))),
          });
          cli.print(ActivateIntermediateCertificateAuthorityResponseSchema, r, () => details(caRow(r.certificateAuthority!)));
          return;
        }
        case "import-crl": {
          const bytes = readFile(required(values, "crl"), "CRL");
          // PEM or DER, sent as they are (the server reads both)
          const r = await cli.call(CertificateAuthorityService, "importCertificateAuthorityCrl", { id: arg(positionals, 0, "ID"), crl: fromPem(bytes.toString("latin1"), "X509 CRL") ?? bytes });
          cli.print(ImportCertificateAuthorityCrlResponseSchema, r, () =>
            details({ "crl number": r.crlNumber, entries: String(r.entryCount), "this update": r.thisUpdate ? new Date(Number(r.thisUpdate.seconds) * 1000).toISOString() : "-", "next update": r.nextUpdate ? new Date(Number(r.nextUpdate.seconds) * 1000).toISOString() : "-" }),
          );
          return;
        }
        default:
          throw new UsageError(`unknown ca command "${sub}"`);
      }
    } finally {
      cli.close();
    }
  });
}
