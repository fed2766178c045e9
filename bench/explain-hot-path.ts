/**
 * EXPLAIN (ANALYZE, BUFFERS) of the ACME hot path's statements on a kept
 * benchmark database (issue 11: plans at 1M certificates and orders):
 *
 *   BENCH_KEEP_DATABASE=1 npm run bench -- acme --seed 1000000 --concurrency 16
 *   npx tsx bench/explain-hot-path.ts postgresql://postgres@127.0.0.1:5432/<kept database>
 *
 * Takes the seeded account with the most orders, one of its valid orders
 * (authorization, challenge, certificate) and runs each statement with the
 * text the store modules send, as a prepared statement (custom plan), inside
 * a transaction that is rolled back (the writes change nothing). Prints each
 * plan and its execution time (median of 5).
 */
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import pg from "pg";
import type { Statement } from "../src/db/sql.js";
import { ACME_AUTHORIZATION_STATEMENTS } from "../src/db/store/acme-authorizations.js";
import { ACME_ORDER_STATEMENTS, orderWriteParams, reuseParams, type NewOrderRows } from "../src/db/store/acme-orders.js";
import { auditRowsParam, type AuditRow } from "../src/db/store/audit-sql.js";
import { ACME_CERTIFICATE_STATEMENTS, certificateInsertParams, type NewCertificateRow } from "../src/db/store/certificates.js";
import { ACME_NONCE_STATEMENTS } from "../src/db/store/nonces.js";

const require = createRequire(import.meta.url);
const { prepareValue } = require("pg/lib/utils.js") as { prepareValue: (v: unknown) => unknown };

const url = process.argv[2];
if (!url) throw new Error("usage: tsx bench/explain-hot-path.ts <database url>");
const db = new pg.Client({ connectionString: url });
await db.connect();

const one = async <R>(sql: string, values: unknown[] = []): Promise<R> => (await db.query(sql, values)).rows[0] as R;
const counts = await one<Record<string, string>>(
  `select (select count(*) from certificates) certificates, (select count(*) from acme_orders) orders, (select count(*) from acme_authorizations) authorizations,
          (select count(*) from acme_challenges) challenges, (select count(*) from acme_accounts) accounts, (select count(*) from acme_nonces) nonces`,
);
const acct = await one<{ account_id: string; n: string }>(`select account_id, count(*) n from acme_orders group by account_id order by 2 desc limit 1`);
const ids = await one<{ dir: string; org: string; ca: string; order: string; authz: string; challenge: string; cert: string; serial: string }>(
  `select o.directory_id dir, d.organization_id org, d.ca_id ca, o.id "order", oa.authorization_id authz, c.id challenge, ce.id cert, ce.serial
     from acme_orders o join acme_directories d on d.id = o.directory_id join acme_order_authorizations oa on oa.order_id = o.id
     join acme_challenges c on c.authorization_id = oa.authorization_id join certificates ce on ce.id = o.certificate_id
    where o.account_id = $1 and o.status = 'valid' order by o.created_at desc limit 1`,
  [acct.account_id],
);
const account = acct.account_id;
console.log(`rows: ${JSON.stringify(counts)}; account ${account} with ${acct.n} orders`);

const now = () => new Date();
const audit = (): AuditRow => ({ id: randomUUID(), createdAt: now(), action: "acme_order_create", username: "acme", resourceType: "acme_order", detail: {} });
function newOrderRows(): NewOrderRows {
  const authz = randomUUID();
  const t = now();
  return {
    id: randomUUID(), accountId: account, directoryId: ids.dir, status: "pending", identifiers: [{ type: "dns", value: "explain.example.com" }], authorizationIds: [authz],
    notBefore: null, notAfter: null, expires: new Date(t.getTime() + 7 * 86_400_000),
    newAuthorizations: [{ id: authz, identifierType: "dns", identifierValue: "explain.example.com", wildcard: false }], newAuthorizationsExpire: new Date(t.getTime() + 7 * 86_400_000),
    newChallenges: [{ id: randomUUID(), authorizationId: authz, type: "http-01", token: "t".repeat(43) }], now: t, audit: audit(),
  };
}
function certificateRow(): NewCertificateRow {
  const t = now();
  return {
    id: randomUUID(), serial: randomUUID().replaceAll("-", ""), issuerId: ids.ca, organizationId: ids.org, type: "server", commonName: "explain.example.com",
    dnsNames: ["explain.example.com"], ipAddresses: [], emails: [], notBefore: t, notAfter: new Date(t.getTime() + 86_400_000), creatorId: null, source: "acme",
    certificatePem: "PEM", encryptedPrivateKey: null, renewedFromId: null, acmeAccountId: account, acmeOrderId: ids.order, createdAt: t,
  };
}
const nonce = (i: number) => `explainNonce${String(i).padStart(10, "0")}`;
const cases: Array<[string, Statement, () => unknown[]]> = [
  ["nonce + account", ACME_NONCE_STATEMENTS.consumeWithAccount, () => [nonce(1), now(), account, ids.dir]],
  ["nonce + account + order (order poll)", ACME_NONCE_STATEMENTS.consumeWithAccountAndRead, () => [nonce(1), now(), account, ids.dir, ids.order, null]],
  ["nonce + account + authorization", ACME_NONCE_STATEMENTS.consumeWithAccountAndRead, () => [nonce(1), now(), account, ids.dir, null, ids.authz]],
  ["nonces + accounts + reads (batch of 3)", ACME_NONCE_STATEMENTS.consumeWithAccounts, () => [[nonce(1), nonce(2), nonce(3)], now(), [account, account, account], [ids.dir, ids.dir, ids.dir], [ids.order, null, null], [null, ids.authz, null]]],
  ["newOrder (nothing reusable)", ACME_ORDER_STATEMENTS.createUnlessReusable, () => [...orderWriteParams(newOrderRows()), ...reuseParams({ accountId: account, identifierTypes: ["dns"], identifierValues: ["explain.example.com"], validAfter: now() })]],
  ["authorization read", ACME_AUTHORIZATION_STATEMENTS.get, () => [ids.authz, account]],
  ["challenge start", ACME_AUTHORIZATION_STATEMENTS.startChallenge, () => [now(), ids.challenge, account, ["http-01", "dns-01", "tls-alpn-01"]]],
  ["validation outcome", ACME_AUTHORIZATION_STATEMENTS.recordChallenge, () => [ids.authz, "valid", now(), null, now(), ids.challenge, account, auditRowsParam([audit()])]],
  ["authorization valid -> orders ready", ACME_AUTHORIZATION_STATEMENTS.authzValid, () => [new Date(Date.now() + 30 * 86_400_000), now(), ids.authz, account, ids.challenge, now()]],
  ["order read (poll)", ACME_ORDER_STATEMENTS.get, () => [ids.order, account]],
  ["finalize lock", ACME_ORDER_STATEMENTS.finalizeLock, () => [ids.order, account, ids.ca, now()]],
  ["finalize write", ACME_ORDER_STATEMENTS.finalizeWrite, () => { const r = certificateRow(); return [...certificateInsertParams(r), r.id, now(), ids.order, auditRowsParam([audit()])]; }],
  ["certificate download", ACME_CERTIFICATE_STATEMENTS.accountCertificate, () => [ids.cert, account]],
];

for (const [what, st, values] of cases) {
  const name = `explain_${st.name}`;
  const args = values().map((v) => {
    const p = prepareValue(v);
    return p === null || p === undefined ? "null" : db.escapeLiteral(String(p));
  });
  const times: number[] = [];
  let plan = "";
  for (let i = 0; i < 5; i++) {
    await db.query("begin");
    try {
      await db.query(`prepare ${name} as ${st.text}`);
      await db.query("set local plan_cache_mode = force_custom_plan");
      const r = await db.query<{ "QUERY PLAN": string }>(`explain (analyze, buffers, costs off, summary on) execute ${name}(${args.join(", ")})`);
      const lines = r.rows.map((x) => x["QUERY PLAN"]);
      const t = lines.find((l) => l.startsWith("Execution Time"));
      times.push(Number(/([\d.]+) ms/.exec(t ?? "")?.[1] ?? NaN));
      plan = lines.filter((l) => !l.startsWith("Planning") && !l.startsWith("Execution")).join("\n");
    } finally {
      await db.query("rollback");
      // PREPARE is not transactional
      await db.query(`deallocate all`);
    }
  }
  times.sort((a, b) => a - b);
  const seq = /Seq Scan on (acme_orders|acme_authorizations|acme_challenges|acme_order_authorizations|certificates|acme_nonces|acme_accounts)\b/.exec(plan);
  console.log(`\n### ${what} (${st.name}): median ${times[2]!.toFixed(3)} ms of 5${seq ? `, SEQ SCAN on ${seq[1]}` : ", no Seq Scan on a growing table"}\n${plan}`);
}
await db.end();
