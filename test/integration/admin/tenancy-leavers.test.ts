/**
 * Issue 13 item 2: a leaver's certificates. Deactivating a user revokes
 * (affiliationChanged, RFC 5280 §5.3.1) every valid leaf the user requested
 * or that names its email, in the deactivation's transaction, each audited;
 * the CA's CRL, fetched over HTTP and read by openssl, lists them; OCSP
 * follows the same state. Reactivation does not un-revoke. An organization
 * whose settings say no keeps them.
 */
import assert from "node:assert/strict";
import { CertificateStatus, CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { RevocationReason } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg, createUser, PASSWORD } from "./helpers.js";
import { auditEntries, createRoot, openssl, PkiClients, TempDir } from "./pki-helpers.js";
import { eventually, opensslAsync, urlsOf } from "../public/helpers.js";

describe("tenancy: a leaver's certificates are revoked with the deactivation", function () {
  this.timeout(180_000);
  let server: TestServer;
  let c: PkiClients;
  let su: Awaited<ReturnType<PkiClients["superuser"]>>;

  before(async () => {
    server = await startTestServer();
    c = new PkiClients(server);
    su = await c.superuser();
  });

  after(async () => {
    c?.close();
    await server?.stop();
  });

  async function crlText(caId: string, serials: string[]): Promise<string> {
    let text = "";
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`${server.baseUrl}/crl/${caId}.crl`);
      assert.equal(res.status, 200);
      text = openssl(["crl", "-inform", "DER", "-noout", "-text"], Buffer.from(await res.arrayBuffer()));
      if (serials.every((s) => text.includes(s.toUpperCase()))) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return text;
  }

  it("ok/deactivation revokes what the user requested and what names its email; the CRL lists them; reactivation keeps them revoked", async () => {
    const orgId = await createOrg(c, su);
    const root = await createRoot(c, su, orgId, { allowLeafCerts: true });
    const leaver = await createUser(c, su, { organizationId: orgId, flags: { createCert: true } });
    const stayer = await createUser(c, su, { organizationId: orgId, flags: { createCert: true } });
    const asLeaver = await c.login(leaver.username, PASSWORD);
    const asStayer = await c.login(stayer.username, PASSWORD);
    const issue = async (opts: typeof su, req: Record<string, unknown>) => (await c.certs.issueCertificate({ caId: root.id, ...req }, opts)).certificate!;

    const requested = await issue(asLeaver, { type: CertificateType.SERVER, dnsNames: ["leaver.example.test"] });
    const requested2 = await issue(asLeaver, { type: CertificateType.CLIENT, commonName: "leaver tool", emails: ["tool@example.test"] });
    // issued to the leaver by someone else: the email in any case
    const issuedTo = await issue(asStayer, { type: CertificateType.CLIENT, commonName: "Leaver", emails: [`${leaver.username.toUpperCase()}@EXAMPLE.com`] });
    const others = await issue(asStayer, { type: CertificateType.SERVER, dnsNames: ["stayer.example.test"] });
    const alreadyRevoked = await issue(asLeaver, { type: CertificateType.SERVER, dnsNames: ["old.example.test"] });
    await c.certs.revokeCertificate({ id: alreadyRevoked.id, reason: RevocationReason.SUPERSEDED }, su);

    const since = new Date(Date.now() - 1000);
    const { user, revokedCertificates } = await c.users.deactivateUser({ id: leaver.id }, su);
    assert.equal(user?.isActive, false);
    assert.equal(revokedCertificates, 3);

    const leaverCerts = [requested, requested2, issuedTo];
    for (const cert of leaverCerts) {
      const { certificate } = await c.certs.getCertificate({ id: cert.id }, su);
      assert.equal(certificate!.status, CertificateStatus.REVOKED, cert.id);
      assert.equal(certificate!.revocationReason, RevocationReason.AFFILIATION_CHANGED);
    }
    assert.equal((await c.certs.getCertificate({ id: others.id }, su)).certificate!.status, CertificateStatus.VALID);
    const kept = (await c.certs.getCertificate({ id: alreadyRevoked.id }, su)).certificate!;
    assert.equal(kept.revocationReason, RevocationReason.SUPERSEDED, "an earlier revocation is left as it was");

    // each revocation has its own audit entry, naming why
    const entries = await auditEntries(server, { action: "cert_revoke", since });
    const byCert = new Map(entries.map((e) => [e.resource_id, e]));
    for (const cert of leaverCerts) {
      const e = byCert.get(cert.id);
      assert.ok(e, `audit entry for ${cert.id}`);
      const detail = e.detail as { reason: number; cause: string; userId: string };
      assert.equal(detail.reason, 3);
      assert.equal(detail.cause, "user_deactivated");
      assert.equal(detail.userId, leaver.id);
    }
    const [deactivation] = await auditEntries(server, { action: "user_deactivate", resourceId: leaver.id });
    assert.equal((deactivation!.detail as { revokedCertificates: number }).revokedCertificates, 3);

    // RFC 5280 §5.3.1: the CRL lists them with reason affiliationChanged
    const text = await crlText(root.id, leaverCerts.map((x) => x.serial));
    for (const cert of leaverCerts) assert.ok(text.includes(cert.serial.toUpperCase()), `${cert.serial} on the CRL:\n${text}`);
    assert.ok(!text.includes(others.serial.toUpperCase()), "the stayer's certificate is not on the CRL");
    assert.match(text, /Affiliation Changed/);

    // OCSP answers from the same state (RFC 6960 §2.2)
    const tmp = new TempDir();
    try {
      const { ocsp } = urlsOf(requested.certificatePem);
      assert.ok(ocsp, "the leaf names an OCSP responder");
      const issuer = tmp.write("root.pem", root.certificatePem);
      const leaf = tmp.write("leaf.pem", requested.certificatePem);
      const answer = await eventually("OCSP to report revoked", async () => {
        const r = await opensslAsync(["ocsp", "-issuer", issuer, "-cert", leaf, "-url", ocsp, "-CAfile", issuer]);
        return /: revoked/.test(r.out) ? r : undefined;
      });
      assert.match(answer.out, /Response verify OK/);
      assert.match(answer.out, /Reason: affiliationChanged/);
    } finally {
      tmp.remove();
    }

    // reactivation does not un-revoke
    await c.users.updateUser({ id: leaver.id, isActive: true }, su);
    for (const cert of leaverCerts) {
      assert.equal((await c.certs.getCertificate({ id: cert.id }, su)).certificate!.status, CertificateStatus.REVOKED);
    }
  });

  it("ok/UpdateUser is_active=false revokes the same way", async () => {
    const orgId = await createOrg(c, su);
    const root = await createRoot(c, su, orgId, { allowLeafCerts: true });
    const leaver = await createUser(c, su, { organizationId: orgId, flags: { createCert: true } });
    const asLeaver = await c.login(leaver.username, PASSWORD);
    const cert = (await c.certs.issueCertificate({ caId: root.id, type: CertificateType.SERVER, dnsNames: ["u.example.test"] }, asLeaver)).certificate!;
    const r = await c.users.updateUser({ id: leaver.id, isActive: false }, su);
    assert.equal(r.revokedCertificates, 1);
    assert.equal((await c.certs.getCertificate({ id: cert.id }, su)).certificate!.status, CertificateStatus.REVOKED);
  });

  it("ok/an organization whose settings say no keeps the leaver's certificates valid", async () => {
    const { organization } = await c.orgs.createOrganization({ name: `keep-${Date.now()}`, settings: { revokeCertificatesOnDeactivation: false } }, su);
    const orgId = organization!.id;
    assert.equal(organization!.settings!.revokeCertificatesOnDeactivation, false);
    const root = await createRoot(c, su, orgId, { allowLeafCerts: true });
    const leaver = await createUser(c, su, { organizationId: orgId, flags: { createCert: true } });
    const asLeaver = await c.login(leaver.username, PASSWORD);
    const cert = (await c.certs.issueCertificate({ caId: root.id, type: CertificateType.SERVER, dnsNames: ["k.example.test"] }, asLeaver)).certificate!;
    const { revokedCertificates } = await c.users.deactivateUser({ id: leaver.id }, su);
    assert.equal(revokedCertificates, 0);
    assert.equal((await c.certs.getCertificate({ id: cert.id }, su)).certificate!.status, CertificateStatus.VALID);
  });
});
