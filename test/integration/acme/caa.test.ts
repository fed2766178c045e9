/**
 * CAA (RFC 8659, RFC 8657) end to end: the real server, a validator on the
 * real network code (node:dns against pebble-challtestsrv as the mock DNS,
 * which serves CAA records set through its management API and follows
 * CNAMEs like a recursive resolver), dns-01 challenges, the raw ACME
 * client, the real PostgreSQL. CAA lookups are counted at the resolver.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { calculateJwkThumbprint } from "jose";
import pg from "pg";
import { createCsr } from "../../../src/ca/csr.js";
import { SigilError } from "../../../src/core/errors.js";
import { markCaaChecked } from "../../../src/db/store/acme-authorizations.js";
import { CAA_FINALIZE_CONCURRENCY, recheckCaaBeforeFinalize } from "../../../src/ra/acme/caa.js";
import { AcmeError } from "../../../src/ra/acme/errors.js";
import type { CaaChecker } from "../../../src/validation/caa.js";
import { systemActor } from "../../../src/ra/actor.js";
import { updateAcmeDirectory } from "../../../src/ra/acme-admin.js";
import { createDirectory } from "../../../src/ra/acme/directories.js";
import { dns01TxtValue } from "../../../src/validation/dns01.js";
import { createDnsResolver, createHttpFetcher, createTlsDialer, type DnsResolver } from "../../../src/validation/network.js";
import { createChallengeValidator } from "../../../src/validation/validator.js";
import { startChallTestSrv, type ChallTestSrv } from "../../interop/helpers/challtestsrv.js";
import { runOk } from "../../interop/helpers/tools.js";
import { startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { assertNonce, RawAcme, type RawResponse } from "./raw-client.js";

const ISSUER = "sigil-ca.test";
const CAA_PROBLEM = "urn:ietf:params:acme:error:caa";

describe("ACME CAA checking (RFC 8659, RFC 8657) against the mock DNS", function () {
  this.timeout(90_000);
  let dns: ChallTestSrv;
  let server: AcmeTestServer;
  let db: pg.Client;
  /** every CAA query the server made, in order */
  const caaQueries: string[] = [];
  let on: RawAcme;
  let off: RawAcme;
  /** runs before each CAA query is sent (tests that act between the recheck and the signature) */
  let onCaaQuery: ((name: string) => Promise<void>) | undefined;

  const mgmt = async (p: string, body: object): Promise<void> => {
    const res = await fetch(`${dns.managementUrl}${p}`, { method: "POST", body: JSON.stringify(body) });
    assert.ok(res.ok, `challtestsrv ${p}: HTTP ${res.status}`);
  };
  const setCaa = async (host: string, policies: Array<{ tag: string; value: string }>): Promise<void> => {
    await mgmt("/clear-caa", { host: `${host}.` });
    await mgmt("/add-caa", { host: `${host}.`, policies });
  };

  before(async () => {
    dns = await startChallTestSrv();
    const real = createDnsResolver([dns.dnsServer], { timeoutMs: 2000, tries: 1 });
    const resolver: DnsResolver = {
      resolveTxt: (n) => real.resolveTxt(n),
      resolve4: (n) => real.resolve4(n),
      resolve6: (n) => real.resolve6(n),
      resolveCaa: async (n) => {
        caaQueries.push(n);
        await onCaaQuery?.(n);
        return real.resolveCaa(n);
      },
    };
    const validator = createChallengeValidator({
      resolver,
      fetcher: createHttpFetcher(),
      dialer: createTlsDialer(),
      httpPort: 80,
      tlsPort: 443,
      retry: { attempts: 2, delayMs: 50, deadlineMs: 10_000 },
    });
    // no directory cache: a directory's CAA switch shows at once
    server = await startAcmeTestServer({ validator, env: { SIGIL_DNS_SERVERS: dns.dnsServer }, acme: { directoryCacheMs: 0 } });
    const common = { ca: "default-intermediate", challengeTypes: ["dns-01" as const], caaIdentities: [ISSUER] };
    await createDirectory(server.ra, systemActor("test"), { ...common, name: "caa-on", caaEnabled: true });
    await createDirectory(server.ra, systemActor("test"), { ...common, name: "caa-off" });
    on = await RawAcme.create(server.directoryUrl("caa-on"));
    assert.equal((await on.register()).status, 201);
    off = await RawAcme.create(server.directoryUrl("caa-off"));
    assert.equal((await off.register()).status, 201);
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await server?.stop();
    await dns?.stop();
  });

  /** newOrder for `names`, each authorization's dns-01 TXT set and its challenge validated: the order, its authorizations */
  async function orderAndValidate(c: RawAcme, names: string[]): Promise<{ order: RawResponse; orderUrl: string; authzs: RawResponse[] }> {
    const thumbprint = await calculateJwkThumbprint(c.jwk, "sha256");
    const order = await c.post(c.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })) });
    assert.equal(order.status, 201, order.text);
    const authzs: RawResponse[] = [];
    for (const url of order.body.authorizations as string[]) {
      const authz = await c.post(url, undefined);
      const ch = authz.body.challenges.find((x: { type: string }) => x.type === "dns-01");
      await dns.setTxt(`_acme-challenge.${authz.body.identifier.value}`, dns01TxtValue(`${ch.token}.${thumbprint}`));
      const started = await c.post(ch.url, {});
      assert.equal(started.status, 200, started.text);
      await server.acme.validations.idle();
      authzs.push(await c.post(url, undefined));
    }
    return { order, orderUrl: order.headers.get("location")!, authzs };
  }

  const csrFor = (names: string[]) =>
    createCsr({ privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, commonName: names[0]!.replace(/^\*\./, "x."), dnsNames: names }).der.toString("base64url");

  async function finalize(c: RawAcme, order: RawResponse, names: string[]): Promise<RawResponse> {
    const fin = await c.post(order.body.finalize, { csr: csrFor(names) });
    assertNonce(fin);
    return fin;
  }

  const caaCheckedAt = async (authzUrl: string): Promise<Date | null> =>
    (await db.query<{ caa_checked_at: Date | null }>(`select caa_checked_at from acme_authorizations where id = $1`, [authzUrl.split("/").pop()])).rows[0]!.caa_checked_at;

  it("ok/issue: records naming this CA and this account (RFC 8657 §3 accounturi) pass; the check time is recorded; the certificate is issued", async () => {
    const name = "ok.caa.example";
    await setCaa(name, [{ tag: "issue", value: `${ISSUER}; accounturi=${on.kid}; validationmethods=dns-01` }]);
    caaQueries.length = 0;
    const { order, orderUrl, authzs } = await orderAndValidate(on, [name]);
    assert.equal(authzs[0]!.body.status, "valid", authzs[0]!.text);
    assert.deepEqual(caaQueries, [name], "the first level with records ends the climb");
    const checked = await caaCheckedAt(order.body.authorizations[0]);
    assert.ok(checked && Math.abs(checked.getTime() - Date.now()) < 60_000, "caa_checked_at recorded");
    caaQueries.length = 0;
    const fin = await finalize(on, order, [name]);
    assert.equal(fin.status, 200, fin.text);
    assert.deepEqual(caaQueries, [], "a check younger than 8 hours is reused at finalize");
    const done = await on.post(orderUrl, undefined);
    assert.equal(done.body.status, "valid");
    const cert = await on.post(done.body.certificate, undefined);
    const san = await runOk("openssl", ["x509", "-noout", "-ext", "subjectAltName"], { input: cert.text.slice(0, cert.text.indexOf("-----END CERTIFICATE-----") + 25) });
    assert.match(san.stdout, /DNS:ok\.caa\.example/);
  });

  it("fail/other-issuer: records naming another CA make the challenge, authorization and order invalid with caa (RFC 8659 §4.2, RFC 8555 §6.7)", async () => {
    const name = "www.denied.caa.example";
    // found by climbing from www.denied.caa.example (RFC 8659 §3)
    await setCaa("denied.caa.example", [{ tag: "issue", value: "other-ca.test" }]);
    caaQueries.length = 0;
    const { orderUrl, authzs } = await orderAndValidate(on, [name]);
    assert.deepEqual(caaQueries, [name, "denied.caa.example"]);
    const authz = authzs[0]!;
    assertNonce(authz);
    assert.equal(authz.body.status, "invalid");
    const ch = authz.body.challenges.find((x: { type: string }) => x.type === "dns-01");
    assert.equal(ch.status, "invalid");
    assert.equal(ch.error.type, CAA_PROBLEM);
    assert.match(ch.error.detail, /CAA record for denied\.caa\.example prevents issuance/);
    const o = await on.post(orderUrl, undefined);
    assertNonce(o);
    assert.equal(o.body.status, "invalid");
    assert.equal(o.body.error.subproblems[0].type, CAA_PROBLEM);
  });

  it("fail/accounturi-mismatch: a record bound to another account refuses (RFC 8657 §3)", async () => {
    const name = "acct.caa.example";
    await setCaa(name, [{ tag: "issue", value: `${ISSUER}; accounturi=${off.kid}` }]);
    const { authzs } = await orderAndValidate(on, [name]);
    const ch = authzs[0]!.body.challenges.find((x: { type: string }) => x.type === "dns-01");
    assert.equal(ch.error.type, CAA_PROBLEM);
    assert.match(ch.error.detail, /accounturi/);
  });

  it("fail/servfail: a SERVFAIL while climbing is not a pass: invalid with dns (BR §3.2.2.8)", async () => {
    await mgmt("/set-servfail", { host: "sf.caa.example." });
    try {
      const { authzs } = await orderAndValidate(on, ["a.sf.caa.example"]);
      assert.equal(authzs[0]!.body.status, "invalid");
      const ch = authzs[0]!.body.challenges.find((x: { type: string }) => x.type === "dns-01");
      assert.equal(ch.error.type, "urn:ietf:params:acme:error:dns");
      assert.match(ch.error.detail, /SERVFAIL looking up CAA for sf\.caa\.example/);
    } finally {
      await mgmt("/clear-servfail", { host: "sf.caa.example." });
    }
  });

  it("ok/cname: a CNAME to a name whose records allow this CA passes (RFC 8659 §3)", async () => {
    await setCaa("target.caa.example", [{ tag: "issue", value: ISSUER }]);
    await setCaa("caa.example", [{ tag: "issue", value: ";" }]);
    await mgmt("/set-cname", { host: "alias.caa.example.", target: "target.caa.example." });
    try {
      const { authzs } = await orderAndValidate(on, ["alias.caa.example"]);
      assert.equal(authzs[0]!.body.status, "valid", authzs[0]!.text);
    } finally {
      await mgmt("/clear-cname", { host: "alias.caa.example." });
      await mgmt("/clear-caa", { host: "caa.example." });
    }
  });

  it("fail/issuewild: for a wildcard order issuewild naming another CA replaces issue (RFC 8659 §4.3)", async () => {
    await setCaa("wild.caa.example", [
      { tag: "issue", value: ISSUER },
      { tag: "issuewild", value: "other-ca.test" },
    ]);
    const { authzs } = await orderAndValidate(on, ["*.wild.caa.example"]);
    assert.equal(authzs[0]!.body.wildcard, true);
    const ch = authzs[0]!.body.challenges.find((x: { type: string }) => x.type === "dns-01");
    assert.equal(ch.error.type, CAA_PROBLEM);
    assert.match(ch.error.detail, /\*\.wild\.caa\.example: no issuewild property/);
  });

  it("finalize rechecks a CAA check older than 8 hours: refused with caa while the records forbid, issued once they allow (BR §3.2.2.8)", async () => {
    const name = "recheck.caa.example";
    await setCaa(name, [{ tag: "issue", value: ISSUER }]);
    const { order, orderUrl, authzs } = await orderAndValidate(on, [name]);
    assert.equal(authzs[0]!.body.status, "valid");
    // the records change, and the check ages past 8 hours
    await setCaa(name, [{ tag: "issue", value: "other-ca.test" }]);
    await db.query(`update acme_authorizations set caa_checked_at = caa_checked_at - interval '8 hours 1 minute' where id = $1`, [
      order.body.authorizations[0].split("/").pop(),
    ]);
    caaQueries.length = 0;
    const refused = await finalize(on, order, [name]);
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.body.type, CAA_PROBLEM);
    assert.equal(refused.body.subproblems[0].identifier.value, name);
    assert.deepEqual(caaQueries, [name]);
    // nothing was issued and the order can still be finalized
    assert.equal((await on.post(orderUrl, undefined)).body.status, "ready");
    const before = await caaCheckedAt(order.body.authorizations[0]);
    assert.ok(before && Date.now() - before.getTime() > 8 * 3_600_000, "a refused recheck records nothing");
    await setCaa(name, [{ tag: "issue", value: ISSUER }]);
    const fin = await finalize(on, order, [name]);
    assert.equal(fin.status, 200, fin.text);
    const after = await caaCheckedAt(order.body.authorizations[0]);
    assert.ok(after && Date.now() - after.getTime() < 60_000, "the passing recheck is recorded");
  });

  const authzId = (url: string): string => url.split("/").pop()!;

  it("the signing transaction refuses a check that turned older than 8 hours after the recheck (caa 403, order still ready), and the next finalize checks it anew", async () => {
    const [a, b] = ["tx-a.caa.example", "tx-b.caa.example"];
    await setCaa(a, [{ tag: "issue", value: ISSUER }]);
    await setCaa(b, [{ tag: "issue", value: ISSUER }]);
    const { order, orderUrl, authzs } = await orderAndValidate(on, [a, b]);
    assert.deepEqual(authzs.map((x) => x.body.status), ["valid", "valid"]);
    const idOf = (name: string): string => authzId(order.body.authorizations[authzs.findIndex((x) => x.body.identifier.value === name)]);
    // a's check is due again; while it is rechecked, b's turns 8 hours and 1 second old (a concurrent change, or the clock)
    await db.query(`update acme_authorizations set caa_checked_at = now() - interval '8 hours 1 minute' where id = $1`, [idOf(a)]);
    onCaaQuery = async (name) => {
      if (name === a) await db.query(`update acme_authorizations set caa_checked_at = now() - interval '8 hours 1 second' where id = $1`, [idOf(b)]);
    };
    caaQueries.length = 0;
    let refused: RawResponse;
    try {
      refused = await finalize(on, order, [a, b]);
    } finally {
      onCaaQuery = undefined;
    }
    assert.deepEqual(caaQueries, [a], "the recheck saw only a as due");
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.body.type, CAA_PROBLEM);
    assert.match(refused.body.detail, /tx-b\.caa\.example is older than 8 hours .*finalize again/);
    assert.deepEqual(refused.body.subproblems.map((x: { identifier: { value: string } }) => x.identifier.value), [b]);
    assert.equal((await on.post(orderUrl, undefined)).body.status, "ready", "nothing issued, the order can be finalized");
    caaQueries.length = 0;
    const fin = await finalize(on, order, [a, b]);
    assert.equal(fin.status, 200, fin.text);
    assert.deepEqual(caaQueries, [b], "the next finalize rechecks b");
  });

  it("an authorization validated while CAA was off has no check: with CAA on, finalize checks it before signing", async () => {
    const name = "was-off.caa.example";
    await setCaa(name, [{ tag: "issue", value: ISSUER }]);
    const { order, authzs } = await orderAndValidate(off, [name]);
    assert.equal(authzs[0]!.body.status, "valid");
    assert.equal(await caaCheckedAt(order.body.authorizations[0]), null);
    const offId = (await db.query<{ id: string }>(`select id from acme_directories where name = 'caa-off'`)).rows[0]!.id;
    await updateAcmeDirectory(server.ra, systemActor("test"), offId, { caaEnabled: true });
    try {
      caaQueries.length = 0;
      const fin = await finalize(off, order, [name]);
      assert.equal(fin.status, 200, fin.text);
      assert.deepEqual(caaQueries, [name], "checked at finalize");
      assert.ok(await caaCheckedAt(order.body.authorizations[0]));
    } finally {
      await updateAcmeDirectory(server.ra, systemActor("test"), offId, { caaEnabled: false });
    }
  });

  it("a recheck is recorded at the time its lookups started, not when they ended", async () => {
    const name = "started.caa.example";
    await setCaa(name, [{ tag: "issue", value: ISSUER }]);
    const { order } = await orderAndValidate(on, [name]);
    await db.query(`update acme_authorizations set caa_checked_at = now() - interval '9 hours' where id = $1`, [authzId(order.body.authorizations[0])]);
    let queryStarted: number | undefined;
    onCaaQuery = async () => {
      queryStarted ??= Date.now();
      await new Promise((r) => setTimeout(r, 300));
    };
    const before = Date.now();
    try {
      const fin = await finalize(on, order, [name]);
      assert.equal(fin.status, 200, fin.text);
    } finally {
      onCaaQuery = undefined;
    }
    const at = (await caaCheckedAt(order.body.authorizations[0]))!.getTime();
    assert.ok(queryStarted !== undefined);
    assert.ok(at >= before - 1000 && at <= queryStarted, `recorded ${new Date(at).toISOString()}, first lookup ${new Date(queryStarted).toISOString()}`);
  });

  it("finalize recheck of a 10-identifier order: at most CAA_FINALIZE_CONCURRENCY at once, one deadline for all, cut short is a dns refusal", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `many-${i}.caa.example`);
    const order = await on.post(on.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })) });
    assert.equal(order.status, 201, order.text);
    const ids = (order.body.authorizations as string[]).map(authzId);
    await db.query(`update acme_authorizations set status = 'valid', caa_checked_at = null where id = any($1::uuid[])`, [ids]);
    const account = { id: authzId(on.kid!) };
    const dir = { caaEnabled: true, name: "caa-on", caaIdentities: [ISSUER] };
    let inFlight = 0;
    let most = 0;
    let calls = 0;
    // answers after 20 ms: all pass, never more than the bound at once
    const slow: CaaChecker = {
      async checkCaa() {
        calls++;
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setTimeout(r, 20));
        inFlight--;
        return { status: "valid" };
      },
    };
    const orderId = authzId(order.headers.get("location")!);
    await recheckCaaBeforeFinalize(server.ra, slow, dir, account, orderId, {});
    assert.equal(calls, 10);
    assert.equal(most, CAA_FINALIZE_CONCURRENCY);
    const recorded = await db.query<{ n: number }>(`select count(*)::int n from acme_authorizations where id = any($1::uuid[]) and caa_checked_at is not null`, [ids]);
    assert.equal(recorded.rows[0]!.n, 10);

    // a checker that never answers: the deadline ends all of them with dns, nothing recorded
    await db.query(`update acme_authorizations set caa_checked_at = null where id = any($1::uuid[])`, [ids]);
    let started = 0;
    const silent: CaaChecker = {
      checkCaa() {
        started++;
        return new Promise(() => {});
      },
    };
    await assert.rejects(recheckCaaBeforeFinalize(server.ra, silent, dir, account, orderId, { deadlineMs: 100 }), (e: unknown) => {
      assert.ok(e instanceof AcmeError);
      assert.equal(e.acmeType, "dns");
      assert.match(e.message, /did not finish within 0\.1 s/);
      return true;
    });
    assert.equal(started, CAA_FINALIZE_CONCURRENCY, "no check starts after the deadline");
    const none = await db.query<{ n: number }>(`select count(*)::int n from acme_authorizations where id = any($1::uuid[]) and caa_checked_at is not null`, [ids]);
    assert.equal(none.rows[0]!.n, 0);

    // one refusal stops the others: at most the ones in flight ran
    let refusedCalls = 0;
    const refusing: CaaChecker = {
      async checkCaa(req) {
        refusedCalls++;
        // the first check started refuses (the order of the checks follows the authorizations, not `names`)
        if (refusedCalls === 1) return { status: "invalid", error: { type: "caa", detail: `no ${req.name}` }, transient: false };
        await new Promise((r) => setTimeout(r, 50));
        return { status: "valid" };
      },
    };
    await assert.rejects(recheckCaaBeforeFinalize(server.ra, refusing, dir, account, orderId, {}), (e: unknown) => e instanceof AcmeError && e.acmeType === "caa");
    assert.ok(refusedCalls <= CAA_FINALIZE_CONCURRENCY, `${refusedCalls} checks started`);
  });

  it("markCaaChecked never moves a later check back", async () => {
    const name = "mark.caa.example";
    await setCaa(name, [{ tag: "issue", value: ISSUER }]);
    const { order } = await orderAndValidate(on, [name]);
    const id = authzId(order.body.authorizations[0]);
    const later = new Date(Date.now() + 60_000);
    await markCaaChecked(server.ra.store, [id], later);
    await markCaaChecked(server.ra.store, [id], new Date(Date.now() - 3_600_000));
    assert.equal((await caaCheckedAt(order.body.authorizations[0]))!.getTime(), later.getTime());
  });

  it("off: a directory with CAA off looks nothing up, at validation or at finalize, whatever the records say", async () => {
    const name = "off.caa.example";
    await setCaa(name, [{ tag: "issue", value: ";" }]);
    caaQueries.length = 0;
    const { order, authzs } = await orderAndValidate(off, [name]);
    assert.equal(authzs[0]!.body.status, "valid");
    assert.equal(await caaCheckedAt(order.body.authorizations[0]), null);
    const fin = await finalize(off, order, [name]);
    assert.equal(fin.status, 200, fin.text);
    assert.deepEqual(caaQueries, []);
  });

  it("the real resolver gives each record as flags, tag and value; NODATA is ENODATA (RFC 8659 §4.1)", async () => {
    const real = createDnsResolver([dns.dnsServer], { timeoutMs: 2000, tries: 1 });
    await setCaa("shape.caa.example", [
      { tag: "issue", value: `${ISSUER}; validationmethods=dns-01` },
      { tag: "tbs", value: "unknown, not critical" },
    ]);
    assert.deepEqual(await real.resolveCaa("shape.caa.example"), [
      { flags: 0, tag: "issue", value: `${ISSUER}; validationmethods=dns-01` },
      { flags: 0, tag: "tbs", value: "unknown, not critical" },
    ]);
    await assert.rejects(real.resolveCaa("nothing.caa.example"), (e: unknown) => (e as { code?: string }).code === "ENODATA");
    // and end to end: the non-critical unknown tag is ignored, validationmethods=dns-01 matches
    const { authzs } = await orderAndValidate(on, ["shape.caa.example"]);
    assert.equal(authzs[0]!.body.status, "valid", authzs[0]!.text);
  });

  it("configuration: CAA on needs caa_identities (INVALID_ARGUMENT at create and update, nothing changed)", async () => {
    await assert.rejects(
      createDirectory(server.ra, systemActor("test"), { name: "caa-noid", ca: "default-intermediate", caaEnabled: true }),
      (e: unknown) => e instanceof SigilError && e.kind === "invalidArgument" && e.field === "caa_enabled",
    );
    const dir = await createDirectory(server.ra, systemActor("test"), { name: "caa-later", ca: "default-intermediate" });
    await assert.rejects(updateAcmeDirectory(server.ra, systemActor("test"), dir.id, { caaEnabled: true }), (e: unknown) => e instanceof SigilError && e.kind === "invalidArgument");
    const unchanged = await db.query<{ caa_enabled: boolean }>(`select caa_enabled from acme_directories where id = $1`, [dir.id]);
    assert.equal(unchanged.rows[0]!.caa_enabled, false);
    // with identities in the same update it is accepted; clearing the identities while on is refused
    const updated = await updateAcmeDirectory(server.ra, systemActor("test"), dir.id, { caaEnabled: true, caaIdentities: [ISSUER] });
    assert.equal(updated.caaEnabled, true);
    await assert.rejects(updateAcmeDirectory(server.ra, systemActor("test"), dir.id, { caaIdentities: [] }), (e: unknown) => e instanceof SigilError && e.kind === "invalidArgument");
  });
});
