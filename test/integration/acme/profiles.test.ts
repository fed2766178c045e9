/**
 * ACME profiles (draft-ietf-acme-profiles-00) over the real server: the
 * default directory's presets in meta.profiles (§3), newOrder's `profile`
 * named, defaulted and unknown (§4 invalidProfile), the order echoing it,
 * the profile's identifier rules, lifetimes and reuse period, and finalize
 * issuing with the profile's validity, kind (EKU) and CN (checked with
 * openssl), and refusing an order whose profile was deleted since (§4).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { createCsr } from "../../../src/ca/csr.js";
import { updateAcmeDirectory } from "../../../src/ra/acme-admin.js";
import { systemActor } from "../../../src/ra/actor.js";
import { createDirectory } from "../../../src/ra/acme/directories.js";
import { createAcmeProfile, deleteAcmeProfile, listAcmeProfiles } from "../../../src/ra/acme/profiles.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { assertNonce, RawAcme, type RawResponse } from "./raw-client.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PROFILE_ERROR = "urn:ietf:params:acme:error:invalidProfile";

/** openssl's view of a PEM certificate's subject and extensions */
function opensslText(pem: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "sigil-profile-"));
  try {
    const f = path.join(dir, "leaf.pem");
    writeFileSync(f, pem);
    return execFileSync("openssl", ["x509", "-in", f, "-noout", "-subject", "-ext", "extendedKeyUsage,keyUsage,subjectAltName"], { encoding: "utf8" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("ACME profiles (draft-ietf-acme-profiles-00)", function () {
  this.timeout(60_000);
  let server: AcmeTestServer;
  let db: pg.Client;
  const validator = new FakeValidator();
  const actor = systemActor("test");

  before(async () => {
    server = await startAcmeTestServer({ validator, acme: { directoryCacheMs: 0 } });
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
  });
  after(async () => {
    await db?.end();
    await server?.stop();
  });

  async function client(dir = "default"): Promise<RawAcme> {
    const c = await RawAcme.create(server.directoryUrl(dir));
    const r = await c.register();
    assert.equal(r.status, 201, r.text);
    return c;
  }

  async function validate(c: RawAcme, authzUrl: string): Promise<void> {
    const authz = await c.post(authzUrl, undefined);
    const ch = authz.body.challenges.find((x: { type: string }) => x.type === "http-01");
    await c.post(ch.url, {});
    await server.acme.validations.idle();
  }

  /** newOrder -> validated -> finalized: the order and the issued certificate (PEM of the leaf) */
  async function issue(c: RawAcme, names: string[], profile?: string, csrCn: string | undefined = names[0]): Promise<{ order: RawResponse; pem: string }> {
    const order = await c.post(c.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })), ...(profile ? { profile } : {}) });
    assert.equal(order.status, 201, order.text);
    for (const a of order.body.authorizations as string[]) await validate(c, a);
    const csr = createCsr({ privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, commonName: csrCn, dnsNames: names });
    const fin = await c.post(order.body.finalize, { csr: csr.der.toString("base64url") });
    assert.equal(fin.status, 200, fin.text);
    assert.equal(fin.body.status, "valid");
    const cert = await c.post(fin.body.certificate, undefined);
    assert.equal(cert.status, 200, cert.text);
    const pem = (cert.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/) ?? [""])[0];
    return { order: fin, pem };
  }

  it("lists the default directory's presets in meta.profiles (§3)", async () => {
    const r = await fetch(server.directoryUrl());
    const body = (await r.json()) as { meta: { profiles: Record<string, string> } };
    assert.deepEqual(Object.keys(body.meta.profiles), ["classic", "shortlived", "tlsclient", "tlsserver"]);
    for (const d of Object.values(body.meta.profiles)) assert.ok(d.length > 10, "each has a description");
  });

  it("gives an order without profile the default (classic) and echoes a named one (§4)", async () => {
    const c = await client();
    const plain = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "plain.profiles.example.com" }] });
    assert.equal(plain.status, 201, plain.text);
    assertNonce(plain);
    assert.equal(plain.body.profile, "classic");
    const named = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "named.profiles.example.com" }], profile: "tlsserver" });
    assert.equal(named.status, 201, named.text);
    assert.equal(named.body.profile, "tlsserver");
    const again = await c.post(named.headers.get("location")!, undefined);
    assert.equal(again.body.profile, "tlsserver", "the stored order shows it too");
    const row = await db.query<{ profile: string }>(`select profile from acme_orders where id = $1`, [named.headers.get("location")!.split("/").pop()]);
    assert.equal(row.rows[0]!.profile, "tlsserver");
  });

  it("refuses an unknown profile with invalidProfile, 400, a fresh nonce and nothing written", async () => {
    const c = await client();
    const before = Number((await db.query<{ n: string }>(`select count(*) n from acme_orders`)).rows[0]!.n);
    for (const profile of ["nosuch", "Classic", ""]) {
      const r = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "unknown.profiles.example.com" }], profile });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.type, PROFILE_ERROR);
      assert.equal(r.headers.get("content-type"), "application/problem+json");
      assertNonce(r);
    }
    const bad = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "unknown.profiles.example.com" }], profile: 7 });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.type, "urn:ietf:params:acme:error:malformed");
    assertNonce(bad);
    const after = Number((await db.query<{ n: string }>(`select count(*) n from acme_orders`)).rows[0]!.n);
    assert.equal(after, before, "no order row for a refused newOrder");
  });

  it("issues shortlived certificates of at most 160 hours without CN", async () => {
    const c = await client();
    const { order, pem } = await issue(c, ["short.profiles.example.com"], "shortlived");
    assert.equal(order.body.profile, "shortlived");
    const x = new X509Certificate(pem);
    const lifetime = new Date(x.validTo).getTime() - new Date(x.validFrom).getTime();
    assert.ok(lifetime <= 160 * HOUR, `lifetime ${lifetime / HOUR} h`);
    assert.ok(lifetime > 159 * HOUR, `lifetime ${lifetime / HOUR} h`);
    const text = opensslText(pem);
    assert.doesNotMatch(text, /CN\s*=/, "no subject CN");
    assert.match(text, /TLS Web Server Authentication/);
    assert.match(text, /DNS:short\.profiles\.example\.com/);
  });

  it("issues tlsclient certificates with clientAuth only, and classic ones as before (CN, serverAuth)", async () => {
    const c = await client();
    const client1 = await issue(c, ["client.profiles.example.com"], "tlsclient");
    const text = opensslText(client1.pem);
    assert.match(text, /TLS Web Client Authentication/);
    assert.doesNotMatch(text, /TLS Web Server Authentication/);
    assert.match(text, /CN\s*=\s*client\.profiles\.example\.com/);
    const lifetime = new Date(new X509Certificate(client1.pem).validTo).getTime() - Date.now();
    assert.ok(lifetime <= 45 * DAY + 60_000, `${lifetime / DAY} days`);

    const classic = await issue(c, ["classic.profiles.example.com"]);
    assert.equal(classic.order.body.profile, "classic");
    const ct = opensslText(classic.pem);
    assert.match(ct, /CN\s*=\s*classic\.profiles\.example\.com/);
    assert.match(ct, /TLS Web Server Authentication/);
    assert.doesNotMatch(ct, /Client Authentication/);
    const days = (new Date(new X509Certificate(classic.pem).validTo).getTime() - Date.now()) / DAY;
    assert.ok(days > 100 && days <= 200.01, `classic: ${days} days`);
  });

  it("bounds notAfter by the profile's validity", async () => {
    const c = await client();
    const notAfter = new Date(Date.now() + 10 * DAY).toISOString();
    const r = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "na.profiles.example.com" }], profile: "shortlived", notAfter });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.type, "urn:ietf:params:acme:error:malformed");
    assert.match(r.body.detail, /160 hours/);
    assertNonce(r);
    const ok = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "na.profiles.example.com" }], profile: "classic", notAfter });
    assert.equal(ok.status, 201, ok.text);
  });

  describe("a directory with operator profiles", () => {
    let dirId: string;
    before(async () => {
      // dual: the bound of the "ku" profile's dual kind below (review 2 M6)
      const d = await createDirectory(server.ra, actor, { name: "prof", ca: "default-intermediate", allowedIpRanges: ["127.0.0.0/8"], maxValidityDays: 30, certificateKind: "dual" });
      dirId = d.id;
      await createAcmeProfile(server.ra, actor, { directoryId: dirId, name: "one", description: "one DNS name", maxIdentifiers: 1, identifierTypes: ["dns"] });
      await createAcmeProfile(server.ra, actor, {
        directoryId: dirId,
        name: "brief",
        description: "short-lived orders",
        orderLifetimeSeconds: 3600,
        pendingAuthorizationLifetimeSeconds: 1800,
        authorizationReuseSeconds: 1,
      });
    });

    it("gives it a classic default from its own kind and validity, capped by max_validity_days", async () => {
      const profiles = await listAcmeProfiles(server.ra, actor, dirId);
      assert.deepEqual(profiles.map((p) => p.name), ["brief", "classic", "one"]);
      const classic = profiles.find((p) => p.name === "classic")!;
      assert.equal(classic.isDefault, true);
      assert.equal(classic.maxValiditySeconds, 30 * 86_400);
      assert.equal(profiles.find((p) => p.name === "one")!.maxValiditySeconds, 30 * 86_400, "the preset's 200 days, clipped to the directory's 30");
      const body = (await (await fetch(server.directoryUrl("prof"))).json()) as { meta: { profiles: Record<string, string> } };
      assert.deepEqual(body.meta.profiles, { brief: "short-lived orders", classic: profiles.find((p) => p.name === "classic")!.description, one: "one DNS name" });
    });

    it("refuses more identifiers than the profile allows (malformed)", async () => {
      const c = await client("prof");
      const r = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "a.prof.example" }, { type: "dns", value: "b.prof.example" }], profile: "one" });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.type, "urn:ietf:params:acme:error:malformed");
      assert.match(r.body.detail, /at most 1 identifier/);
      assertNonce(r);
    });

    it("refuses an identifier type the named profile does not issue for with invalidProfile (§4), subproblem per identifier", async () => {
      const c = await client("prof");
      const r = await c.post(c.dir.newOrder!, { identifiers: [{ type: "ip", value: "127.0.0.1" }], profile: "one" });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.type, PROFILE_ERROR);
      assert.equal(r.body.subproblems?.[0]?.type, "urn:ietf:params:acme:error:rejectedIdentifier");
      assert.deepEqual(r.body.subproblems?.[0]?.identifier, { type: "ip", value: "127.0.0.1" });
      assertNonce(r);
      // the directory's own rules still come first: a name outside them is rejectedIdentifier whatever the profile
      const ok = await c.post(c.dir.newOrder!, { identifiers: [{ type: "ip", value: "127.0.0.1" }] });
      assert.equal(ok.status, 201, ok.text);
      assert.equal(ok.body.profile, "classic");
    });

    it("refuses such an identifier under a default profile with rejectedIdentifier (RFC 8555 §6.7)", async () => {
      const c = await client("prof");
      const admin = (await listAcmeProfiles(server.ra, actor, dirId)).find((p) => p.name === "one")!;
      await updateAcmeDirectory(server.ra, actor, dirId, { defaultProfile: "one" });
      try {
        const r = await c.post(c.dir.newOrder!, { identifiers: [{ type: "ip", value: "127.0.0.1" }] });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.body.type, "urn:ietf:params:acme:error:rejectedIdentifier");
        assert.equal(r.body.subproblems?.length, 1);
        assertNonce(r);
        const d = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "dflt.prof.example" }] });
        assert.equal(d.body.profile, admin.name);
      } finally {
        await updateAcmeDirectory(server.ra, actor, dirId, { defaultProfile: "classic" });
      }
    });

    it("gives orders and pending authorizations the profile's lifetimes, and reuses authorizations only within its reuse period", async () => {
      const c = await client("prof");
      const t0 = Date.now();
      const r = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "life.prof.example" }], profile: "brief" });
      assert.equal(r.status, 201, r.text);
      const expires = new Date(r.body.expires).getTime();
      assert.ok(Math.abs(expires - (t0 + HOUR)) < 60_000, `order expires ${r.body.expires}`);
      const authz = await c.post(r.body.authorizations[0], undefined);
      const authzExpires = new Date(authz.body.expires).getTime();
      assert.ok(Math.abs(authzExpires - (t0 + HOUR / 2)) < 60_000, `authorization expires ${authz.body.expires}`);
      await validate(c, r.body.authorizations[0]);
      // a second past the validation: outside brief's 1-second reuse period, inside classic's 30 days
      await new Promise((res) => setTimeout(res, 1_100));
      const again = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "life.prof.example" }], profile: "brief" });
      assert.notEqual(again.body.authorizations[0], r.body.authorizations[0], "brief does not reuse it");
      assert.equal(again.body.status, "pending");
      const classic = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "life.prof.example" }], profile: "classic" });
      assert.equal(classic.body.authorizations[0], r.body.authorizations[0], "classic reuses it");
      assert.equal(classic.body.status, "ready");
    });

    it("issues with the profile's key usages and kind (EKU), an EC key getting keyAgreement, not keyEncipherment", async () => {
      await createAcmeProfile(server.ra, actor, {
        directoryId: dirId,
        name: "ku",
        certificateKind: "dual",
        keyUsages: ["digitalSignature", "keyEncipherment", "keyAgreement"],
        includeCommonName: false,
      });
      const c = await client("prof");
      const { pem } = await issue(c, ["ku.prof.example"], "ku");
      const text = opensslText(pem);
      assert.match(text, /Digital Signature, Key Agreement/);
      assert.doesNotMatch(text, /Key Encipherment/, "keyEncipherment only for RSA keys");
      assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
      assert.doesNotMatch(text, /CN\s*=/);
      const days = (new Date(new X509Certificate(pem).validTo).getTime() - Date.now()) / DAY;
      assert.ok(days <= 30.01, `capped by the directory's 30 days: ${days}`);
    });

    it("refuses to finalize an order whose profile was deleted since (§4 invalidProfile)", async () => {
      const temp = await createAcmeProfile(server.ra, actor, { directoryId: dirId, name: "temp", preset: "tlsserver" });
      const c = await client("prof");
      const name = "gone.prof.example";
      const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: name }], profile: "temp" });
      assert.equal(order.status, 201, order.text);
      await validate(c, order.body.authorizations[0]);
      await deleteAcmeProfile(server.ra, actor, temp.id);
      const csr = createCsr({ privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, commonName: name, dnsNames: [name] });
      const fin = await c.post(order.body.finalize, { csr: csr.der.toString("base64url") });
      assert.equal(fin.status, 400, fin.text);
      assert.equal(fin.body.type, PROFILE_ERROR);
      assertNonce(fin);
      const st = await c.post(order.headers.get("location")!, undefined);
      assert.equal(st.body.status, "ready", "nothing changed: the order can still expire");
      const certs = await db.query(`select 1 from certificates where acme_order_id = $1`, [order.headers.get("location")!.split("/").pop()]);
      assert.equal(certs.rowCount, 0);
    });
  });
});
