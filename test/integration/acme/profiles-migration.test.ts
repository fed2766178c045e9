/**
 * The profiles migration (migrations/Migration20261202100000AcmeProfiles.ts)
 * keeps an existing directory issuing exactly as before: a directory and an
 * order from before profiles (the schema without acme_profiles,
 * default_profile and acme_orders.profile), the migration run by the next
 * start, then the old order finalizes and a new one issues with the
 * directory's old kind and validity, under its new `classic` default.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { createCsr } from "../../../src/ca/csr.js";
import { loadConfig } from "../../../src/config.js";
import { createLogger } from "../../../src/logger.js";
import { systemActor } from "../../../src/ra/actor.js";
import { createDirectory } from "../../../src/ra/acme/directories.js";
import { startSigil, type SigilServer } from "../../../src/server.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { freePort, testServerEnv } from "../../helpers/server.js";
import { FakeValidator } from "./harness.js";
import { RawAcme } from "./raw-client.js";

const DAY = 86_400_000;

function ekus(pem: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "sigil-mig-"));
  try {
    writeFileSync(path.join(dir, "c.pem"), pem);
    return execFileSync("openssl", ["x509", "-in", path.join(dir, "c.pem"), "-noout", "-subject", "-ext", "extendedKeyUsage"], { encoding: "utf8" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("ACME profiles migration", function () {
  this.timeout(120_000);
  let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let env: Record<string, string>;
  let server: SigilServer | undefined;
  let db: pg.Client;
  const validator = new FakeValidator();

  const start = async (): Promise<SigilServer> => {
    const config = loadConfig(env);
    return startSigil({ config, logger: createLogger(config.logLevel), validator, acme: { directoryCacheMs: 0 } });
  };

  before(async () => {
    tdb = await createTestDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-profiles-migration-"));
    env = testServerEnv({ dataDir, httpPort: await freePort(), databaseUrl: tdb.url });
    db = new pg.Client({ connectionString: tdb.url });
    await db.connect();
  });
  after(async () => {
    await server?.close();
    await db?.end();
    await tdb?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("gives every existing directory a classic default with its kind and validity, and it issues as before", async () => {
    server = await start();
    const base = env.SIGIL_PUBLIC_URL!;
    await createDirectory(server.ra, systemActor("test"), { name: "legacy", ca: "default-intermediate", certificateKind: "client", maxValidityDays: 20 });
    const c = await RawAcme.create(`${base}/acme/legacy/directory`);
    assert.equal((await c.register()).status, 201);
    const name = "old.legacy.example.com";
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });
    assert.equal(order.status, 201, order.text);
    const authz = await c.post(order.body.authorizations[0], undefined);
    await c.post(authz.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
    await server.acme.validations.idle();
    await server.close();
    server = undefined;

    // back to the schema before profiles: the migration's own down(), and it is no longer recorded
    await db.query(`alter table acme_orders drop column profile`);
    await db.query(`alter table acme_directories drop column default_profile`);
    await db.query(`drop table acme_profiles`);
    const unrecorded = await db.query(`delete from sigil_migrations where name like 'Migration20261202100000AcmeProfiles%'`);
    assert.equal(unrecorded.rowCount, 1, "the migration was recorded once");

    // the next start runs the migration
    server = await start();
    const profiles = await db.query<{ name: string; certificate_kind: string; max_validity_seconds: number; include_common_name: boolean; default_profile: string; dir: string }>(
      `select p.name, p.certificate_kind, p.max_validity_seconds, p.include_common_name, d.default_profile, d.name dir from acme_profiles p join acme_directories d on d.id = p.directory_id order by d.name`,
    );
    assert.deepEqual(
      profiles.rows.map((r) => [r.dir, r.name, r.default_profile]),
      [
        ["default", "classic", "classic"],
        ["legacy", "classic", "classic"],
      ],
      "one classic default per existing directory",
    );
    const legacy = profiles.rows.find((r) => r.dir === "legacy")!;
    assert.equal(legacy.certificate_kind, "client");
    assert.equal(legacy.max_validity_seconds, 20 * 86_400);
    assert.equal(legacy.include_common_name, true);

    // the order from before profiles finalizes under the directory's classic default: as before
    const csr = createCsr({ privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, commonName: name, dnsNames: [name] });
    const fin = await c.post(order.body.finalize, { csr: csr.der.toString("base64url") });
    assert.equal(fin.status, 200, fin.text);
    assert.equal(fin.body.profile, undefined, "an order from before profiles names none");
    const pem = (await c.post(fin.body.certificate, undefined)).text;
    const x = new X509Certificate(pem);
    assert.ok(new Date(x.validTo).getTime() - Date.now() <= 20 * DAY + 60_000, x.validTo);
    assert.ok(new Date(x.validTo).getTime() - Date.now() > 19 * DAY, x.validTo);
    const text = ekus(pem);
    assert.match(text, /TLS Web Client Authentication/);
    assert.doesNotMatch(text, /Server Authentication/);
    assert.match(text, /CN\s*=\s*old\.legacy\.example\.com/);

    // a new order gets the classic profile and meta.profiles lists it
    const dirBody = (await (await fetch(`${base}/acme/legacy/directory`)).json()) as { meta: { profiles: Record<string, string> } };
    assert.deepEqual(Object.keys(dirBody.meta.profiles), ["classic"]);
    const next = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });
    assert.equal(next.status, 201, next.text);
    assert.equal(next.body.profile, "classic");
    assert.equal(next.body.status, "ready", "the authorization from before the migration is reused");
  });
});
