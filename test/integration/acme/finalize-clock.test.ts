/**
 * The injected clock decides expiry on the ACME hot path, in SQL too: no
 * statement compares with the database's now(). The server's clock runs
 * ten days ahead of the database's; an authorization whose `expires` lies
 * between the two is expired for Sigil, so finalize refuses (and a
 * validation does not make its order ready), whatever now() says.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { createCsr } from "../../../src/ca/csr.js";
import { loadConfig } from "../../../src/config.js";
import type { Clock } from "../../../src/core/clock.js";
import { createLogger } from "../../../src/logger.js";
import { startSigil, type SigilServer } from "../../../src/server.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { freePort, testServerEnv } from "../../helpers/server.js";
import { FakeValidator } from "./harness.js";
import { RawAcme } from "./raw-client.js";

const DAY = 86_400_000;

describe("ACME expiry follows the injected clock, not the database's now()", function () {
  this.timeout(60_000);
  const clock: Clock = { now: () => new Date(Date.now() + 10 * DAY) };
  const validator = new FakeValidator();
  let server: SigilServer;
  let dbInfo: { url: string; drop(): Promise<void> };
  let dataDir: string;
  let db: pg.Client;
  let directoryUrl: string;

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-acme-clock-"));
    dbInfo = await createTestDatabase();
    const httpPort = await freePort();
    const config = loadConfig(testServerEnv({ dataDir, httpPort, databaseUrl: dbInfo.url }));
    server = await startSigil({ config, logger: createLogger(config.logLevel), clock, validator });
    directoryUrl = `http://127.0.0.1:${server.httpPort}/acme/default/directory`;
    db = new pg.Client({ connectionString: dbInfo.url });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await server?.close();
    await dbInfo?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** expires = the database's now() + 5 days: valid by now(), expired by Sigil's clock */
  const expireBetweenClocks = (authzUrl: string) =>
    db.query(`update acme_authorizations set expires = now() + interval '5 days' where id = $1`, [authzUrl.split("/").pop()]);

  async function validate(c: RawAcme, authzUrl: string): Promise<void> {
    const authz = await c.post(authzUrl, undefined);
    await c.post(authz.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
    await server.acme.validations.idle();
  }

  it("finalize refuses a ready order whose authorization expired by the clock (orderNotReady)", async () => {
    const c = await RawAcme.create(directoryUrl);
    await c.register();
    const name = "clock.example.com";
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });
    await validate(c, order.body.authorizations[0]);
    const orderUrl = order.headers.get("location")!;
    assert.equal((await c.post(orderUrl, undefined)).body.status, "ready");
    await expireBetweenClocks(order.body.authorizations[0]);
    const csr = createCsr({ privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, commonName: name, dnsNames: [name] });
    const r = await c.post(order.body.finalize, { csr: csr.der.toString("base64url") });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.type, "urn:ietf:params:acme:error:orderNotReady");
    const [n] = (await db.query<{ n: string }>(`select count(*) n from certificates where common_name = $1`, [name])).rows;
    assert.equal(Number(n!.n), 0);
  });

  it("a validation does not make ready an order whose other authorization expired by the clock", async () => {
    const c = await RawAcme.create(directoryUrl);
    await c.register();
    const order = await c.post(c.dir.newOrder!, { identifiers: ["a.clock.example.com", "b.clock.example.com"].map((value) => ({ type: "dns", value })) });
    const [first, second] = order.body.authorizations as string[];
    await validate(c, first!);
    await expireBetweenClocks(first!);
    await validate(c, second!);
    const again = await c.post(order.headers.get("location")!, undefined);
    assert.equal(again.body.status, "pending", again.text);
  });
});
