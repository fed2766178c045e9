import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { RevocationReason } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import { systemActor } from "../../../src/ra/actor.js";
import { createDirectory } from "../../../src/ra/acme/directories.js";
import { createOrg } from "../admin/helpers.js";
import { createIntermediate, createRoot, PkiClients } from "../admin/pki-helpers.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme } from "./raw-client.js";

/**
 * The renewalInfo GET (RFC 9773 §4) beyond the first slice: Retry-After
 * from SIGIL_ARI_RETRY_AFTER_SECONDS with jitter and a cacheable answer
 * (§4.3), expired certificates renew now, a deleted CA's certificates are
 * no longer known (404), admin-issued certificates of the organization are
 * answered too.
 */
describe("RFC 9773 renewalInfo: Retry-After, caching, expired certificates, deleted CAs", function () {
  this.timeout(120_000);
  let server: AcmeTestServer;
  let pki: PkiClients;
  let su: ClientCallOptions;
  let renewalInfoUrl: string;
  let rootId: string;

  before(async () => {
    server = await startAcmeTestServer({ validator: new FakeValidator(), env: { SIGIL_ARI_RETRY_AFTER_SECONDS: "600" } });
    pki = new PkiClients(server);
    su = await pki.superuser();
    const org = await createOrg(pki, su);
    rootId = (await createRoot(pki, su, org, { pathLength: 1 })).id;
    const int = await createIntermediate(pki, su, rootId);
    await createDirectory(server.ra, systemActor("test"), { name: "ari-get", ca: int.id });
    const c = await RawAcme.create(server.directoryUrl("ari-get"));
    renewalInfoUrl = c.dir.renewalInfo!;
  });
  after(async () => {
    pki?.close();
    await server?.stop();
  });

  const sql = <T>(q: string, params: unknown[] = []) => server.db.orm.em.getConnection().execute<T[]>(q, params);

  function certIdOf(pem: string): string {
    const cert = pkijs.Certificate.fromBER(new X509Certificate(pem).raw);
    const ext = cert.extensions!.find((x) => x.extnID === "2.5.29.35")!;
    const aki = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result as asn1js.Sequence;
    const keyId = (aki.valueBlock.value as asn1js.Primitive[]).find((v) => v.idBlock.tagClass === 3 && v.idBlock.tagNumber === 0)!;
    return `${Buffer.from(keyId.valueBlock.valueHexView).toString("base64url")}.${Buffer.from(cert.serialNumber.valueBlock.valueHexView).toString("base64url")}`;
  }

  const get = (pem: string) => fetch(`${renewalInfoUrl}/${certIdOf(pem)}`);

  async function adminIssue(caId: string, name: string) {
    return (await pki.certs.issueCertificate({ caId, type: CertificateType.SERVER, dnsNames: [name], commonName: name }, su)).certificate!;
  }

  it("RFC 9773 §4.3: Retry-After is SIGIL_ARI_RETRY_AFTER_SECONDS ±10 %, and the answer is cacheable for at most 5 minutes", async () => {
    const int = await createIntermediate(pki, su, rootId);
    const cert = await adminIssue(int.id, "cache.ari.example");
    const seen = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const r = await get(cert.certificatePem);
      assert.equal(r.status, 200, await r.clone().text());
      assert.ok(r.headers.get("replay-nonce"));
      const ra = Number(r.headers.get("retry-after"));
      assert.ok(ra >= 540 && ra <= 660, `Retry-After ${ra}`);
      // review 2 M2: a revocation or a new campaign must not hide behind a cache until Retry-After
      assert.equal(r.headers.get("cache-control"), `public, max-age=${Math.min(ra, 300)}`);
      seen.add(ra);
    }
    assert.ok(seen.size > 1, "jittered");
  });

  it("RFC 9773 §4.2: an expired certificate gets a window in the past (renew now), not its old one", async () => {
    const int = await createIntermediate(pki, su, rootId);
    const cert = await adminIssue(int.id, "expired.ari.example");
    // the row as a certificate past its notAfter (the signed certificate is not consulted)
    await sql(`update certificates set not_before = now() - interval '100 days', not_after = now() - interval '10 days' where id = ?`, [cert.id]);
    const r = await get(cert.certificatePem);
    assert.equal(r.status, 200);
    const w = ((await r.json()) as { suggestedWindow: { start: string; end: string } }).suggestedWindow;
    const end = new Date(w.end).getTime();
    assert.ok(end < Date.now() && end > Date.now() - 300_000, `renew now, not 10+ days ago: ${JSON.stringify(w)}`);
    assert.ok(new Date(w.start) < new Date(w.end));
  });

  it("RFC 9773 §4.1: a deleted CA's certificates are unknown (404)", async () => {
    const int = await createIntermediate(pki, su, rootId);
    const cert = await adminIssue(int.id, "deleted-ca.ari.example");
    assert.equal((await get(cert.certificatePem)).status, 200);
    await pki.certs.revokeCertificate({ id: cert.id, reason: RevocationReason.CESSATION_OF_OPERATION }, su);
    const revoked = await get(cert.certificatePem);
    assert.equal(revoked.status, 200, "revoked, the CA live: renew now");
    await pki.cas.deleteCertificateAuthority({ id: int.id }, su);
    const gone = await get(cert.certificatePem);
    assert.equal(gone.status, 404);
    assert.equal(((await gone.json()) as { type: string }).type, "urn:ietf:params:acme:error:malformed");
    assert.ok(gone.headers.get("replay-nonce"));
  });
});
