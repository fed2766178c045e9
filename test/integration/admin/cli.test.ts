/**
 * The admin commands of the CLI against the real server, in-process through
 * run(argv, io) (test/helpers/sigil-cli.ts): the same code as the binary,
 * whose process wiring test/unit/cli/binary.test.ts checks.
 */
import assert from "node:assert/strict";
import { cliEnv, Collector, runSigil } from "../../helpers/sigil-cli.js";
import { mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { unique } from "./helpers.js";
import { run } from "../../../src/cli/main.js";

const sigil = runSigil;

describe("sigil CLI against the admin server", function () {
  this.timeout(180_000);
  let server: TestServer;
  let home: string;
  let env: Record<string, string>;

  before(async () => {
    server = await startTestServer();
    home = mkdtempSync(path.join(tmpdir(), "sigil-cli-"));
    env = { XDG_CONFIG_HOME: home, SIGIL_SERVER: `127.0.0.1:${server.grpcPort}`, SIGIL_API_KEY: "", SIGIL_PASSWORD: "" };
  });

  after(async () => {
    await server?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  async function ok(args: string[], stdin?: string, extraEnv: Record<string, string> = {}): Promise<string> {
    const r = await sigil(args, { ...env, ...extraEnv }, stdin);
    assert.equal(r.code, 0, `sigil ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  it("login -> create org -> create user -> list, with tokens stored 0600 under $XDG_CONFIG_HOME/sigil", async () => {
    const refused = await sigil(["org", "list"], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not logged in/);

    const wrong = await sigil(["login", "--username", "admin", "--password-stdin"], env, "not the password\n");
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /UNAUTHENTICATED: invalid username or password/);

    const login = await ok(["login", "--username", "admin", "--password-stdin"], `${TEST_ADMIN_PASSWORD}\n`);
    assert.match(login, /logged in to 127\.0\.0\.1:\d+ as admin \(superuser\)/);
    const file = path.join(home, "sigil", "credentials.json");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(path.join(home, "sigil")).mode & 0o777, 0o700);
    assert.equal(JSON.parse(readFileSync(file, "utf8")).server, env.SIGIL_SERVER);
    assert.equal(login.includes(JSON.parse(readFileSync(file, "utf8")).accessToken), false, "the token is not printed");

    assert.match(await ok(["whoami"]), /user:\s+admin/);

    const orgName = unique("cli-org");
    const org = JSON.parse(await ok(["org", "create", "--name", orgName, "--description", "from the CLI", "--json"])) as { organization: { id: string; name: string } };
    assert.equal(org.organization.name, orgName);
    const orgs = await ok(["org", "list"]);
    assert.match(orgs, /^ID\s+NAME\s+SLUG\s+DESCRIPTION\s+CREATED$/m);
    // the slug column (issue 13 item 1): derived from the name
    assert.match(orgs, new RegExp(`${org.organization.id}\\s+${orgName}\\s+${orgName}\\s+from the CLI`));

    const username = unique("alice");
    const created = JSON.parse(
      await ok(
        ["user", "create", "--username", username, "--email", `${username}@example.com`, "--role", "user", "--org", org.organization.id, "--cap", "create_cert,revoke_cert", "--json", "--password-stdin"],
        "alice's long password\n",
      ),
    ) as { user: { id: string; role: string; createCert: boolean; revokeCert: boolean } };
    assert.equal(created.user.role, "ROLE_USER");
    assert.equal(created.user.createCert, true);
    assert.equal(JSON.stringify(created).toLowerCase().includes("password"), false);
    const users = await ok(["org", "users", org.organization.id]);
    assert.match(users, new RegExp(`${created.user.id}\\s+${username}\\s+user\\s+yes\\s+create_cert,revoke_cert`));

    // the new user can log in with the CLI too (separate config dir)
    const home2 = mkdtempSync(path.join(tmpdir(), "sigil-cli-"));
    try {
      await ok(["login", "--username", username, "--password-stdin"], "alice's long password\n", { XDG_CONFIG_HOME: home2 });
      const denied = await sigil(["org", "create", "--name", unique("nope")], { ...env, XDG_CONFIG_HOME: home2 });
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /PERMISSION_DENIED/);
    } finally {
      rmSync(home2, { recursive: true, force: true });
    }

    const audit = await ok(["audit", "list", "--org", org.organization.id]);
    assert.match(audit, /user_create/);
    assert.match(audit, /org_create/);
  });

  it("service account keys work as $SIGIL_API_KEY", async () => {
    const org = JSON.parse(await ok(["org", "create", "--name", unique("cli-sa-org"), "--json"])) as { organization: { id: string } };
    const sa = JSON.parse(await ok(["sa", "create", "--org", org.organization.id, "--name", "deployer", "--cap", "create_cert", "--json"])) as {
      serviceAccount: { id: string };
    };
    const key = JSON.parse(await ok(["sa", "key-create", sa.serviceAccount.id, "--name", "ci", "--json"])) as { key: string };
    assert.match(key.key, /^sigil_/);
    const me = await ok(["whoami"], undefined, { SIGIL_API_KEY: key.key });
    assert.match(me, /service_account:\s+deployer/);
    const keys = await ok(["sa", "keys", sa.serviceAccount.id]);
    assert.equal(keys.includes(key.key), false, "the key is shown once only");
  });

  it("audit watch streams new events as JSON lines until interrupted, then exits 0", async () => {
    const stop = new AbortController();
    const stdout = new Collector();
    const watching = run(["audit", "watch", "--action", "org_create", "--json"], { stdout, stderr: new Collector(), env: cliEnv(env), signal: stop.signal });
    let name = "";
    try {
      // the stream is open once the server has registered the watcher; create events until one arrives
      const until = Date.now() + 15_000;
      while (!(name && stdout.text.includes(name)) && Date.now() < until) {
        name = unique("watched");
        await ok(["org", "create", "--name", name]);
        await new Promise((r) => setTimeout(r, 200));
      }
      const line = stdout.text.split("\n").find((l) => l.includes(name));
      assert.ok(line, `watch printed the event: ${stdout.text}`);
      assert.equal((JSON.parse(line) as { action: string }).action, "org_create");
    } finally {
      stop.abort();
    }
    assert.equal(await watching, 0, "SIGINT (the abort) ends the watch with exit code 0");
  });

  it("logout ends the session and forgets the tokens", async () => {
    assert.match(await ok(["logout"]), /logged out/);
    const r = await sigil(["whoami"], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not logged in/);
  });
});
