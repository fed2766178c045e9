/**
 * Helpers of the CA / certificate / ACME admin tests: typed clients of the
 * PKI services, CA fixtures, openssl (a missing openssl fails loudly) and
 * audit counting.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Client, ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { AcmeService } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { CertificateAuthorityService } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateService } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import type { TestServer } from "../../helpers/server.js";
import { AdminClients, unique } from "./helpers.js";

export class PkiClients extends AdminClients {
  readonly cas: Client<typeof CertificateAuthorityService>;
  readonly certs: Client<typeof CertificateService>;
  readonly acme: Client<typeof AcmeService>;
  constructor(server: Pick<TestServer, "grpcPort">) {
    super(server);
    this.cas = this.client(CertificateAuthorityService);
    this.certs = this.client(CertificateService);
    this.acme = this.client(AcmeService);
  }
}

/** A root CA (allow_leaf_certs false unless asked) in `organizationId`. */
export async function createRoot(
  c: PkiClients,
  opts: ClientCallOptions,
  organizationId: string,
  extra: { pathLength?: number; allowLeafCerts?: boolean; keyAlgorithm?: KeyAlgorithm } = {},
) {
  const name = unique("root");
  const { certificateAuthority } = await c.cas.createRootCertificateAuthority(
    { organizationId, name, subject: { commonName: `Test Root ${name}`, organization: "Sigil Tests" }, ...extra },
    opts,
  );
  return certificateAuthority!;
}

/** An intermediate under `parentId` (allow_leaf_certs true unless asked). */
export async function createIntermediate(
  c: PkiClients,
  opts: ClientCallOptions,
  parentId: string,
  extra: { pathLength?: number; allowLeafCerts?: boolean; keyAlgorithm?: KeyAlgorithm } = {},
) {
  const name = unique("int");
  const { certificateAuthority } = await c.cas.createIntermediateCertificateAuthority(
    { parentId, name, subject: { commonName: `Test Intermediate ${name}` }, allowLeafCerts: true, ...extra },
    opts,
  );
  return certificateAuthority!;
}

/** Runs openssl; throws (with its stderr) when it exits non-zero. `stderr: true` returns stdout + stderr (openssl pkcs12 -info prints there). */
export function openssl(args: string[], input?: string | Buffer, opts: { stderr?: boolean } = {}): string {
  if (opts.stderr) {
    const r = spawnSync("openssl", args, { input });
    if (r.error) throw new Error(`openssl is required for these tests: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${r.stderr.toString()}`);
    return r.stdout.toString() + r.stderr.toString();
  }
  try {
    return execFileSync("openssl", args, { input, stdio: ["pipe", "pipe", "pipe"] }).toString("utf8");
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer; stdout?: Buffer };
    if (err.code === "ENOENT") throw new Error("openssl is required for these tests and was not found on PATH");
    throw new Error(`openssl ${args.join(" ")} failed: ${err.stderr?.toString() ?? ""}${err.stdout?.toString() ?? ""}`);
  }
}

/** A temporary directory for openssl inputs; `write` returns the path. */
export class TempDir {
  readonly dir = mkdtempSync(path.join(tmpdir(), "sigil-pki-"));
  write(name: string, content: string | Buffer | Uint8Array): string {
    const p = path.join(this.dir, name);
    writeFileSync(p, content);
    return p;
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * `openssl verify` of a leaf against root -> intermediates, with an X.509
 * purpose (sslserver / sslclient). Returns openssl's output ("...: OK").
 */
export function verifyChain(tmp: TempDir, rootPem: string, intermediatePems: string[], leafPem: string, purpose?: "sslserver" | "sslclient"): string {
  const root = tmp.write(`root-${unique("r")}.pem`, rootPem);
  const args = ["verify", "-x509_strict", "-CAfile", root];
  if (intermediatePems.length) args.push("-untrusted", tmp.write(`int-${unique("i")}.pem`, intermediatePems.join("")));
  if (purpose) args.push("-purpose", purpose);
  args.push(tmp.write(`leaf-${unique("l")}.pem`, leafPem));
  const out = openssl(args);
  assert.match(out, /: OK\s*$/);
  return out;
}

/** Audit entries of `action` on `resourceId`, read straight from the database. */
export async function auditEntries(server: TestServer, where: { action?: string; resourceId?: string; since?: Date }) {
  const conn = server.db.orm.em.getConnection();
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (where.action) {
    clauses.push("action = ?");
    params.push(where.action);
  }
  if (where.resourceId) {
    clauses.push("resource_id = ?");
    params.push(where.resourceId);
  }
  if (where.since) {
    clauses.push("created_at >= ?");
    params.push(where.since);
  }
  return conn.execute<Array<{ action: string; resource_id: string | null; username: string; detail: Record<string, unknown>; created_at: Date }>>(
    `select action, resource_id, username, detail, created_at from audit_log ${clauses.length ? `where ${clauses.join(" and ")}` : ""} order by created_at, id`,
    params,
  );
}

/** Every audit entry written while `fn` runs (entries are committed with their change, so they are visible when the RPC returns). */
export async function auditDuring(server: TestServer, fn: () => Promise<unknown>) {
  const conn = server.db.orm.em.getConnection();
  const [{ max }] = await conn.execute<Array<{ max: Date | null }>>(`select max(created_at) as max from audit_log`);
  const ids = new Set((await conn.execute<Array<{ id: string }>>(`select id from audit_log`)).map((r) => r.id));
  await fn();
  const rows = await conn.execute<Array<{ id: string; action: string; resource_id: string | null; detail: Record<string, unknown> }>>(
    `select id, action, resource_id, detail from audit_log ${max ? "where created_at >= ?" : ""} order by created_at, id`,
    max ? [max] : [],
  );
  return rows.filter((r) => !ids.has(r.id));
}
