/**
 * Review 2 M1: an ARI replacement (RFC 9773 §5 `replaces`) is exempt from
 * certificates-per-registered-domain only for the names the replaced
 * certificate already had, and from new-orders-per-account only for a
 * certificate's first replacement order: chained replacements adding names
 * are held to the limit, and "replace, deactivate the authorization (the
 * order turns invalid and frees the certificate), replace again" pays a
 * new-orders token each time. Adapted from /tmp/review-2/replaces-rate-limit-chain.test.ts.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import pg from "pg";
import * as pkijs from "pkijs";
import { createCsr } from "../../../src/ca/csr.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme, type RawResponse } from "./raw-client.js";

function certIdOf(pem: string): string {
  const cert = pkijs.Certificate.fromBER(new X509Certificate(pem).raw);
  const ext = cert.extensions!.find((x) => x.extnID === "2.5.29.35")!;
  const aki = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result as asn1js.Sequence;
  const keyId = (aki.valueBlock.value as asn1js.Primitive[]).find((v) => v.idBlock.tagClass === 3 && v.idBlock.tagNumber === 0)!;
  return `${Buffer.from(keyId.valueBlock.valueHexView).toString("base64url")}.${Buffer.from(cert.serialNumber.valueBlock.valueHexView).toString("base64url")}`;
}

describe("ARI replacements and the rate limits (review 2 M1)", function () {
  this.timeout(300_000);
  const validator = new FakeValidator();

  async function issue(a: AcmeTestServer, c: RawAcme, names: string[], replaces?: string): Promise<{ pem: string } | { refused: RawResponse }> {
    const order = await c.post(c.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })), ...(replaces ? { replaces } : {}) });
    assert.ok(order.headers.get("replay-nonce"), "every answer carries a nonce");
    if (order.status !== 201) return { refused: order };
    for (const url of order.body.authorizations as string[]) {
      const authz = await c.post(url, undefined);
      if (authz.body.status === "pending") await c.post(authz.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
    }
    await a.acme.validations.idle();
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const fin = await c.post(order.body.finalize, { csr: createCsr({ privateKey, dnsNames: names }).der.toString("base64url") });
    assert.ok(fin.headers.get("replay-nonce"));
    if (fin.status !== 200) return { refused: fin };
    const done = await c.post(order.body.url ?? order.headers.get("location")!, undefined);
    const chain = await c.post(done.body.certificate, undefined);
    return { pem: chain.text.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n" };
  }

  describe("certificates-per-registered-domain", () => {
    let a: AcmeTestServer;
    let c: RawAcme;
    let db: pg.Client;
    before(async () => {
      a = await startAcmeTestServer({ validator, env: { SIGIL_RATE_LIMITS: "off,certificates-per-registered-domain=1/1w" } });
      db = new pg.Client({ connectionString: a.config.databaseUrl });
      await db.connect();
      c = await RawAcme.create(a.directoryUrl());
      assert.equal((await c.register()).status, 201);
    });
    after(async () => {
      await db?.end();
      await a?.stop();
    });

    it("a replacement with the same names is exempt; one adding a name is held to the limit for it, and nothing is issued", async () => {
      const first = await issue(a, c, ["seed.example.com", "www.example.com"]);
      assert.ok("pem" in first, "the first certificate of example.com");
      const plain = await issue(a, c, ["other.example.com"]);
      assert.ok("refused" in plain && plain.refused.status === 429, "example.com's one certificate this week is used");
      // same names (in another order and case): exempt
      const same = await issue(a, c, ["WWW.example.com", "seed.example.com"], certIdOf(first.pem));
      assert.ok("pem" in same, "a like-for-like replacement is exempt");
      const certs = Number((await db.query(`select count(*) n from certificates where source = 'acme'`)).rows[0].n);
      // the chain of the review: a replacement adding a name in example.com and one in a domain never spent
      const chained = await issue(a, c, ["seed.example.com", "new0.example.com", "host0.never-counted.test"], certIdOf(same.pem));
      assert.ok("refused" in chained, "held to the limit for the names it adds");
      assert.equal(chained.refused.status, 429);
      assert.equal(chained.refused.body.type, "urn:ietf:params:acme:error:rateLimited");
      assert.match(chained.refused.body.detail, /example\.com/);
      assert.equal(Number((await db.query(`select count(*) n from certificates where source = 'acme'`)).rows[0].n), certs, "nothing issued");
      // never-counted.test was not spent either: all or none
      const buckets = (await db.query(`select bucket_key from rate_limit_buckets where limit_name = 'certificates-per-registered-domain'`)).rows.map((r) => r.bucket_key);
      assert.deepEqual(buckets, ["example.com"]);
    });
  });

  describe("new-orders-per-account", () => {
    let a: AcmeTestServer;
    let c: RawAcme;
    before(async () => {
      a = await startAcmeTestServer({ validator, env: { SIGIL_RATE_LIMITS: "off,new-orders-per-account=3/1w" } });
      c = await RawAcme.create(a.directoryUrl());
      assert.equal((await c.register()).status, 201);
    });
    after(async () => a?.stop());

    it("the first replacement order is free; after deactivating its authorization (order invalid) each retry pays, until 429", async () => {
      const first = await issue(a, c, ["loop.example.com"]); // 1 of 3
      assert.ok("pem" in first);
      const certId = certIdOf(first.pem);
      const outcomes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "loop.example.com" }], replaces: certId });
        assert.ok(order.headers.get("replay-nonce"));
        outcomes.push(order.status);
        if (order.status !== 201) {
          assert.equal(order.status, 429, JSON.stringify(order.body));
          assert.equal(order.body.type, "urn:ietf:params:acme:error:rateLimited");
          break;
        }
        // RFC 8555 §7.5.2 deactivate: the order becomes invalid and frees the certificate (RFC 9773 §5)
        for (const url of order.body.authorizations as string[]) {
          const r = await c.post(url, { status: "deactivated" });
          assert.equal(r.status, 200, JSON.stringify(r.body));
        }
      }
      // free, then two paid retries (orders 2 and 3 of 3), then refused
      assert.deepEqual(outcomes, [201, 201, 201, 429]);
    });
  });
});
