import { spawn } from "node:child_process";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { run } from "../../src/cli/main.js";

export const SIGIL_BIN = path.resolve("bin/sigil.js");

export interface SigilRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A writable stream that keeps what is written, as text. */
export class Collector extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/**
 * The environment a CLI run sees: the test process's, minus
 * SIGIL_MASTER_KEY_FILE (so a test's SIGIL_MASTER_KEY is never refused as
 * "set only one"), plus `env`.
 */
export function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = { ...process.env };
  delete base.SIGIL_MASTER_KEY_FILE;
  return { ...base, ...env };
}

/**
 * Runs `sigil ARGS...` in this process through the CLI's run(argv, io)
 * entry, as the binary would, with `env` over the test process's
 * environment and `stdin` as its input (default: empty). `signal` stops a
 * long-running command (audit watch) as SIGINT would.
 */
export async function runSigil(args: string[], env: Record<string, string>, stdin?: string, signal?: AbortSignal): Promise<SigilRun> {
  const stdout = new Collector();
  const stderr = new Collector();
  const code = await run(args, { stdout, stderr, env: cliEnv(env), stdin: Readable.from([Buffer.from(stdin ?? "")]), signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/**
 * Runs the real binary (node bin/sigil.js): only for the smoke tests that
 * the process wiring (argv, streams, exit code) works; everything else uses
 * runSigil, which is the same code without a TypeScript compile per call.
 */
export function spawnSigil(args: string[], env: Record<string, string>, stdin?: string): Promise<SigilRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SIGIL_BIN, ...args], { env: cliEnv(env), stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? "");
  });
}
