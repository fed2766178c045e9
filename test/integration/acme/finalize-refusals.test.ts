/**
 * What finalize must refuse (RFC 8555 §7.4): a CSR whose key is a key of
 * the issuing CA's chain or the account key (§11.1), and issuance from a CA
 * revoked before or while the order is being finalized (the CA row is
 * share-locked, as admin issuance locks it). Each refusal leaves no
 * certificate and the order not valid.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, generateKeyPairSync, KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { createCsr } from "../../../src/ca/csr.js";
import { caKeyAad } from "../../../src/ra/issuers.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme, type RawResponse } from "./raw-client.js";

const P = "urn:ietf:params:acme:error:";

describe("ACME finalize refusals: reused keys, revoked CA", function () {
  this.timeout(60_000);
  let server: AcmeTestServer;
  let db: pg.Client;
  const validator = new FakeValidator();
  let caId: string;
  let parentId: string | null;
  let n = 0;

  before(async () => {
    server = await startAcmeTestServer({ validator });
    db = new pg.Client({ connectionString: server.config.databaseUrl });
    await db.connect();
    const [d] = (await db.query<{ ca_id: string; parent_id: string | null }>(
      `select d.ca_id, ca.parent_id from acme_directories d join certificate_authorities ca on ca.id = d.ca_id where d.name = 'default'`,
    )).rows;
    caId = d!.ca_id;
    parentId = d!.parent_id;
  });
  after(async () => {
    await db?.end();
    await server?.stop();
  });

  /** a registered client with a ready order for one new name */
  async function readyOrder(): Promise<{ c: RawAcme; name: string; order: RawResponse; orderUrl: string }> {
    const c = await RawAcme.create(server.directoryUrl());
    await c.register();
    const name = `f${++n}.refusals.example.com`;
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });
    const authz = await c.post(order.body.authorizations[0], undefined);
    const ch = authz.body.challenges.find((x: { type: string }) => x.type === "http-01");
    await c.post(ch.url, {});
    await server.acme.validations.idle();
    const orderUrl = order.headers.get("location")!;
    assert.equal((await c.post(orderUrl, undefined)).body.status, "ready");
    return { c, name, order, orderUrl };
  }

  function csrWith(key: KeyObject, name: string): string {
    return createCsr({ privateKey: key, commonName: name, dnsNames: [name] }).der.toString("base64url");
  }

  async function caKey(id: string): Promise<KeyObject> {
    const [r] = (await db.query<{ encrypted_private_key: string }>(`select encrypted_private_key from certificate_authorities where id = $1`, [id])).rows;
    return createPrivateKey({ key: await server.ra.secrets.open(server.ra.store, r!.encrypted_private_key, caKeyAad(id)), format: "der", type: "pkcs8" });
  }

  async function certificatesFor(name: string): Promise<number> {
    const [r] = (await db.query<{ n: string }>(`select count(*) n from certificates where common_name = $1`, [name])).rows;
    return Number(r!.n);
  }

  async function assertNotIssued(c: RawAcme, orderUrl: string, name: string): Promise<void> {
    assert.equal(await certificatesFor(name), 0, "no certificate row");
    const again = await c.post(orderUrl, undefined);
    assert.notEqual(again.body.status, "valid");
    assert.equal(again.body.certificate, undefined);
  }

  const fresh = () => generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;

  describe("keys a leaf must not carry", () => {
    it("refuses a CSR with the account key (badCSR, RFC 8555 §11.1), then issues for a key of its own", async () => {
      const { c, name, order, orderUrl } = await readyOrder();
      const r = await c.post(order.body.finalize, { csr: csrWith(KeyObject.from(c.key), name) });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.type, `${P}badCSR`);
      assert.match(r.body.detail, /account key/);
      await assertNotIssued(c, orderUrl, name);
      assert.equal((await c.post(orderUrl, undefined)).body.status, "ready", "the order can still be finalized");
      const ok = await c.post(order.body.finalize, { csr: csrWith(fresh(), name) });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.status, "valid");
    });

    it("refuses the account key in another encoding too: a CSR whose SPKI carries the compressed EC point (openssl)", async () => {
      const { c, name, order, orderUrl } = await readyOrder();
      const dir = mkdtempSync(path.join(tmpdir(), "sigil-compressed-"));
      try {
        const keyFile = path.join(dir, "account.pem");
        writeFileSync(keyFile, KeyObject.from(c.key).export({ type: "pkcs8", format: "pem" }));
        execFileSync("openssl", ["ec", "-in", keyFile, "-conv_form", "compressed", "-out", path.join(dir, "compressed.pem")], { stdio: "ignore" });
        const csrDer = execFileSync("openssl", ["req", "-new", "-key", path.join(dir, "compressed.pem"), "-subj", `/CN=${name}`, "-addext", `subjectAltName=DNS:${name}`, "-outform", "DER"]);
        // the SPKI really is the compressed form (33-byte point), not the account key's bytes
        writeFileSync(path.join(dir, "csr.der"), csrDer);
        const spki = execFileSync("openssl", ["req", "-in", path.join(dir, "csr.der"), "-inform", "DER", "-noout", "-pubkey"]).toString();
        assert.ok(Buffer.from(spki.replace(/-----[^-]+-----|\s/g, ""), "base64").length < 70, "compressed SubjectPublicKeyInfo");
        const r = await c.post(order.body.finalize, { csr: csrDer.toString("base64url") });
        assert.equal(r.status, 400, r.text);
        assert.equal(r.body.type, `${P}badCSR`);
        assert.match(r.body.detail, /account key/);
        await assertNotIssued(c, orderUrl, name);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("refuses a CSR with the issuing CA's own key (badCSR)", async () => {
      const { c, name, order, orderUrl } = await readyOrder();
      const r = await c.post(order.body.finalize, { csr: csrWith(await caKey(caId), name) });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.type, `${P}badCSR`);
      assert.match(r.body.detail, /certificate authority/);
      await assertNotIssued(c, orderUrl, name);
    });

    it("refuses a CSR with the key of a CA above the issuing one (the root)", async () => {
      assert.ok(parentId, "the default directory issues from an intermediate");
      const { c, name, order, orderUrl } = await readyOrder();
      const r = await c.post(order.body.finalize, { csr: csrWith(await caKey(parentId!), name) });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.body.type, `${P}badCSR`);
      await assertNotIssued(c, orderUrl, name);
    });
  });

  describe("a revoked issuing CA", () => {
    afterEach(async () => {
      await db.query(`update certificate_authorities set status = 'active' where id = $1`, [caId]);
    });

    it("refuses when the CA was revoked before finalize", async () => {
      const { c, name, order, orderUrl } = await readyOrder();
      await db.query(`update certificate_authorities set status = 'revoked' where id = $1`, [caId]);
      const r = await c.post(order.body.finalize, { csr: csrWith(fresh(), name) });
      assert.equal(r.status, 403, r.text);
      assert.match(r.body.detail, /revoked/);
      await assertNotIssued(c, orderUrl, name);
    });

    it("waits for a CA revocation in progress and then refuses (the CA row is locked FOR SHARE)", async () => {
      const { c, name, order, orderUrl } = await readyOrder();
      // a revocation that updated the CA row and has not committed yet
      const revoker = new pg.Client({ connectionString: server.config.databaseUrl });
      await revoker.connect();
      try {
        await revoker.query("begin");
        await revoker.query(`update certificate_authorities set status = 'revoked' where id = $1`, [caId]);
        let settled = false;
        const finalize = c.post(order.body.finalize, { csr: csrWith(fresh(), name) }).finally(() => (settled = true));
        // finalize must wait on the CA row's lock; without the share lock it signs from the
        // row as it was (active) and commits while the revocation is still in progress
        const waiting = async () => {
          for (let i = 0; i < 100 && !settled; i++) {
            const [w] = (await db.query<{ n: string }>(
              `select count(*) n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%certificate_authorities%'`,
            )).rows;
            if (Number(w!.n) > 0) return true;
            await new Promise((r) => setTimeout(r, 20));
          }
          return false;
        };
        const waited = await waiting();
        await revoker.query("commit");
        const r = await finalize;
        assert.ok(waited, `finalize did not wait for the CA revocation in progress (it answered ${r.status})`);
        assert.equal(r.status, 403, r.text);
        assert.match(r.body.detail, /revoked/);
        await assertNotIssued(c, orderUrl, name);
      } finally {
        await revoker.query("rollback").catch(() => undefined);
        await revoker.end();
      }
    });
  });
});
