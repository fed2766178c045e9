/**
 * `npm run bench -- signer --steps [rounds]`: the P-256 leaf-from-CSR path
 * split into its steps, CPU microseconds per operation. The steps run in
 * turn in 150 ms windows, `rounds` times over, and each gets the median and
 * the minimum of its windows: interleaving makes every step see the same
 * machine load, which on the shared 2-vCPU VM moves too much for one long
 * window per step to compare.
 */
import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { csrSignedParts, parseCsr } from "../../src/ca/csr.js";
import { toPem } from "../../src/ca/der.js";
import { importEcPointJwk, importSpki, inspectSpki } from "../../src/ca/keys.js";
import { newSerial } from "../../src/ca/serial.js";
import { issueLeaf, type Issuer } from "../../src/ca/signer.js";

const DAY = 86_400_000;

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU µs per call of fn over a window of `ms` */
function window(fn: (i: number) => unknown, ms: number): number {
  const end = Date.now() + ms;
  const c0 = cpuMicros();
  let n = 0;
  while (Date.now() < end) for (let j = 0; j < 20; j++) fn(n++);
  return (cpuMicros() - c0) / n;
}

export function stepProfile(csrs: Buffer[], issuer: Issuer, rounds: number): void {
  const notBefore = new Date();
  const notAfter = new Date(Date.now() + 90 * DAY);
  const pieces = csrs.map((der) => {
    const csr = parseCsr(der);
    return { csr, point: inspectSpki(csr.publicKeySpki).publicKeyBits, ...csrSignedParts(der) };
  });
  const at = (i: number) => pieces[i % pieces.length]!;
  const leaf = (csr: ReturnType<typeof parseCsr>) =>
    issueLeaf(issuer, {
      publicKey: csr.publicKeySpki,
      type: "server",
      commonName: csr.commonName,
      dnsNames: csr.dnsNames,
      ipAddresses: csr.ipAddresses,
      emails: csr.emails,
      serial: newSerial(),
      notBefore,
      notAfter,
    });
  const check = (i: number, key: KeyObject) => {
    const p = at(i);
    if (!verify("sha256", p.certificationRequestInfo, { key, dsaEncoding: "der" }, p.signature)) throw new Error("bench: CSR did not verify");
  };
  const tbs = Buffer.alloc(600, 7);
  const certDer = leaf(pieces[0]!.csr).der;
  const steps: Record<string, (i: number) => unknown> = {
    "full leaf: parseCsr + issueLeaf": (i) => leaf(parseCsr(csrs[i % csrs.length]!)),
    "parseCsr (frame, key import, verify, names)": (i) => parseCsr(csrs[i % csrs.length]!),
    "  key import, importSpki (raw point route)": (i) => importSpki(at(i).csr.publicKeySpki),
    "  key import, JWK": (i) => importEcPointJwk("P-256", 32, at(i).point),
    "  key import, OpenSSL DER decoder": (i) => createPublicKey({ key: at(i).csr.publicKeySpki, format: "der", type: "spki" }),
    "  importSpki + verify, fresh key": (i) => check(i, importSpki(at(i).csr.publicKeySpki)),
    "  JWK import + verify, fresh key": (i) => check(i, importEcPointJwk("P-256", 32, at(i).point)),
    "  verify with a key already used": (i) => check(i, at(i).csr.publicKey),
    "  CSR framing (csrSignedParts)": (i) => csrSignedParts(csrs[i % csrs.length]!),
    "issueLeaf (policy, TBS, sign, PEM)": (i) => leaf(at(i).csr),
    "  CA key signature over 600 B": () => issuer.signingKey.sign(tbs),
    "  toPem": () => toPem(certDer, "CERTIFICATE"),
  };
  for (const fn of Object.values(steps)) for (let i = 0; i < 300; i++) fn(i); // warm-up
  const samples: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) for (const [name, fn] of Object.entries(steps)) (samples[name] ??= []).push(window(fn, 150));
  const median = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1]!;
  console.log(`signer steps, P-256 leaf from CSR, CPU µs per operation over ${rounds} rounds (median, min):`);
  for (const [name, v] of Object.entries(samples)) console.log(`  ${name.padEnd(48)} ${median(v).toFixed(1).padStart(7)} ${Math.min(...v).toFixed(1).padStart(7)}`);
}
