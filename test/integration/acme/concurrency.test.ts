import assert from "node:assert/strict";
import acme from "acme-client";
import pg from "pg";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme } from "./raw-client.js";

describe("ACME safety under concurrent requests", () => {
  let server: AcmeTestServer;
  const validator = new FakeValidator();
  before(async () => {
    server = await startAcmeTestServer({ validator });
  });
  after(async () => server?.stop());

  it("starts one validation for concurrent challenge POSTs and issues exactly one certificate for concurrent finalizes", async () => {
    const clients = await Promise.all([0, 1, 2, 3].map(() => RawAcme.create(server.directoryUrl())));
    const c = clients[0]!;
    await c.register();
    for (const o of clients.slice(1)) {
      o.key = c.key;
      o.jwk = c.jwk;
      o.kid = c.kid;
    }
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "race.example.com" }] });
    const authz = await c.post(order.body.authorizations[0], undefined);
    const ch = authz.body.challenges.find((x: { type: string }) => x.type === "http-01");
    const before = validator.requests.length;
    await Promise.all(clients.map((k) => k.post(ch.url, {})));
    await server.acme.validations.idle();
    assert.equal(validator.requests.length - before, 1, "one validation started");
    const [, csr] = await acme.crypto.createCsr({ commonName: "race.example.com", altNames: ["race.example.com"] });
    const csrB64 = acme.crypto.getPemBodyAsB64u(csr);
    const results = await Promise.all(clients.map((k) => k.post(order.body.finalize, { csr: csrB64 })));
    const ok = results.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, results.map((r) => r.text).join("\n"));
    for (const r of results.filter((x) => x.status !== 200)) assert.equal(r.body.type, "urn:ietf:params:acme:error:orderNotReady");
    // the database as it is, not through Sigil
    const db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ n: string }>(`select count(*) n from certificates where common_name = 'race.example.com'`);
      assert.equal(Number(rows[0]!.n), 1);
    } finally {
      await db.end();
    }
    const cert = await c.post(ok[0]!.body.certificate, undefined);
    assert.equal(cert.headers.get("content-type"), "application/pem-certificate-chain");
    assert.equal((cert.text.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, "leaf + intermediate, no root");
  });

  it("makes an order ready when its authorizations are validated at the same moment", async () => {
    const c = await RawAcme.create(server.directoryUrl());
    await c.register();
    try {
      for (let round = 0; round < 5; round++) {
        // both validations answer together, so their outcomes are recorded concurrently
        let release!: () => void;
        const together = new Promise<void>((r) => (release = r));
        let waiting = 0;
        validator.outcome = async () => {
          if (++waiting === 2) release();
          await together;
          return { status: "valid" };
        };
        const names = [`a${round}.both.example.com`, `b${round}.both.example.com`];
        const order = await c.post(c.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })) });
        const challenges = await Promise.all(
          (order.body.authorizations as string[]).map(async (u) => (await c.post(u, undefined)).body.challenges.find((x: { type: string }) => x.type === "http-01").url as string),
        );
        await Promise.all(challenges.map((u) => c.post(u, {})));
        await server.acme.validations.idle();
        const again = await c.post(order.headers.get("location")!, undefined);
        assert.equal(again.body.status, "ready", `round ${round}: ${again.text}`);
      }
    } finally {
      validator.outcome = () => ({ status: "valid" });
    }
  });

  it("lists an account's orders (one page: no Link rel=next)", async () => {
    const c = await RawAcme.create(server.directoryUrl());
    await c.register();
    for (let i = 0; i < 3; i++) await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: `p${i}.example.com` }] });
    const acct = await c.post(c.kid!, undefined);
    const page = await c.post(acct.body.orders, undefined);
    assert.equal(page.body.orders.length, 3);
    assert.doesNotMatch(page.headers.get("link") ?? "", /rel="next"/);
  });
});
