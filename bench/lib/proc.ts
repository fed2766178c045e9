/**
 * CPU time of processes from /proc/<pid>/stat (Linux): utime + stime of the
 * whole thread group, in milliseconds. A meter tracks a changing set of pids
 * (the server process and its PostgreSQL backends, which the connection pool
 * may open and close during a run).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let ticksPerSecond: number | undefined;

/** sysconf(_SC_CLK_TCK), normally 100 */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of `pid` in ms, or undefined when the process is gone */
export function cpuMs(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // the command name (field 2) is parenthesised and may contain spaces: split after the last ')'
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime is field 14, stime field 15
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / clockTicks();
}

/**
 * CPU spent by a group of processes between start() and stop(). Pids are
 * added with track(); sample() should be called now and then so that a
 * process that exits mid-run still counts up to its last reading.
 */
export class CpuMeter {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();

  /** start counting `pid`; a pid first seen after start() counts from `baseline` (0: all its CPU happened in the window) */
  track(pid: number, baseline?: number): void {
    if (this.first.has(pid)) return;
    const now = cpuMs(pid);
    if (now === undefined) return;
    this.first.set(pid, baseline ?? now);
    this.last.set(pid, now);
  }

  sample(): void {
    for (const pid of this.first.keys()) {
      const v = cpuMs(pid);
      if (v !== undefined) this.last.set(pid, v);
    }
  }

  /** ms of CPU since tracking began, over all tracked pids */
  total(): number {
    this.sample();
    let sum = 0;
    for (const [pid, f] of this.first) sum += (this.last.get(pid) ?? f) - f;
    return sum;
  }

  get pids(): number[] {
    return [...this.first.keys()];
  }
}

/** busy CPU of the whole machine (all cores, everything but idle and iowait) in ms, from /proc/stat */
export function machineBusyMs(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return ((total - idle) * 1000) / clockTicks();
}
