/**
 * The CLI side of issue 13 items 1, 2 and 6: org slug and settings options,
 * user sessions / revoke-session / unlock, deactivate reporting revoked
 * certificates, and the current password of one's own password change.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runSigil } from "../../helpers/sigil-cli.js";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { unique } from "./helpers.js";

describe("sigil CLI: organization settings, sessions, unlock", function () {
  this.timeout(180_000);
  let server: TestServer;
  let home: string;
  let env: Record<string, string>;

  before(async () => {
    server = await startTestServer();
    home = mkdtempSync(path.join(tmpdir(), "sigil-cli-tenancy-"));
    env = { XDG_CONFIG_HOME: home, SIGIL_SERVER: `127.0.0.1:${server.grpcPort}`, SIGIL_API_KEY: "", SIGIL_PASSWORD: "" };
  });

  after(async () => {
    await server?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  async function ok(args: string[], stdin?: string, extraEnv: Record<string, string> = {}): Promise<string> {
    const r = await runSigil(args, { ...env, ...extraEnv }, stdin);
    assert.equal(r.code, 0, `sigil ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  it("ok/org settings, user sessions, unlock and deactivate through the CLI", async () => {
    await ok(["login", "--username", "admin", "--password-stdin"], `${TEST_ADMIN_PASSWORD}\n`);
    const slug = unique("cli-slug");
    const created = JSON.parse(
      await ok(["org", "create", "--name", unique("CLI Org"), "--slug", slug, "--max-validity-days", "90", "--default-validity-days", "30", "--key-types", "p256,rsa2048", "--json"]),
    ) as { organization: { id: string; slug: string; settings: { maxValidityDays: number; defaultValidityDays: number; allowedKeyTypes: string[] } } };
    assert.equal(created.organization.slug, slug);
    assert.equal(created.organization.settings.maxValidityDays, 90);
    assert.deepEqual(created.organization.settings.allowedKeyTypes, ["KEY_ALGORITHM_P256", "KEY_ALGORITHM_RSA2048"]);
    const orgId = created.organization.id;
    const shown = await ok(["org", "update", orgId, "--revoke-on-deactivation", "false", "--session-lifetime", "3600"]);
    assert.match(shown, /revoke_on_deactivation:\s+no/);
    assert.match(shown, /session_lifetime_seconds:\s+3600/);
    assert.match(shown, /key_types:\s+p256,rsa2048/);
    const bad = await runSigil(["org", "update", orgId, "--session-lifetime", "5"], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /settings\.session_lifetime_seconds/);

    const username = unique("cliuser");
    const user = JSON.parse(
      await ok(["user", "create", "--username", username, "--email", `${username}@example.com`, "--role", "user", "--org", orgId, "--json"], undefined, {
        SIGIL_NEW_PASSWORD: "cli user password 1",
      }),
    ) as { user: { id: string } };
    // the user logs in (own config home) and changes its own password: the current one is needed
    const userEnv = { ...env, XDG_CONFIG_HOME: mkdtempSync(path.join(tmpdir(), "sigil-cli-user-")) };
    try {
      const asUser = async (args: string[], extra: Record<string, string> = {}, stdin?: string) => runSigil(args, { ...userEnv, ...extra }, stdin);
      assert.equal((await asUser(["login", "--username", username.toUpperCase(), "--password-stdin"], {}, "cli user password 1\n")).code, 0);
      const sessions = await asUser(["user", "sessions"]);
      assert.equal(sessions.code, 0, sessions.stderr);
      assert.match(sessions.stdout, /127\.0\.0\.1/);
      const refused = await asUser(["user", "update", user.user.id], { SIGIL_NEW_PASSWORD: "cli user password 2" });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /current_password/);
      const changed = await asUser(["user", "update", user.user.id], { SIGIL_NEW_PASSWORD: "cli user password 2", SIGIL_CURRENT_PASSWORD: "cli user password 1" });
      assert.equal(changed.code, 0, changed.stderr);
    } finally {
      rmSync(userEnv.XDG_CONFIG_HOME, { recursive: true, force: true });
    }

    const listed = JSON.parse(await ok(["user", "sessions", "--user", user.user.id, "--include-ended", "--json"])) as { sessions: Array<{ id: string; revokedReason?: string }> };
    assert.ok(listed.sessions.length >= 1);
    assert.ok(listed.sessions.every((s) => s.revokedReason === "password_change"), "the password change ended the user's sessions");
    assert.match(await ok(["user", "revoke-session", listed.sessions[0]!.id]), /revoked/);
    assert.match(await ok(["user", "unlock", user.user.id]), new RegExp(username));
    assert.match(await ok(["user", "deactivate", user.user.id]), /revoked_certificates:\s+0/);
  });
});
