/**
 * The hot statements' plans on a database that was never analyzed: a new
 * installation, or any database in the minute before autovacuum first looks
 * at its tables. Partial indexes built on empty tables (the clean-up job's
 * expiry indexes on acme_authorizations and acme_orders) then keep
 * reltuples = 0 and look free to the planner, which read every live
 * authorization or order through them instead of the row's key (issue 11:
 * 737 buffers per newOrder, 227 per challenge start after a 15 s benchmark).
 * src/db/store/filter-only.ts keeps status and expiry out of the ways to find
 * rows; this test holds every statement that checks them, custom and generic
 * plan, to its key: no expiry index, no Seq Scan of a table that grows.
 * (hot-path-explain.test.ts checks the same statements on analyzed tables.)
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { ACME_AUTHORIZATION_STATEMENTS } from "../../../src/db/store/acme-authorizations.js";
import { ACME_NONCE_STATEMENTS } from "../../../src/db/store/nonces.js";
import { ACME_ORDER_STATEMENTS, orderWriteParams, reuseParams, type NewOrderRows } from "../../../src/db/store/acme-orders.js";
import { auditRowsParam, type AuditRow } from "../../../src/db/store/audit-sql.js";
import { certificateInsertParams, type NewCertificateRow } from "../../../src/db/store/certificates.js";
import type { Statement } from "../../../src/db/sql.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { customAndGenericPlans, planNodes, type PlanNode } from "./plans.js";
import { RawAcme } from "./raw-client.js";

/** live (pending or valid, unexpired) authorizations and orders of other accounts */
const LIVE = 3000;
const GROWING = ["acme_orders", "acme_authorizations", "acme_challenges", "acme_order_authorizations", "certificates"];
const TABLES = [...GROWING, "acme_accounts", "audit_log"];
const EXPIRY_INDEXES = new Set(["acme_authorizations_expiring_index", "acme_orders_expiring_index"]);


/** what a plan reads that it must not: expiry indexes, Seq Scans of growing tables */
function offences(plan: PlanNode): string[] {
  return planNodes(plan).flatMap((n) => [
    ...(n["Index Name"] && EXPIRY_INDEXES.has(n["Index Name"]) ? [`${n["Node Type"]} using ${n["Index Name"]}`] : []),
    ...(n["Node Type"] === "Seq Scan" && GROWING.includes(n["Relation Name"] ?? "") ? [`Seq Scan on ${n["Relation Name"]}`] : []),
  ]);
}

describe("ACME hot path: key lookups on a database never analyzed", function () {
  this.timeout(120_000);
  let server: AcmeTestServer;
  let db: pg.Client;
  const validator = new FakeValidator();
  const ids = {} as { account: string; org: string; ca: string; dir: string; order: string; authz: string; challenge: string };

  before(async () => {
    server = await startAcmeTestServer({ validator });
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
    // this test's own database: autovacuum must not analyze it while the test runs
    for (const t of TABLES) await db.query(`alter table ${t} set (autovacuum_enabled = false)`);
    const c = await RawAcme.create(server.directoryUrl());
    await c.register();
    ids.account = c.kid!.split("/").pop()!;
    const [d] = (await db.query<{ id: string; organization_id: string; ca_id: string }>(`select id, organization_id, ca_id from acme_directories where name = 'default'`)).rows;
    Object.assign(ids, { dir: d!.id, org: d!.organization_id, ca: d!.ca_id });
    // other accounts' live authorizations and orders (half pending, half valid/ready), each with its challenge and order row
    await db.query(
      `with acc as (insert into acme_accounts (id, directory_id, organization_id, key_thumbprint, jwk, status, contact, terms_of_service_agreed, created_at, updated_at)
                     select gen_random_uuid(), $2, $3, 'fresh-' || i, '{}'::jsonb, 'valid', '[]'::jsonb, true, now(), now() from generate_series(1, 50) i returning id),
            accs as (select array_agg(id) ids from acc),
            g as (select i, gen_random_uuid() o, gen_random_uuid() a, gen_random_uuid() ch from generate_series(1, $1::int) i),
            az as (insert into acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires, created_at, updated_at)
                    select a, (select ids[1 + i % 50] from accs), 'dns', 'f' || i || '.example.com', false, case when i % 2 = 0 then 'pending' else 'valid' end,
                           now() + interval '20 days', now(), now() from g),
            chs as (insert into acme_challenges (id, authorization_id, type, token, status, attempts, created_at, updated_at)
                    select ch, a, 'http-01', md5(ch::text), case when i % 2 = 0 then 'pending' else 'valid' end, 0, now(), now() from g),
            o as (insert into acme_orders (id, account_id, directory_id, status, identifiers, authorization_ids, expires, created_at, updated_at)
                    select o, (select ids[1 + i % 50] from accs), $2, case when i % 2 = 0 then 'pending' else 'ready' end,
                           jsonb_build_array(jsonb_build_object('type', 'dns', 'value', 'f' || i || '.example.com')), jsonb_build_array(a),
                           now() + interval '7 days', now(), now() from g),
            oa as (insert into acme_order_authorizations (order_id, authorization_id) select o, a from g)
       select count(*) from g`,
      [LIVE, ids.dir, ids.org],
    );
    // today's order, through the server
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "fresh.example.com" }] });
    ids.order = order.headers.get("location")!.split("/").pop()!;
    const authz = await c.post(order.body.authorizations[0], undefined);
    ids.authz = (order.body.authorizations[0] as string).split("/").pop()!;
    ids.challenge = authz.body.challenges[0].url.split("/").pop();
  });

  after(async () => {
    await db?.end();
    await server?.stop();
  });

  const plans = (st: Statement, values: readonly unknown[]) => customAndGenericPlans(db, "fresh", st, values);

  it("the tables hold the live rows and were never analyzed", async () => {
    const r = await db.query<{ relname: string; n_live_tup: string; analyzed: boolean }>(
      `select relname, n_live_tup, (last_analyze is not null or last_autoanalyze is not null) analyzed from pg_stat_user_tables where relname = any($1)`,
      [TABLES],
    );
    for (const t of r.rows) assert.equal(t.analyzed, false, `${t.relname} was analyzed`);
    const [n] = (await db.query<{ n: string }>(`select count(*) n from acme_authorizations where status in ('pending', 'valid')`)).rows;
    assert.ok(Number(n!.n) > LIVE);
  });

  const now = () => new Date();
  const err = JSON.stringify({ type: "urn:ietf:params:acme:error:unauthorized", detail: "x" });
  const audit = (): AuditRow => ({ id: randomUUID(), createdAt: new Date(), action: "acme_order_create", username: "acme", resourceType: "acme_order", detail: {} });
  function newOrderRows(): NewOrderRows {
    const authz = randomUUID();
    const t = now();
    return {
      id: randomUUID(), accountId: ids.account, directoryId: ids.dir, status: "pending", identifiers: [{ type: "dns", value: "other.example.com" }], authorizationIds: [authz],
      notBefore: null, notAfter: null, expires: new Date(t.getTime() + 7 * 86_400_000),
      newAuthorizations: [{ id: authz, identifierType: "dns", identifierValue: "other.example.com", wildcard: false }], newAuthorizationsExpire: new Date(t.getTime() + 7 * 86_400_000),
      newChallenges: [{ id: randomUUID(), authorizationId: authz, type: "http-01", token: "t".repeat(43) }], now: t, audit: audit(),
    };
  }
  function certificateRow(): NewCertificateRow {
    const t = now();
    return {
      id: randomUUID(), serial: "7e".repeat(16), issuerId: ids.ca, organizationId: ids.org, type: "server", commonName: "fresh.example.com", dnsNames: ["fresh.example.com"],
      ipAddresses: [], emails: [], notBefore: t, notAfter: new Date(t.getTime() + 86_400_000), creatorId: null, source: "acme", certificatePem: "PEM",
      encryptedPrivateKey: null, renewedFromId: null, acmeAccountId: ids.account, acmeOrderId: ids.order, createdAt: t,
    };
  }

  const cases: Array<[string, Statement, () => unknown[]]> = [
    ["newOrder (nothing reusable)", ACME_ORDER_STATEMENTS.createUnlessReusable, () => [
      ...orderWriteParams(newOrderRows()),
      ...reuseParams({ accountId: ids.account, identifierTypes: ["dns"], identifierValues: ["other.example.com"], validAfter: now() }),
    ]],
    ["reusable authorizations", ACME_AUTHORIZATION_STATEMENTS.reusable, () => [ids.account, ["dns"], ["fresh.example.com"], now()]],
    ["challenge start", ACME_AUTHORIZATION_STATEMENTS.startChallenge, () => [now(), ids.challenge, ids.account, ["http-01", "dns-01"]]],
    ["validation outcome", ACME_AUTHORIZATION_STATEMENTS.recordChallenge, () => [ids.authz, "valid", now(), null, now(), ids.challenge, ids.account, auditRowsParam([audit()])]],
    ["authorization valid -> orders ready", ACME_AUTHORIZATION_STATEMENTS.authzValid, () => [new Date(Date.now() + 30 * 86_400_000), now(), ids.authz, ids.account, ids.challenge, now()]],
    ["authorization invalid -> orders invalid", ACME_AUTHORIZATION_STATEMENTS.authzInvalid, () => [now(), ids.authz, err, ids.account, ids.challenge, ["pending", "ready"]]],
    ["authorization deactivation", ACME_AUTHORIZATION_STATEMENTS.deactivate, () => [ids.authz, ids.account, now(), err, ["pending", "ready"], ["pending", "valid"]]],
    ["finalize lock", ACME_ORDER_STATEMENTS.finalizeLock, () => [ids.order, ids.account, ids.ca, now()]],
    ["finalize write", ACME_ORDER_STATEMENTS.finalizeWrite, () => {
      const row = certificateRow();
      return [...certificateInsertParams(row), row.id, now(), ids.order, auditRowsParam([audit()])];
    }],
  ];
  /** every read of these tables in a plan, as "table via index" (or "table via Seq Scan") */
  const readsOf = (plan: PlanNode, tables: string[]): string[] =>
    planNodes(plan).flatMap((n) => (n["Relation Name"] && tables.includes(n["Relation Name"]) ? [`${n["Relation Name"]} via ${n["Index Name"] ?? n["Node Type"]}`] : []));

  const nonceCases: Array<[string, Statement, () => unknown[]]> = [
    // the kid requests of one event-loop turn: an order poll, an authorization read, a request reading nothing
    ["nonces + accounts + reads (batch)", ACME_NONCE_STATEMENTS.consumeWithAccounts, () => [
      ["fresh-n1", "fresh-n2", "fresh-n3"], now(), [ids.account, ids.account, ids.account], [ids.dir, ids.dir, ids.dir], [ids.order, null, null], [null, ids.authz, null],
    ]],
    ["nonce + account + order", ACME_NONCE_STATEMENTS.consumeWithAccountAndRead, () => ["fresh-n4", now(), ids.account, ids.dir, ids.order, null]],
    ["nonce + account + authorization", ACME_NONCE_STATEMENTS.consumeWithAccountAndRead, () => ["fresh-n5", now(), ids.account, ids.dir, null, ids.authz]],
    ["nonce + account", ACME_NONCE_STATEMENTS.consumeWithAccount, () => ["fresh-n6", now(), ids.account, ids.dir]],
  ];
  for (const [what, st, values] of nonceCases) {
    it(`${what} (${st.name}) reads accounts, orders and authorizations by primary key only, custom and generic plan`, async () => {
      const tables = ["acme_accounts", "acme_orders", "acme_authorizations"];
      for (const { mode, plan } of await plans(st, values())) {
        const reads = readsOf(plan, tables);
        assert.ok(reads.some((r) => r.startsWith("acme_accounts ")), `${mode}: the account is read`);
        assert.deepEqual(reads.filter((r) => !tables.some((t) => r === `${t} via ${t}_pkey`)), [], `${mode}: ${reads.join(", ")}`);
      }
    });
  }

  for (const [what, st, values] of cases) {
    it(`${what} (${st.name}) finds its rows by key, custom and generic plan`, async () => {
      for (const { mode, plan } of await plans(st, values())) {
        assert.deepEqual(offences(plan), [], `${mode}: ${JSON.stringify(plan, null, 1)}`);
      }
    });
  }
});
