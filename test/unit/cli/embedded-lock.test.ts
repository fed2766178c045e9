/**
 * A database command (sigil migrate) on an embedded data directory that a
 * running server holds is refused with the holder named and exit code 1,
 * and touches nothing (once it opened the directory too, and the server's
 * data was gone).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { LOCK_FILE } from "../../../src/db/embedded.js";
import { runSigil } from "../../helpers/sigil-cli.js";

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

describe("sigil migrate on an embedded data directory in use", () => {
  let dir: string;
  let server: ChildProcess;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "sigil-cli-lock-"));
    // stands in for `sigil serve`: a live process whose lock is in the directory
    server = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    await new Promise((r) => server.once("spawn", r));
    writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid: server.pid, startTime: startTimeOf(server.pid!), holder: "sigil serve", token: "server" }));
  });
  after(() => {
    server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is refused with exit code 1, naming the process and what to do, and leaves the directory alone", async () => {
    const r = await runSigil(["migrate"], { SIGIL_DATA_DIR: dir, DATABASE_URL: "", SIGIL_LOG_LEVEL: "silent" });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `sigil: the embedded database in ${dir} is in use by process ${server.pid} (sigil serve); stop it or use the admin API\n`);
    assert.deepEqual(readdirSync(dir), [LOCK_FILE], "no pgdata: PGlite never opened the directory");
  });

  it("a second sigil serve is refused the same way", async () => {
    const r = await runSigil(["serve"], { SIGIL_DATA_DIR: dir, DATABASE_URL: "", SIGIL_LOG_LEVEL: "silent", SIGIL_HTTP_PORT: "0", SIGIL_HTTPS_PORT: "0", SIGIL_GRPC_PORT: "0" });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, `sigil: the embedded database in ${dir} is in use by process ${server.pid} (sigil serve); stop it or use the admin API\n`);
    assert.equal(readdirSync(dir).includes("pgdata"), false);
  });
});
