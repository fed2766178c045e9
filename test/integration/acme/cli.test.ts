/**
 * `sigil acme directory create` and `sigil acme eab create` with the real
 * binary (node bin/sigil.js) against the test server's PostgreSQL database and
 * master key; acme-client then registers with the printed kid and HMAC key
 * (RFC 8555 §7.3.4) and gets a certificate.
 */
import assert from "node:assert/strict";
import { runSigil } from "../../helpers/sigil-cli.js";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import acme from "acme-client";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";

const sigil = runSigil;



describe("sigil acme CLI (real binary): directory and EAB key, then acme-client registers with them", function () {
  this.timeout(120_000);
  const masterKey = randomBytes(32).toString("hex");
  let server: AcmeTestServer;
  let dataDir: string;
  let env: Record<string, string>;

  before(async () => {
    server = await startAcmeTestServer({ validator: new FakeValidator(), env: { SIGIL_MASTER_KEY: masterKey } });
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-acme-cli-"));
    env = {
      DATABASE_URL: server.config.databaseUrl!,
      SIGIL_MASTER_KEY: masterKey,
      SIGIL_PUBLIC_URL: server.baseUrl,
      SIGIL_DATA_DIR: dataDir,
      SIGIL_LOG_LEVEL: "silent",
    };
  });
  after(async () => {
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it("creates an EAB-only directory and a key; acme-client binds an account with them once and gets a certificate", async () => {
    const dir = await sigil(
      ["acme", "directory", "create", "--name", "cli-eab", "--ca", "default-intermediate", "--eab-required", "--allow-dns", "cli.example.com", "--challenges", "http-01,dns-01"],
      env,
    );
    assert.equal(dir.code, 0, dir.stderr);
    const directoryUrl = `${server.baseUrl}/acme/cli-eab/directory`;
    assert.match(dir.stdout, new RegExp(`^ACME directory "cli-eab" created \\([0-9a-f-]{36}\\)\\n  ${directoryUrl.replace(/[.]/g, "\\.")}\\n$`));
    const meta = (await (await fetch(directoryUrl)).json()) as { meta: { externalAccountRequired: boolean } };
    assert.equal(meta.meta.externalAccountRequired, true);

    const eab = await sigil(["acme", "eab", "create", "--directory", "cli-eab", "--description", "cli test"], env);
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
    const conn = server.ra.orm.em.getConnection();
    const [account] = await conn.execute<Array<{ eab_key_id: string; organization_id: string }>>(`select eab_key_id, organization_id from acme_accounts where id = ?`, [accountId]);
    assert.equal(account!.eab_key_id, kid, "the account is bound to the CLI's key");
    const [key] = await conn.execute<Array<{ used_by_account_id: string; organization_id: string }>>(`select used_by_account_id, organization_id from acme_eab_keys where id = ?`, [kid]);
    assert.deepEqual(key, { used_by_account_id: accountId, organization_id: account!.organization_id });
    const audit = await conn.execute<Array<{ action: string }>>(`select action from audit_log where username = 'cli' order by created_at`);
    assert.deepEqual(audit.map((a) => a.action), ["acme_directory_create", "eab_create"], "the CLI's changes are audited as cli");

    const second = new acme.Client({ directoryUrl, accountKey: await acme.crypto.createPrivateEcdsaKey(), externalAccountBinding: { kid, hmacKey } });
    await assert.rejects(second.createAccount({ termsOfServiceAgreed: true }), /already been used/);
  });

  it("refuses bad invocations with exit code 2 and a message, and an unknown directory with exit code 1", async () => {
    const missing = await sigil(["acme", "eab", "create"], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--directory is required/);
    const usage = await sigil(["acme", "frobnicate"], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage:/);
    const unknown = await sigil(["acme", "eab", "create", "--directory", "no-such-directory"], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /ACME directory "no-such-directory" not found/);
    const dup = await sigil(["acme", "directory", "create", "--name", "cli-eab", "--ca", "default-intermediate"], env);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /exists/);
  });
});
