import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, linkSync, unlinkSync, writeFileSync, statSync } from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { SigilError } from "../core/errors.js";

/**
 * The embedded default: PGlite (PostgreSQL compiled to WASM) with its data in
 * `<dataDir>/pgdata`, served on a loopback socket so the ORM talks to it with
 * the same pg driver, SQL and migrations as real PostgreSQL.
 *
 * Why the socket and not a PGlite ORM driver: MikroORM 6 has no maintained
 * PGlite driver, and going through the wire protocol keeps one code path
 * (same driver, same migrations, same transactions). PGlite is one session,
 * so the server accepts one connection and the ORM pool is sized 1: queries
 * of different transactions can never interleave inside one session.
 *
 * One process per data directory: PGlite keeps its own buffers and WAL in
 * memory and has no postmaster lock, so a second process on the same files
 * overwrites the first one's pages (a CLI command once reported success while
 * the running server's data vanished). The directory is locked before PGlite
 * opens it (acquireDataDirLock below) and unlocked after PGlite closed it.
 */
export interface EmbeddedDatabase {
  /** postgres:// URL of the loopback socket */
  url: string;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  /** what holds the directory, for the message a second process prints (default: this process's command line) */
  holder?: string;
}

export async function startEmbeddedDatabase(dataDir: string, opts: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  const pgdata = path.join(dataDir, "pgdata");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lock = acquireDataDirLock(dataDir, opts.holder);
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    db = await PGlite.create(pgdata);
    server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 1 });
    await server.start();
  } catch (e) {
    await server?.stop().catch(() => undefined);
    await db?.close().catch(() => undefined);
    lock.release();
    throw e;
  }
  const conn = server.getServerConn();
  const started = { db, server };
  let closed: Promise<void> | undefined;
  return {
    url: `postgresql://postgres@${conn}/postgres`,
    close() {
      closed ??= (async () => {
        try {
          await started.server.stop();
          await started.db.close();
        } finally {
          // only once PGlite has flushed and let go of the files
          lock.release();
        }
      })();
      return closed;
    },
  };
}

/** The lock file in the data directory, next to pgdata/. */
export const LOCK_FILE = "sigil.lock";

/** A second process (or a second open in this one) wanted a data directory that is open. */
export class EmbeddedDatabaseInUseError extends SigilError {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly holder: string,
  ) {
    super("unavailable", `the embedded database in ${dataDir} is in use by ${pid > 0 ? `process ${pid}` : "another process"} (${holder}); stop it or use the admin API`);
    this.name = "EmbeddedDatabaseInUseError";
  }
}

/** What the lock file holds: who has the directory, and a token only that open knows. */
interface LockRecord {
  pid: number;
  /** the holder's start time (Linux: clock ticks after boot, /proc/<pid>/stat), to tell a reused pid apart */
  startTime?: string;
  holder: string;
  token: string;
  createdAt: string;
}

export interface DataDirLock {
  release(): void;
}

/** Tokens of the locks this process holds (a lock with our pid but another token is a previous process's). */
const heldTokens = new Set<string>();

/** A lock file younger than this whose content cannot be read yet is still being written by its creator. */
const UNREADABLE_GRACE_MS = 10_000;

/** Field 22 of /proc/<pid>/stat (start time); undefined where there is no procfs. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // the command name (field 2) is in parentheses and may contain spaces
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}

function parseRecord(text: string): LockRecord | undefined {
  try {
    const r = JSON.parse(text) as Partial<LockRecord>;
    if (typeof r.pid !== "number" || !Number.isInteger(r.pid) || r.pid <= 0 || typeof r.token !== "string") return undefined;
    return { pid: r.pid, startTime: typeof r.startTime === "string" ? r.startTime : undefined, holder: typeof r.holder === "string" ? r.holder : "unknown", token: r.token, createdAt: String(r.createdAt ?? "") };
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote `r` still runs. */
function holderAlive(r: LockRecord): boolean {
  if (r.pid === process.pid) return heldTokens.has(r.token);
  try {
    process.kill(r.pid, 0);
  } catch (e) {
    // EPERM: it runs, under another user
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // the pid runs, but is it the same process? (pids are reused after a crash or a container restart)
  const now = r.startTime === undefined ? undefined : startTimeOf(r.pid);
  return now === undefined || now === r.startTime;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** The default holder description: "sigil serve", "sigil migrate", else this process's script. */
function defaultHolder(): string {
  const script = path.basename(process.argv[1] ?? "node").replace(/\.[cm]?[jt]s$/, "");
  return [script === "main" ? "sigil" : script, process.argv[2]].filter(Boolean).join(" ");
}

/**
 * Locks `dataDir` for this process: creates `<dataDir>/sigil.lock` exclusively
 * (O_CREAT|O_EXCL, so of two processes exactly one wins) with our pid, start
 * time and a random token. A lock whose process is gone (dead pid, or a pid
 * now used by another process) is stale and taken over; a live one throws
 * EmbeddedDatabaseInUseError naming the holder. No native module: plain
 * files, so it works wherever the data directory does (local filesystems;
 * the embedded database is for one host anyway).
 */
export function acquireDataDirLock(dataDir: string, holder = defaultHolder()): DataDirLock {
  const file = path.join(dataDir, LOCK_FILE);
  const mine: LockRecord = { pid: process.pid, startTime: startTimeOf(process.pid), holder, token: randomUUID(), createdAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(mine)}\n`, { flag: "wx", mode: 0o600 });
      return held(file, mine.token);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const text = readText(file);
    if (text === undefined) continue; // released meanwhile: try again
    const theirs = parseRecord(text);
    if (theirs === undefined) {
      // empty or torn: its creator may be between create and write
      if (ageMs(file) < UNREADABLE_GRACE_MS) throw new EmbeddedDatabaseInUseError(dataDir, 0, "its lock file is being written");
    } else if (holderAlive(theirs)) {
      throw new EmbeddedDatabaseInUseError(dataDir, theirs.pid, theirs.holder);
    }
    // stale: move it aside (rename is atomic, so of two processes taking over only one gets it) ...
    const aside = `${file}.stale-${process.pid}-${randomUUID()}`;
    try {
      renameSync(file, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw e;
    }
    // ... and make sure it was the stale lock we judged, not a fresh one created after our read
    if (readText(aside) !== text) {
      try {
        linkSync(aside, file); // put the live lock back (fails if yet another one exists)
      } catch {
        /* another process holds a lock now; the next attempt reports it */
      }
    }
    unlinkSync(aside);
  }
  throw new SigilError("unavailable", `could not lock the embedded database in ${dataDir} (${file} keeps changing); is another process starting?`);
}

function held(file: string, token: string): DataDirLock {
  heldTokens.add(token);
  const releaseSync = () => {
    process.off("exit", releaseSync);
    if (!heldTokens.delete(token)) return;
    // remove the file only while it is still ours
    const r = parseRecord(readText(file) ?? "");
    if (r?.token === token) {
      try {
        unlinkSync(file);
      } catch {
        /* already gone */
      }
    }
  };
  // a process that exits without closing (an uncaught error) still unlocks; a SIGKILL leaves a stale lock
  process.on("exit", releaseSync);
  return { release: releaseSync };
}
