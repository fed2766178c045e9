/**
 * `sigil acme directory create` and `sigil acme eab create` (aliases of
 * `new`, through the running server's admin API) against the test server;
 * acme-client then registers with the printed kid and HMAC key (RFC 8555
 * §7.3.4) and gets a certificate. The CLI runs in-process through
 * run(argv, io), exactly the code the binary runs.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import acme from "acme-client";
import { runSigil } from "../../helpers/sigil-cli.js";
import { TEST_ADMIN_PASSWORD } from "../../helpers/server.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";

const sigil = runSigil;

describe("sigil acme CLI: directory and EAB key through the admin API, then acme-client registers with them", function () {
  this.timeout(120_000);
  let server: AcmeTestServer;
  let home: string;
  let env: Record<string, string>;
  let db: pg.Client;
  let org: string;

  before(async () => {
    server = await startAcmeTestServer({ validator: new FakeValidator() });
    home = mkdtempSync(path.join(tmpdir(), "sigil-acme-cli-"));
    env = { XDG_CONFIG_HOME: home, SIGIL_SERVER: `127.0.0.1:${server.grpcPort}`, SIGIL_API_KEY: "", SIGIL_LOG_LEVEL: "silent" };
    const login = await sigil(["login", "--username", "admin", "--password-stdin"], env, `${TEST_ADMIN_PASSWORD}\n`);
    assert.equal(login.code, 0, login.stderr);
    const ca = JSON.parse((await sigil(["ca", "get", server.bootstrap.intermediateCaId, "--json"], env)).stdout) as { certificateAuthority: { organizationId: string } };
    org = ca.certificateAuthority.organizationId;
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await server?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("creates an EAB-only directory and a key; acme-client binds an account with them once and gets a certificate", async () => {
    const dir = await sigil(
      ["acme", "directory", "create", "--name", "cli-eab", "--org", org, "--issuer", server.bootstrap.intermediateCaId, "--eab-required", "true", "--allow-dns", "cli.example.com", "--challenges", "http-01,dns-01"],
      env,
    );
    assert.equal(dir.code, 0, dir.stderr);
    const directoryUrl = `${server.baseUrl}/acme/cli-eab/directory`;
    assert.match(dir.stdout, /^id:\s+[0-9a-f-]{36}$/m);
    assert.match(dir.stdout, /^name:\s+cli-eab$/m);
    assert.match(dir.stdout, new RegExp(`^url:\\s+${directoryUrl.replace(/[.]/g, "\\.")}$`, "m"));
    const directoryId = /^id:\s+(\S+)$/m.exec(dir.stdout)![1]!;
    const meta = (await (await fetch(directoryUrl)).json()) as { meta: { externalAccountRequired: boolean } };
    assert.equal(meta.meta.externalAccountRequired, true);

    const eab = await sigil(["acme", "eab", "create", "--directory-id", directoryId, "--description", "cli test"], env);
    assert.equal(eab.code, 0, eab.stderr);
    const kid = /kid:\s+(\S+)/.exec(eab.stdout)?.[1];
    const hmacKey = /hmac key:\s+(\S+)/.exec(eab.stdout)?.[1];
    assert.ok(kid && hmacKey, eab.stdout);
    assert.match(kid, /^[0-9a-f-]{36}$/);
    assert.equal(Buffer.from(hmacKey, "base64url").length, 32, "a 256-bit HMAC key, base64url");

    const noEab = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey() });
    await assert.rejects(noEab.createAccount({ termsOfServiceAgreed: true }), /external account binding/i);

    const client = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: { kid, hmacKey } });
    const [, csr] = await acme.crypto.createCsr({ commonName: "www.cli.example.com", altNames: ["www.cli.example.com"] });
    const cert = await client.auto({
      csr,
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      skipChallengeVerification: true,
      challengeCreateFn: async () => {},
      challengeRemoveFn: async () => {},
    });
    assert.match(cert, /BEGIN CERTIFICATE/);

    const accountId = client.getAccountUrl().split("/").pop();
    const { rows: accounts } = await db.query<{ eab_key_id: string; organization_id: string }>(`select eab_key_id, organization_id from acme_accounts where id = $1`, [accountId]);
    assert.equal(accounts[0]!.eab_key_id, kid, "the account is bound to the CLI's key");
    const { rows: keys } = await db.query<{ used_by_account_id: string; organization_id: string }>(`select used_by_account_id, organization_id from acme_eab_keys where id = $1`, [kid]);
    assert.deepEqual(keys[0], { used_by_account_id: accountId, organization_id: accounts[0]!.organization_id });
    const { rows: audit } = await db.query<{ action: string; username: string }>(
      `select action, username from audit_log where action in ('acme_directory_create', 'eab_create') and username <> 'bootstrap' order by created_at`,
    );
    assert.deepEqual(audit, [
      { action: "acme_directory_create", username: "admin" },
      { action: "eab_create", username: "admin" },
    ], "the CLI's changes are audited as the logged-in user");

    const second = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: { kid, hmacKey } });
    await assert.rejects(second.createAccount({ termsOfServiceAgreed: true }), /already been used/);
  });

  it("refuses bad invocations with exit code 2 and a message, and an unknown directory with exit code 1", async () => {
    const missing = await sigil(["acme", "eab", "create"], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--directory-id is required/);
    const usage = await sigil(["acme", "frobnicate"], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage:/);
    const unknown = await sigil(["acme", "eab", "create", "--directory-id", "01900000-0000-7000-8000-000000000000"], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^sigil: NOT_FOUND: /);
    const dup = await sigil(["acme", "directory", "create", "--name", "cli-eab", "--org", org, "--issuer", server.bootstrap.intermediateCaId], env);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /ALREADY_EXISTS/);
  });

  it("without a login or API key it refuses, naming sigil login (there is no database-direct path any more)", async () => {
    const r = await sigil(["acme", "directory", "create", "--name", "no-login", "--org", org, "--issuer", server.bootstrap.intermediateCaId], { ...env, XDG_CONFIG_HOME: path.join(home, "nobody") });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not logged in to 127\.0\.0\.1:\d+: run "sigil login/);
  });

  it("sets, changes and clears a directory's validation network override (--validation-networks)", async () => {
    const created = await sigil(
      ["acme", "directory", "create", "--name", "cli-nets", "--org", org, "--issuer", server.bootstrap.intermediateCaId, "--validation-networks", "public,10.0.0.0/8", "--json"],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    const dir = (JSON.parse(created.stdout) as { directory: { id: string; validationAllowedNetworks: string[] } }).directory;
    assert.deepEqual(dir.validationAllowedNetworks, ["public", "10.0.0.0/8"]);
    const narrowed = await sigil(["acme", "directory", "update", dir.id, "--validation-networks", "10.0.0.0/8", "--json"], env);
    assert.equal(narrowed.code, 0, narrowed.stderr);
    assert.deepEqual((JSON.parse(narrowed.stdout) as { directory: { validationAllowedNetworks: string[] } }).directory.validationAllowedNetworks, ["10.0.0.0/8"]);
    const cleared = await sigil(["acme", "directory", "update", dir.id, "--validation-networks", "", "--json"], env);
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.deepEqual((JSON.parse(cleared.stdout) as { directory: { validationAllowedNetworks?: string[] } }).directory.validationAllowedNetworks ?? [], []);
    const bad = await sigil(["acme", "directory", "update", dir.id, "--validation-networks", "10.0.0.0/33"], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /validation_allowed_networks/);
  });
});
