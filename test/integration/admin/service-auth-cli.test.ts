/**
 * `sigil sa key-create --scopes`, `sigil sa public-key-register|public-keys|public-key-revoke`,
 * `sigil sa jwt` and `sigil login --service-account` against the running
 * server, with key pairs made by openssl (a script's way).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runSigil } from "../../helpers/sigil-cli.js";
import { startCliSession, type CliSession } from "../../helpers/cli-session.js";
import { type TestServer } from "../../helpers/server.js";
import { unique } from "./helpers.js";

describe("sigil service-account key CLI (scopes, public keys, JWT login)", function () {
  this.timeout(180_000);
  let cli: CliSession;
  let server: TestServer;
  let env: Record<string, string>;
  let home: string;

  before(async () => {
    cli = await startCliSession("sa-auth");
    ({ server, env, home } = cli);
  });
  after(async () => {
    await cli?.stop();
  });

  const ok = (args: string[], e = env): Promise<string> => cli.ok(args, e);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const json = <T = any>(args: string[], e = env): Promise<T> => cli.json<T>(args, e);

  it("creates a scoped key that lists its scopes and is refused outside them", async () => {
    const org = (await json(["org", "create", "--name", unique("cli-sa-auth")])).organization.id as string;
    const sa = (await json(["sa", "create", "--org", org, "--name", "ci"])).serviceAccount.id as string;
    const created = await json(["sa", "key-create", sa, "--name", "reader", "--scopes", "cas:read,certificates:read", "--scopes", "audit:read"]);
    assert.deepEqual(created.apiKey.scopes, ["cas:read", "certificates:read", "audit:read"]);
    const listed = await ok(["sa", "keys", sa]);
    assert.match(listed, /^ID\s+NAME\s+PREFIX\s+SCOPES\s+CREATED/m);
    assert.match(listed, /cas:read,certificates:read,audit:read/);
    const asKey = { ...env, SIGIL_API_KEY: created.key as string };
    await ok(["ca", "list", "--org", org], asKey);
    const refused = await runSigil(["sa", "list", "--org", org], asKey);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /lacks the scope "service-accounts:read"/);
    const bad = await runSigil(["sa", "key-create", sa, "--name", "bad", "--scopes", "certificates:write"], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /scopes\[0\]/);
  });

  it("registers an openssl key, logs in with the private key, presents a JWT directly, lists and revokes the key", async () => {
    const org = (await json(["org", "create", "--name", unique("cli-sa-jwt")])).organization.id as string;
    const sa = (await json(["sa", "create", "--org", org, "--name", "deployer"])).serviceAccount.id as string;
    const priv = path.join(home, "sa.key");
    const pub = path.join(home, "sa.pub");
    execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", priv]);
    execFileSync("openssl", ["pkey", "-in", priv, "-pubout", "-out", pub]);
    const reg = (await json(["sa", "public-key-register", sa, "--name", "laptop", "--public-key", pub, "--scopes", "cas:*"])).publicKey;
    assert.equal(reg.algorithm, "ES256");
    assert.match(await ok(["sa", "public-keys", sa]), new RegExp(`${reg.keyId}\\s+laptop\\s+ES256\\s+cas:\\*`));

    const audience = server.config.jwtAudience;
    const saHome = mkdtempSync(path.join(tmpdir(), "sigil-cli-sa-login-"));
    try {
      const saEnv = { ...env, XDG_CONFIG_HOME: saHome };
      const missing = await runSigil(["login", "--service-account", sa, "--private-key", priv], { ...saEnv, SIGIL_JWT_AUDIENCE: "" });
      assert.notEqual(missing.code, 0);
      assert.match(missing.stderr, /--audience/);
      const login = await ok(["login", "--service-account", sa, "--private-key", priv, "--audience", audience], saEnv);
      assert.match(login, /logged in to .* as service account deployer/);
      assert.match(await ok(["whoami"], saEnv), new RegExp(`service_account:\\s+deployer`));
      await ok(["ca", "list", "--org", org], saEnv);
      const outside = await runSigil(["cert", "list", "--org", org], saEnv);
      assert.match(outside.stderr, /lacks the scope "certificates:read"/);

      // a JWT for "authorization: Bearer", once
      const jwt = (await ok(["sa", "jwt", sa, "--private-key", priv, "--audience", audience])).trim();
      const asJwt = { ...env, XDG_CONFIG_HOME: saHome, SIGIL_API_KEY: jwt };
      await ok(["ca", "list", "--org", org], asJwt);
      const again = await runSigil(["ca", "list", "--org", org], asJwt);
      assert.match(again.stderr, /jti was already used/);

      const revoked = (await json(["sa", "public-key-revoke", sa, reg.keyId])).publicKey;
      assert.ok(revoked.revokedAt);
      const after = await runSigil(["ca", "list", "--org", org], saEnv);
      assert.notEqual(after.code, 0, "the exchanged token stops with its key");
    } finally {
      rmSync(saHome, { recursive: true, force: true });
    }
  });
});
