/**
 * CAA checking as the operator turns it on: `sigil acme directory
 * create|update --caa-check on|off` through the running server's gRPC admin
 * API (AcmeDirectory.caa_enabled, Create/UpdateAcmeDirectoryRequest
 * caa_enabled), the stored column, and the refusal of CAA on without
 * caa_identities (RFC 8659 §4.2: the CA's issuer domain names).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { runSigil } from "../../helpers/sigil-cli.js";
import { TEST_ADMIN_PASSWORD } from "../../helpers/server.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";

describe("sigil acme directory --caa-check (admin API caa_enabled)", function () {
  this.timeout(120_000);
  let server: AcmeTestServer;
  let home: string;
  let env: Record<string, string>;
  let db: pg.Client;
  let org: string;

  before(async () => {
    server = await startAcmeTestServer({ validator: new FakeValidator() });
    home = mkdtempSync(path.join(tmpdir(), "sigil-acme-caa-cli-"));
    env = { XDG_CONFIG_HOME: home, SIGIL_SERVER: `127.0.0.1:${server.grpcPort}`, SIGIL_API_KEY: "", SIGIL_LOG_LEVEL: "silent" };
    const login = await runSigil(["login", "--username", "admin", "--password-stdin"], env, `${TEST_ADMIN_PASSWORD}\n`);
    assert.equal(login.code, 0, login.stderr);
    const ca = JSON.parse((await runSigil(["ca", "get", server.bootstrap.intermediateCaId, "--json"], env)).stdout) as { certificateAuthority: { organizationId: string } };
    org = ca.certificateAuthority.organizationId;
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await server?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const stored = async (name: string) =>
    (await db.query<{ caa_enabled: boolean; caa_identities: string[] }>(`select caa_enabled, caa_identities from acme_directories where name = $1`, [name])).rows[0];

  it("refuses --caa-check on without --caa (INVALID_ARGUMENT naming caa_enabled) and creates nothing", async () => {
    const r = await runSigil(["acme", "directory", "create", "--name", "caa-noid", "--org", org, "--issuer", server.bootstrap.intermediateCaId, "--caa-check", "on"], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /caa_identities/);
    assert.match(r.stderr, /INVALID_ARGUMENT|invalid/i);
    assert.equal(await stored("caa-noid"), undefined);
  });

  it("creates a directory with CAA on, shows it, turns it off and on again; off is the default", async () => {
    const created = await runSigil(
      ["acme", "directory", "create", "--name", "caa-cli", "--org", org, "--issuer", server.bootstrap.intermediateCaId, "--caa", "Sigil-CA.test", "--caa-check", "on"],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^caa check:\s+on$/m);
    assert.match(created.stdout, /^caa identities:\s+sigil-ca\.test$/m);
    assert.deepEqual(await stored("caa-cli"), { caa_enabled: true, caa_identities: ["sigil-ca.test"] });
    const id = /^id:\s+(\S+)$/m.exec(created.stdout)![1]!;

    const json = await runSigil(["acme", "directory", "get", id, "--json"], env);
    assert.equal(json.code, 0, json.stderr);
    assert.equal((JSON.parse(json.stdout) as { directory: { caaEnabled?: boolean } }).directory.caaEnabled, true);

    // clearing the identities while CAA is on is refused, nothing changes
    const clear = await runSigil(["acme", "directory", "update", id, "--caa", ""], env);
    assert.notEqual(clear.code, 0);
    assert.deepEqual(await stored("caa-cli"), { caa_enabled: true, caa_identities: ["sigil-ca.test"] });

    const offed = await runSigil(["acme", "directory", "update", id, "--caa-check", "off"], env);
    assert.equal(offed.code, 0, offed.stderr);
    assert.match(offed.stdout, /^caa check:\s+off$/m);
    assert.equal((await stored("caa-cli"))!.caa_enabled, false);
    // an update without --caa-check leaves it as it is
    const other = await runSigil(["acme", "directory", "update", id, "--max-validity-days", "30"], env);
    assert.equal(other.code, 0, other.stderr);
    assert.equal((await stored("caa-cli"))!.caa_enabled, false);
    const oned = await runSigil(["acme", "directory", "update", id, "--caa-check", "on"], env);
    assert.equal(oned.code, 0, oned.stderr);
    assert.equal((await stored("caa-cli"))!.caa_enabled, true);

    const plain = await runSigil(["acme", "directory", "create", "--name", "caa-default", "--org", org, "--issuer", server.bootstrap.intermediateCaId], env);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^caa check:\s+off$/m);
    assert.equal((await stored("caa-default"))!.caa_enabled, false);
  });

  it("refuses a --caa-check value that is not on or off", async () => {
    const r = await runSigil(["acme", "directory", "create", "--name", "caa-bad", "--org", org, "--issuer", server.bootstrap.intermediateCaId, "--caa-check", "maybe"], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--caa-check/);
    assert.equal(await stored("caa-bad"), undefined);
  });
});
