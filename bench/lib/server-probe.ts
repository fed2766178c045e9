/**
 * Preloaded into the benchmarked Sigil process (`node --import tsx --import
 * bench/lib/server-probe.ts src/cli/main.ts serve`), talking to the
 * benchmark over the IPC channel:
 *
 * - counts every SQL statement sent through node-postgres (the driver under
 *   MikroORM/knex), and with BENCH_PROBE_SQL_TEXT=1 also by statement shape
 *   (literals folded), so the benchmark can report queries per certificate
 *   without pg_stat_statements (not preloaded on the shared test server);
 * - starts / stops the V8 CPU profiler on request, so a profile covers the
 *   measurement window only (not start-up, migrations or the bootstrap).
 *
 * - measures the event loop's delay (perf_hooks, a 2 ms timer; reported as lateness beyond it): how long
 *   ready work waits, i.e. whether the process is saturated.
 *
 * Messages: {op:"queries"} -> {op:"queries", total, byText};
 * {op:"eld-reset"}, {op:"eld"} -> {op:"eld", p50, p99, max} (ms);
 * {op:"profile-start"}, {op:"profile-stop", file} -> {op:"profile-stopped", file}.
 * Without an IPC channel it does nothing.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { monitorEventLoopDelay } from "node:perf_hooks";
import pg from "pg";

type Msg = { op: "queries" } | { op: "profile-start" } | { op: "profile-stop"; file: string } | { op: "eld-reset" } | { op: "eld" };

/**
 * MikroORM/knex send parameters inlined in the text; fold literals so that
 * one statement shape is one key (as pg_stat_statements would).
 */
function normalizeSql(text: string): string {
  return text
    .replace(/\s+/g, " ")
    .replace(/'(?:[^']|'')*'/g, "?")
    .replace(/\b\d+(?:\.\d+)?\b/g, "?")
    .replace(/\(\?(?:, \?)+\)(?:, \(\?(?:, \?)+\))+/g, "(?, ...), ...")
    .replace(/\(\?(?:, \?)+\)/g, "(?, ...)")
    .trim()
    .slice(0, 400);
}

if (process.send) {
  // folding statement texts costs a few µs per query: only when asked (BENCH_PROBE_SQL_TEXT=1)
  const byStatement = process.env.BENCH_PROBE_SQL_TEXT === "1";
  let total = 0;
  const byText = new Map<string, number>();
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function patchedQuery(this: unknown, ...args: unknown[]) {
    const q = args[0];
    // a pipeline (src/db/sql.ts) sends several statements in one round trip: each counts
    const pipelined = q && typeof q === "object" && "pipelineTexts" in q ? ((q as { pipelineTexts: string[] }).pipelineTexts) : undefined;
    const texts = pipelined ?? [typeof q === "string" ? q : q && typeof q === "object" && "text" in q ? String((q as { text: unknown }).text) : "?"];
    total += texts.length;
    if (byStatement) {
      for (const text of texts) {
        const key = normalizeSql(text);
        if (byText.size < 2000 || byText.has(key)) byText.set(key, (byText.get(key) ?? 0) + 1);
      }
    }
    return original.apply(this, args);
  };

  const RESOLUTION_MS = 2;
  const eld = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  const late = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  eld.enable();
  let session: Session | undefined;
  process.on("message", (m: Msg) => {
    void (async () => {
      switch (m.op) {
        case "queries":
          process.send?.({ op: "queries", total, byText: Object.fromEntries(byText) });
          break;
        case "eld-reset":
          eld.reset();
          process.send?.({ op: "eld-reset" });
          break;
        case "eld":
          // the histogram holds the timer's period too: report only the lateness beyond it
          process.send?.({ op: "eld", p50: late(eld.percentile(50)), p99: late(eld.percentile(99)), max: late(eld.max) });
          break;
        case "profile-start":
          session = new Session();
          session.connect();
          await session.post("Profiler.enable");
          await session.post("Profiler.setSamplingInterval", { interval: 200 });
          await session.post("Profiler.start");
          process.send?.({ op: "profile-started" });
          break;
        case "profile-stop": {
          if (!session) break;
          const { profile } = await session.post("Profiler.stop");
          writeFileSync(m.file, JSON.stringify(profile));
          session.disconnect();
          session = undefined;
          process.send?.({ op: "profile-stopped", file: m.file });
          break;
        }
      }
    })();
  });
  // the IPC channel must not keep a stopping server alive
  process.channel?.unref();
}
