/**
 * Summarises a V8 .cpuprofile: self time by function and by module
 * (a node_modules package, a src/ directory, node internals, GC, ...).
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** ms of sampled CPU (idle excluded) */
  busyMs: number;
  functions: Array<{ name: string; where: string; module: string; selfMs: number }>;
  modules: Array<{ module: string; selfMs: number }>;
}

export function moduleOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === "(garbage collector)") return "(gc)";
    if (functionName === "(program)") return "(program: native, outside JS)";
    if (functionName === "(idle)") return "(idle)";
    return "(native)";
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith("node:")) return "node:" + url.slice(5).split("/")[0];
  const src = /\/src\/([^/]+)\//.exec(url);
  if (src) return `src/${src[1]}`;
  const bench = /\/bench\//.exec(url);
  if (bench) return "bench probe";
  return url.replace(/^file:\/\//, "");
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    // the delta before a sample is the time attributed to it
    const dt = p.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  const fns = new Map<string, { name: string; where: string; module: string; selfMs: number }>();
  const mods = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === "(idle)") continue;
    busy += us;
    const module = moduleOf(url, functionName);
    const where = url ? `${url.replace(/^file:\/\/.*?\/(node_modules|src)\//, "$1/")}:${lineNumber + 1}` : "";
    const key = `${functionName}@${where}`;
    const f = fns.get(key) ?? { name: functionName || "(anonymous)", where, module, selfMs: 0 };
    f.selfMs += us / 1000;
    fns.set(key, f);
    mods.set(module, (mods.get(module) ?? 0) + us / 1000);
  }
  return {
    busyMs: busy / 1000,
    functions: [...fns.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top),
    modules: [...mods.entries()].map(([module, selfMs]) => ({ module, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}
