/**
 * One process per embedded data directory: PGlite has no postmaster lock, so
 * a second open of the same files (a CLI command while `sigil serve` runs)
 * once reported success and the server's data was gone, after a restart too.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { acquireDataDirLock, EmbeddedDatabaseInUseError, LOCK_FILE } from "../../../src/db/embedded.js";
import { openDatabase, type Database } from "../../../src/db/orm.js";
import { migratedEmbeddedTemplate } from "../../helpers/server.js";

/** the pid of a process that has exited */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((r) => child.once("exit", r));
  return child.pid!;
}

/** Linux start time of `pid` (field 22 of /proc/<pid>/stat) */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

async function count(db: Database): Promise<number> {
  const rows = await db.orm.em.getConnection().execute<Array<{ n: number }>>("select count(*)::int as n from lock_probe");
  return rows[0]!.n;
}

describe("embedded database: one process per data directory", function () {
  this.timeout(120_000);
  let dir: string;
  let sleeper: ChildProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sigil-lock-"));
  });
  /** a ready database in `dir`: PGlite's initdb is seconds of WASM and not what is tested here */
  const ready = async () => cpSync(await migratedEmbeddedTemplate(), path.join(dir, "pgdata"), { recursive: true });
  afterEach(() => {
    sleeper?.kill();
    sleeper = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a second open while the first is open, leaves the first intact, and opens again after close", async () => {
    await ready();
    const first = await openDatabase({ dataDir: dir, holder: "sigil serve" });
    let firstClosed = false;
    try {
      await first.orm.em.getConnection().execute("create table lock_probe (x int)");
      await first.orm.em.getConnection().execute("insert into lock_probe values (1), (2)");
      const lock = JSON.parse(readFileSync(path.join(dir, LOCK_FILE), "utf8")) as { pid: number; holder: string };
      assert.equal(lock.pid, process.pid);
      assert.equal(lock.holder, "sigil serve");

      const second = openDatabase({ dataDir: dir, holder: "sigil migrate" });
      await assert.rejects(second, (e: unknown) => {
        assert.ok(e instanceof EmbeddedDatabaseInUseError, String(e));
        assert.equal(e.kind, "unavailable");
        assert.equal(e.message, `the embedded database in ${dir} is in use by process ${process.pid} (sigil serve); stop it or use the admin API`);
        return true;
      });
      // the refused open touched nothing: the first still works and still holds the lock
      assert.equal(await count(first), 2);
      assert.equal((JSON.parse(readFileSync(path.join(dir, LOCK_FILE), "utf8")) as { holder: string }).holder, "sigil serve");
      await first.orm.em.getConnection().execute("insert into lock_probe values (3)");

      await first.close();
      firstClosed = true;
      assert.equal(existsSync(path.join(dir, LOCK_FILE)), false, "close removes the lock");
      const again = await openDatabase({ dataDir: dir });
      try {
        assert.equal(await count(again), 3, "the data the first process wrote survived");
      } finally {
        await again.close();
      }
    } finally {
      if (!firstClosed) await first.close();
    }
  });

  it("takes over a stale lock: a dead pid, a reused pid, or this pid from an earlier run", async () => {
    await ready();
    const stale = [
      { pid: await deadPid(), holder: "sigil serve", token: "dead" },
      // a live pid whose start time differs: the pid was reused after the holder died
      ...(startTimeOf(process.ppid) ? [{ pid: process.ppid, startTime: "1", holder: "sigil serve", token: "reused" }] : []),
      // our own pid but a token this process never issued: a container restart reuses pid 1
      { pid: process.pid, startTime: startTimeOf(process.pid), holder: "sigil serve", token: "earlier-run" },
    ];
    for (const [i, record] of stale.entries()) {
      writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(record));
      // the first through the whole open (PGlite starts on the directory), the others on the lock alone
      const db = i === 0 ? await openDatabase({ dataDir: dir, holder: "test" }) : undefined;
      const lock = i === 0 ? undefined : acquireDataDirLock(dir, "test");
      try {
        const now = JSON.parse(readFileSync(path.join(dir, LOCK_FILE), "utf8")) as { pid: number; token: string };
        assert.equal(now.pid, process.pid, `took over ${record.token}`);
        assert.notEqual(now.token, record.token);
      } finally {
        await db?.close();
        lock?.release();
      }
      assert.equal(existsSync(path.join(dir, LOCK_FILE)), false);
    }
  });

  it("refuses while another live process holds the lock, naming its pid and command, and leaves its lock alone", async () => {
    sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    await new Promise((r) => sleeper!.once("spawn", r));
    const record = { pid: sleeper.pid!, startTime: startTimeOf(sleeper.pid!), holder: "sigil serve", token: "theirs" };
    writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(record));
    await assert.rejects(openDatabase({ dataDir: dir }), {
      name: "EmbeddedDatabaseInUseError",
      message: `the embedded database in ${dir} is in use by process ${sleeper.pid} (sigil serve); stop it or use the admin API`,
    });
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, LOCK_FILE), "utf8")), record);
    assert.equal(existsSync(path.join(dir, "pgdata")), false, "PGlite never opened the directory");
  });
});
