/**
 * An offline root made and used with openssl alone (no Sigil code), for the
 * offline-root tests and their permission-matrix rows: what an operator's
 * own tooling would hand back to ActivateIntermediateCertificateAuthority
 * and ImportCertificateAuthorityCrl. A missing openssl fails loudly.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

function run(args: string[], cwd?: string): string {
  try {
    return execFileSync("openssl", args, { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString("utf8");
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === "ENOENT") throw new Error("openssl is required for these tests and was not found on PATH");
    throw new Error(`openssl ${args.join(" ")} failed: ${err.stderr?.toString() ?? ""}`);
  }
}

export interface OpensslRoot {
  dir: string;
  keyFile: string;
  certFile: string;
  pem: string;
}

/** A self-signed P-256 root (CA:TRUE, pathlen:1, keyCertSign + cRLSign) in its own directory. */
export function opensslRoot(commonName: string): OpensslRoot {
  const dir = mkdtempSync(path.join(tmpdir(), "sigil-offline-"));
  const keyFile = path.join(dir, "root.key");
  const certFile = path.join(dir, "root.pem");
  run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyFile]);
  run([
    "req", "-x509", "-new", "-key", keyFile, "-sha256", "-days", "3650", "-subj", `/O=Sigil Tests/CN=${commonName}`, "-out", certFile,
    "-addext", "basicConstraints=critical,CA:TRUE,pathlen:1", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    "-addext", "subjectKeyIdentifier=hash",
  ]);
  writeFileSync(path.join(dir, "index.txt"), "");
  writeFileSync(path.join(dir, "crlnumber"), "01\n");
  writeFileSync(
    path.join(dir, "ca.cnf"),
    `[ca]\ndefault_ca = root\n[root]\ndatabase = ${path.join(dir, "index.txt")}\ncrlnumber = ${path.join(dir, "crlnumber")}\ndefault_md = sha256\ndefault_crl_days = 30\ncrl_extensions = crl_ext\n[crl_ext]\nauthorityKeyIdentifier = keyid\n`,
  );
  return { dir, keyFile, certFile, pem: readFileSync(certFile, "utf8") };
}

let counter = 0;

/** Signs `csrPem` with the root; `extensions` are openssl v3 extension lines (default: a CA with pathlen 0). */
export function opensslSign(root: OpensslRoot, csrPem: string, o: { extensions?: string[]; days?: number } = {}): string {
  const n = ++counter;
  const csr = path.join(root.dir, `req-${n}.csr`);
  const ext = path.join(root.dir, `ext-${n}.cnf`);
  const out = path.join(root.dir, `cert-${n}.pem`);
  writeFileSync(csr, csrPem);
  writeFileSync(ext, `${(o.extensions ?? ["basicConstraints=critical,CA:TRUE,pathlen:0", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign", "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid"]).join("\n")}\n`);
  run(["x509", "-req", "-in", csr, "-CA", root.certFile, "-CAkey", root.keyFile, "-CAcreateserial", "-days", String(o.days ?? 365), "-sha256", "-extfile", ext, "-out", out]);
  return readFileSync(out, "utf8");
}

/** A CRL of the root (openssl ca -gencrl), its number from the root's crlnumber file (or `number`, hex). */
export function opensslCrl(root: OpensslRoot, o: { number?: string } = {}): Buffer {
  if (o.number) writeFileSync(path.join(root.dir, "crlnumber"), `${o.number}\n`);
  const out = path.join(root.dir, `crl-${++counter}.pem`);
  run(["ca", "-gencrl", "-config", path.join(root.dir, "ca.cnf"), "-keyfile", root.keyFile, "-cert", root.certFile, "-out", out]);
  return readFileSync(out);
}
