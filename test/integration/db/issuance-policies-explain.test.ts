/**
 * Every admin issuance reads the issuance policies that apply to its caller
 * (src/db/store/issuance-policies.ts, applying). With thousands of
 * organizations, users and service accounts holding policies, that read
 * finds its rows by the three unique indexes, never by a Seq Scan of
 * issuance_policies: the custom plan for realistic parameters and the
 * generic plan a named prepared statement may switch to.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { migrate, openDatabase, type Database } from "../../../src/db/orm.js";
import { ISSUANCE_POLICY_STATEMENTS } from "../../../src/db/store/issuance-policies.js";
import { createTestDatabase } from "../../helpers/postgres.js";

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  Plans?: PlanNode[];
}

function seqScansOfPolicies(node: PlanNode, out: string[] = []): string[] {
  if (node["Node Type"] === "Seq Scan" && node["Relation Name"] === "issuance_policies") out.push(node["Relation Name"]);
  for (const p of node.Plans ?? []) seqScansOfPolicies(p, out);
  return out;
}

describe("issuance policies: the per-issuance read is index-backed", function () {
  this.timeout(120_000);
  let db: { url: string; drop(): Promise<void> };
  let database: Database;
  let client: pg.Client;

  before(async () => {
    db = await createTestDatabase("sigil_policy_explain");
    database = await openDatabase({ databaseUrl: db.url, dataDir: "" });
    await migrate(database.orm);
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });

  after(async () => {
    await client?.end();
    await database?.close();
    await db?.drop();
  });

  it("no Seq Scan of issuance_policies among 9,000 policies (custom and generic plans)", async () => {
    const N = 3000;
    // the policies alone matter here: the foreign keys' triggers are off for the fill (their targets are not created)
    await client.query("set session_replication_role = replica");
    await client.query(
      `insert into issuance_policies (id, organization_id, user_id, service_account_id, dns_names, created_at, updated_at)
       select gen_random_uuid(), gen_random_uuid(), null::uuid, null::uuid, '["*.example.com"]'::jsonb, now(), now() from generate_series(1, $1)
       union all
       select gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), null::uuid, '[]'::jsonb, now(), now() from generate_series(1, $1)
       union all
       select gen_random_uuid(), gen_random_uuid(), null::uuid, gen_random_uuid(), '[]'::jsonb, now(), now() from generate_series(1, $1)`,
      [N],
    );
    await client.query("set session_replication_role = origin");
    await client.query("analyze issuance_policies");
    const sql = ISSUANCE_POLICY_STATEMENTS.applying.text;
    const [org] = (await client.query<{ organization_id: string }>(`select organization_id from issuance_policies where user_id is null and service_account_id is null limit 1`)).rows;
    const [user] = (await client.query<{ user_id: string }>(`select user_id from issuance_policies where user_id is not null limit 1`)).rows;
    for (const params of [
      [org!.organization_id, user!.user_id, null],
      [org!.organization_id, null, randomUUID()],
      [randomUUID(), null, null],
    ]) {
      const plan = (await client.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(`explain (format json) ${sql}`, params)).rows[0]!["QUERY PLAN"][0]!.Plan;
      assert.deepEqual(seqScansOfPolicies(plan), [], `custom plan for ${JSON.stringify(params)}: ${JSON.stringify(plan)}`);
    }
    // the generic plan (what a prepared statement may switch to after five executions)
    await client.query(`prepare applying(uuid, uuid, uuid) as ${sql}`);
    await client.query("set plan_cache_mode = force_generic_plan");
    const generic = (await client.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(`explain (format json) execute applying('${org!.organization_id}', '${user!.user_id}', null)`)).rows[0]!["QUERY PLAN"][0]!.Plan;
    assert.deepEqual(seqScansOfPolicies(generic), [], `generic plan: ${JSON.stringify(generic)}`);
  });
});
