/**
 * First start with an offline root (SIGIL_BOOTSTRAP_MODE=external-root,
 * docs/key-custody.md "Offline root"): the first start makes the pending
 * default intermediate, writes its CSR to the data directory and stops; a
 * start with a certificate for another key stops naming the problem; a
 * start with the certificate the offline root (openssl) signed activates
 * it, and the default intermediate then issues certificates that openssl
 * verifies against the offline root. On PostgreSQL.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../../src/config.js";
import { isSigilError } from "../../../src/core/errors.js";
import { CertificateAuthorityStatus } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { createLogger } from "../../../src/logger.js";
import { startSigil, type SigilServer } from "../../../src/server.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { freePort, testServerEnv } from "../../helpers/server.js";
import { opensslRoot, opensslSign } from "../admin/offline-root-helpers.js";
import { PkiClients, TempDir, verifyChain } from "../admin/pki-helpers.js";

describe("first start with SIGIL_BOOTSTRAP_MODE=external-root", function () {
  this.timeout(180_000);
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let env: Record<string, string>;
  let server: SigilServer | undefined;
  let tmp: TempDir;

  before(async () => {
    db = await createTestDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-external-root-"));
    env = { ...testServerEnv({ dataDir, httpPort: await freePort(), databaseUrl: db.url }), SIGIL_BOOTSTRAP_MODE: "external-root" };
    tmp = new TempDir();
  });
  after(async () => {
    await server?.close();
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
    tmp?.remove();
  });

  const start = (extra: Record<string, string> = {}) => startSigil({ config: loadConfig({ ...env, ...extra }), logger: createLogger("silent") });

  it("stops after writing the CSR, refuses a certificate for another key, then activates from the files and issues under the offline root", async () => {
    await assert.rejects(start(), (e: unknown) => isSigilError(e, "config") && /default-intermediate\.csr/.test(e.message) && /SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE/.test(e.message));
    const csrFile = path.join(dataDir, "default-intermediate.csr");
    assert.ok(existsSync(csrFile));
    const csr = readFileSync(csrFile, "utf8");
    assert.match(execFileSync("openssl", ["req", "-verify", "-noout", "-subject", "-in", csrFile], { stdio: ["ignore", "pipe", "pipe"] }).toString(), /CN = Sigil Default Intermediate CA/);
    // a second start without the files stops the same way (nothing made twice)
    await assert.rejects(start(), (e: unknown) => isSigilError(e, "config"));
    assert.equal(readFileSync(csrFile, "utf8"), csr);

    const root = opensslRoot("Bootstrap Offline Root");
    // a certificate for another key: the start stops and says why
    const otherKey = tmp.write("other.key", execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout"]));
    const otherCsr = execFileSync("openssl", ["req", "-new", "-key", otherKey, "-subj", "/CN=Other"]).toString();
    const wrong = tmp.write("wrong.pem", opensslSign(root, otherCsr));
    await assert.rejects(start({ SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE: wrong, SIGIL_BOOTSTRAP_ROOT_CERT_FILE: root.certFile }), (e: unknown) => isSigilError(e, "config") && /not this CA's pending key/.test(e.message));
    // the two files go together, and only with external-root
    assert.throws(() => loadConfig({ ...env, SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE: wrong }), /must be set together/);
    assert.throws(() => loadConfig({ ...env, SIGIL_BOOTSTRAP_MODE: "embedded-root", SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE: wrong, SIGIL_BOOTSTRAP_ROOT_CERT_FILE: root.certFile }), /external-root/);
    assert.throws(() => loadConfig({ ...env, SIGIL_BOOTSTRAP_MODE: "offline" }), /SIGIL_BOOTSTRAP_MODE/);

    const signed = tmp.write("intermediate.pem", opensslSign(root, csr));
    server = await start({ SIGIL_BOOTSTRAP_INTERMEDIATE_CERT_FILE: signed, SIGIL_BOOTSTRAP_ROOT_CERT_FILE: root.certFile });
    const c = new PkiClients(server);
    try {
      const su = await c.superuser();
      const { certificateAuthorities } = await c.cas.listCertificateAuthorities({}, su);
      const int = certificateAuthorities.find((ca) => ca.name === "default-intermediate")!;
      assert.equal(int.status, CertificateAuthorityStatus.ACTIVE);
      const rootRow = certificateAuthorities.find((ca) => ca.id === int.parentId)!;
      assert.equal(rootRow.offlineKey, true);
      assert.equal(certificateAuthorities.some((ca) => ca.name === "default-root"), false);
      const { certificate } = await c.certs.issueCertificate({ caId: int.id, type: CertificateType.SERVER, dnsNames: ["boot.example.test"] }, su);
      verifyChain(tmp, root.pem, [int.certificatePem], certificate!.certificatePem, "sslserver");
    } finally {
      c.close();
    }
    // later starts find it active (the files are no longer needed)
    await server.close();
    server = await start();
  });
});
