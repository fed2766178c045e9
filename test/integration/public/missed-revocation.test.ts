/**
 * A revocation whose instance died before publishing it: the revocation
 * event (which schedules the debounced CRL and drops OCSP caches) only
 * reaches the instance that revoked. Simulated by revoking with the event
 * listeners removed; the periodic CRL job and the OCSP cache poll of the
 * running server must catch up on their own, within seconds. The server runs
 * them every 1 s and 0.5 s (SIGIL_CRL_CHECK_MS, SIGIL_OCSP_POLL_MS; defaults
 * 5 s and 2 s), and the test checks it caught up in well under the defaults,
 * so the settings are wired through.
 */
import assert from "node:assert/strict";
import type { Certificate } from "../../../src/db/entities/index.js";
import { systemActor } from "../../../src/ra/actor.js";
import { inTransaction } from "../../../src/ra/context.js";
import { CrlPublisher } from "../../../src/ra/crl.js";
import { revokeCertificateInTx } from "../../../src/ra/revocation.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { opensslOk, TempDir } from "../../unit/ca/openssl.js";
import { crlNumberOf, derToPem, eventually, fetchDer, opensslAsync, issueTestLeaf, urlsOf } from "./helpers.js";

const actor = systemActor("missed-revocation-test");

describe("revocations the revoking instance never published", function () {
  this.timeout(60_000);
  let server: TestServer;
  let tmp: TempDir;

  before(async () => {
    server = await startTestServer({ env: { SIGIL_CRL_CHECK_MS: "1000", SIGIL_OCSP_POLL_MS: "500" } });
    tmp = new TempDir();
  });
  after(async () => {
    await server?.stop();
    tmp?.remove();
  });

  function issueLeaf(caId: string, name: string): Promise<Certificate> {
    return issueTestLeaf(server.ra, actor, caId, name);
  }

  async function generationOf(caId: string): Promise<bigint> {
    const rows = await server.db.orm.em
      .fork()
      .execute<{ generation: string }[]>(`select generation from revocation_generations where ca_id = ?`, [caId]);
    return BigInt(rows[0]?.generation ?? 0);
  }

  it("reach the CRL (periodic job) and the cached OCSP answer (poll) within seconds", async () => {
    const caId = server.bootstrap.intermediateCaId;
    const cert = await issueLeaf(caId, "missed.example");
    const urls = urlsOf(cert.certificatePem);
    const leaf = tmp.file("leaf.pem", cert.certificatePem);
    const interPem = derToPem(await fetchDer(urls.caIssuers!), "CERTIFICATE");
    const inter = tmp.file("inter.pem", interPem);
    const rootPem = derToPem(await fetchDer(urlsOf(interPem).caIssuers!), "CERTIFICATE");
    const chain = tmp.file("chain.pem", interPem + rootPem);
    // without a nonce the responder caches the whole signed response: the cache is what must notice
    const ask = () => opensslAsync(["ocsp", "-issuer", inter, "-cert", leaf, "-url", urls.ocsp!, "-CAfile", chain, "-no_nonce"]);
    const crlFile = async (name: string) => tmp.file(name, derToPem(await fetchDer(urls.crl!), "X509 CRL"));
    const lists = (file: string) => opensslOk(["crl", "-in", file, "-noout", "-text"]).toUpperCase().includes(cert.serial.toUpperCase());

    const good = await ask();
    assert.equal(good.status, 0, good.out);
    assert.match(good.out, /leaf\.pem: good/);
    assert.match((await ask()).out, /leaf\.pem: good/, "answered again (from the cache)");
    const before = await crlFile("before.pem");
    assert.ok(!lists(before));
    const generation = await generationOf(caId);

    // the "crash": the revocation commits, but no listener hears of it
    const listeners = server.ra.events.certificateRevoked.splice(0);
    try {
      await inTransaction(server.ra, (tx) => revokeCertificateInTx(server.ra, tx, actor, cert.id, 1));
    } finally {
      server.ra.events.certificateRevoked.push(...listeners);
    }
    assert.equal(await generationOf(caId), generation + 1n, "the revoking transaction bumped the CA's revocation generation");

    const started = Date.now();
    const after = await eventually("the CRL to list the silently revoked serial", async () => {
      const f = await crlFile("after.pem");
      return lists(f) ? f : undefined;
    }, 15_000);
    const crlMs = Date.now() - started;
    assert.ok(crlNumberOf(after) > crlNumberOf(before), "a new CRL number");
    assert.match(opensslOk(["crl", "-in", after, "-noout", "-text"]), /Key Compromise/);

    const revoked = await eventually("the cached OCSP answer to turn revoked", async () => {
      const r = await ask();
      return /leaf\.pem: revoked/.test(r.out) ? r : undefined;
    }, 15_000);
    assert.match(revoked.out, /Reason: keyCompromise/);
    const ocspMs = Date.now() - started;
    assert.ok(crlMs < 4_000 && ocspMs < 4_000, `caught up within the configured intervals (CRL ${crlMs} ms, OCSP ${ocspMs} ms)`);

    // caught up: another instance's periodic job finds nothing to rebuild
    const other = new CrlPublisher(server.ra, { lifetimeHours: server.config.crlLifetimeHours });
    try {
      assert.equal(await other.refreshDue(), 0);
    } finally {
      await other.close();
    }
  });

  it("counts a revocation made outside the RA's revoke (any UPDATE to status 'revoked'), once", async () => {
    const caId = server.bootstrap.intermediateCaId;
    const cert = await issueLeaf(caId, "raw.example");
    const generation = await generationOf(caId);
    const em = server.db.orm.em.fork();
    await em.execute(`update certificates set status = 'revoked', revoked_at = now(), revocation_reason = 4 where id = ?`, [cert.id]);
    // not a revocation: other updates of a revoked row, and valid -> expired
    await em.execute(`update certificates set status = 'revoked', revocation_reason = 5 where id = ?`, [cert.id]);
    const other = await issueLeaf(caId, "expired.example");
    await em.execute(`update certificates set status = 'expired' where id = ?`, [other.id]);
    assert.equal(await generationOf(caId), generation + 1n);
    const crl = await eventually("the CRL to list it", async () => {
      const published = await server.relyingParty.crls.current(caId);
      const pem = tmp.file("raw.pem", derToPem(published!.der, "X509 CRL"));
      return opensslOk(["crl", "-in", pem, "-noout", "-text"]).toUpperCase().includes(cert.serial.toUpperCase()) ? pem : undefined;
    }, 15_000);
    assert.match(opensslOk(["crl", "-in", crl, "-noout", "-text"]), /Cessation Of Operation|Superseded/);
  });
});
