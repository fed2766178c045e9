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
  /** self time by what the sample was doing, judged from its whole stack (see CATEGORIES) */
  categories: Array<{ category: string; selfMs: number }>;
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

/**
 * What a sample was doing: the first category (in this order) whose pattern
 * matches a frame of its stack, walking from the innermost frame outwards;
 * the generic ones (node's HTTP/net internals, async_hooks) only when
 * nothing more specific matched. So a socket write issued by the pg driver
 * counts as "pg socket write", one issued by Koa's response as "HTTP response
 * write".
 */
const CATEGORIES: Array<[string, RegExp, boolean?]> = [
  ["pg socket write", /node_modules\/pg\/lib\/connection/],
  ["HTTP response write", /_http_outgoing|_http_server/],
  ["validator DNS", /node:dns|cares_wrap|resolve4|resolve6/],
  ["validator HTTP fetch", /\/src\/validation\//],
  ["JWS verify (jose / WebCrypto)", /jose\/dist/],
  ["CSR parse + checks", /\/src\/ca\/csr|\/src\/policy\//],
  ["leaf signing", /\/src\/ca\/signer/],
  ["MikroORM unit of work / flush", /@mikro-orm\/core\/unit-of-work/],
  ["MikroORM EntityManager", /@mikro-orm\/core\/EntityManager/],
  ["MikroORM/knex query building", /@mikro-orm\/knex|node_modules\/knex\//],
  ["MikroORM other", /@mikro-orm/],
  ["pg driver (results)", /node_modules\/(pg|pg-protocol)\//],
  ["Koa + router", /node_modules\/(koa|@koa|koa-compose)\//],
  ["Sigil code (src/)", /\/src\//],
  ["bench probe", /\/bench\/lib\//],
  ["node HTTP / net", /_http_|node:net/, true],
  ["async_hooks (AsyncLocalStorage)", /async_hooks/, true],
];

function categorize(id: number, byId: Map<number, ProfileNode>, parent: Map<number, number>): string {
  const leaf = byId.get(id)!.callFrame.functionName;
  if (leaf === "(garbage collector)") return "GC";
  if (leaf === "(program)") return "(program: native, outside JS)";
  for (const generic of [false, true]) {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const text = `${f.url} ${f.functionName}`;
      for (const [name, re, isGeneric] of CATEGORIES) if ((generic || !isGeneric) && re.test(text)) return name;
    }
  }
  return "other (microtasks, timers, native)";
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const cats = new Map<string, number>();
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
    const cat = categorize(id, byId, parent);
    cats.set(cat, (cats.get(cat) ?? 0) + us / 1000);
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
    categories: [...cats.entries()].map(([category, selfMs]) => ({ category, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
    functions: [...fns.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top),
    modules: [...mods.entries()].map(([module, selfMs]) => ({ module, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}
