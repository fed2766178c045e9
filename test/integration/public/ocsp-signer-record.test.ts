/**
 * The responder's delegated OCSP signing certificates are recorded like
 * everything else a CA signs: a certificates row of type "ocsp", so the
 * (issuer, serial) unique key covers them. The admin plane does not see them.
 */
import assert from "node:assert/strict";
import { derOctetString, derOid, derUnsignedInteger, seq } from "../../../src/ca/der.js";
import { issuerHashes } from "../../../src/ca/ocsp.js";
import { isSigilError } from "../../../src/core/errors.js";
import { Certificate, CertificateAuthority } from "../../../src/db/entities/index.js";
import { systemActor } from "../../../src/ra/actor.js";
import { createIntermediateCa, deleteCa } from "../../../src/ra/certificate-authorities.js";
import { exportCertificatePrivateKey, getCertificate, listCertificates, revokeCertificate } from "../../../src/ra/certificates.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { TempDir } from "../../unit/ca/openssl.js";
import { derToPem, fetchDer, opensslAsync } from "./helpers.js";

const actor = systemActor("ocsp-signer-record-test");

interface SignerRow {
  id: string;
  serial: string;
  certificate_id: string;
  type: string;
  source: string;
  issuer_id: string;
  organization_id: string;
  same_pem: boolean;
}

describe("OCSP signing certificates are recorded certificates", function () {
  this.timeout(60_000);
  let server: TestServer;
  let tmp: TempDir;

  before(async () => {
    server = await startTestServer();
    tmp = new TempDir();
  });
  after(async () => {
    await server?.stop();
    tmp?.remove();
  });

  /** asks the CA's responder about serial 01 (the answer does not matter): makes it issue its signer */
  async function useResponder(caId: string): Promise<void> {
    const em = server.db.orm.em.fork();
    const ca = await em.findOneOrFail(CertificateAuthority, { id: caId });
    const h = issuerHashes(await server.ra.issuers.get(server.ra.store, ca)).sha1;
    const certId = seq(seq(derOid("1.3.14.3.2.26"), Buffer.from([0x05, 0x00])), derOctetString(h.name), derOctetString(h.key), derUnsignedInteger(Buffer.from([1])));
    const answer = await server.relyingParty.ocsp.respond(caId, seq(seq(seq(seq(certId)))));
    assert.equal(answer?.status, "successful");
  }

  async function signersOf(caId: string): Promise<SignerRow[]> {
    return server.db.orm.em.fork().execute<SignerRow[]>(
      `select s.id, s.serial, s.certificate_id, c.type, c.source, c.issuer_id, c.organization_id, c.certificate_pem = s.certificate_pem as same_pem
       from ocsp_signers s join certificates c on c.id = s.certificate_id where s.ca_id = ?`,
      [caId],
    );
  }

  it("writes a certificates row of type ocsp (same id, serial, issuer and PEM) with the signer", async () => {
    const caId = server.bootstrap.intermediateCaId;
    await useResponder(caId);
    const [signer, ...more] = await signersOf(caId);
    assert.ok(signer, "the responder issued a signer");
    assert.equal(more.length, 0);
    assert.equal(signer.certificate_id, signer.id);
    assert.equal(signer.type, "ocsp");
    assert.equal(signer.source, "system");
    assert.equal(signer.issuer_id, caId);
    assert.ok(signer.same_pem);
    const ca = await server.db.orm.em.fork().findOneOrFail(CertificateAuthority, { id: caId });
    assert.equal(signer.organization_id, ca.organization.id);
    const audit = await server.db.orm.em
      .fork()
      .execute<{ n: string }[]>(`select count(*) as n from audit_log where action = 'cert_create' and resource_type = 'certificate' and resource_id = ?`, [signer.id]);
    assert.equal(Number(audit[0]!.n), 1, "one cert_create audit entry for it");
  });

  it("reserves the signer's serial: a leaf of the same CA with it is refused by the unique key", async () => {
    const caId = server.bootstrap.intermediateCaId;
    const [signer] = await signersOf(caId);
    assert.ok(signer);
    await assert.rejects(
      server.db.orm.em.fork().execute(
        `insert into certificates (id, serial, issuer_id, organization_id, type, status, dns_names, ip_addresses, emails, not_before, not_after, source, certificate_pem, created_at)
         select gen_random_uuid(), ?, ?, organization_id, 'server', 'valid', '[]', '[]', '[]', now(), now() + interval '1 day', 'admin', 'x', now()
         from certificate_authorities where id = ?`,
        [signer.serial, caId, caId],
      ),
      /certificates_issuer_serial_unique/,
    );
  });

  it("answers good for the signer's own serial (it was issued, so not unknown)", async () => {
    const caId = server.bootstrap.intermediateCaId;
    const [signer] = await signersOf(caId);
    const row = await server.db.orm.em.fork().findOneOrFail(Certificate, { id: signer!.certificate_id });
    const interPem = derToPem(await fetchDer(`${server.baseUrl}/ca/${caId}.cer`), "CERTIFICATE");
    const rootPem = derToPem(await fetchDer(`${server.baseUrl}/ca/${server.bootstrap.rootCaId}.cer`), "CERTIFICATE");
    const r = await opensslAsync([
      "ocsp",
      "-issuer", tmp.file("inter.pem", interPem),
      "-cert", tmp.file("signer.pem", row.certificatePem),
      "-CAfile", tmp.file("chain.pem", interPem + rootPem),
      "-url", `${server.baseUrl}/ocsp/${caId}`,
    ]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /signer\.pem: good/);
  });

  it("is not the admin plane's: not listed, not found for get, revoke or key export", async () => {
    const caId = server.bootstrap.intermediateCaId;
    const [signer] = await signersOf(caId);
    const id = signer!.certificate_id;
    const page = await listCertificates(server.ra, actor, { caId, pageSize: 1000, pageToken: "" });
    assert.ok(!page.items.some((c) => c.id === id || c.type === "ocsp"));
    const bySerial = await listCertificates(server.ra, actor, { serial: signer!.serial, pageSize: 10, pageToken: "" });
    assert.equal(bySerial.items.length, 0);
    const notFound = (e: unknown) => isSigilError(e, "notFound");
    await assert.rejects(getCertificate(server.ra, actor, id), notFound);
    await assert.rejects(revokeCertificate(server.ra, actor, id, 1), notFound);
    await assert.rejects(exportCertificatePrivateKey(server.ra, actor, id, "pem", ""), notFound);
  });

  it("does not keep a CA from being deleted (it is the CA's own, not a certificate it serves)", async () => {
    const root = await server.db.orm.em.fork().findOneOrFail(CertificateAuthority, { id: server.bootstrap.rootCaId });
    const inter = await createIntermediateCa(server.ra, actor, root.id, {
      organizationId: root.organization.id,
      name: "ocsp-signer-then-deleted",
      subject: { commonName: "Sigil Test Intermediate With A Responder" },
      keyAlgorithm: "p256",
      validityDays: 365,
      pathLength: 0,
    });
    await useResponder(inter.id);
    assert.equal((await signersOf(inter.id)).length, 1);
    await deleteCa(server.ra, actor, inter.id);
  });
});
