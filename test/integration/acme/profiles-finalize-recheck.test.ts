/**
 * Review 2 (profiles) over the real server on PostgreSQL:
 * - M6: a directory's certificate kind bounds its profiles' kinds. The
 *   default directory is `dual` (it ships tlsserver and tlsclient); an
 *   admin-created `server` directory refuses a tlsclient profile; a
 *   directory narrowed to `server` after a dual profile was made issues
 *   nothing under it (invalidProfile).
 * - M7: finalize re-checks the profile's identifier rules (a profile
 *   narrowed after the order: invalidProfile, nothing written).
 * - notBefore re-checked at finalize (more than a day past: malformed), a
 *   notAfter past a narrowed profile's validity (invalidProfile, not
 *   clamped silently).
 * - a CSR CN over 64 characters (RFC 5280 ub-common-name): the certificate
 *   is issued without a CN (the name is in the SAN).
 * Every refusal carries a fresh Replay-Nonce and leaves the order ready.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { createCsr } from "../../../src/ca/csr.js";
import { isSigilError } from "../../../src/core/errors.js";
import { updateAcmeDirectory } from "../../../src/ra/acme-admin.js";
import { systemActor } from "../../../src/ra/actor.js";
import { createDirectory } from "../../../src/ra/acme/directories.js";
import { createAcmeProfile, listAcmeProfiles, updateAcmeProfile } from "../../../src/ra/acme/profiles.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { assertNonce, RawAcme, type RawResponse } from "./raw-client.js";

const DAY = 86_400_000;
const PROFILE_ERROR = "urn:ietf:params:acme:error:invalidProfile";

function opensslText(pem: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "sigil-profile-"));
  try {
    const f = path.join(dir, "leaf.pem");
    writeFileSync(f, pem);
    return execFileSync("openssl", ["x509", "-in", f, "-noout", "-subject", "-ext", "extendedKeyUsage,subjectAltName"], { encoding: "utf8" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("ACME profiles: the directory kind bounds profiles, finalize re-checks the profile (review 2)", function () {
  this.timeout(90_000);
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

  /** newOrder and every authorization validated: the order (ready) */
  async function readyOrder(c: RawAcme, names: string[], extra: Record<string, unknown> = {}): Promise<RawResponse> {
    const order = await c.post(c.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })), ...extra });
    assert.equal(order.status, 201, order.text);
    for (const a of order.body.authorizations as string[]) {
      const authz = await c.post(a, undefined);
      const ch = authz.body.challenges.find((x: { type: string }) => x.type === "http-01");
      await c.post(ch.url, {});
    }
    await server.acme.validations.idle();
    return order;
  }

  function finalize(c: RawAcme, order: RawResponse, names: string[], cn: string | undefined = names[0]): Promise<RawResponse> {
    const csr = createCsr({ privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, commonName: cn, dnsNames: names });
    return c.post(order.body.finalize, { csr: csr.der.toString("base64url") });
  }

  /** a refused finalize: the problem, a nonce, the order still ready, no certificate */
  async function assertRefused(c: RawAcme, order: RawResponse, fin: RawResponse, type: string, detail: RegExp): Promise<void> {
    assert.equal(fin.status, 400, fin.text);
    assert.equal(fin.body.type, type);
    assert.match(fin.body.detail, detail);
    assertNonce(fin);
    const st = await c.post(order.headers.get("location")!, undefined);
    assert.equal(st.body.status, "ready", "nothing changed");
    const certs = await db.query(`select 1 from certificates where acme_order_id = $1`, [order.headers.get("location")!.split("/").pop()]);
    assert.equal(certs.rowCount, 0, "no certificate written");
  }

  async function pemOf(c: RawAcme, fin: RawResponse): Promise<string> {
    assert.equal(fin.status, 200, fin.text);
    const cert = await c.post(fin.body.certificate, undefined);
    return (cert.text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/) ?? [""])[0];
  }

  describe("M6: the directory's kind bounds its profiles' kinds", () => {
    it("the default directory is dual and offers the four presets, classic server-only", async () => {
      const dir = await db.query<{ certificate_kind: string; id: string }>(`select id, certificate_kind from acme_directories where name = 'default'`);
      assert.equal(dir.rows[0]!.certificate_kind, "dual");
      const profiles = await listAcmeProfiles(server.ra, actor, dir.rows[0]!.id);
      assert.deepEqual(profiles.map((p) => `${p.name}:${p.certificateKind}`), ["classic:server", "shortlived:server", "tlsclient:client", "tlsserver:server"]);
      const c = await client();
      const names = ["classic.kind.example"];
      const pem = await pemOf(c, await finalize(c, await readyOrder(c, names), names));
      const text = opensslText(pem);
      assert.match(text, /TLS Web Server Authentication/);
      assert.doesNotMatch(text, /Client Authentication/, "classic on the dual default directory is still server-only");
    });

    it("a server directory refuses a client or dual profile and a tlsclient default; nothing written", async () => {
      const d = await createDirectory(server.ra, actor, { name: "srv-only", ca: "default-intermediate" });
      assert.equal(d.certificateKind, "server");
      for (const input of [{ preset: "tlsclient" }, { certificateKind: "dual" }, { certificateKind: "client" }]) {
        await assert.rejects(createAcmeProfile(server.ra, actor, { directoryId: d.id, name: "c", ...input }), (e: unknown) => isSigilError(e, "invalidArgument") && /cannot have a/.test((e as Error).message));
      }
      const tls = await createAcmeProfile(server.ra, actor, { directoryId: d.id, name: "s", preset: "tlsserver" });
      await assert.rejects(updateAcmeProfile(server.ra, actor, tls.id, { certificateKind: "client" }), (e: unknown) => isSigilError(e, "invalidArgument"));
      assert.deepEqual((await listAcmeProfiles(server.ra, actor, d.id)).map((p) => `${p.name}:${p.certificateKind}`), ["classic:server", "s:server"]);
      await assert.rejects(createDirectory(server.ra, actor, { name: "srv-client", ca: "default-intermediate", defaultProfile: "tlsclient" }), (e: unknown) => isSigilError(e, "invalidArgument"));
      const none = await db.query(`select 1 from acme_directories where name = 'srv-client'`);
      assert.equal(none.rowCount, 0, "the directory was not created");
    });

    it("a directory narrowed to server after a dual profile issues nothing under it (invalidProfile at newOrder and finalize)", async () => {
      const d = await createDirectory(server.ra, actor, { name: "narrowed", ca: "default-intermediate", certificateKind: "dual" });
      await createAcmeProfile(server.ra, actor, { directoryId: d.id, name: "both", certificateKind: "dual" });
      const c = await client("narrowed");
      const names = ["both.narrowed.example"];
      const order = await readyOrder(c, names, { profile: "both" });
      await updateAcmeDirectory(server.ra, actor, d.id, { certificateKind: "server" });
      await assertRefused(c, order, await finalize(c, order, names), PROFILE_ERROR, /dual certificates, which this server directory does not/);
      const again = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "x.narrowed.example" }], profile: "both" });
      assert.equal(again.status, 400, again.text);
      assert.equal(again.body.type, PROFILE_ERROR);
      assertNonce(again);
    });
  });

  describe("finalize re-checks the order against the profile as it is now", () => {
    let dirId: string;
    before(async () => {
      const d = await createDirectory(server.ra, actor, { name: "recheck", ca: "default-intermediate", maxValidityDays: 90 });
      dirId = d.id;
    });

    it("M7: a profile narrowed to fewer identifiers after the order: invalidProfile, nothing written", async () => {
      const p = await createAcmeProfile(server.ra, actor, { directoryId: dirId, name: "two", preset: "tlsserver", maxIdentifiers: 2 });
      const c = await client("recheck");
      const names = ["a.m7.example", "b.m7.example"];
      const order = await readyOrder(c, names, { profile: "two" });
      await updateAcmeProfile(server.ra, actor, p.id, { maxIdentifiers: 1 });
      await assertRefused(c, order, await finalize(c, order, names), PROFILE_ERROR, /no longer allowed under profile "two".*at most 1 identifier/);
      // widened again: the same order finalizes
      await updateAcmeProfile(server.ra, actor, p.id, { maxIdentifiers: 2 });
      assert.equal((await finalize(c, order, names)).status, 200);
    });

    it("notBefore now more than a day in the past (a 30-day order): malformed, not backdated", async () => {
      const c = await client("recheck");
      const names = ["nb.recheck.example"];
      const order = await readyOrder(c, names, { notBefore: new Date(Date.now() - 3_600_000).toISOString() });
      // the order placed 25 hours ago (newOrder allowed an hour of backdating then)
      await db.query(`update acme_orders set not_before = now() - interval '26 hours' where id = $1`, [order.headers.get("location")!.split("/").pop()]);
      await assertRefused(c, order, await finalize(c, order, names), "urn:ietf:params:acme:error:malformed", /notBefore is now more than a day in the past/);
    });

    it("notAfter past a narrowed profile's validity: invalidProfile naming it, not clamped silently", async () => {
      const p = await createAcmeProfile(server.ra, actor, { directoryId: dirId, name: "forty", preset: "tlsserver" });
      const c = await client("recheck");
      const names = ["na.recheck.example"];
      const notAfter = new Date(Date.now() + 40 * DAY);
      const order = await readyOrder(c, names, { profile: "forty", notAfter: notAfter.toISOString() });
      await updateAcmeProfile(server.ra, actor, p.id, { maxValiditySeconds: 30 * 86_400 });
      await assertRefused(c, order, await finalize(c, order, names), PROFILE_ERROR, /notAfter is beyond what profile "forty" now allows \(30 days/);
    });

    it("a CSR CN over 64 characters: issued without a subject CN, the name in the SAN", async () => {
      const long = `${"l".repeat(63)}.${"m".repeat(10)}.recheck.example`;
      assert.ok(long.length > 64);
      const c = await client("recheck");
      const order = await readyOrder(c, [long]);
      assert.equal(order.body.profile, "classic", "classic copies the CN");
      const text = opensslText(await pemOf(c, await finalize(c, order, [long], long)));
      assert.doesNotMatch(text, /CN\s*=/);
      assert.match(text, new RegExp(`DNS:${long.replace(/\./g, "\\.")}`));
      // 64 characters still go into the CN
      const ok = `${"k".repeat(48)}.recheck.example`;
      assert.equal(ok.length, 64);
      const o2 = await readyOrder(c, [ok]);
      assert.match(opensslText(await pemOf(c, await finalize(c, o2, [ok], ok))), new RegExp(`CN\\s*=\\s*${ok.replace(/\./g, "\\.")}`));
    });
  });
});
