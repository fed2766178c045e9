/**
 * Private-key export on the embedded database (PGlite, one connection).
 * The export read the key blob on a second connection inside its
 * transaction: it waited 60 s for a connection that never came free, then
 * failed with INTERNAL. Every query now goes through the transaction.
 */
import assert from "node:assert/strict";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { PrivateKeyFormat } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createIntermediate, createRoot, openssl, PkiClients } from "./pki-helpers.js";

/** `p`, or a failure after `ms` (the bug made each export wait 60 s) */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("private-key export on the embedded database", function () {
  this.timeout(120_000);
  let server: TestServer;
  let c: PkiClients;
  let su: ClientCallOptions;

  before(async () => {
    server = await startTestServer({ embedded: true });
    assert.equal(server.db.kind, "embedded");
    c = new PkiClients(server);
    su = await c.superuser();
  });
  after(async () => {
    c?.close();
    await server?.stop();
  });

  it("exports a CA key as PEM and PKCS#12, and a certificate key as PEM and PKCS#12, each at once", async () => {
    const { organizations } = await c.orgs.listOrganizations({}, su);
    const orgId = organizations[0]!.id;
    const root = await createRoot(c, su, orgId);
    const int = await createIntermediate(c, su, root.id);

    const caPem = await within(10_000, "CA export (PEM)", c.cas.exportCertificateAuthorityPrivateKey({ id: int.id, format: PrivateKeyFormat.PEM }, su));
    assert.equal(caPem.key.case, "privateKeyPem");
    assert.match(caPem.key.value as string, /BEGIN PRIVATE KEY/);
    const caP12 = await within(
      10_000,
      "CA export (PKCS#12)",
      c.cas.exportCertificateAuthorityPrivateKey({ id: int.id, format: PrivateKeyFormat.PKCS12, password: "ca-p12-pass" }, su),
    );
    assert.equal(caP12.key.case, "pkcs12");
    // the chain is in it: the intermediate and its root
    const caInfo = openssl(["pkcs12", "-nokeys", "-passin", "pass:ca-p12-pass"], Buffer.from(caP12.key.value as Uint8Array));
    assert.equal(caInfo.match(/BEGIN CERTIFICATE/g)?.length, 2);

    const { certificate } = await c.certs.issueCertificate({ caId: int.id, type: CertificateType.SERVER, dnsNames: ["embedded-export.example.test"] }, su);
    const certPem = await within(10_000, "certificate export (PEM)", c.certs.exportCertificatePrivateKey({ id: certificate!.id, format: PrivateKeyFormat.PEM }, su));
    assert.match(certPem.key.value as string, /BEGIN PRIVATE KEY/);
    const certP12 = await within(
      10_000,
      "certificate export (PKCS#12)",
      c.certs.exportCertificatePrivateKey({ id: certificate!.id, format: PrivateKeyFormat.PKCS12, password: "leaf-p12-pass" }, su),
    );
    const leafInfo = openssl(["pkcs12", "-nokeys", "-passin", "pass:leaf-p12-pass"], Buffer.from(certP12.key.value as Uint8Array));
    assert.equal(leafInfo.match(/BEGIN CERTIFICATE/g)?.length, 3);
  });
});
