/**
 * The rate-limit statement against real PostgreSQL, held to the GCRA
 * reference (src/policy/rate-limits.ts gcra) over a sequence of requests at
 * moving times; refunds; and the all-or-none spends of several buckets (an
 * order naming two registered domains, an IPv6 client with both new-account
 * limits) through the ra functions.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { readRateLimitBuckets, refundRateLimitBuckets, spendRateLimitBuckets } from "../../../src/db/store/rate-limits.js";
import { gcra, gcraParams } from "../../../src/policy/rate-limits.js";
import { spendCertificate, spendNewAccount } from "../../../src/ra/acme/rate-limits.js";
import type { DirectoryInfo } from "../../../src/ra/acme/directories.js";
import type { AccountInfo } from "../../../src/ra/acme/accounts.js";
import { startAcmeTestServer, type AcmeTestServer } from "./harness.js";

describe("rate-limit buckets in PostgreSQL", function () {
  this.timeout(60_000);
  let server: AcmeTestServer;
  let db: pg.Client;
  let dir: DirectoryInfo;
  const account = { id: "0192f7a0-0000-7000-8000-00000000abcd" } as AccountInfo;

  before(async () => {
    server = await startAcmeTestServer({
      env: { SIGIL_RATE_LIMITS: "off,certificates-per-registered-domain=2/1h,new-accounts-per-ip=3/1h,new-accounts-per-ipv6-range=1/1h" },
    });
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
    dir = (await server.acme.directories.get("default"))!;
  });
  after(async () => {
    await db?.end();
    await server?.stop();
  });

  it("matches the GCRA reference step by step (bursts, refusals that change nothing, refills over time)", async () => {
    const limit = { count: 4, periodMs: 40_000 };
    const { emissionMs, burstMs } = gcraParams(limit);
    const item = { limitName: "test-gcra", key: "seq", emissionMs, burstMs };
    let tat: number | undefined;
    let t = Date.parse("2026-12-01T12:00:00Z");
    // a burst, refusals, waits shorter and longer than the emission interval
    const steps = [0, 0, 0, 0, 0, 0, 3_000, 7_000, 0, 25_000, 0, 0, 0, 100_000, 0];
    for (const [i, dt] of steps.entries()) {
      t += dt;
      const expected = gcra(limit, tat, t);
      const [got] = await spendRateLimitBuckets(server.ra.store, [item], new Date(t));
      assert.equal(got!.spent, expected.allowed, `step ${i} at +${dt} ms`);
      if (expected.allowed) {
        assert.equal(got!.tatMs, expected.newTatMs, `step ${i}: the new TAT`);
        tat = expected.newTatMs;
      } else assert.equal(got!.tatMs, tat, `step ${i}: a refusal leaves the TAT`);
    }
    // a refund gives one emission interval back
    await refundRateLimitBuckets(server.ra.store, [item]);
    const [row] = await readRateLimitBuckets(server.ra.store, [item]);
    assert.equal(row!.tatMs, tat! - emissionMs);
  });

  it("an order naming two registered domains spends one of each, or none when one is used up", async () => {
    const ids = (names: string[]) => names.map((value) => ({ type: "dns", value }));
    // example.org: 2 of 2 used
    await spendCertificate(server.ra, dir, account, ids(["a.example.org"]), {});
    await spendCertificate(server.ra, dir, account, ids(["b.example.org"]), {});
    const before = await db.query(`select bucket_key, tat from rate_limit_buckets where limit_name = 'certificates-per-registered-domain' order by bucket_key`);
    await assert.rejects(spendCertificate(server.ra, dir, account, ids(["www.example.net", "c.example.org", "example.net"]), {}), (e: Error & { acmeType?: string; retryAfter?: number }) => {
      assert.equal(e.acmeType, "rateLimited");
      assert.match(e.message, /\(example\.org\)/);
      assert.ok(e.retryAfter! >= 1 && e.retryAfter! <= 1800);
      return true;
    });
    const after = await db.query(`select bucket_key, tat from rate_limit_buckets where limit_name = 'certificates-per-registered-domain' order by bucket_key`);
    assert.deepEqual(after.rows, before.rows, "example.net was not spent: all or none");
    // a replacement spends nothing for the names the replaced certificate had (review 2 M1)...
    await spendCertificate(server.ra, dir, account, ids(["c.example.org"]), { replaced: { dnsNames: ["C.example.org"], ipAddresses: [] } });
    // ...and is held to the limit for a name it adds
    await assert.rejects(
      spendCertificate(server.ra, dir, account, ids(["c.example.org", "d.example.org"]), { replaced: { dnsNames: ["c.example.org"], ipAddresses: [] } }),
      (e: Error & { acmeType?: string }) => e.acmeType === "rateLimited" && /\(example\.org\)/.test(e.message),
    );
    // two new domains at once: both spent, in one transaction
    const r = await spendCertificate(server.ra, dir, account, ids(["x.example.com", "y.example.info"]), {});
    const keys = (await db.query(`select bucket_key from rate_limit_buckets where limit_name = 'certificates-per-registered-domain' order by bucket_key`)).rows.map((x) => x.bucket_key);
    assert.deepEqual(keys, ["example.com", "example.info", "example.org"]);
    // and given back together
    const tats = async () => (await db.query(`select tat from rate_limit_buckets where bucket_key in ('example.com', 'example.info') order by bucket_key`)).rows.map((x) => new Date(x.tat).getTime());
    const spentTats = await tats();
    await r.refund();
    const refunded = await tats();
    refunded.forEach((v, i) => assert.equal(v, spentTats[i]! - 30 * 60_000));
  });

  it("an IPv6 client spends its /64 and its /48 together; a refused /48 leaves the /64 unspent", async () => {
    await spendNewAccount(server.ra, dir, "2001:db8:aa:1::1");
    await assert.rejects(spendNewAccount(server.ra, dir, "2001:db8:aa:2::1"), /new-accounts-per-ipv6-range/);
    const rows = (await db.query(`select limit_name, bucket_key from rate_limit_buckets where limit_name like 'new-accounts%' order by 1, 2`)).rows;
    assert.deepEqual(rows, [
      { limit_name: "new-accounts-per-ip", bucket_key: "2001:db8:aa:1::/64" },
      { limit_name: "new-accounts-per-ipv6-range", bucket_key: "2001:db8:aa::/48" },
    ]);
    // an IPv4 client is not held by the IPv6 range limit
    await spendNewAccount(server.ra, dir, "198.51.100.7");
  });
});
