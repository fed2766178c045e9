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

/** the fields of an EXPLAIN (format json) plan node the checks read */
export interface PlanNode {
  "Node Type": string;
  "Total Cost": number;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

/** the node and every node below it, depth first */
export function planNodes(node: PlanNode, out: PlanNode[] = []): PlanNode[] {
  out.push(node);
  for (const p of node.Plans ?? []) planNodes(p, out);
  return out;
}

/** the tables of `tables` that the plan reads with a Seq Scan, once per scan */
export function seqScannedTables(plan: PlanNode, tables: ReadonlySet<string>): string[] {
  return planNodes(plan).flatMap((n) => (n["Node Type"] === "Seq Scan" && n["Relation Name"] && tables.has(n["Relation Name"]) ? [n["Relation Name"]] : []));
}

/** the custom, then the generic plan (EXPLAIN format json's Plan node) of `st` with `values` */
export async function customAndGenericPlans(db: pg.Client, prefix: string, st: Statement, values: readonly unknown[]): Promise<Array<{ mode: string; plan: PlanNode }>> {
  const name = `${prefix}_${st.name}`;
  await db.query(`prepare ${name} as ${st.text}`);
  try {
    const args = values.map((v) => {
      const p = prepareValue(v);
      return p === null || p === undefined ? "null" : db.escapeLiteral(String(p));
    });
    const out: Array<{ mode: string; plan: PlanNode }> = [];
    for (const mode of ["force_custom_plan", "force_generic_plan"]) {
      await db.query(`set plan_cache_mode = ${mode}`);
      const r = await db.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(`explain (format json) execute ${name}${args.length ? `(${args.join(", ")})` : ""}`);
      out.push({ mode, plan: r.rows[0]!["QUERY PLAN"][0]!.Plan });
    }
    return out;
  } finally {
    await db.query(`deallocate ${name}`);
    await db.query(`reset plan_cache_mode`);
  }
}
