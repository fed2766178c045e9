/**
 * IssueCertificate and SignCsr build their response from what was signed and
 * written (src/admin/services/certificate.ts, issuedToProto), without reading
 * the row back or parsing the certificate: the answer must be exactly what
 * GetCertificate reads from the database, and one audit entry is written with
 * the row (one transaction).
 */
import assert from "node:assert/strict";
import { toJson } from "@bufbuild/protobuf";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { CertificateSchema, CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg } from "./helpers.js";
import { auditEntries, createIntermediate, createRoot, openssl, PkiClients, TempDir } from "./pki-helpers.js";

describe("admin IssueCertificate / SignCsr response", function () {
  this.timeout(120_000);
  let server: TestServer;
  let c: PkiClients;
  let su: ClientCallOptions;
  let tmp: TempDir;
  let int: Awaited<ReturnType<typeof createIntermediate>>;

  before(async () => {
    server = await startTestServer();
    c = new PkiClients(server);
    su = await c.superuser();
    const orgId = await createOrg(c, su);
    tmp = new TempDir();
    const root = await createRoot(c, su, orgId, { pathLength: 1 });
    int = await createIntermediate(c, su, root.id);
  });
  after(async () => {
    c?.close();
    tmp?.remove();
    await server?.stop();
  });

  it("IssueCertificate answers exactly what GetCertificate reads back (P-256 and RSA), with one cert_create entry", async () => {
    for (const keyAlgorithm of [KeyAlgorithm.P256, KeyAlgorithm.RSA2048]) {
      const since = new Date(Date.now() - 1000);
      const { certificate: issued } = await c.certs.issueCertificate(
        { caId: int.id, type: CertificateType.DUAL, commonName: "resp.example.test", dnsNames: ["resp.example.test"], ipAddresses: ["192.0.2.44"], keyAlgorithm, validityDays: 30 },
        su,
      );
      const { certificate: read } = await c.certs.getCertificate({ id: issued!.id }, su);
      assert.deepEqual(toJson(CertificateSchema, issued!), toJson(CertificateSchema, read!));
      assert.equal(issued!.keyAlgorithm, keyAlgorithm);
      assert.equal(issued!.hasPrivateKey, true);
      const entries = await auditEntries(server, { action: "cert_create", resourceId: issued!.id, since });
      assert.equal(entries.length, 1);
    }
  });

  it("SignCsr answers exactly what GetCertificate reads back (no key held)", async () => {
    const key = tmp.write("resp.key", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]));
    const csr = openssl(["req", "-new", "-key", key, "-subj", "/CN=csr-resp.example.test", "-addext", "subjectAltName=DNS:csr-resp.example.test"]);
    const { certificate: issued } = await c.certs.signCsr({ caId: int.id, csrPem: csr, type: CertificateType.SERVER }, su);
    const { certificate: read } = await c.certs.getCertificate({ id: issued!.id }, su);
    assert.deepEqual(toJson(CertificateSchema, issued!), toJson(CertificateSchema, read!));
    assert.equal(issued!.keyAlgorithm, KeyAlgorithm.P384);
    assert.equal(issued!.hasPrivateKey, false);
  });
});
