/**
 * The ACME clean-up job (src/ra/acme/cleanup.ts) against real PostgreSQL
 * and the real server: expired orders and authorizations get the status
 * reads already gave them (RFC 8555 §7.1.6) and the API answers the same
 * before and after; batches are bounded; invalid orders past retention go
 * with the authorizations and challenges only they used, and nothing a
 * certificate or another order needs; two runs at once process every row
 * once; unknown directories store no nonces; the server runs the job on
 * its interval and counts it in /metrics.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { createCsr } from "../../../src/ca/csr.js";
import { loadConfig } from "../../../src/config.js";
import type { Clock } from "../../../src/core/clock.js";
import { deleteInvalidOrders, expireAuthorizations, expireOrders } from "../../../src/db/store/cleanup.js";
import { deleteExpiredRateLimitBuckets } from "../../../src/db/store/rate-limits.js";
import { createLogger } from "../../../src/logger.js";
import { runCleanup } from "../../../src/ra/acme/cleanup.js";
import { startSigil, type SigilServer } from "../../../src/server.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { freePort, testServerEnv } from "../../helpers/server.js";
import { FakeValidator } from "./harness.js";
import { RawAcme, type RawResponse } from "./raw-client.js";

const DAY = 86_400_000;

describe("ACME clean-up job", function () {
  this.timeout(120_000);
  /** the server's clock: real time plus `offset` */
  let offset = 0;
  const clock: Clock = { now: () => new Date(Date.now() + offset) };
  const validator = new FakeValidator();
  let server: SigilServer;
  let dbInfo: { url: string; drop(): Promise<void> };
  let dataDir: string;
  let db: pg.Client;
  let baseUrl: string;
  let directoryUrl: string;
  const ctx = () => ({ store: server.ra.store, clock });

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-acme-cleanup-"));
    dbInfo = await createTestDatabase();
    const httpPort = await freePort();
    // the job's first run is a day away (and the nonce store leaves its sweep to the job): the tests run it when they mean to
    const config = loadConfig({ ...testServerEnv({ dataDir, httpPort, databaseUrl: dbInfo.url }), SIGIL_CLEANUP_INTERVAL_SECONDS: "86400" });
    server = await startSigil({ config, logger: createLogger(config.logLevel), clock, validator });
    baseUrl = `http://127.0.0.1:${server.httpPort}`;
    directoryUrl = `${baseUrl}/acme/default/directory`;
    db = new pg.Client({ connectionString: dbInfo.url });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await server?.close();
    await dbInfo?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterEach(() => {
    offset = 0;
  });

  async function validate(c: RawAcme, authzUrl: string): Promise<void> {
    const authz = await c.post(authzUrl, undefined);
    await c.post(authz.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
    await server.acme.validations.idle();
  }

  /** what a client sees of a resource: status, body and the fresh nonce */
  async function read(c: RawAcme, url: string): Promise<{ status: number; body: unknown }> {
    const r: RawResponse = await c.post(url, undefined);
    assert.ok(r.headers.get("replay-nonce"), `${url}: Replay-Nonce`);
    return { status: r.status, body: r.body };
  }

  const idOf = (url: string) => url.split("/").pop()!;

  async function statusOf(table: "acme_orders" | "acme_authorizations", id: string): Promise<string | undefined> {
    return (await db.query<{ status: string }>(`select status from ${table} where id = $1`, [id])).rows[0]?.status;
  }

  it("stores the statuses reads already report (§7.1.6), and the API answers the same before and after", async () => {
    const c = await RawAcme.create(directoryUrl);
    await c.register();
    // pending: nothing done
    const pending = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "pending.cleanup.example.com" }] });
    // ready: validated, never finalized
    const ready = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "ready.cleanup.example.com" }] });
    await validate(c, ready.body.authorizations[0]);
    // valid: issued
    const name = "valid.cleanup.example.com";
    const valid = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });
    await validate(c, valid.body.authorizations[0]);
    const csr = createCsr({ privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, commonName: name, dnsNames: [name] });
    const fin = await c.post(valid.body.finalize, { csr: csr.der.toString("base64url") });
    assert.equal(fin.status, 200, fin.text);
    const urls = [
      pending.headers.get("location")!,
      pending.body.authorizations[0],
      ready.headers.get("location")!,
      ready.body.authorizations[0],
      valid.headers.get("location")!,
      valid.body.authorizations[0],
      `${baseUrl}/acme/default/acct/${idOf(c.kid!)}/orders`,
    ] as string[];
    const pendingChallenge = (await c.post(pending.body.authorizations[0], undefined)).body.challenges[0].url as string;
    urls.push(pendingChallenge);

    // nothing has expired yet: a run changes none of these rows
    const first = await runCleanup(ctx());
    assert.equal(first.complete, true);
    assert.equal(await statusOf("acme_orders", idOf(urls[0]!)), "pending");

    // 31 days on: the orders (7 days) and the valid authorizations (30 days) are past expires
    offset = 31 * DAY;
    // the client's last nonce expired with the jump (1 hour): drop it, the next request fetches a fresh one
    await c.nonce();
    const before = await Promise.all(urls.map((u) => read(c, u)));
    assert.equal((before[0]!.body as { status: string }).status, "invalid");
    assert.equal((before[1]!.body as { status: string }).status, "expired");
    assert.equal((before[2]!.body as { status: string }).status, "invalid");
    assert.equal((before[3]!.body as { status: string }).status, "expired");
    assert.equal((before[4]!.body as { status: string }).status, "valid");
    assert.equal((before[5]!.body as { status: string }).status, "expired");
    assert.equal(await statusOf("acme_orders", idOf(urls[0]!)), "pending", "stored as pending until the job runs");

    const r = await runCleanup(ctx());
    assert.equal(r.complete, true);
    assert.ok(r.ordersExpired >= 2, JSON.stringify(r));
    assert.ok(r.authorizationsExpired >= 3, JSON.stringify(r));
    assert.equal(r.ordersDeleted, 0, "30 days of retention have not passed since they became invalid");

    // stored now as read
    assert.equal(await statusOf("acme_orders", idOf(urls[0]!)), "invalid");
    assert.equal(await statusOf("acme_authorizations", idOf(urls[1]!)), "expired");
    assert.equal(await statusOf("acme_orders", idOf(urls[2]!)), "invalid");
    assert.equal(await statusOf("acme_authorizations", idOf(urls[3]!)), "expired");
    assert.equal(await statusOf("acme_orders", idOf(urls[4]!)), "valid");
    assert.equal(await statusOf("acme_authorizations", idOf(urls[5]!)), "expired");
    const after = await Promise.all(urls.map((u) => read(c, u)));
    assert.deepEqual(after, before, "the API answers exactly as before the run");
    // and a second run finds nothing left to expire
    const again = await runCleanup(ctx());
    assert.deepEqual([again.ordersExpired, again.authorizationsExpired], [0, 0]);
  });

  /** ids of the default directory, its CA and organization, and a fresh account */
  async function fixture(): Promise<{ account: string; dir: string; ca: string; org: string }> {
    const c = await RawAcme.create(directoryUrl);
    await c.register();
    const [d] = (await db.query<{ id: string; organization_id: string; ca_id: string }>(`select id, organization_id, ca_id from acme_directories where name = 'default'`)).rows;
    return { account: idOf(c.kid!), dir: d!.id, ca: d!.ca_id, org: d!.organization_id };
  }

  /** `n` pending orders (one authorization and challenge each) that expired a day before `now` */
  async function expiredPendingOrders(account: string, dir: string, n: number, now: Date): Promise<void> {
    await db.query(
      `with g as (select i, gen_random_uuid() o, gen_random_uuid() a from generate_series(1, $1::int) i),
            az as (insert into acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires, created_at, updated_at)
                    select a, $2, 'dns', 'b' || i || '.example.com', false, 'pending', $4::timestamptz - interval '1 day', $4, $4 from g),
            ch as (insert into acme_challenges (id, authorization_id, type, token, status, attempts, created_at, updated_at)
                    select gen_random_uuid(), a, 'http-01', md5(a::text), 'pending', 0, $4, $4 from g),
            o as (insert into acme_orders (id, account_id, directory_id, status, identifiers, authorization_ids, expires, created_at, updated_at)
                    select o, $2, $3, 'pending', jsonb_build_array(jsonb_build_object('type', 'dns', 'value', 'b' || i || '.example.com')), jsonb_build_array(a),
                           $4::timestamptz - interval '1 day', $4, $4 from g),
            oa as (insert into acme_order_authorizations (order_id, authorization_id) select o, a from g)
       select 1`,
      [n, account, dir, now],
    );
  }

  it("works in bounded batches: never more than the batch size per statement", async () => {
    const f = await fixture();
    const now = clock.now();
    await expiredPendingOrders(f.account, f.dir, 2500, now);
    const counts: number[] = [];
    for (;;) {
      const n = await expireOrders(server.ra.store, now, 1000);
      counts.push(n);
      if (n < 1000) break;
    }
    assert.deepEqual(counts, [1000, 1000, 500]);
    // the authorizations: one run of batches of 400, bounded by its budget too
    const r = await runCleanup(ctx(), { batchSize: 400 });
    assert.equal(r.authorizationsExpired, 2500);
    assert.equal(r.complete, true);
    assert.ok(r.batches >= Math.ceil(2500 / 400), `${r.batches} batches: ${JSON.stringify(r)}`);
    const [{ n }] = (await db.query<{ n: string }>(`select count(*) n from acme_authorizations where account_id = $1 and status = 'pending'`, [f.account])).rows as [{ n: string }];
    assert.equal(Number(n), 0);
    // a zero budget starts no batch: the run reports itself incomplete, and the next run carries on
    await expiredPendingOrders(f.account, f.dir, 10, now);
    const none = await runCleanup(ctx(), { runBudgetMs: 0 });
    assert.deepEqual([none.batches, none.complete, none.ordersExpired], [0, false, 0]);
    assert.equal((await runCleanup(ctx())).ordersExpired, 10);
  });

  it("deletes orders invalid past retention with what only they used, and keeps what a certificate or another order needs", async () => {
    const f = await fixture();
    const now = clock.now();
    const old = new Date(now.getTime() - 40 * DAY);
    const recent = new Date(now.getTime() - 10 * DAY);
    const ids = (await db.query<{ id: string }>(`select gen_random_uuid() id from generate_series(1, 12)`)).rows.map((r) => r.id);
    const [oGone, aGone, oShared, aShared, oIssued, oCert, aCert, oRecent, aRecent, oLive, aLive, cert] = ids as [string, string, string, string, string, string, string, string, string, string, string, string];
    const authz = (id: string, status: string, expires: Date) =>
      db.query(
        `insert into acme_authorizations (id, account_id, identifier_type, identifier_value, wildcard, status, expires, created_at, updated_at)
         values ($1::uuid, $2, 'dns', $1::text || '.example.com', false, $3, $4, $5, $5)`,
        [id, f.account, status, expires, old],
      );
    const challenge = (authzId: string) =>
      db.query(
        `insert into acme_challenges (id, authorization_id, type, token, status, attempts, created_at, updated_at)
         values (gen_random_uuid(), $1::uuid, 'http-01', md5($1::text), 'invalid', 1, $2, $2)`,
        [authzId, old],
      );
    const order = async (id: string, status: string, updatedAt: Date, authzs: string[], certificateId: string | null = null) => {
      await db.query(
        `insert into acme_orders (id, account_id, directory_id, status, identifiers, authorization_ids, expires, certificate_id, created_at, updated_at)
         values ($1, $2, $3, $4, '[{"type":"dns","value":"x.example.com"}]', $5::jsonb, $6, $7, $6, $6)`,
        [id, f.account, f.dir, status, JSON.stringify(authzs), updatedAt, certificateId],
      );
      for (const a of authzs) await db.query(`insert into acme_order_authorizations (order_id, authorization_id) values ($1, $2)`, [id, a]);
    };
    // invalid for 40 days, its authorization used by nobody else: both go, with the challenge
    await authz(aGone, "invalid", old);
    await challenge(aGone);
    await order(oGone, "invalid", old, [aGone]);
    // invalid for 40 days, its authorization shared with an issued order: the order goes, the authorization stays
    await authz(aShared, "expired", old);
    await challenge(aShared);
    await order(oShared, "invalid", old, [aShared]);
    await order(oIssued, "valid", old, [aShared]);
    // invalid for 40 days but named by a certificate's acme_order_id: kept
    await authz(aCert, "invalid", old);
    await order(oCert, "invalid", old, [aCert]);
    await db.query(
      `insert into certificates (id, serial, issuer_id, organization_id, type, common_name, dns_names, not_before, not_after, source, certificate_pem, acme_account_id, acme_order_id, created_at)
       values ($1::uuid, md5($1::text), $2, $3, 'server', 'c.example.com', '["c.example.com"]', $4, $5, 'acme', 'PEM', $6, $7, $4)`,
      [cert, f.ca, f.org, old, new Date(now.getTime() + 50 * DAY), f.account, oCert],
    );
    // invalid for 10 days only: kept (retention 30 days)
    await authz(aRecent, "invalid", old);
    await order(oRecent, "invalid", recent, [aRecent]);
    // invalid for 40 days, with an authorization still valid for 5 days (reusable by the account): kept until it expires
    await authz(aLive, "valid", new Date(now.getTime() + 5 * DAY));
    await order(oLive, "invalid", old, [aLive]);

    const r = await runCleanup(ctx());
    assert.equal(r.complete, true);
    assert.equal(r.deletionSkipped, false);
    const orders = new Set((await db.query<{ id: string }>(`select id from acme_orders where id = any($1::uuid[])`, [ids])).rows.map((x) => x.id));
    const authzs = new Set((await db.query<{ id: string }>(`select id from acme_authorizations where id = any($1::uuid[])`, [ids])).rows.map((x) => x.id));
    assert.deepEqual(
      [orders.has(oGone), orders.has(oShared), orders.has(oIssued), orders.has(oCert), orders.has(oRecent), orders.has(oLive)],
      [false, false, true, true, true, true],
      "orders kept: issued, named by a certificate, recent, with a live authorization",
    );
    assert.deepEqual([authzs.has(aGone), authzs.has(aShared), authzs.has(aCert), authzs.has(aRecent), authzs.has(aLive)], [false, true, true, true, true]);
    const [{ n: challenges }] = (await db.query<{ n: string }>(`select count(*) n from acme_challenges where authorization_id = $1`, [aGone])).rows as [{ n: string }];
    assert.equal(Number(challenges), 0, "the deleted authorization's challenges went with it");
    const [{ n: links }] = (await db.query<{ n: string }>(`select count(*) n from acme_order_authorizations where authorization_id = $1`, [aShared])).rows as [{ n: string }];
    assert.equal(Number(links), 1, "the issued order still links its authorization");
    assert.equal((await db.query(`select 1 from certificates where id = $1`, [cert])).rowCount, 1);
    assert.ok(r.ordersDeleted >= 2 && r.authorizationsDeleted >= 1, JSON.stringify(r));

    // six days on, the live authorization expired (and the job stored it so): its order goes, and it with it
    offset = 6 * DAY;
    const later = await runCleanup(ctx());
    assert.ok(later.authorizationsExpired >= 1);
    assert.equal(await statusOf("acme_orders", oLive), undefined);
    assert.equal(await statusOf("acme_authorizations", aLive), undefined);
    assert.equal(await statusOf("acme_orders", oCert), "invalid", "still kept: a certificate names it");
  });

  it("two runs at once process every row exactly once", async () => {
    const f = await fixture();
    const now = clock.now();
    await expiredPendingOrders(f.account, f.dir, 3000, now);
    await db.query(`insert into acme_nonces (value, expires_at) select md5(i::text || random()::text), $1 from generate_series(1, 3000) i`, [
      new Date(now.getTime() - 1000),
    ]);
    const [a, b] = await Promise.all([runCleanup(ctx(), { batchSize: 250 }), runCleanup(ctx(), { batchSize: 250 })]);
    assert.equal(a!.ordersExpired + b!.ordersExpired, 3000, `${a!.ordersExpired} + ${b!.ordersExpired}`);
    assert.equal(a!.authorizationsExpired + b!.authorizationsExpired, 3000);
    assert.ok(a!.noncesDeleted + b!.noncesDeleted >= 3000);
    const [{ n }] = (await db.query<{ n: string }>(`select count(*) n from acme_nonces where expires_at <= $1`, [now])).rows as [{ n: string }];
    assert.equal(Number(n), 0);

    // deletion: one instance at a time; whoever holds the lock deletes, the other skips the step
    const deleteAt = new Date(now.getTime() + 31 * DAY);
    // what earlier tests left invalid is eligible too: count what the deletion should find
    const [{ n: eligible }] = (
      await db.query<{ n: string }>(
        `select count(*) n from acme_orders o where status = 'invalid' and updated_at <= $1 and certificate_id is null
            and not exists (select 1 from certificates c where c.acme_order_id = o.id)`,
        [new Date(deleteAt.getTime() - 30 * DAY)],
      )
    ).rows as [{ n: string }];
    assert.ok(Number(eligible) >= 3000);
    const [d1, d2] = await Promise.all([
      deleteInvalidOrders(server.ra.store, new Date(deleteAt.getTime() - 30 * DAY), deleteAt, 5000),
      deleteInvalidOrders(server.ra.store, new Date(deleteAt.getTime() - 30 * DAY), deleteAt, 5000),
    ]);
    assert.ok(d1!.locked || d2!.locked);
    const left = await deleteInvalidOrders(server.ra.store, new Date(deleteAt.getTime() - 30 * DAY), deleteAt, 5000);
    assert.equal(d1!.orders + d2!.orders + left.orders, Number(eligible), JSON.stringify([d1, d2, left]));
    assert.ok(d1!.authorizations + d2!.authorizations + left.authorizations >= 3000);
    const [{ n: orders }] = (await db.query<{ n: string }>(`select count(*) n from acme_orders where account_id = $1`, [f.account])).rows as [{ n: string }];
    assert.equal(Number(orders), 0);
  });

  it("deletes expired nonces and keeps the ones a client may still use", async () => {
    const c = await RawAcme.create(directoryUrl);
    const nonce = await c.nonce();
    const now = clock.now();
    await db.query(`insert into acme_nonces (value, expires_at) values ('expired-nonce-1', $1), ('expired-nonce-2', $1)`, [new Date(now.getTime() - 1)]);
    const r = await runCleanup(ctx());
    assert.ok(r.noncesDeleted >= 2);
    assert.equal((await db.query(`select 1 from acme_nonces where value like 'expired-nonce-%'`)).rowCount, 0);
    // the unexpired nonce still works
    const reg = await c.post(c.dir.newAccount!, { termsOfServiceAgreed: true }, { useJwk: true, header: { nonce } });
    assert.equal(reg.status, 201, reg.text);
  });

  it("deletes rate-limit buckets whose TAT has passed (in bounded batches) and keeps the ones still counting", async () => {
    const now = clock.now();
    await db.query(
      `insert into rate_limit_buckets (limit_name, bucket_key, tat) select 'new-orders-per-account', 'cleanup-old-' || i, $1 from generate_series(1, 2500) i`,
      [new Date(now.getTime() - 60_000)],
    );
    await db.query(`insert into rate_limit_buckets (limit_name, bucket_key, tat) values ('new-orders-per-account', 'cleanup-live', $1)`, [new Date(now.getTime() + 3_600_000)]);
    const r = await runCleanup(ctx(), { batchSize: 1000 });
    assert.equal(r.complete, true);
    assert.ok(r.rateLimitBucketsDeleted >= 2500, `${r.rateLimitBucketsDeleted}`);
    const left = (await db.query<{ bucket_key: string }>(`select bucket_key from rate_limit_buckets where bucket_key like 'cleanup-%'`)).rows.map((x) => x.bucket_key);
    assert.deepEqual(left, ["cleanup-live"], "the bucket still counting stays");
    // a batch never deletes more than its size (the CTE, not a rescanned "in (select ... limit)")
    await db.query(`insert into rate_limit_buckets (limit_name, bucket_key, tat) select 'new-orders-per-account', 'cleanup-b-' || i, $1 from generate_series(1, 30) i`, [
      new Date(now.getTime() - 60_000),
    ]);
    assert.equal(await deleteExpiredRateLimitBuckets(server.ra.store, clock.now(), 7), 7);
    assert.equal(Number((await db.query(`select count(*) n from rate_limit_buckets where bucket_key like 'cleanup-b-%'`)).rows[0].n), 23);
  });

  it("stores no nonce for a directory that does not exist", async () => {
    const count = async () => Number((await db.query<{ n: string }>(`select count(*) n from acme_nonces`)).rows[0]!.n);
    const before = await count();
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${baseUrl}/acme/made-up-${i}/new-nonce`, { method: "HEAD" });
      assert.equal(r.status, 404);
      assert.equal(r.headers.get("replay-nonce"), null);
    }
    assert.equal(await count(), before);
    // a real directory still answers with a stored nonce
    const ok = await fetch(`${baseUrl}/acme/default/new-nonce`, { method: "HEAD" });
    const n = ok.headers.get("replay-nonce")!;
    assert.equal((await db.query(`select 1 from acme_nonces where value = $1`, [n])).rowCount, 1);
  });
});

describe("ACME clean-up job in the server", function () {
  this.timeout(90_000);

  it("runs on SIGIL_CLEANUP_INTERVAL_SECONDS, counts its runs in /metrics, and stops with the server", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-acme-cleanup-job-"));
    const dbInfo = await createTestDatabase();
    const httpPort = await freePort();
    const config = loadConfig({ ...testServerEnv({ dataDir, httpPort, databaseUrl: dbInfo.url }), SIGIL_CLEANUP_INTERVAL_SECONDS: "1" });
    const server = await startSigil({ config, logger: createLogger(config.logLevel) });
    const db = new pg.Client({ connectionString: dbInfo.url });
    await db.connect();
    try {
      await db.query(`insert into acme_nonces (value, expires_at) values ('expired-by-job', now() - interval '1 hour')`);
      // generous: under the parallel suite's load a run (every clean-up statement) can take tens of seconds
      const deadline = Date.now() + 45_000;
      let metrics = "";
      while (Date.now() < deadline) {
        metrics = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
        // wait for the counters too: a run can have deleted the row and not yet counted it while an earlier run already reported complete
        if (
          /sigil_acme_cleanup_runs_total\{outcome="complete"\} [1-9]/.test(metrics) &&
          /sigil_acme_cleanup_rows_total\{action="nonces_deleted"\} [1-9]/.test(metrics) &&
          (await db.query(`select 1 from acme_nonces where value = 'expired-by-job'`)).rowCount === 0
        )
          break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(metrics, /sigil_acme_cleanup_runs_total\{outcome="complete"\} [1-9]/);
      assert.match(metrics, /sigil_acme_cleanup_rows_total\{action="nonces_deleted"\} [1-9]/);
      assert.equal((await db.query(`select 1 from acme_nonces where value = 'expired-by-job'`)).rowCount, 0);
    } finally {
      await db.end();
      await server.drain();
      await dbInfo.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
