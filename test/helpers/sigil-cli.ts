import { spawn } from "node:child_process";
import path from "node:path";

export const SIGIL_BIN = path.resolve("bin/sigil.js");

export interface SigilRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `sigil` binary (node bin/sigil.js) with `env` over the
 * test process's environment, feeding `stdin` (default: nothing).
 * SIGIL_MASTER_KEY_FILE is dropped from the inherited environment so a
 * test's SIGIL_MASTER_KEY is never refused as "set only one".
 */
export function runSigil(args: string[], env: Record<string, string>, stdin?: string): Promise<SigilRun> {
  return new Promise((resolve, reject) => {
    const base = { ...process.env };
    delete base.SIGIL_MASTER_KEY_FILE;
    const child = spawn(process.execPath, [SIGIL_BIN, ...args], { env: { ...base, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? "");
  });
}
