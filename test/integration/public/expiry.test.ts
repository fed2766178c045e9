/**
 * Expiry: the periodic job's effect on statuses, and the CRL policy for
 * expired certificates (an entry stays for one CRL issued after notAfter,
 * then leaves, RFC 5280 §3.3), with a clock the test moves.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../../src/ca/keys.js";
import { FixedClock } from "../../../src/core/clock.js";
import { Certificate, CertificateAuthority } from "../../../src/db/entities/index.js";
import { systemActor } from "../../../src/ra/actor.js";
import { createIntermediateCa } from "../../../src/ra/certificate-authorities.js";
import { inTransaction } from "../../../src/ra/context.js";
import { markExpired } from "../../../src/ra/expiry.js";
import { issueLeafInTx } from "../../../src/ra/issuance.js";
import { revokeCertificateInTx } from "../../../src/ra/revocation.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { opensslOk, TempDir } from "../../unit/ca/openssl.js";
import { findCa } from "../../../src/db/store/certificate-authorities.js";
import type { Session } from "../../../src/db/store/session.js";

const actor = systemActor("expiry-test");
const HOUR = 3_600_000;

describe("expiry job and expired entries on the CRL", function () {
  this.timeout(60_000);
  let server: TestServer;
  let clock: FixedClock;
  let tmp: TempDir;

  before(async () => {
    clock = new FixedClock(new Date());
    server = await startTestServer({ clock });
    tmp = new TempDir();
  });
  after(async () => {
    await server?.stop();
    tmp?.remove();
  });

  async function leaf(name: string, lifetimeMs: number): Promise<Certificate> {
    const kp = await generateKeyPair("p256");
    return inTransaction(server.ra, async (tx) => {
      const ca = await loadCaOrFail(tx, server.bootstrap.intermediateCaId);
      return issueLeafInTx(server.ra, tx, actor, {
        ca,
        publicKey: kp.publicKey,
        type: "server",
        dnsNames: [name],
        ipAddresses: [],
        emails: [],
        notAfter: new Date(clock.now().getTime() + lifetimeMs),
        source: "admin",
      });
    });
  }

  async function crlText(): Promise<string> {
    const crl = await server.relyingParty.crls.generate(server.bootstrap.intermediateCaId);
    const f = tmp.file(`crl-${crl.crlNumber}.der`, crl.der);
    return opensslOk(["crl", "-inform", "DER", "-in", f, "-noout", "-text"]).toUpperCase();
  }

  async function statusOf(id: string): Promise<string> {
    return (await server.db.orm.em.fork().findOneOrFail(Certificate, { id })).status;
  }

  it("marks certificates and CAs expired after notAfter, keeps revoked ones revoked, and drops a revoked entry after one CRL issued past its notAfter", async () => {
    const revoked = await leaf("short-revoked.example", 2 * HOUR);
    const valid = await leaf("short-valid.example", 2 * HOUR);
    const longLived = await leaf("long.example", 30 * 24 * HOUR);
    const ca = await createIntermediateCa(server.ra, actor, server.bootstrap.rootCaId, {
      organizationId: (await server.db.orm.em.fork().findOneOrFail(CertificateAuthority, { id: server.bootstrap.rootCaId })).organization.id,
      name: "one-day-intermediate",
      subject: { commonName: "One Day Intermediate" },
      keyAlgorithm: "p256",
      validityDays: 1,
      pathLength: 0,
    });
    await inTransaction(server.ra, (tx) => revokeCertificateInTx(server.ra, tx, actor, revoked.id, 1));
    assert.ok((await crlText()).includes(revoked.serial.toUpperCase()), "listed while valid");

    clock.advance(3 * HOUR);
    await markExpired(server.ra);
    assert.equal(await statusOf(valid.id), "expired");
    assert.equal(await statusOf(revoked.id), "revoked", "revocation outranks expiry");
    assert.equal(await statusOf(longLived.id), "valid");

    // the first CRL issued after notAfter still lists it ...
    assert.ok((await crlText()).includes(revoked.serial.toUpperCase()), "listed on the first CRL after expiry");
    clock.advance(60_000);
    // ... the next one does not
    assert.ok(!(await crlText()).includes(revoked.serial.toUpperCase()), "dropped from the following CRL");

    clock.advance(2 * 24 * HOUR);
    await markExpired(server.ra);
    const caRow = await server.db.orm.em.fork().findOneOrFail(CertificateAuthority, { id: ca.id });
    assert.equal(caRow.status, "expired");
    assert.equal(await statusOf(longLived.id), "valid");
  });
});

/** a CA row read through the transaction it is used in */
async function loadCaOrFail(s: Session, id: string) {
  const ca = await findCa(s, id, { includeDeleted: true });
  if (!ca) throw new Error(`no CA ${id}`);
  return ca;
}
