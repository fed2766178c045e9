/**
 * What a CLI command may touch of its process: output streams, environment,
 * stdin and a stop signal. `run(argv, io)` (main.ts) passes it to every
 * command, so the whole CLI runs in-process (tests call `run` with string
 * buffers) and only bin/sigil.js knows the real process: it passes
 * process.stdout/stderr/stdin/env, turns SIGINT/SIGTERM into `signal`, and
 * sets the exit code. No command calls process.exit or writes to
 * process.stdout itself.
 */
import { getEventListeners } from "node:events";
import { constants } from "node:os";

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** the environment the command reads (config, $SIGIL_SERVER, credentials' location, passwords) */
  env: NodeJS.ProcessEnv;
  /** absent: nothing to read (as if stdin were empty and not a terminal) */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** aborted when the command should stop (SIGINT/SIGTERM): `sigil serve` shuts down, `sigil audit watch` ends */
  signal?: AbortSignal;
}

/** All of stdin as text, without the final newline (passwords piped in). */
export async function readStdin(io: CliIo): Promise<string> {
  if (!io.stdin) return "";
  const chunks: Buffer[] = [];
  for await (const c of io.stdin) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

/** Resolves when `signal` aborts; never, without a signal. */
export function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/**
 * The real process's io, for bin/sigil.js (and main.ts run directly):
 * SIGINT/SIGTERM abort `signal` when the running command listens for it
 * (serve shuts down cleanly, audit watch ends); for any other command, and
 * on a second signal, the process ends at once as it would without a
 * handler (exit 128 + signal number).
 */
export function processIo(): CliIo {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted || getEventListeners(controller.signal, "abort").length === 0) {
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    // lazily: touching process.stdin opens it
    get stdin() {
      return process.stdin;
    },
    signal: controller.signal,
  };
}

/** "--help", "-h" or "help" in a command word's place: print the usage, exit 0, do nothing else. */
export function isHelpWord(word: string | undefined): boolean {
  return word === "--help" || word === "-h" || word === "help";
}
