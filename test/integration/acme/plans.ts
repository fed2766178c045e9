/**
 * The plans a hot statement gets on a test database, for the plan checks
 * (hot-path-explain, hot-path-fresh-plans, cleanup-explain): the statement
 * prepared as the server prepares it (a named statement with `$n`), then
 * EXPLAINed with its values as a custom plan and as the generic plan a
 * prepared statement may switch to.
 */
import { createRequire } from "node:module";
import type pg from "pg";
import type { Statement } from "../../../src/db/sql.js";

const require = createRequire(import.meta.url);
const { prepareValue } = require("pg/lib/utils.js") as { prepareValue: (v: unknown) => unknown };

/** the custom, then the generic plan (EXPLAIN format json's Plan node) of `st` with `values` */
export async function customAndGenericPlans<P>(db: pg.Client, prefix: string, st: Statement, values: readonly unknown[]): Promise<Array<{ mode: string; plan: P }>> {
  const name = `${prefix}_${st.name}`;
  await db.query(`prepare ${name} as ${st.text}`);
  try {
    const args = values.map((v) => {
      const p = prepareValue(v);
      return p === null || p === undefined ? "null" : db.escapeLiteral(String(p));
    });
    const out: Array<{ mode: string; plan: P }> = [];
    for (const mode of ["force_custom_plan", "force_generic_plan"]) {
      await db.query(`set plan_cache_mode = ${mode}`);
      const r = await db.query<{ "QUERY PLAN": Array<{ Plan: P }> }>(`explain (format json) execute ${name}${args.length ? `(${args.join(", ")})` : ""}`);
      out.push({ mode, plan: r.rows[0]!["QUERY PLAN"][0]!.Plan });
    }
    return out;
  } finally {
    await db.query(`deallocate ${name}`);
    await db.query(`reset plan_cache_mode`);
  }
}
