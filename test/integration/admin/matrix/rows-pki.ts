/**
 * Permission-matrix rows of CertificateAuthorityService, CertificateService
 * and AcmeService (see types.ts for how rows run). The rules they pin down:
 * src/policy/permissions.ts (outside the organization -> NOT_FOUND),
 * src/ra/certificate-authorities.ts (create_ca, delete_ca, revoke_cert,
 * export_private_key), src/ra/certificates.ts (create_cert, revoke_cert,
 * export_private_key), src/ra/acme-admin.ts (every ACME write needs an
 * organization admin; members read).
 *
 * Destructive rows (delete, revoke, deactivate) build a fresh target per
 * principal; read rows share one fixture per run (fx.shared).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as acmeClient from "acme-client";
import { AcmeService } from "../../../../src/gen/sigil/admin/v1/acme_pb.js";
import { CertificateAuthorityService } from "../../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateService, CertificateType } from "../../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { PrivateKeyFormat, RevocationReason } from "../../../../src/gen/sigil/admin/v1/common_pb.js";
import { EXPECT, type MatrixFixture, type MatrixRow } from "./types.js";

const KEY_MATERIAL = /PRIVATE KEY|encryptedPrivateKey|hmacKey"?:\s*"[A-Za-z0-9_-]{20,}/;

/** Runs openssl with `keyPem` in a temporary file passed where "{key}" stands. */
function opensslWithKey(args: string[], keyPem: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "sigil-matrix-"));
  try {
    const file = path.join(dir, "key.pem");
    writeFileSync(file, keyPem);
    return execFileSync("openssl", args.map((a) => (a === "{key}" ? file : a)), { stdio: ["ignore", "pipe", "pipe"] }).toString();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** No response except the Export RPCs (and CreateEabKey's hmacKey) carries a key. */
function noKeys(res: unknown): void {
  const text = JSON.stringify(res, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? "<bytes>" : v));
  assert.ok(!KEY_MATERIAL.test(text), "the response carries key material");
}

// ---------------------------------------------------------------- shared fixtures

/** A root CA of fx.orgId (leaf issuance allowed, no path length limit). */
function sharedRoot(fx: MatrixFixture): Promise<{ id: string; certificatePem: string }> {
  return fx.shared("pki:root", async () => {
    const { certificateAuthority } = await fx.superuser(CertificateAuthorityService, "createRootCertificateAuthority", {
      organizationId: fx.orgId,
      name: fx.unique("m-root"),
      subject: { commonName: "Matrix Root" },
      allowLeafCerts: true,
    });
    return certificateAuthority;
  });
}

/** An issuing intermediate under sharedRoot. */
function sharedIssuer(fx: MatrixFixture): Promise<{ id: string }> {
  return fx.shared("pki:issuer", async () => {
    const root = await sharedRoot(fx);
    return freshIntermediate(fx, root.id);
  });
}

async function freshIntermediate(fx: MatrixFixture, parentId: string): Promise<{ id: string }> {
  const { certificateAuthority } = await fx.superuser(CertificateAuthorityService, "createIntermediateCertificateAuthority", {
    parentId,
    name: fx.unique("m-int"),
    subject: { commonName: "Matrix Intermediate" },
    allowLeafCerts: true,
  });
  return certificateAuthority;
}

async function freshRoot(fx: MatrixFixture): Promise<{ id: string }> {
  const { certificateAuthority } = await fx.superuser(CertificateAuthorityService, "createRootCertificateAuthority", {
    organizationId: fx.orgId,
    name: fx.unique("m-root"),
    subject: { commonName: "Matrix Disposable Root" },
  });
  return certificateAuthority;
}

async function freshCertificate(fx: MatrixFixture): Promise<{ id: string }> {
  const issuer = await sharedIssuer(fx);
  const { certificate } = await fx.superuser(CertificateService, "issueCertificate", {
    caId: issuer.id,
    type: CertificateType.SERVER,
    dnsNames: [`${fx.unique("m")}.example.test`],
  });
  return certificate;
}

/** A leaf with a server-generated key, shared by read / renew / export rows. */
function sharedCertificate(fx: MatrixFixture): Promise<{ id: string }> {
  return fx.shared("pki:cert", () => freshCertificate(fx));
}

function sharedCsr(fx: MatrixFixture): Promise<string> {
  return fx.shared("pki:csr", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    return opensslWithKey(["req", "-new", "-key", "{key}", "-subj", "/CN=matrix-csr", "-addext", "subjectAltName=DNS:matrix-csr.example.test"], keyPem);
  });
}

/** A self-signed CA certificate and its key, new for every call (imports of the same certificate are refused). */
function freshImportable(): { certificatePem: string; privateKeyPem: string } {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const privateKeyPem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const certificatePem = opensslWithKey(
    ["req", "-x509", "-new", "-key", "{key}", "-subj", "/CN=Matrix Import", "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    privateKeyPem,
  );
  return { certificatePem, privateKeyPem };
}

async function freshDirectory(fx: MatrixFixture): Promise<{ id: string; name: string }> {
  const issuer = await sharedIssuer(fx);
  const { directory } = await fx.superuser(AcmeService, "createAcmeDirectory", {
    name: fx.unique("m-dir"),
    organizationId: fx.orgId,
    caId: issuer.id,
    allowedDnsSuffixes: ["example.test"],
  });
  return directory;
}

/** An ACME directory of fx.orgId (no EAB) shared by read and update rows. */
export function sharedDirectory(fx: MatrixFixture): Promise<{ id: string; name: string }> {
  return fx.shared("pki:directory", () => freshDirectory(fx));
}

async function freshEabKey(fx: MatrixFixture): Promise<{ id: string }> {
  const dir = await sharedDirectory(fx);
  const { eabKey } = await fx.superuser(AcmeService, "createEabKey", { directoryId: dir.id, description: "matrix" });
  return eabKey;
}

/** A new ACME account in the shared directory, created over RFC 8555 with acme-client; returns its id. */
async function freshAccount(fx: MatrixFixture): Promise<string> {
  const dir = await sharedDirectory(fx);
  const client = new acmeClient.Client({
    directoryUrl: `${fx.baseUrl}/acme/${dir.name}/directory`,
    accountKey: await acmeClient.crypto.createPrivateEcdsaKey(),
  });
  await client.createAccount({ termsOfServiceAgreed: true });
  const url = client.getAccountUrl();
  return url.slice(url.lastIndexOf("/") + 1);
}

// ---------------------------------------------------------------- rows

const CA = CertificateAuthorityService;
const CERT = CertificateService;

export const pkiRows: MatrixRow[] = [
  // ---------------------------------------------------------------- CertificateAuthorityService
  {
    service: CA,
    method: "CreateRootCertificateAuthority",
    flag: "create_ca",
    request: (fx) => ({ organizationId: fx.orgId, name: fx.unique("m-new-root"), subject: { commonName: "Matrix New Root" } }),
    expect: EXPECT.flagged(),
    check: noKeys,
  },
  {
    service: CA,
    method: "CreateIntermediateCertificateAuthority",
    flag: "create_ca",
    request: async (fx) => ({ parentId: (await sharedRoot(fx)).id, name: fx.unique("m-new-int"), subject: { commonName: "Matrix New Intermediate" } }),
    expect: EXPECT.flagged(),
    check: noKeys,
  },
  {
    service: CA,
    method: "ImportCertificateAuthority",
    flag: "create_ca",
    request: (fx) => ({ organizationId: fx.orgId, name: fx.unique("m-import"), ...freshImportable() }),
    expect: EXPECT.flagged(),
    check: noKeys,
  },
  {
    service: CA,
    method: "GetCertificateAuthority",
    request: async (fx) => ({ id: (await sharedRoot(fx)).id }),
    expect: EXPECT.read(),
    check: noKeys,
  },
  {
    service: CA,
    method: "ListCertificateAuthorities",
    request: async (fx) => {
      await sharedRoot(fx);
      return { organizationId: fx.orgId };
    },
    expect: EXPECT.read(),
    check: (res) => {
      assert.ok(res.certificateAuthorities.length > 0);
      noKeys(res);
    },
  },
  {
    service: CA,
    method: "GetCertificateAuthorityChain",
    request: async (fx) => ({ id: (await sharedIssuer(fx)).id }),
    expect: EXPECT.read(),
    check: (res) => {
      assert.equal(res.certificatePems.length, 2);
      noKeys(res);
    },
  },
  {
    service: CA,
    method: "ListCertificateAuthorityChildren",
    request: async (fx) => {
      await sharedIssuer(fx);
      return { id: (await sharedRoot(fx)).id };
    },
    expect: EXPECT.read(),
    check: (res) => {
      assert.ok(res.certificateAuthorities.length > 0);
      noKeys(res);
    },
  },
  {
    service: CA,
    method: "UpdateCertificateAuthority",
    flag: "create_ca",
    request: async (fx, p) => ({ id: (await sharedRoot(fx)).id, description: `updated by ${p}` }),
    expect: EXPECT.flagged(),
    check: noKeys,
  },
  {
    service: CA,
    method: "DeleteCertificateAuthority",
    flag: "delete_ca",
    request: async (fx) => ({ id: (await freshRoot(fx)).id }),
    expect: EXPECT.flagged(),
  },
  {
    service: CA,
    method: "RevokeCertificateAuthority",
    flag: "revoke_cert",
    request: async (fx) => ({ id: (await freshIntermediate(fx, (await sharedRoot(fx)).id)).id, reason: RevocationReason.CESSATION_OF_OPERATION }),
    expect: EXPECT.flagged(),
    check: noKeys,
  },
  {
    service: CA,
    method: "ExportCertificateAuthorityPrivateKey",
    flag: "export_private_key",
    request: async (fx) => ({ id: (await sharedIssuer(fx)).id, format: PrivateKeyFormat.PEM }),
    expect: EXPECT.flagged(),
    check: (res) => {
      assert.equal(res.key.case, "privateKeyPem");
      assert.match(res.key.value, /BEGIN PRIVATE KEY/);
    },
  },

  // ---------------------------------------------------------------- CertificateService
  {
    service: CERT,
    method: "IssueCertificate",
    flag: "create_cert",
    request: async (fx) => ({ caId: (await sharedIssuer(fx)).id, type: CertificateType.SERVER, dnsNames: [`${fx.unique("m-issue")}.example.test`] }),
    expect: EXPECT.flagged(),
    check: (res) => {
      assert.equal(res.certificate.hasPrivateKey, true);
      noKeys(res);
    },
  },
  {
    service: CERT,
    method: "SignCsr",
    flag: "create_cert",
    request: async (fx) => ({ caId: (await sharedIssuer(fx)).id, csrPem: await sharedCsr(fx), type: CertificateType.SERVER }),
    expect: EXPECT.flagged(),
    check: (res) => {
      assert.equal(res.certificate.hasPrivateKey, false);
      noKeys(res);
    },
  },
  {
    service: CERT,
    method: "GetCertificate",
    request: async (fx) => ({ id: (await sharedCertificate(fx)).id }),
    expect: EXPECT.read(),
    check: noKeys,
  },
  {
    service: CERT,
    method: "ListCertificates",
    request: async (fx) => {
      await sharedCertificate(fx);
      return { organizationId: fx.orgId };
    },
    expect: EXPECT.read(),
    check: (res) => {
      assert.ok(res.certificates.length > 0);
      noKeys(res);
    },
  },
  {
    service: CERT,
    method: "GetCertificateChain",
    request: async (fx) => ({ id: (await sharedCertificate(fx)).id }),
    expect: EXPECT.read(),
    check: (res) => {
      assert.equal(res.certificatePems.length, 3);
      noKeys(res);
    },
  },
  {
    service: CERT,
    method: "RevokeCertificate",
    flag: "revoke_cert",
    request: async (fx) => ({ id: (await freshCertificate(fx)).id, reason: RevocationReason.SUPERSEDED }),
    expect: EXPECT.flagged(),
    check: noKeys,
  },
  {
    service: CERT,
    method: "RenewCertificate",
    flag: "create_cert",
    request: async (fx) => ({ id: (await sharedCertificate(fx)).id }),
    expect: EXPECT.flagged(),
    check: (res) => {
      assert.ok(res.certificate.renewedFromId);
      noKeys(res);
    },
  },
  {
    service: CERT,
    method: "ExportCertificatePrivateKey",
    flag: "export_private_key",
    request: async (fx) => ({ id: (await sharedCertificate(fx)).id, format: PrivateKeyFormat.PKCS12, password: "matrix-p12" }),
    expect: EXPECT.flagged(),
    check: (res) => {
      assert.equal(res.key.case, "pkcs12");
      assert.ok(res.key.value.length > 100);
    },
  },

  // ---------------------------------------------------------------- AcmeService
  {
    service: AcmeService,
    method: "CreateAcmeDirectory",
    request: async (fx) => ({ name: fx.unique("m-newdir"), organizationId: fx.orgId, caId: (await sharedIssuer(fx)).id, eabRequired: true }),
    expect: EXPECT.admin(),
    check: (res) => assert.match(res.directory.directoryUrl, /\/acme\/m-newdir-[^/]+\/directory$/),
  },
  {
    service: AcmeService,
    method: "GetAcmeDirectory",
    request: async (fx) => ({ id: (await sharedDirectory(fx)).id }),
    expect: EXPECT.read(),
  },
  {
    service: AcmeService,
    method: "ListAcmeDirectories",
    request: async (fx) => {
      await sharedDirectory(fx);
      return { organizationId: fx.orgId };
    },
    expect: EXPECT.read(),
    check: (res) => assert.ok(res.directories.length > 0),
  },
  {
    service: AcmeService,
    method: "UpdateAcmeDirectory",
    request: async (fx) => ({ id: (await sharedDirectory(fx)).id, maxValidityDays: 30 }),
    expect: EXPECT.admin(),
    check: (res) => assert.equal(res.directory.maxValidityDays, 30),
  },
  {
    service: AcmeService,
    method: "DeleteAcmeDirectory",
    request: async (fx) => ({ id: (await freshDirectory(fx)).id }),
    expect: EXPECT.admin(),
  },
  {
    service: AcmeService,
    method: "CreateEabKey",
    request: async (fx) => ({ directoryId: (await sharedDirectory(fx)).id, description: "matrix" }),
    expect: EXPECT.admin(),
    check: (res) => {
      assert.match(res.hmacKey, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(res.eabKey.kid, res.eabKey.id);
    },
  },
  {
    service: AcmeService,
    method: "ListEabKeys",
    request: async (fx) => {
      await freshEabKey(fx);
      return { organizationId: fx.orgId };
    },
    expect: EXPECT.read(),
    check: (res) => {
      assert.ok(res.eabKeys.length > 0);
      noKeys(res);
    },
  },
  {
    service: AcmeService,
    method: "RevokeEabKey",
    request: async (fx) => ({ id: (await freshEabKey(fx)).id }),
    expect: EXPECT.admin(),
    check: (res) => assert.ok(res.eabKey.revokedAt),
  },
  {
    service: AcmeService,
    method: "ListAcmeAccounts",
    request: async (fx) => {
      await fx.shared("pki:account", () => freshAccount(fx));
      return { organizationId: fx.orgId };
    },
    expect: EXPECT.read(),
    check: (res) => assert.ok(res.accounts.length > 0),
  },
  {
    service: AcmeService,
    method: "DeactivateAcmeAccount",
    request: async (fx) => ({ id: await freshAccount(fx) }),
    expect: EXPECT.admin(),
    check: (res) => assert.equal(res.account.status, 2 /* DEACTIVATED */),
  },
  {
    service: AcmeService,
    method: "ListAcmeOrders",
    request: async (fx) => ({ directoryId: (await sharedDirectory(fx)).id }),
    expect: EXPECT.read(),
  },
];
