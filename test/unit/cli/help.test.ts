/**
 * `--help` on every command and subcommand prints its usage on stdout,
 * exits 0 and does nothing else: `sigil migrate --help` once migrated the
 * database, `sigil serve --help` started the server, and `sigil acme
 * directory new --help` answered "--name is required".
 *
 * Nothing else is checked by making every side effect visible: the data
 * directory must stay empty (migrate/serve would lock it and create pgdata),
 * no credentials file may appear, and an admin command that ran would call
 * 127.0.0.1:1 with an API key and fail (exit 1). `serve` would not return
 * at all (it runs until its signal aborts).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { commands } from "../../../src/cli/main.js";
import { runSigil } from "../../helpers/sigil-cli.js";

/** Every subcommand, by command (acme: noun -> verbs). */
const SUBCOMMANDS: Record<string, string[]> = {
  serve: [],
  migrate: [],
  login: [],
  logout: [],
  whoami: [],
  org: ["create", "get", "list", "update", "delete", "add-user", "remove-user", "users"],
  user: ["create", "get", "list", "update", "deactivate"],
  sa: ["create", "get", "list", "update", "delete", "key-create", "keys", "key-revoke", "public-key-register", "public-keys", "public-key-revoke", "jwt"],
  audit: ["list", "watch"],
  ca: ["create-root", "create-intermediate", "import", "get", "list", "chain", "children", "update", "delete", "revoke", "export-key",
    "init-offline-root", "sign-intermediate", "sign-crl", "request-intermediate", "activate", "import-crl"],
  cert: ["issue", "sign-csr", "get", "list", "chain", "revoke", "renew", "export-key"],
  renewal: ["create", "drill", "get", "list", "cancel"],
  policy: ["create", "get", "list", "update", "delete"],
  admin: ["reset-password"],
  "rotate-master-key": [],
  health: [],
};
const ACME: Record<string, string[]> = {
  directory: ["new", "create", "get", "list", "update", "delete"],
  eab: ["new", "create", "list", "revoke"],
  account: ["list", "deactivate"],
  order: ["list"],
};

describe("sigil --help: every command and subcommand prints help and does nothing else", function () {
  this.timeout(20_000);
  let work: string;
  let env: Record<string, string>;

  before(() => {
    work = mkdtempSync(path.join(tmpdir(), "sigil-help-"));
  });
  after(() => rmSync(work, { recursive: true, force: true }));
  beforeEach(() => {
    const dataDir = mkdtempSync(path.join(work, "data-"));
    const home = mkdtempSync(path.join(work, "home-"));
    env = {
      SIGIL_DATA_DIR: dataDir,
      DATABASE_URL: "",
      XDG_CONFIG_HOME: home,
      SIGIL_SERVER: "127.0.0.1:1",
      SIGIL_API_KEY: "sigil_not_a_real_key",
      SIGIL_HTTP_PORT: "0",
      SIGIL_GRPC_PORT: "0",
      SIGIL_LOG_LEVEL: "silent",
      SIGIL_PASSWORD: "unused",
    };
  });

  async function assertHelp(args: string[], usage: RegExp): Promise<void> {
    const r = await runSigil(args, env);
    assert.equal(r.code, 0, `sigil ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    assert.equal(r.stderr, "", `sigil ${args.join(" ")} wrote to stderr`);
    assert.match(r.stdout, usage, `sigil ${args.join(" ")} printed its usage`);
    assert.deepEqual(readdirSync(env.SIGIL_DATA_DIR!), [], `sigil ${args.join(" ")} left the data directory alone`);
    assert.deepEqual(readdirSync(env.XDG_CONFIG_HOME!), [], `sigil ${args.join(" ")} stored no credentials`);
  }

  it("the table lists every command", () => {
    assert.deepEqual([...Object.keys(SUBCOMMANDS), "acme"].sort(), Object.keys(commands).sort());
  });

  for (const flag of ["--help", "-h", "help"]) {
    it(`sigil ${flag}`, () => assertHelp([flag], /^usage: sigil <command>/));
  }

  it("sigil without a command prints the usage on stderr and exits 2", async () => {
    const r = await runSigil([], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^usage: sigil <command>/);
  });

  for (const [command, subs] of Object.entries(SUBCOMMANDS)) {
    const usage = new RegExp(`^usage: sigil ${command}\\b`);
    it(`sigil ${command} --help and -h`, async () => {
      await assertHelp([command, "--help"], usage);
      await assertHelp([command, "-h"], usage);
    });
    for (const sub of subs) {
      it(`sigil ${command} ${sub} --help`, async () => {
        const r = await runSigil([command, "--help"], env);
        assert.match(r.stdout, new RegExp(`^\\s+${sub}\\b`, "m"), `the ${command} usage lists ${sub}`);
        await assertHelp([command, sub, "--help"], usage);
      });
    }
  }

  it("sigil acme --help, and --help on each acme noun", async () => {
    await assertHelp(["acme", "--help"], /^usage: sigil acme\b/);
    await assertHelp(["acme"], /^usage: sigil acme\b/);
    for (const noun of Object.keys(ACME)) await assertHelp(["acme", noun, "--help"], /^usage: sigil acme\b/);
  });

  for (const [noun, verbs] of Object.entries(ACME)) {
    for (const verb of verbs) {
      it(`sigil acme ${noun} ${verb} --help`, async () => {
        const r = await runSigil(["acme", "--help"], env);
        assert.ok(r.stdout.split("\n").some((l) => new RegExp(`sigil acme ${noun} (\\S+\\|)?${verb}\\b`).test(l)), `the acme usage lists ${noun} ${verb}`);
        await assertHelp(["acme", noun, verb, "--help"], /^usage: sigil acme\b/);
        // mixed with other options, still only help
        await assertHelp(["acme", noun, verb, "--json", "--help"], /^usage: sigil acme\b/);
      });
    }
  }

  it("help stops before required options are checked (sigil ca create-root --help, sigil cert issue -h)", async () => {
    await assertHelp(["ca", "create-root", "--help"], /^usage: sigil ca\b/);
    await assertHelp(["cert", "issue", "-h"], /^usage: sigil cert\b/);
  });

  it("a command that does run shows the check works: an admin command fails against 127.0.0.1:1", async () => {
    const r = await runSigil(["org", "list"], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /UNAVAILABLE/);
  });
});
