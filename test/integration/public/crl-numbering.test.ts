/**
 * CRL numbers under concurrency: two publishers (as two server instances
 * would be) generating at once get distinct, strictly increasing numbers
 * (RFC 5280 §5.2.3), and the stored CRL is the highest.
 */
import assert from "node:assert/strict";
import { CrlPublisher } from "../../../src/ra/crl.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";

describe("CRL numbering with several instances", function () {
  this.timeout(60_000);
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => server?.stop());

  it("gives concurrent generations distinct increasing numbers and stores the highest", async () => {
    const caId = server.bootstrap.intermediateCaId;
    const a = new CrlPublisher(server.ra, { lifetimeHours: 168 });
    const b = new CrlPublisher(server.ra, { lifetimeHours: 168 });
    try {
      const runs = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).generate(caId)));
      const numbers = runs.map((r) => r.crlNumber);
      assert.equal(new Set(numbers.map(String)).size, numbers.length, "no number issued twice");
      // a higher number never carries an earlier thisUpdate
      const sorted = [...runs].sort((x, y) => (x.crlNumber < y.crlNumber ? -1 : 1));
      for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i]!.thisUpdate >= sorted[i - 1]!.thisUpdate);
      const max = sorted[sorted.length - 1]!.crlNumber;
      const served = await a.current(caId);
      const row = await server.db.orm.em.fork().execute<{ crl_number: string }[]>(`select crl_number from certificate_authorities where id = ?`, [caId]);
      // the server's own periodic job may have published one more meanwhile: >= max, and storage matches the counter
      assert.ok(served && served.crlNumber >= max);
      assert.equal(BigInt(row[0]!.crl_number), served.crlNumber, "the stored CRL carries the last number issued");
    } finally {
      await a.close();
      await b.close();
    }
  });
});
