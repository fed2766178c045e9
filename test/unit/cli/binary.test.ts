/**
 * The real binary (node bin/sigil.js), for what run(argv, io) cannot show:
 * the process wiring (argv, stdout/stderr, piped stdin, the exit code).
 * Every other CLI test runs the same code in-process.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { LOCK_FILE } from "../../../src/db/embedded.js";
import { spawnSigil } from "../../helpers/sigil-cli.js";

describe("the sigil binary", function () {
  this.timeout(60_000);
  let dir: string;
  let holder: ChildProcess;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "sigil-bin-"));
    holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    await new Promise((r) => holder.once("spawn", r));
    // its start time where there is a procfs (the lock tells a reused pid by it)
    const stat = (() => {
      try {
        return readFileSync(`/proc/${holder.pid}/stat`, "utf8");
      } catch {
        return undefined;
      }
    })();
    const startTime = stat?.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: holder.pid, startTime, holder: "sigil serve", token: "t" }));
  });
  after(() => {
    holder?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("--help exits 0 with the usage; a refused command exits 1 with one line on stderr; piped stdin is read to its end", async () => {
    const env = { SIGIL_DATA_DIR: dir, DATABASE_URL: "", SIGIL_SERVER: "127.0.0.1:1", SIGIL_LOG_LEVEL: "silent", XDG_CONFIG_HOME: dir };
    // in parallel: each start compiles through tsx
    const [help, migrate, login] = await Promise.all([
      spawnSigil(["--help"], env),
      spawnSigil(["migrate"], env),
      spawnSigil(["login", "--username", "admin", "--password-stdin"], env, "a password\n"),
    ]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^usage: sigil <command>/);
    assert.equal(help.stderr, "");

    assert.equal(migrate.code, 1);
    assert.equal(migrate.stdout, "");
    assert.equal(migrate.stderr, `sigil: the embedded database in ${dir} is in use by process ${holder.pid} (sigil serve); stop it or use the admin API\n`);

    // it read the password from the pipe and only then failed to reach the server
    assert.equal(login.code, 1, login.stderr);
    assert.match(login.stderr, /^sigil: UNAVAILABLE: /);
  });
});
