/**
 * ACME rate limits held in PostgreSQL (docs/rate-limits.md), against two
 * real Sigil instances on ONE database: every limit's budget is shared (a
 * request on either instance spends from the same bucket row), a refusal is
 * RFC 8555 §6.6 rateLimited (429) with Retry-After, Link rel="help" and a
 * fresh Replay-Nonce, and a refused or failed request writes nothing.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import pg from "pg";
import { createCsr } from "../../../src/ca/csr.js";
import { loadConfig, type SigilConfig } from "../../../src/config.js";
import { createLogger } from "../../../src/logger.js";
import { deleteExpiredRateLimitBuckets, spendRateLimitBuckets } from "../../../src/db/store/rate-limits.js";
import { DEFAULT_RATE_LIMITS } from "../../../src/policy/rate-limits.js";
import { startSigil, type SigilServer } from "../../../src/server.js";
import { freePort, testServerEnv } from "../../helpers/server.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme, type RawResponse } from "./raw-client.js";

const LIMITS = [
  "off",
  "new-accounts-per-ip=4/1h",
  "new-orders-per-account=3/1h",
  "certificates-per-registered-domain=2/1w",
  "failed-validations-per-account-identifier=2/1h",
  "pending-authorizations-per-account=2",
].join(",");
const HELP_B = "https://ca.example/docs/rate-limits";

/** a second instance on the first one's database (same master key), with its own ports */
async function startSecondInstance(first: AcmeTestServer, validator: FakeValidator, env: Record<string, string>): Promise<SigilServer & { config: SigilConfig; baseUrl: string; stop(): Promise<void> }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "sigil-acme-rl-"));
  const httpPort = await freePort();
  const config = loadConfig({
    ...testServerEnv({ dataDir, httpPort, databaseUrl: first.config.databaseUrl }),
    SIGIL_MASTER_KEY: first.config.masterKey!,
    ...env,
  });
  const server = await startSigil({ config, logger: createLogger(config.logLevel), validator });
  return {
    ...server,
    config,
    baseUrl: `http://127.0.0.1:${server.httpPort}`,
    async stop() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function assertRateLimited(r: RawResponse, limit: string, help: string): void {
  assert.equal(r.status, 429, r.text);
  assert.equal(r.body.type, "urn:ietf:params:acme:error:rateLimited");
  assert.match(r.body.detail, new RegExp(`limit ${limit} is `));
  assert.match(r.body.detail, /retry after \d{4}-\d\d-\d\dT/);
  const retry = Number(r.headers.get("retry-after"));
  assert.ok(Number.isInteger(retry) && retry >= 1, `Retry-After: ${r.headers.get("retry-after")}`);
  assert.ok(r.headers.get("replay-nonce"), "a fresh Replay-Nonce (RFC 8555 §6.5)");
  const link = r.headers.get("link") ?? "";
  assert.ok(link.includes(`<${help}>;rel="help"`), `Link: ${link}`);
  assert.ok(link.includes(`rel="index"`), `Link: ${link}`);
}

describe("ACME rate limits across two instances on one database", function () {
  this.timeout(120_000);
  let a: AcmeTestServer;
  let b: Awaited<ReturnType<typeof startSecondInstance>>;
  let db: pg.Client;
  const validator = new FakeValidator();
  // accounts registered up front (3 of the 4 new accounts the address may create)
  let c1: RawAcme;
  let c2: RawAcme;
  let c3: RawAcme;
  const dirA = () => a.directoryUrl();
  const dirB = () => `${b.baseUrl}/acme/default/directory`;
  const helpA = () => `${a.config.acmeUrl}/acme/default/rate-limits`;

  before(async () => {
    validator.outcome = (req) =>
      req.identifier.value.startsWith("fail.") ? { status: "invalid", error: { type: "incorrectResponse", detail: "wrong key authorization" } } : { status: "valid" };
    a = await startAcmeTestServer({ validator, env: { SIGIL_RATE_LIMITS: LIMITS } });
    // B sits behind a proxy it trusts (X-Forwarded-For is the client address there)
    b = await startSecondInstance(a, validator, { SIGIL_RATE_LIMITS: LIMITS, SIGIL_RATE_LIMITS_HELP_URL: HELP_B, SIGIL_TRUST_PROXY: "true" });
    db = new pg.Client({ connectionString: a.config.databaseUrl });
    await db.connect();
    c1 = await RawAcme.create(dirA());
    assert.equal((await c1.register()).status, 201);
    c2 = await RawAcme.create(dirB());
    assert.equal((await c2.register()).status, 201);
    c3 = await RawAcme.create(dirA());
    assert.equal((await c3.register()).status, 201);
  });
  after(async () => {
    await db?.end();
    await b?.stop();
    await a?.stop();
  });

  /** an order of `c` (on whichever instance its directory URL names) validated to ready */
  async function readyOrder(c: RawAcme, server: { acme: { validations: { idle(): Promise<void> } } }, name: string): Promise<RawResponse> {
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });
    assert.equal(order.status, 201, order.text);
    if (order.body.status === "pending") {
      const authz = await c.post(order.body.authorizations[0], undefined);
      await c.post(authz.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
      await server.acme.validations.idle();
    }
    return order;
  }

  it("new-accounts-per-ip: the fifth account from one address is refused, whichever instance it asks, and nothing is written", async () => {
    const c4 = await RawAcme.create(dirB());
    assert.equal((await c4.register()).status, 201, "the fourth account of 127.0.0.1");
    const before = Number((await db.query(`select count(*) n from acme_accounts`)).rows[0].n);
    const c5 = await RawAcme.create(dirA());
    const refused = await c5.register();
    assertRateLimited(refused, "new-accounts-per-ip", helpA());
    assert.match(refused.body.detail, /127\.0\.0\.1/);
    const c6 = await RawAcme.create(dirB());
    assertRateLimited(await c6.register(), "new-accounts-per-ip", HELP_B);
    assert.equal(Number((await db.query(`select count(*) n from acme_accounts`)).rows[0].n), before, "no account row for a refused request");
    // an existing account is found (200), not created: no limit applies
    assert.equal((await c1.register()).status, 200);
    const bucket = await db.query(`select bucket_key from rate_limit_buckets where limit_name = 'new-accounts-per-ip'`);
    assert.deepEqual(bucket.rows.map((r) => r.bucket_key), ["127.0.0.1"], "one bucket row, shared by both instances");
  });

  it("new-accounts-per-ip behind a trusted proxy counts the forwarded address (an IPv6 client by its /64)", async () => {
    const registerFrom = async (forwarded: string): Promise<RawResponse> => {
      const c = await RawAcme.create(dirB());
      const jws = await c.sign(c.dir.newAccount!, { termsOfServiceAgreed: true }, { useJwk: true });
      const r = await fetch(c.dir.newAccount!, { method: "POST", headers: { "content-type": "application/jose+json", "x-forwarded-for": forwarded }, body: JSON.stringify(jws) });
      const text = await r.text();
      return { status: r.status, headers: r.headers, body: JSON.parse(text), text };
    };
    // 127.0.0.1 has used its four accounts; a forwarded client has its own budget
    for (let i = 0; i < 4; i++) assert.equal((await registerFrom("203.0.113.9")).status, 201);
    assertRateLimited(await registerFrom("203.0.113.9"), "new-accounts-per-ip", HELP_B);
    // two addresses of one IPv6 /64 share a bucket
    for (let i = 0; i < 2; i++) assert.equal((await registerFrom(`2001:db8:5:6::${i + 1}`)).status, 201);
    for (let i = 0; i < 2; i++) assert.equal((await registerFrom(`2001:db8:5:6:ffff::${i + 1}`)).status, 201);
    const refused = await registerFrom("2001:db8:5:6::99");
    assertRateLimited(refused, "new-accounts-per-ip", HELP_B);
    assert.match(refused.body.detail, /2001:db8:5:6::\/64/);
    const keys = (await db.query(`select bucket_key from rate_limit_buckets where limit_name = 'new-accounts-per-ip' order by bucket_key`)).rows.map((r) => r.bucket_key);
    assert.deepEqual(keys, ["127.0.0.1", "2001:db8:5:6::/64", "203.0.113.9"]);
  });

  it("new-orders-per-account: the budget is shared by both instances; a failed newOrder gives its token back", async () => {
    const onB = new RawAcme(dirB());
    onB.dir = (await (await fetch(dirB())).json()) as Record<string, string>;
    Object.assign(onB, { key: c1.key, jwk: c1.jwk, kid: c1.kid!.replace(a.baseUrl, b.baseUrl) });
    // 1 (A): validated, so later orders for the name reuse its authorization (no new pending ones)
    await readyOrder(c1, a, "www.example.com");
    // a malformed order spends and gives back
    const bad = await onB.post(onB.dir.newOrder!, { identifiers: [{ type: "dns", value: "bad..example.com" }] });
    assert.equal(bad.status, 400, bad.text);
    // 2 (B) and 3 (A)
    assert.equal((await onB.post(onB.dir.newOrder!, { identifiers: [{ type: "dns", value: "www.example.com" }] })).status, 201);
    assert.equal((await c1.post(c1.dir.newOrder!, { identifiers: [{ type: "dns", value: "www.example.com" }] })).status, 201);
    const orders = Number((await db.query(`select count(*) n from acme_orders where account_id = $1`, [c1.kid!.split("/").pop()])).rows[0].n);
    const refusedB = await onB.post(onB.dir.newOrder!, { identifiers: [{ type: "dns", value: "www.example.com" }] });
    assertRateLimited(refusedB, "new-orders-per-account", HELP_B);
    const refusedA = await c1.post(c1.dir.newOrder!, { identifiers: [{ type: "dns", value: "www.example.com" }] });
    assertRateLimited(refusedA, "new-orders-per-account", helpA());
    // Retry-After: one emission interval (1h / 3 = 1200 s) at most
    assert.ok(Number(refusedA.headers.get("retry-after")) <= 1200);
    assert.equal(Number((await db.query(`select count(*) n from acme_orders where account_id = $1`, [c1.kid!.split("/").pop()])).rows[0].n), orders, "no order row for a refused request");
    // the refusals are counted, by limit
    const metrics = await (await fetch(`${a.baseUrl}/metrics`)).text();
    assert.match(metrics, /sigil_acme_rate_limited_total\{limit="new-orders-per-account"\} 1\b/);
  });

  it("certificates-per-registered-domain: two certificates of example.com per week across instances; the third order stays ready", async () => {
    const ids = (await db.query(`select id from acme_orders where account_id = $1 and status = 'ready' order by created_at`, [c1.kid!.split("/").pop()])).rows.map((r) => r.id as string);
    assert.equal(ids.length, 3, "three ready orders of c1");
    const csr = () => createCsr({ privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, commonName: "www.example.com", dnsNames: ["www.example.com"] }).der.toString("base64url");
    const finalizeUrl = (base: string, id: string) => `${base}/acme/default/order/${id}/finalize`;
    const onB = new RawAcme(dirB());
    onB.dir = (await (await fetch(dirB())).json()) as Record<string, string>;
    Object.assign(onB, { key: c1.key, jwk: c1.jwk, kid: c1.kid!.replace(a.baseUrl, b.baseUrl) });
    assert.equal((await c1.post(finalizeUrl(a.baseUrl, ids[0]!), { csr: csr() })).status, 200);
    assert.equal((await onB.post(finalizeUrl(b.baseUrl, ids[1]!), { csr: csr() })).status, 200);
    // finalizing a valid order again fails (orderNotReady) and spends nothing
    assert.equal((await c1.post(finalizeUrl(a.baseUrl, ids[0]!), { csr: csr() })).status, 403);
    const refused = await c1.post(finalizeUrl(a.baseUrl, ids[2]!), { csr: csr() });
    assertRateLimited(refused, "certificates-per-registered-domain", helpA());
    assert.match(refused.body.detail, /example\.com/);
    const order = await c1.post(`${a.baseUrl}/acme/default/order/${ids[2]}`, undefined);
    assert.equal(order.body.status, "ready", "a refused finalize leaves the order ready");
    assert.equal(Number((await db.query(`select count(*) n from certificates where acme_order_id = $1`, [ids[2]])).rows[0].n), 0);
  });

  it("ARI replacement orders (RFC 9773 §5 replaces) are exempt from new-orders-per-account and certificates-per-registered-domain", async () => {
    // c1 has used its 3 new orders and example.com its 2 certificates (the tests above)
    const [issued] = (await db.query(`select c.certificate_pem from certificates c join acme_orders o on o.certificate_id = c.id where o.account_id = $1 order by c.created_at limit 1`, [c1.kid!.split("/").pop()])).rows;
    const cert = pkijs.Certificate.fromBER(new X509Certificate(issued.certificate_pem).raw);
    const ext = cert.extensions!.find((x) => x.extnID === "2.5.29.35")!;
    const aki = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result as asn1js.Sequence;
    const keyId = (aki.valueBlock.value as asn1js.Primitive[]).find((v) => v.idBlock.tagClass === 3 && v.idBlock.tagNumber === 0)!;
    const certId = `${Buffer.from(keyId.valueBlock.valueHexView).toString("base64url")}.${Buffer.from(cert.serialNumber.valueBlock.valueHexView).toString("base64url")}`;
    assertRateLimited(await c1.post(c1.dir.newOrder!, { identifiers: [{ type: "dns", value: "www.example.com" }] }), "new-orders-per-account", helpA());
    const order = await c1.post(c1.dir.newOrder!, { identifiers: [{ type: "dns", value: "www.example.com" }], replaces: certId });
    assert.equal(order.status, 201, order.text);
    assert.equal(order.body.status, "ready", "the valid authorization is reused");
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const fin = await c1.post(order.body.finalize, { csr: createCsr({ privateKey, commonName: "www.example.com", dnsNames: ["www.example.com"] }).der.toString("base64url") });
    assert.equal(fin.status, 200, fin.text);
    assert.equal(fin.body.status, "valid");
  });

  it("failed-validations-per-account-identifier: after two failures the third challenge POST is refused and the challenge stays pending", async () => {
    const name = "fail.example.org";
    for (let i = 0; i < 2; i++) {
      const order = await c2.post(c2.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });
      const authz = await c2.post(order.body.authorizations[0], undefined);
      await c2.post(authz.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
      await b.acme.validations.idle();
      assert.equal((await c2.post(order.body.authorizations[0], undefined)).body.status, "invalid");
    }
    const onA = new RawAcme(dirA());
    onA.dir = (await (await fetch(dirA())).json()) as Record<string, string>;
    Object.assign(onA, { key: c2.key, jwk: c2.jwk, kid: c2.kid!.replace(b.baseUrl, a.baseUrl) });
    const order = await onA.post(onA.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });
    assert.equal(order.status, 201, order.text);
    const authz = await onA.post(order.body.authorizations[0], undefined);
    const chall = authz.body.challenges.find((x: { type: string }) => x.type === "http-01");
    const refused = await onA.post(chall.url, {});
    assertRateLimited(refused, "failed-validations-per-account-identifier", helpA());
    assert.match(refused.body.detail, /dns:fail\.example\.org/);
    assert.equal((await onA.post(chall.url, undefined)).body.status, "pending", "the refused challenge was not started");
    // a POST on a finished challenge of the identifier still reads it (nothing would start)
    const failedAuthz = (await db.query(`select c.id from acme_challenges c join acme_authorizations a on a.id = c.authorization_id where a.account_id = $1 and c.status = 'invalid' limit 1`, [c2.kid!.split("/").pop()])).rows[0];
    const again = await onA.post(`${a.baseUrl}/acme/default/chall/${failedAuthz.id}`, {});
    assert.equal(again.status, 200, again.text);
    assert.equal(again.body.status, "invalid");
    // one bucket per account and identifier, written by whichever instance recorded the failure
    const keys = (await db.query(`select bucket_key from rate_limit_buckets where limit_name = 'failed-validations-per-account-identifier'`)).rows.map((r) => r.bucket_key);
    assert.deepEqual(keys, [`${c2.kid!.split("/").pop()}/dns:${name}`]);
  });

  it("pending-authorizations-per-account: a count, not a rate: refused at the cap without spending a new order, allowed again once one is deactivated", async () => {
    const o1 = await c3.post(c3.dir.newOrder!, { identifiers: [{ type: "dns", value: "p1.example.net" }] });
    assert.equal(o1.status, 201, o1.text);
    assert.equal((await c3.post(c3.dir.newOrder!, { identifiers: [{ type: "dns", value: "p2.example.net" }] })).status, 201);
    const refused = await c3.post(c3.dir.newOrder!, { identifiers: [{ type: "dns", value: "p3.example.net" }] });
    assertRateLimited(refused, "pending-authorizations-per-account", helpA());
    assert.match(refused.body.detail, /at most 2/);
    const deact = await c3.post(o1.body.authorizations[0], { status: "deactivated" });
    assert.equal(deact.status, 200, deact.text);
    // the refused order spent no new-orders token: this is the third of three
    const third = await c3.post(c3.dir.newOrder!, { identifiers: [{ type: "dns", value: "p3.example.net" }] });
    assert.equal(third.status, 201, third.text);
  });

  it("one bucket under concurrent spends from both instances: exactly `count` succeed, the rest are refused with the unchanged TAT", async () => {
    const items = [{ limitName: "test-concurrency", key: "k", emissionMs: 60_000, burstMs: 5 * 60_000 }];
    const now = new Date();
    const results = await Promise.all(Array.from({ length: 24 }, (_, i) => spendRateLimitBuckets((i % 2 ? b : a).ra.store, items, now)));
    const spent = results.filter((r) => r[0]!.spent);
    assert.equal(spent.length, 5, "a burst of 5 tokens, never more");
    const tat = Math.max(...spent.map((r) => r[0]!.tatMs!));
    assert.equal(tat, now.getTime() + 5 * 60_000);
    for (const r of results.filter((x) => !x[0]!.spent)) assert.ok(r[0]!.tatMs === null || r[0]!.tatMs <= tat);
    const row = await db.query(`select tat from rate_limit_buckets where limit_name = 'test-concurrency'`);
    assert.equal(new Date(row.rows[0].tat).getTime(), tat, "refusals left the row as the fifth spend wrote it");
    // a TAT in the past is a full bucket: the clean-up may delete it
    assert.equal(await deleteExpiredRateLimitBuckets(a.ra.store, new Date(tat + 1), 100) >= 1, true);
    assert.equal((await db.query(`select 1 from rate_limit_buckets where limit_name = 'test-concurrency'`)).rowCount, 0);
  });

  it("the default help page lists the limits in force in the directory", async () => {
    const r = await fetch(helpA());
    assert.equal(r.status, 200);
    assert.ok(r.headers.get("replay-nonce"));
    const body = (await r.json()) as { limits: Array<{ name: string; limit: string }> };
    assert.deepEqual(
      body.limits.map((l) => [l.name, l.limit]),
      [
        ["new-accounts-per-ip", "4/1h"],
        ["new-orders-per-account", "3/1h"],
        ["certificates-per-registered-domain", "2/1w"],
        ["failed-validations-per-account-identifier", "2/1h"],
        ["pending-authorizations-per-account", "2"],
      ],
    );
  });

  it("the server default, with SIGIL_RATE_LIMITS unset, is `default`", async () => {
    // "" is unset for loadConfig (test servers otherwise run with off)
    const env = { ...testServerEnv({ dataDir: "/nonexistent", httpPort: 8080 }), SIGIL_RATE_LIMITS: "" };
    assert.deepEqual(loadConfig(env).rateLimits, DEFAULT_RATE_LIMITS);
    assert.deepEqual(a.ra.rateLimits?.opts.server["new-orders-per-account"], { count: 3, periodMs: 3_600_000 });
  });
});
