/**
 * Issuance must not slow down as an account's history grows: every
 * statement of the ACME hot path finds its rows by key. An account is
 * filled with thousands of orders (authorizations, challenges, order-
 * authorization rows, certificates) in one SQL statement, the tables are
 * ANALYZEd, and each statement, with the text the store modules send and
 * realistic parameters, is EXPLAINed as a custom plan: no Seq Scan on the
 * tables that grow with history (enable_seqscan stays on). The server's
 * statements are named prepared statements, which PostgreSQL may switch to
 * their generic plan after five executions, but only when the generic plan
 * is estimated no dearer than the custom ones (plancache.c
 * choose_custom_plan): so the generic plan must be free of such scans too,
 * or dearer than the custom plan (then it is never chosen; the reuse
 * lookup's `= any($n)` over arrays of unknown length is such a case).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { ACME_AUTHORIZATION_STATEMENTS } from "../../../src/db/store/acme-authorizations.js";
import { ACME_ORDER_STATEMENTS, orderWriteParams, reuseParams, type NewOrderRows } from "../../../src/db/store/acme-orders.js";
import { auditRowsParam, type AuditRow } from "../../../src/db/store/audit-sql.js";
import { ACME_CERTIFICATE_STATEMENTS, certificateInsertParams, type NewCertificateRow } from "../../../src/db/store/certificates.js";
import { ACME_NONCE_STATEMENTS } from "../../../src/db/store/nonces.js";
import type { Statement } from "../../../src/db/sql.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { customAndGenericPlans, seqScannedTables, type PlanNode } from "./plans.js";
import { RawAcme } from "./raw-client.js";

/** orders of the account's history */
const HISTORY = 4000;
/** tables whose size follows history: never scanned whole on the hot path */
const GROWING = new Set(["acme_orders", "acme_authorizations", "acme_challenges", "acme_order_authorizations", "certificates"]);


/** Seq Scans of the tables named in `tables` (other than the growing ones, which seqScans reports) */
const seqScansOf = (plan: PlanNode, tables: ReadonlySet<string>): string[] => seqScannedTables(plan, tables).filter((t) => !GROWING.has(t));
const seqScans = (plan: PlanNode): string[] => seqScannedTables(plan, GROWING);

describe("ACME hot path: index-backed whatever the account's history", function () {
  this.timeout(120_000);
  let server: AcmeTestServer;
  let db: pg.Client;
  const validator = new FakeValidator();
  const ids = {} as { account: string; org: string; ca: string; dir: string; order: string; authz: string; challenge: string; oldOrder: string; cert: string; serial: string };

  before(async () => {
    server = await startAcmeTestServer({ validator });
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
    const c = await RawAcme.create(server.directoryUrl());
    await c.register();
    ids.account = c.kid!.split("/").pop()!;
    const [d] = (await db.query<{ id: string; organization_id: string; ca_id: string }>(`select id, organization_id, ca_id from acme_directories where name = 'default'`)).rows;
    Object.assign(ids, { dir: d!.id, org: d!.organization_id, ca: d!.ca_id });
    // the history: one statement, one authorization (two challenges) and one certificate per order
    await db.query(
      `with g as (select i, gen_random_uuid() o, gen_random_uuid() a, gen_random_uuid() c1, gen_random_uuid() c2, gen_random_uuid() cert
                    from generate_series(1, $1::int) i),
            az as (insert into acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires, created_at, updated_at)
                    select a, $2, 'dns', 'h' || i || '.example.com', false, case when i % 10 = 0 then 'pending' else 'valid' end,
                           now() + interval '20 days', now() - i * interval '1 minute', now() from g),
            ch as (insert into acme_challenges (id, authorization_id, type, token, status, attempts, created_at, updated_at)
                    select c1, a, 'http-01', md5(c1::text), case when i % 10 = 0 then 'pending' else 'valid' end, 1, now(), now() from g
                    union all select c2, a, 'dns-01', md5(c2::text), 'pending', 0, now(), now() from g),
            o as (insert into acme_orders (id, account_id, directory_id, status, identifiers, authorization_ids, expires, certificate_id, created_at, updated_at)
                    select o, $2, $3, case when i % 10 = 0 then 'pending' else 'valid' end,
                           jsonb_build_array(jsonb_build_object('type', 'dns', 'value', 'h' || i || '.example.com')), jsonb_build_array(a),
                           now() + interval '7 days', case when i % 10 = 0 then null else cert end, now() - i * interval '1 minute', now() from g),
            oa as (insert into acme_order_authorizations (order_id, authorization_id) select o, a from g),
            ce as (insert into certificates (id, serial, issuer_id, organization_id, type, common_name, dns_names, not_before, not_after, source,
                                             certificate_pem, acme_account_id, acme_order_id, created_at)
                    select cert, md5(cert::text), $4, $5, 'server', 'h' || i || '.example.com', jsonb_build_array('h' || i || '.example.com'),
                           now(), now() + interval '90 days', 'acme', 'PEM', $2, o, now() from g where i % 10 <> 0)
       select count(*) from g`,
      [HISTORY, ids.account, ids.dir, ids.ca, ids.org],
    );
    // today's order, through the server
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "new.example.com" }] });
    ids.order = order.headers.get("location")!.split("/").pop()!;
    const authz = await c.post(order.body.authorizations[0], undefined);
    ids.authz = (order.body.authorizations[0] as string).split("/").pop()!;
    ids.challenge = authz.body.challenges[0].url.split("/").pop();
    const [old] = (await db.query<{ id: string; certificate_id: string }>(`select id, certificate_id from acme_orders where account_id = $1 and certificate_id is not null limit 1`, [ids.account])).rows;
    ids.oldOrder = old!.id;
    ids.cert = old!.certificate_id;
    ids.serial = (await db.query<{ serial: string }>(`select serial from certificates where id = $1`, [ids.cert])).rows[0]!.serial;
    await db.query("analyze");
  });

  after(async () => {
    await db?.end();
    await server?.stop();
  });

  const plans = (st: Statement, values: readonly unknown[]) => customAndGenericPlans(db, "h1a", st, values);

  function audit(): AuditRow {
    return { id: randomUUID(), createdAt: new Date(), action: "acme_order_create", username: "acme", resourceType: "acme_order", detail: {} };
  }

  function newOrderRows(): NewOrderRows {
    const authz = randomUUID();
    const now = new Date();
    return {
      id: randomUUID(),
      accountId: ids.account,
      directoryId: ids.dir,
      status: "pending",
      identifiers: [{ type: "dns", value: "other.example.com" }],
      authorizationIds: [authz],
      notBefore: null,
      notAfter: null,
      expires: new Date(now.getTime() + 7 * 86_400_000),
      newAuthorizations: [{ id: authz, identifierType: "dns", identifierValue: "other.example.com", wildcard: false }],
      newAuthorizationsExpire: new Date(now.getTime() + 7 * 86_400_000),
      newChallenges: [{ id: randomUUID(), authorizationId: authz, type: "http-01", token: "t".repeat(43) }],
      now,
      audit: audit(),
    };
  }

  function certificateRow(): NewCertificateRow {
    const now = new Date();
    return {
      id: randomUUID(),
      serial: "7f".repeat(16),
      issuerId: ids.ca,
      organizationId: ids.org,
      type: "server",
      commonName: "new.example.com",
      dnsNames: ["new.example.com"],
      ipAddresses: [],
      emails: [],
      notBefore: now,
      notAfter: new Date(now.getTime() + 86_400_000),
      creatorId: null,
      source: "acme",
      certificatePem: "PEM",
      encryptedPrivateKey: null,
      renewedFromId: null,
      acmeAccountId: ids.account,
      acmeOrderId: ids.order,
      createdAt: now,
    };
  }

  it("fills the account with its history", async () => {
    const [r] = (await db.query<{ n: string }>(`select count(*) n from acme_orders where account_id = $1`, [ids.account])).rows;
    assert.equal(Number(r!.n), HISTORY + 1);
    assert.ok(ids.authz && ids.challenge, "today's authorization and challenge");
  });

  const now = () => new Date();
  const err = JSON.stringify({ type: "urn:ietf:params:acme:error:unauthorized", detail: "x" });
  const cases: Array<[string, Statement, () => unknown[]]> = [
    ["newOrder (nothing reusable)", ACME_ORDER_STATEMENTS.createUnlessReusable, () => {
      const o = newOrderRows();
      return [...orderWriteParams(o), ...reuseParams({ accountId: ids.account, identifierTypes: ["dns"], identifierValues: ["other.example.com"], validAfter: now() })];
    }],
    ["newOrder (with reuse)", ACME_ORDER_STATEMENTS.create, () => orderWriteParams(newOrderRows())],
    ["order read", ACME_ORDER_STATEMENTS.get, () => [ids.order, ids.account]],
    ["orders list", ACME_ORDER_STATEMENTS.listFirst, () => [ids.account, 101]],
    ["orders list, next page", ACME_ORDER_STATEMENTS.listAfter, () => [ids.account, 101, ids.oldOrder]],
    ["finalize lock", ACME_ORDER_STATEMENTS.finalizeLock, () => [ids.order, ids.account, ids.ca, now()]],
    ["finalize write", ACME_ORDER_STATEMENTS.finalizeWrite, () => {
      const row = certificateRow();
      return [...certificateInsertParams(row), row.id, now(), ids.order, auditRowsParam([audit()])];
    }],
    ["reusable authorizations", ACME_AUTHORIZATION_STATEMENTS.reusable, () => [ids.account, ["dns"], ["new.example.com", "h17.example.com"], now()]],
    ["authorization read", ACME_AUTHORIZATION_STATEMENTS.get, () => [ids.authz, ids.account]],
    ["authorization lock", ACME_AUTHORIZATION_STATEMENTS.lock, () => [ids.authz, ids.account]],
    ["authorization deactivation", ACME_AUTHORIZATION_STATEMENTS.deactivate, () => [ids.authz, ids.account, now(), err, ["pending", "ready"], ["pending", "valid"]]],
    ["challenge read", ACME_AUTHORIZATION_STATEMENTS.getChallenge, () => [ids.challenge, ids.account]],
    ["challenge start", ACME_AUTHORIZATION_STATEMENTS.startChallenge, () => [now(), ids.challenge, ids.account, ["http-01", "dns-01"]]],
    ["validation job", ACME_AUTHORIZATION_STATEMENTS.job, () => [ids.challenge]],
    ["stale challenge sweep", ACME_AUTHORIZATION_STATEMENTS.reclaim, () => [now(), new Date(Date.now() - 120_000)]],
    ["validation outcome", ACME_AUTHORIZATION_STATEMENTS.recordChallenge, () => [ids.authz, "valid", now(), null, now(), ids.challenge, ids.account, auditRowsParam([audit()])]],
    ["authorization valid -> orders ready", ACME_AUTHORIZATION_STATEMENTS.authzValid, () => [new Date(Date.now() + 30 * 86_400_000), now(), ids.authz, ids.account, ids.challenge, now()]],
    ["authorization invalid -> orders invalid", ACME_AUTHORIZATION_STATEMENTS.authzInvalid, () => [now(), ids.authz, err, ids.account, ids.challenge, ["pending", "ready"]]],
    ["finalize CAA states of an order", ACME_AUTHORIZATION_STATEMENTS.orderCaa, () => [ids.order, ids.account]],
    ["CAA check recorded", ACME_AUTHORIZATION_STATEMENTS.caaChecked, () => [[ids.authz], now()]],
    ["finalize CAA freshness in the signing transaction", ACME_AUTHORIZATION_STATEMENTS.orderCaaStale, () => [ids.order, new Date(Date.now() - 8 * 3_600_000)]],
    ["certificate download", ACME_CERTIFICATE_STATEMENTS.accountCertificate, () => [ids.cert, ids.account]],
    ["revocation lookup by serial", ACME_CERTIFICATE_STATEMENTS.bySerialInOrganization, () => [ids.serial, ids.org]],
  ];

  // the first round trip of every kid request (issue 11): the nonce table holds an hour of nonces
  // (minted ahead, consumed or expired) and the directory many accounts, so both are checked too
  const NONCE_ROWS = 50_000;
  const OTHER_ACCOUNTS = 5_000;
  it("fills the nonce table and the directory's other accounts", async () => {
    await db.query(`insert into acme_nonces (value, expires_at) select substr(md5(i::text) || md5('n' || i), 1, 22), now() + interval '1 hour' from generate_series(1, $1::int) as i`, [NONCE_ROWS]);
    await db.query(
      `insert into acme_accounts (id, directory_id, organization_id, key_thumbprint, jwk, status, contact, terms_of_service_agreed, created_at, updated_at)
       select gen_random_uuid(), $1, $2, 'h1a-' || i, jsonb_build_object('kty', 'EC', 'crv', 'P-256', 'x', md5(i::text), 'y', md5('y' || i)), 'valid', '[]'::jsonb, true, now(), now()
         from generate_series(1, $3::int) as i`,
      [ids.dir, ids.org, OTHER_ACCOUNTS],
    );
    await db.query("analyze acme_nonces");
    await db.query("analyze acme_accounts");
    const [r] = (await db.query<{ n: string }>(`select count(*) n from acme_nonces`)).rows;
    assert.ok(Number(r!.n) >= NONCE_ROWS);
  });
  const nonce = (i: number) => `h1aNonce${String(i).padStart(14, "0")}`;
  const nonceCases: Array<[string, Statement, () => unknown[]]> = [
    ["nonce consume", ACME_NONCE_STATEMENTS.consume, () => [nonce(1), now()]],
    ["nonce consume + account", ACME_NONCE_STATEMENTS.consumeWithAccount, () => [nonce(1), now(), ids.account, ids.dir]],
    ["nonce consume + account + order (order poll)", ACME_NONCE_STATEMENTS.consumeWithAccountAndRead, () => [nonce(1), now(), ids.account, ids.dir, ids.order, null]],
    ["nonce consume + account + authorization (authorization read)", ACME_NONCE_STATEMENTS.consumeWithAccountAndRead, () => [nonce(1), now(), ids.account, ids.dir, null, ids.authz]],
    [
      "nonces consume + accounts + orders (one event-loop turn)",
      ACME_NONCE_STATEMENTS.consumeWithAccounts,
      () => [[nonce(1), nonce(2), nonce(3)], now(), [ids.account, ids.account, randomUUID()], [ids.dir, ids.dir, ids.dir], [ids.order, null, ids.order], [null, ids.authz, null]],
    ],
    [
      // newOrder, challenge and finalize POSTs of one turn: every order and authorization id null
      "nonces consume + accounts, no request reading ahead (one event-loop turn)",
      ACME_NONCE_STATEMENTS.consumeWithAccounts,
      () => [[nonce(1), nonce(2), nonce(3)], now(), [ids.account, ids.account, randomUUID()], [ids.dir, ids.dir, ids.dir], [null, null, null], [null, null, null]],
    ],
    [
      "nonces consume + accounts + authorizations (one event-loop turn)",
      ACME_NONCE_STATEMENTS.consumeWithAccounts,
      () => [[nonce(1), nonce(2)], now(), [ids.account, randomUUID()], [ids.dir, ids.dir], [null, null], [ids.authz, ids.authz]],
    ],
  ];
  const GROWING_WITH_NONCES = new Set([...GROWING, "acme_nonces", "acme_accounts"]);
  for (const [what, st, values] of nonceCases) {
    it(`${what} (${st.name}) scans neither the nonces nor the accounts`, async () => {
      const [custom, generic] = await plans(st, values());
      const scans = (n: PlanNode) => seqScans(n).concat(seqScansOf(n, GROWING_WITH_NONCES));
      assert.deepEqual(scans(custom!.plan), [], `custom plan: ${JSON.stringify(custom!.plan, null, 1)}`);
      assert.deepEqual(scans(generic!.plan), [], `generic plan: ${JSON.stringify(generic!.plan, null, 1)}`);
    });
  }

  for (const [what, st, values] of cases) {
    it(`${what} (${st.name}) scans no growing table`, async () => {
      const [custom, generic] = await plans(st, values());
      assert.deepEqual(seqScans(custom!.plan), [], `custom plan: ${JSON.stringify(custom!.plan, null, 1)}`);
      if (seqScans(generic!.plan).length) {
        assert.ok(
          generic!.plan["Total Cost"] > custom!.plan["Total Cost"] * 2,
          `a generic plan with a scan (${seqScans(generic!.plan).join(", ")}) no dearer than the custom one could be chosen: ${JSON.stringify(generic!.plan, null, 1)}`,
        );
      }
    });
  }
});
