import assert from "node:assert/strict";
import { createHash, generateKeyPairSync } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from "jose";
import { createCsr } from "../../../src/ca/csr.js";
import pg from "pg";
import { ACME_DNS_CHALLENGE_STATEMENTS, findDnsChallengeSubject, PRIOR_THUMBPRINTS_MAX } from "../../../src/db/store/acme-dns-challenges.js";
import { systemActor } from "../../../src/ra/actor.js";
import { updateAcmeDirectory } from "../../../src/ra/acme-admin.js";
import { createDirectory } from "../../../src/ra/acme/directories.js";
import { startChallTestSrv, type ChallTestSrv } from "../../interop/helpers/challtestsrv.js";
import { runOk } from "../../interop/helpers/tools.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { assertNonce, RawAcme, type RawResponse } from "./raw-client.js";

/**
 * dns-account-01 (draft-ietf-acme-dns-account-label) and dns-persist-01
 * (draft-ietf-acme-dns-persist-02) end to end: the real server with its real
 * validator and resolver, pebble-challtestsrv as the DNS (SIGIL_DNS_SERVERS),
 * the raw ACME client, order -> challenge -> valid -> finalize -> certificate
 * (read back with openssl). Both are offered only by a directory that lists
 * them.
 */

const ISSUER = "sigil-ca.test";
const PERSIST_DIR = "dns-optin";

/** RFC 4648 base32 written out here, independent of src/validation/dnsaccount01.ts */
function base32(bytes: Uint8Array): string {
  const bits = [...bytes].map((b) => b.toString(2).padStart(8, "0")).join("");
  let out = "";
  for (let i = 0; i < bits.length; i += 5) out += "abcdefghijklmnopqrstuvwxyz234567"[parseInt(bits.slice(i, i + 5).padEnd(5, "0"), 2)];
  return out;
}
const accountLabel = (accountUrl: string): string => `_${base32(createHash("sha256").update(accountUrl).digest().subarray(0, 10))}`;
/** draft-ietf-acme-dns-persist-02 §4.1 hashed URI, written out here */
function hashedUri(prefix: string, domain: string, thumbprint: string, accountUrl: string): string {
  const h = createHash("sha256").update(Buffer.concat([Buffer.from([domain.length]), Buffer.from(domain), Buffer.from(thumbprint), Buffer.from(accountUrl)])).digest("base64url");
  return `${prefix}sha-256/${h}`;
}

describe("ACME dns-account-01 and dns-persist-01 against the mock DNS", function () {
  this.timeout(60_000);
  let dns: ChallTestSrv;
  let server: AcmeTestServer;
  let c: RawAcme;
  let thumbprint: string;

  before(async () => {
    dns = await startChallTestSrv();
    server = await startAcmeTestServer({ env: { SIGIL_DNS_SERVERS: dns.dnsServer } });
    await createDirectory(server.ra, systemActor("test"), {
      name: PERSIST_DIR,
      ca: "default-intermediate",
      challengeTypes: ["dns-01", "dns-account-01", "dns-persist-01"],
      caaIdentities: [ISSUER],
    });
    await createDirectory(server.ra, systemActor("test"), { name: "dns-persist-nocaa", ca: "default-intermediate", challengeTypes: ["dns-persist-01"] });
    c = await RawAcme.create(server.directoryUrl(PERSIST_DIR));
    assert.equal((await c.register()).status, 201);
    thumbprint = await calculateJwkThumbprint(c.jwk, "sha256");
  });
  after(async () => {
    await server?.stop();
    await dns?.stop();
  });

  async function newAuthz(client: RawAcme, value: string): Promise<{ order: RawResponse; authz: RawResponse }> {
    const order = await client.post(client.dir.newOrder!, { identifiers: [{ type: "dns", value }] });
    assert.equal(order.status, 201, order.text);
    const authz = await client.post(order.body.authorizations[0], undefined);
    assert.equal(authz.status, 200, authz.text);
    return { order, authz };
  }
  const challengeOf = (authz: RawResponse, type: string) => authz.body.challenges.find((x: { type: string }) => x.type === type);

  async function finalizeAndDownload(client: RawAcme, order: RawResponse, names: string[]): Promise<string> {
    const orderUrl = order.headers.get("location")!;
    assert.equal((await client.post(orderUrl, undefined)).body.status, "ready");
    const csr = createCsr({ privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, commonName: names[0]!, dnsNames: names });
    const fin = await client.post(order.body.finalize, { csr: csr.der.toString("base64url") });
    assert.equal(fin.status, 200, fin.text);
    assertNonce(fin);
    let o = fin;
    for (let i = 0; i < 50 && o.body.status !== "valid"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      o = await client.post(orderUrl, undefined);
    }
    assert.equal(o.body.status, "valid", o.text);
    const cert = await client.post(o.body.certificate, undefined);
    assert.equal(cert.status, 200);
    assertNonce(cert);
    // the leaf as openssl reads it
    const leaf = cert.text.slice(0, cert.text.indexOf("-----END CERTIFICATE-----") + 25);
    const san = await runOk("openssl", ["x509", "-noout", "-ext", "subjectAltName"], { input: leaf });
    for (const n of names) assert.match(san.stdout, new RegExp(`DNS:${n.replace(/[.*]/g, "\\$&")}(,|\\s|$)`), san.stdout);
    return cert.text;
  }

  describe("opt-in per directory", () => {
    it("a directory with the default (empty) challenge list offers only http-01, dns-01, tls-alpn-01 and no dns-persist-01 meta", async () => {
      const d = await RawAcme.create(server.directoryUrl());
      await d.register();
      const dirDoc = (await (await fetch(server.directoryUrl())).json()) as { meta: Record<string, unknown> };
      assert.equal(dirDoc.meta.issuerDomainNames, undefined);
      assert.equal(dirDoc.meta.accountHashPrefix, undefined);
      const { authz } = await newAuthz(d, "default-dir.dns.example.com");
      assert.deepEqual(authz.body.challenges.map((x: { type: string }) => x.type).sort(), ["dns-01", "http-01", "tls-alpn-01"]);
    });

    it("a directory listing them offers dns-account-01 (with a token) and dns-persist-01 (issuerDomainNames, no token), and its meta names both values", async () => {
      const dirDoc = (await (await fetch(server.directoryUrl(PERSIST_DIR))).json()) as { meta: Record<string, unknown> };
      assert.deepEqual(dirDoc.meta.issuerDomainNames, [ISSUER]);
      assert.equal(dirDoc.meta.accountHashPrefix, `${server.baseUrl}/acme/${PERSIST_DIR}/account-hash/`);
      const { authz } = await newAuthz(c, "listed.dns.example.com");
      assert.deepEqual(authz.body.challenges.map((x: { type: string }) => x.type).sort(), ["dns-01", "dns-account-01", "dns-persist-01"]);
      const account = challengeOf(authz, "dns-account-01");
      assert.match(account.token, /^[A-Za-z0-9_-]{22,}$/);
      const persist = challengeOf(authz, "dns-persist-01");
      assert.equal(persist.token, undefined, "dns-persist-01 has no token (§3.1)");
      assert.deepEqual(persist.issuerDomainNames, [ISSUER]);
      assert.deepEqual(Object.keys(persist).sort(), ["issuerDomainNames", "status", "type", "url"]);
      // the challenge resource renders the same object
      const again = await c.post(persist.url, undefined);
      assert.deepEqual(again.body.issuerDomainNames, [ISSUER]);
      assert.equal(again.body.token, undefined);
    });

    it("without caaIdentities the issuer domain name is the ACME URL's host", async () => {
      const dirDoc = (await (await fetch(server.directoryUrl("dns-persist-nocaa"))).json()) as { meta: Record<string, unknown> };
      assert.deepEqual(dirDoc.meta.issuerDomainNames, [new URL(server.baseUrl).hostname]);
    });

    it("an unknown challenge type in the policy is still refused", async () => {
      await assert.rejects(createDirectory(server.ra, systemActor("test"), { name: "bad-types", ca: "default-intermediate", challengeTypes: ["dns-persist-02" as never] }), /challenge type/);
    });
  });

  describe("dns-account-01", () => {
    it("ok/order -> TXT at _<label>._acme-challenge -> valid -> finalize -> certificate", async () => {
      const name = "acct.dns.example.com";
      const { order, authz } = await newAuthz(c, name);
      const ch = challengeOf(authz, "dns-account-01");
      const record = `${accountLabel(c.kid!)}._acme-challenge.${name}`;
      assert.match(record, /^_[a-z2-7]{16}\._acme-challenge\./);
      await dns.setTxt(record, createHash("sha256").update(`${ch.token}.${thumbprint}`).digest("base64url"));
      const r = await c.post(ch.url, {});
      assert.equal(r.status, 200, r.text);
      assertNonce(r);
      await server.acme.validations.idle();
      assert.equal((await c.post(ch.url, undefined)).body.status, "valid");
      await finalizeAndDownload(c, order, [name]);
    });

    it("ok/wildcard: the record under the base name validates *.name", async () => {
      const base = "wild-acct.dns.example.com";
      const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: `*.${base}` }] });
      const authz = await c.post(order.body.authorizations[0], undefined);
      assert.equal(authz.body.wildcard, true);
      const ch = challengeOf(authz, "dns-account-01");
      await dns.setTxt(`${accountLabel(c.kid!)}._acme-challenge.${base}`, createHash("sha256").update(`${ch.token}.${thumbprint}`).digest("base64url"));
      await c.post(ch.url, {});
      await server.acme.validations.idle();
      assert.equal((await c.post(ch.url, undefined)).body.status, "valid");
      await finalizeAndDownload(c, order, [`*.${base}`]);
    });

    it("fail/a record at the plain dns-01 name (no account label) leaves it invalid: dns problem, order invalid, Replay-Nonce", async () => {
      const name = "acct-wrong.dns.example.com";
      const { order, authz } = await newAuthz(c, name);
      const ch = challengeOf(authz, "dns-account-01");
      await dns.setTxt(`_acme-challenge.${name}`, createHash("sha256").update(`${ch.token}.${thumbprint}`).digest("base64url"));
      await c.post(ch.url, {});
      await server.acme.validations.idle();
      const after = await c.post(ch.url, undefined);
      assertNonce(after);
      assert.equal(after.body.status, "invalid");
      assert.equal(after.body.error.type, "urn:ietf:params:acme:error:dns");
      assert.match(after.body.error.detail, /No TXT record found at _[a-z2-7]{16}\._acme-challenge\.acct-wrong\.dns\.example\.com/);
      assert.equal((await c.post(order.headers.get("location")!, undefined)).body.status, "invalid");
    });

    it("fail/a wrong value is incorrectResponse", async () => {
      const name = "acct-value.dns.example.com";
      const { authz } = await newAuthz(c, name);
      const ch = challengeOf(authz, "dns-account-01");
      await dns.setTxt(`${accountLabel(c.kid!)}._acme-challenge.${name}`, "not-the-digest");
      const r = await c.post(ch.url, {});
      assertNonce(r);
      await server.acme.validations.idle();
      const after = await c.post(ch.url, undefined);
      assert.equal(after.body.status, "invalid");
      assert.equal(after.body.error.type, "urn:ietf:params:acme:error:incorrectResponse");
    });
  });

  describe("dns-persist-01", () => {
    const prefix = () => `${server.baseUrl}/acme/${PERSIST_DIR}/account-hash/`;

    async function persistChallenge(client: RawAcme, value: string) {
      const { order, authz } = await newAuthz(client, value);
      return { order, authz, ch: challengeOf(authz, "dns-persist-01") };
    }

    it("ok/order -> _validation-persist record (issuer; accounturi=hashed URI) -> valid -> finalize -> certificate", async () => {
      const name = "persist.dns.example.com";
      const { order, ch } = await persistChallenge(c, name);
      await dns.setTxt(`_validation-persist.${name}`, `${ISSUER}; accounturi=${hashedUri(prefix(), name, thumbprint, c.kid!)}`);
      const r = await c.post(ch.url, {});
      assert.equal(r.status, 200, r.text);
      assertNonce(r);
      await server.acme.validations.idle();
      const after = await c.post(ch.url, undefined);
      assert.equal(after.body.status, "valid", after.text);
      assert.equal(after.body.token, undefined);
      await finalizeAndDownload(c, order, [name]);
    });

    it("ok/the record persists: after the first authorization is deactivated, a new one validates against the same record", async () => {
      const name = "persist-reuse.dns.example.com";
      const k = await RawAcme.create(server.directoryUrl(PERSIST_DIR));
      await k.register();
      const kt = await calculateJwkThumbprint(k.jwk, "sha256");
      // published once, before any order (§4.5), in the domain-omitted form, issuer in upper case, an unknown parameter
      await dns.setTxt(`_validation-persist.${name}`, `${ISSUER.toUpperCase()};accounturi=${hashedUri(prefix(), "*", kt, k.kid!)}; future-param=x`);
      const seen = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const { order, ch } = await persistChallenge(k, name);
        seen.add(order.body.authorizations[0]);
        await k.post(ch.url, {});
        await server.acme.validations.idle();
        assert.equal((await k.post(ch.url, undefined)).body.status, "valid");
        await finalizeAndDownload(k, order, [name]);
        // RFC 8555 §7.5.2: without this the next order would reuse the valid authorization (§7.1.4)
        const off = await k.post(order.body.authorizations[0], { status: "deactivated" });
        assert.equal(off.body.status, "deactivated", off.text);
      }
      assert.equal(seen.size, 2, "two authorizations, each validated by the one record");
    });

    it("ok/wildcard needs policy=wildcard: without it unauthorized, with it valid and the certificate issued", async () => {
      const base = "wild-persist.dns.example.com";
      const mk = async (k: RawAcme) => {
        const order = await k.post(k.dir.newOrder!, { identifiers: [{ type: "dns", value: `*.${base}` }] });
        const authz = await k.post(order.body.authorizations[0], undefined);
        return { order, ch: challengeOf(authz, "dns-persist-01") };
      };
      const k1 = await RawAcme.create(server.directoryUrl(PERSIST_DIR));
      await k1.register();
      const t1 = await calculateJwkThumbprint(k1.jwk, "sha256");
      await dns.setTxt(`_validation-persist.${base}`, `${ISSUER}; accounturi=${hashedUri(prefix(), base, t1, k1.kid!)}`);
      const first = await mk(k1);
      await k1.post(first.ch.url, {});
      await server.acme.validations.idle();
      const refused = await k1.post(first.ch.url, undefined);
      assertNonce(refused);
      assert.equal(refused.body.status, "invalid");
      assert.equal(refused.body.error.type, "urn:ietf:params:acme:error:unauthorized");
      assert.match(refused.body.error.detail, /policy=wildcard/);

      const k2 = await RawAcme.create(server.directoryUrl(PERSIST_DIR));
      await k2.register();
      const t2 = await calculateJwkThumbprint(k2.jwk, "sha256");
      await dns.setTxt(`_validation-persist.${base}`, `${ISSUER}; accounturi=${hashedUri(prefix(), base, t2, k2.kid!)}; policy=Wildcard`);
      const second = await mk(k2);
      await k2.post(second.ch.url, {});
      await server.acme.validations.idle();
      assert.equal((await k2.post(second.ch.url, undefined)).body.status, "valid");
      await finalizeAndDownload(k2, second.order, [`*.${base}`]);
    });

    it("ok/persistUntil bounds the authorization's expires (§4.1 item 5)", async () => {
      const name = "persist-until.dns.example.com";
      const until = Math.floor(Date.now() / 1000) + 3600;
      const { ch, order } = await persistChallenge(c, name);
      const before = await c.post(order.body.authorizations[0], undefined);
      assert.ok(new Date(before.body.expires).getTime() > until * 1000, "a pending authorization lives longer than the record's bound");
      await dns.setTxt(`_validation-persist.${name}`, `${ISSUER}; accounturi=${hashedUri(prefix(), name, thumbprint, c.kid!)}; persistUntil=${until}`);
      await c.post(ch.url, {});
      await server.acme.validations.idle();
      const authzNow = await c.post(order.body.authorizations[0], undefined);
      assert.equal(authzNow.body.status, "valid", authzNow.text);
      assert.ok(new Date(authzNow.body.expires).getTime() <= until * 1000, `expires ${authzNow.body.expires} is not after persistUntil`);
    });

    it("fail/an expired persistUntil is unauthorized, with a Replay-Nonce", async () => {
      const name = "persist-expired.dns.example.com";
      const { ch, order } = await persistChallenge(c, name);
      await dns.setTxt(`_validation-persist.${name}`, `${ISSUER}; accounturi=${hashedUri(prefix(), name, thumbprint, c.kid!)}; persistUntil=1721952000`);
      await c.post(ch.url, {});
      await server.acme.validations.idle();
      const after = await c.post(ch.url, undefined);
      assertNonce(after);
      assert.equal(after.body.status, "invalid");
      assert.equal(after.body.error.type, "urn:ietf:params:acme:error:unauthorized");
      assert.match(after.body.error.detail, /persistUntil 1721952000 .* has passed/);
      assert.equal((await c.post(order.headers.get("location")!, undefined)).body.status, "invalid");
    });

    it("fail/another account's record is unauthorized", async () => {
      const name = "persist-other.dns.example.com";
      const other = await RawAcme.create(server.directoryUrl(PERSIST_DIR));
      await other.register();
      const otherThumb = await calculateJwkThumbprint(other.jwk, "sha256");
      const { ch } = await persistChallenge(c, name);
      await dns.setTxt(`_validation-persist.${name}`, `${ISSUER}; accounturi=${hashedUri(prefix(), name, otherThumb, other.kid!)}`);
      const r = await c.post(ch.url, {});
      assertNonce(r);
      await server.acme.validations.idle();
      const after = await c.post(ch.url, undefined);
      assert.equal(after.body.status, "invalid");
      assert.equal(after.body.error.type, "urn:ietf:params:acme:error:unauthorized");
      assert.match(after.body.error.detail, /does not identify this account/);
    });

    it("fail/a record in the draft -01 form (raw account URL) is malformed", async () => {
      const name = "persist-raw.dns.example.com";
      const { ch } = await persistChallenge(c, name);
      await dns.setTxt(`_validation-persist.${name}`, `${ISSUER}; accounturi=${c.kid}`);
      await c.post(ch.url, {});
      await server.acme.validations.idle();
      const after = await c.post(ch.url, undefined);
      assert.equal(after.body.status, "invalid");
      assert.equal(after.body.error.type, "urn:ietf:params:acme:error:malformed");
    });

    it("fail/a record for another CA only is unauthorized", async () => {
      const name = "persist-otherca.dns.example.com";
      const { ch } = await persistChallenge(c, name);
      await dns.setTxt(`_validation-persist.${name}`, `other-ca.example; accounturi=${hashedUri(prefix(), name, thumbprint, c.kid!)}`);
      await c.post(ch.url, {});
      await server.acme.validations.idle();
      const after = await c.post(ch.url, undefined);
      assert.equal(after.body.status, "invalid");
      assert.equal(after.body.error.type, "urn:ietf:params:acme:error:unauthorized");
      assert.match(after.body.error.detail, /names an issuer domain name of this CA/);
    });

    it("ok/a record computed with the account's previous key still validates after a key change (§4.2 retention)", async () => {
      const name = "persist-rollover.dns.example.com";
      const k = await RawAcme.create(server.directoryUrl(PERSIST_DIR));
      await k.register();
      const oldThumb = await calculateJwkThumbprint(k.jwk, "sha256");
      await dns.setTxt(`_validation-persist.${name}`, `${ISSUER}; accounturi=${hashedUri(prefix(), name, oldThumb, k.kid!)}`);
      // RFC 8555 §7.3.5 key change
      const kp = await generateKeyPair("ES256", { extractable: true });
      const next = { key: kp.privateKey, jwk: await exportJWK(kp.publicKey), alg: "ES256" };
      const changed = await k.post(k.dir.keyChange!, await k.keyChangeInner(next));
      assert.equal(changed.status, 200, changed.text);
      k.key = next.key;
      k.jwk = next.jwk;
      const { ch, order } = await persistChallenge(k, name);
      await k.post(ch.url, {});
      await server.acme.validations.idle();
      const after = await k.post(ch.url, undefined);
      assert.equal(after.body.status, "valid", after.text);
      await finalizeAndDownload(k, order, [name]);
    });
  });
});

describe("dns-persist-01 retained keys (a bounded, index-backed read); a challenge type the directory stopped offering", function () {
  this.timeout(60_000);
  let server: AcmeTestServer;
  let db: pg.Client;
  before(async () => {
    // no directory cache: a policy change shows at once
    server = await startAcmeTestServer({ acme: { directoryCacheMs: 0 } });
    await createDirectory(server.ra, systemActor("test"), { name: "persist-keys", ca: "default-intermediate", challengeTypes: ["dns-persist-01"] });
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await server?.stop();
  });

  interface PlanNode { "Node Type": string; "Relation Name"?: string; "Index Name"?: string; Plans?: PlanNode[] }
  const nodes = (n: PlanNode, out: PlanNode[] = []): PlanNode[] => {
    out.push(n);
    for (const p of n.Plans ?? []) nodes(p, out);
    return out;
  };

  it("fail/a challenge of a type the directory no longer offers is not started: 400 malformed with a Replay-Nonce, the challenge stays pending", async () => {
    const dir = await createDirectory(server.ra, systemActor("test"), { name: "types-change", ca: "default-intermediate", challengeTypes: ["dns-01", "dns-persist-01"] });
    const c = await RawAcme.create(server.directoryUrl("types-change"));
    assert.equal((await c.register()).status, 201);
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "types.dns.example.com" }] });
    assert.equal(order.status, 201, order.text);
    const authz = await c.post(order.body.authorizations[0], undefined);
    const persist = authz.body.challenges.find((x: { type: string }) => x.type === "dns-persist-01");
    assert.ok(persist);
    await updateAcmeDirectory(server.ra, systemActor("test"), dir.id, { challengeTypes: ["dns-01"] });
    const r = await c.post(persist.url, {});
    assert.equal(r.status, 400, r.text);
    assertNonce(r);
    assert.equal(r.body.type, "urn:ietf:params:acme:error:malformed");
    assert.match(r.body.detail, /challenge type dns-persist-01 is not enabled for this directory/);
    assert.equal((await c.post(persist.url, undefined)).body.status, "pending");
    const row = await db.query<{ status: string }>(`select status from acme_challenges where id = $1`, [persist.url.split("/").pop()]);
    assert.equal(row.rows[0]!.status, "pending", "nothing written");
  });

  it(`reads at most ${PRIOR_THUMBPRINTS_MAX} earlier keys, newest first, through audit_log_acme_key_change_index`, async () => {
    const c = await RawAcme.create(server.directoryUrl("persist-keys"));
    assert.equal((await c.register()).status, 201);
    const accountId = c.kid!.split("/").pop()!;
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "keys.dns.example.com" }] });
    assert.equal(order.status, 201, order.text);
    const authzId = (order.body.authorizations[0] as string).split("/").pop()!;
    // 40 key changes of this account (thumbprint tp-<i>, later i newer) and 3000 of other accounts
    await db.query(
      `insert into audit_log (id, created_at, action, username, resource_type, resource_id, detail)
       select gen_random_uuid(), now() - make_interval(secs => 1000 - i), 'acme_account_key_change', 'acme', 'acme_account', $1, jsonb_build_object('oldThumbprint', 'tp-' || i)
         from generate_series(1, 40) i`,
      [accountId],
    );
    await db.query(
      `insert into audit_log (id, created_at, action, username, resource_type, resource_id, detail)
       select gen_random_uuid(), now(), 'acme_account_key_change', 'acme', 'acme_account', gen_random_uuid()::text, jsonb_build_object('oldThumbprint', 'x' || i)
         from generate_series(1, 3000) i`,
    );
    await db.query("analyze audit_log");
    const subject = await findDnsChallengeSubject(server.ra.store, authzId);
    assert.ok(subject);
    assert.equal(PRIOR_THUMBPRINTS_MAX, 15);
    assert.deepEqual(subject.priorThumbprints, Array.from({ length: 15 }, (_, i) => `tp-${40 - i}`));

    const st = ACME_DNS_CHALLENGE_STATEMENTS.subject;
    await db.query(`prepare persist_subject as ${st.text}`);
    const r = await db.query<{ "QUERY PLAN": Array<{ Plan: PlanNode }> }>(`explain (format json) execute persist_subject('${authzId}', ${PRIOR_THUMBPRINTS_MAX})`);
    const all = nodes(r.rows[0]!["QUERY PLAN"][0]!.Plan);
    assert.ok(!all.some((n) => n["Node Type"] === "Seq Scan" && n["Relation Name"] === "audit_log"), JSON.stringify(all.map((n) => [n["Node Type"], n["Relation Name"], n["Index Name"]])));
    assert.ok(all.some((n) => n["Index Name"] === "audit_log_acme_key_change_index"), JSON.stringify(all.map((n) => [n["Node Type"], n["Relation Name"], n["Index Name"]])));
  });
});

describe("ACME dns-persist-01 and dns-account-01 on the embedded database (PGlite)", function () {
  this.timeout(90_000);
  let dns: ChallTestSrv;
  let server: TestServer;

  before(async () => {
    dns = await startChallTestSrv();
    server = await startTestServer({ embedded: true, env: { SIGIL_DNS_SERVERS: dns.dnsServer } });
    await createDirectory(server.ra, systemActor("test"), { name: "embedded-dns", ca: "default-intermediate", challengeTypes: ["dns-account-01", "dns-persist-01"], caaIdentities: [ISSUER] });
  });
  after(async () => {
    await server?.stop();
    await dns?.stop();
  });

  it("validates both after a key change (the retained-thumbprint query runs on PGlite too)", async () => {
    const k = await RawAcme.create(`${server.baseUrl}/acme/embedded-dns/directory`);
    await k.register();
    const oldThumb = await calculateJwkThumbprint(k.jwk, "sha256");
    const kp = await generateKeyPair("ES256", { extractable: true });
    const next = { key: kp.privateKey, jwk: await exportJWK(kp.publicKey), alg: "ES256" };
    assert.equal((await k.post(k.dir.keyChange!, await k.keyChangeInner(next))).status, 200);
    k.key = next.key;
    k.jwk = next.jwk;
    const newThumb = await calculateJwkThumbprint(k.jwk, "sha256");

    const persistName = "embedded-persist.dns.example.com";
    await dns.setTxt(`_validation-persist.${persistName}`, `${ISSUER}; accounturi=${hashedUri(`${server.baseUrl}/acme/embedded-dns/account-hash/`, persistName, oldThumb, k.kid!)}`);
    const accountName = "embedded-acct.dns.example.com";
    const order = await k.post(k.dir.newOrder!, { identifiers: [persistName, accountName].map((value) => ({ type: "dns", value })) });
    assert.equal(order.status, 201, order.text);
    for (const url of order.body.authorizations as string[]) {
      const authz = await k.post(url, undefined);
      const value = authz.body.identifier.value as string;
      const ch = authz.body.challenges.find((x: { type: string }) => x.type === (value === persistName ? "dns-persist-01" : "dns-account-01"));
      if (value === accountName) await dns.setTxt(`${accountLabel(k.kid!)}._acme-challenge.${value}`, createHash("sha256").update(`${ch.token}.${newThumb}`).digest("base64url"));
      const r = await k.post(ch.url, {});
      assertNonce(r);
    }
    await server.acme.validations.idle();
    const o = await k.post(order.headers.get("location")!, undefined);
    assert.equal(o.body.status, "ready", o.text);
  });
});
