/** Test helper: run the real openssl binary on temp files. Missing openssl fails loudly. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface OpensslResult {
  status: number;
  stdout: string;
  stderr: string;
  /** stdout + stderr */
  out: string;
}

export class TempDir {
  readonly dir = mkdtempSync(path.join(tmpdir(), "sigil-ca-test-"));
  file(name: string, content?: string | Buffer): string {
    const p = path.join(this.dir, name);
    if (content !== undefined) writeFileSync(p, content);
    return p;
  }
  read(name: string): Buffer {
    return readFileSync(path.join(this.dir, name));
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function openssl(args: string[], input?: string): OpensslResult {
  const r = spawnSync("openssl", args, { encoding: "utf8", input, timeout: 60_000 });
  if (r.error) throw new Error(`cannot run openssl (required by these tests): ${r.error.message}`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, out: r.stdout + r.stderr };
}

/** runs openssl and throws with its output when it exits non-zero */
export function opensslOk(args: string[]): string {
  const r = openssl(args);
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")} failed (${r.status}):\n${r.out}`);
  return r.stdout;
}
