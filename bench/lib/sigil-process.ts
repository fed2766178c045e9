/**
 * `sigil serve` as a separate child process (so its CPU can be read from
 * /proc/<pid>/stat apart from the load generator's), with the probe
 * (server-probe.ts) preloaded for query counts and on-demand CPU profiles.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface SigilProcess {
  pid: number;
  child: ChildProcess;
  /** stdout + stderr so far (the banner, warnings) */
  output(): string;
  /** SQL statements the server has sent so far, by text */
  queries(): Promise<{ total: number; byText: Record<string, number> }>;
  /** restarts the event-loop delay histogram */
  eventLoopReset(): Promise<void>;
  /** event-loop delay since the last reset, ms */
  eventLoopDelay(): Promise<{ p50: number; p99: number; max: number }>;
  profileStart(): Promise<void>;
  /** writes the profile of the window since profileStart() to `file` */
  profileStop(file: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startSigilProcess(env: Record<string, string>, opts: { nodeArgs?: string[]; startTimeoutMs?: number } = {}): Promise<SigilProcess> {
  const probe = path.join(REPO_ROOT, "bench/lib/server-probe.ts");
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--import", probe, ...(opts.nodeArgs ?? []), path.join(REPO_ROOT, "src/cli/main.ts"), "serve"],
    { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env }, stdio: ["ignore", "pipe", "pipe", "ipc"] },
  );
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`sigil serve did not come up within ${opts.startTimeoutMs ?? 60_000} ms:\n${out}`));
    }, opts.startTimeoutMs ?? 60_000);
    const onData = () => {
      if (out.includes("Sigil is up")) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`sigil serve exited with ${code} before coming up:\n${out}`));
    });
  });

  const ask = <T>(msg: object, reply: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMsg = (m: { op?: string }) => {
        if (m?.op !== reply) return;
        child.off("message", onMsg);
        resolve(m as T);
      };
      child.on("message", onMsg);
      if (!child.send(msg)) reject(new Error("cannot talk to the sigil process"));
    });

  return {
    pid: child.pid!,
    child,
    output: () => out,
    queries: () => ask({ op: "queries" }, "queries"),
    eventLoopReset: () => ask<void>({ op: "eld-reset" }, "eld-reset"),
    eventLoopDelay: () => ask({ op: "eld" }, "eld"),
    profileStart: () => ask<void>({ op: "profile-start" }, "profile-started"),
    profileStop: (file) => ask<void>({ op: "profile-stop", file }, "profile-stopped"),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
        child.once("exit", () => {
          clearTimeout(t);
          resolve();
        });
        child.kill("SIGTERM");
      });
    },
  };
}
