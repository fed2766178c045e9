import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { createCsr } from "../../../src/ca/csr.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme, type RawResponse } from "./raw-client.js";

/**
 * RFC 9773 §5 `replaces` in newOrder: the replaced certificate must be the
 * account's and share an identifier; it is replaced once (409
 * alreadyReplaced, §7.4) unless the replacing order became invalid; the
 * order reflects `replaces`; the new certificate records renewed_from.
 */
describe("RFC 9773 §5 replaces in newOrder", function () {
  this.timeout(120_000);
  let server: AcmeTestServer;
  const validator = new FakeValidator();
  let c: RawAcme;

  before(async () => {
    server = await startAcmeTestServer({ validator });
    c = await RawAcme.create(server.directoryUrl());
    await c.register();
  });
  after(async () => server?.stop());

  const sql = <T>(q: string, params: unknown[] = []) => server.db.orm.em.getConnection().execute<T[]>(q, params);

  function assertProblem(r: RawResponse, status: number, type: string): void {
    assert.equal(r.status, status, r.text);
    assert.equal(r.body.type, `urn:ietf:params:acme:error:${type}`, r.text);
    assert.ok(r.headers.get("replay-nonce"), "every ACME answer carries a fresh Replay-Nonce");
  }

  /** newOrder (optionally replacing), challenge, finalize, download: the order and the leaf */
  async function issue(client: RawAcme, names: string[], replaces?: string): Promise<{ order: RawResponse; orderUrl: string; der: Buffer }> {
    const order = await client.post(client.dir.newOrder!, { identifiers: names.map((value) => ({ type: "dns", value })), ...(replaces ? { replaces } : {}) });
    assert.equal(order.status, 201, order.text);
    for (const authzUrl of order.body.authorizations as string[]) {
      const authz = await client.post(authzUrl, undefined);
      if (authz.body.status === "valid") continue;
      const ch = authz.body.challenges.find((x: { type: string }) => x.type === "http-01");
      await client.post(ch.url, {});
    }
    await server.acme.validations.idle();
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const fin = await client.post(order.body.finalize, { csr: createCsr({ privateKey, commonName: names[0]!, dnsNames: names }).der.toString("base64url") });
    assert.equal(fin.body.status, "valid", fin.text);
    const chain = (await client.post(fin.body.certificate, undefined)).text;
    const pem = chain.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
    return { order: fin, orderUrl: order.headers.get("location")!, der: Buffer.from(new X509Certificate(pem).raw) };
  }

  /** §4.1 certID: base64url(AKI keyIdentifier) "." base64url(DER serial content octets) */
  function certIdOf(der: Buffer): string {
    const cert = pkijs.Certificate.fromBER(der);
    const ext = cert.extensions!.find((x) => x.extnID === "2.5.29.35")!;
    const aki = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result as asn1js.Sequence;
    const keyId = (aki.valueBlock.value as asn1js.Primitive[]).find((v) => v.idBlock.tagClass === 3 && v.idBlock.tagNumber === 0)!;
    const serial = Buffer.from(cert.serialNumber.valueBlock.valueHexView);
    return `${Buffer.from(keyId.valueBlock.valueHexView).toString("base64url")}.${serial.toString("base64url")}`;
  }
  const serialOf = (der: Buffer) => new X509Certificate(der).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, "");

  it("a replacement order reflects replaces, the new certificate records renewed_from, a second replacement is 409 alreadyReplaced", async () => {
    const first = await issue(c, ["replace-me.example.com", "www.replace-me.example.com"]);
    const certId = certIdOf(first.der);
    // §5: sharing one identifier is enough
    const second = await issue(c, ["replace-me.example.com"], certId);
    assert.equal(second.order.body.replaces, certId, "the finalized order reflects replaces");
    assert.equal((await c.post(second.orderUrl, undefined)).body.replaces, certId, "so does the order read back");
    const [oldRow] = await sql<{ id: string }>(`select id from certificates where serial = ?`, [serialOf(first.der)]);
    const [newRow] = await sql<{ renewed_from_id: string | null }>(`select renewed_from_id from certificates where serial = ?`, [serialOf(second.der)]);
    assert.equal(newRow!.renewed_from_id, oldRow!.id, "certificates.renewed_from names the replaced certificate");

    const before = await sql<{ n: number }>(`select count(*)::int n from acme_orders`);
    const again = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "replace-me.example.com" }], replaces: certId });
    assertProblem(again, 409, "alreadyReplaced");
    const after = await sql<{ n: number }>(`select count(*)::int n from acme_orders`);
    assert.equal(after[0]!.n, before[0]!.n, "a refused replacement writes no order");
  });

  it("a pending replacement order blocks another; once it is invalid (expired) the certificate may be replaced again", async () => {
    const first = await issue(c, ["pending-replace.example.com"]);
    const certId = certIdOf(first.der);
    const o1 = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "pending-replace.example.com" }], replaces: certId });
    assert.equal(o1.status, 201, o1.text);
    assert.equal(o1.body.replaces, certId, "the new order reflects replaces");
    const o2 = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "pending-replace.example.com" }], replaces: certId });
    assertProblem(o2, 409, "alreadyReplaced");
    // §5 "a different order that is not invalid": the first replacing order expires (RFC 8555 §7.1.6)
    await sql(`update acme_orders set expires = now() - interval '1 minute' where replaces = ? and status <> 'invalid'`, [certId]);
    const o3 = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "pending-replace.example.com" }], replaces: certId });
    assert.equal(o3.status, 201, o3.text);
    assert.equal(o3.body.replaces, certId);
    const rows = await sql<{ status: string }>(`select status from acme_orders where replaces = ? order by created_at`, [certId]);
    assert.deepEqual(
      rows.map((r) => r.status),
      ["invalid", o3.body.status],
      "the expired replacing order is stored invalid, the new one holds the certificate",
    );
  });

  it("a replacing order abandoned pending (over a day old) or stuck processing (over an hour) no longer blocks a retry (review 2 LOW)", async () => {
    const first = await issue(c, ["stuck-replace.example.com"]);
    const certId = certIdOf(first.der);
    const ids = [{ type: "dns", value: "stuck-replace.example.com" }];
    const o1 = await c.post(c.dir.newOrder!, { identifiers: ids, replaces: certId });
    assert.equal(o1.status, 201, o1.text);
    // a fresh pending one (still far from its expiry) blocks; 23 hours old it still does
    await sql(`update acme_orders set created_at = now() - interval '23 hours' where replaces = ? and status <> 'invalid'`, [certId]);
    assertProblem(await c.post(c.dir.newOrder!, { identifiers: ids, replaces: certId }), 409, "alreadyReplaced");
    // abandoned: created over a day ago, though not yet expired
    await sql(`update acme_orders set created_at = now() - interval '25 hours' where replaces = ? and status <> 'invalid'`, [certId]);
    const o2 = await c.post(c.dir.newOrder!, { identifiers: ids, replaces: certId });
    assert.equal(o2.status, 201, o2.text);
    assert.ok(o2.headers.get("replay-nonce"));
    // the abandoned order is stored invalid, so a client still holding it cannot finalize it
    assert.equal((await c.post(o1.headers.get("location")!, undefined)).body.status, "invalid");
    // stuck processing (a finalize that crashed): blocks for an hour, then not
    await sql(`update acme_orders set status = 'processing', updated_at = now() - interval '50 minutes' where replaces = ? and status <> 'invalid'`, [certId]);
    assertProblem(await c.post(c.dir.newOrder!, { identifiers: ids, replaces: certId }), 409, "alreadyReplaced");
    await sql(`update acme_orders set updated_at = now() - interval '61 minutes' where replaces = ? and status = 'processing'`, [certId]);
    const o3 = await c.post(c.dir.newOrder!, { identifiers: ids, replaces: certId });
    assert.equal(o3.status, 201, o3.text);
    const rows = await sql<{ status: string }>(`select status from acme_orders where replaces = ? order by created_at`, [certId]);
    assert.deepEqual(rows.map((r) => r.status), ["invalid", "invalid", o3.body.status], "the stale ones stored invalid, the newest holds it");
  });

  it("two concurrent replacements of one certificate: one order, the other 409 alreadyReplaced", async () => {
    const first = await issue(c, ["race-replace.example.com"]);
    const certId = certIdOf(first.der);
    const other = await RawAcme.create(server.directoryUrl());
    other.kid = c.kid;
    other.key = c.key;
    other.jwk = c.jwk;
    const payload = { identifiers: [{ type: "dns", value: "race-replace.example.com" }], replaces: certId };
    const results = await Promise.all([c.post(c.dir.newOrder!, payload), other.post(other.dir.newOrder!, payload)]);
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 409], results.map((r) => r.text).join("\n"));
    for (const r of results) assert.ok(r.headers.get("replay-nonce"));
    const rows = await sql<{ n: number }>(`select count(*)::int n from acme_orders where replaces = ?`, [certId]);
    assert.equal(rows[0]!.n, 1, "exactly one order replaces the certificate");
  });

  it("refuses another account's certificate (403 unauthorized), no shared identifier (400 malformed), unknown (404), malformed certID (400)", async () => {
    const mine = await issue(c, ["owned.example.com"]);
    const certId = certIdOf(mine.der);
    const stranger = await RawAcme.create(server.directoryUrl());
    await stranger.register();
    assertProblem(await stranger.post(stranger.dir.newOrder!, { identifiers: [{ type: "dns", value: "owned.example.com" }], replaces: certId }), 403, "unauthorized");
    assertProblem(await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "unrelated.example.com" }], replaces: certId }), 400, "malformed");
    const [aki] = certId.split(".");
    const unknown = `${aki}.${Buffer.from("4000000000000000000000000000beef", "hex").toString("base64url")}`;
    assertProblem(await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "owned.example.com" }], replaces: unknown }), 404, "malformed");
    for (const bad of ["garbage", "AQ.gQ", 42]) {
      assertProblem(await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "owned.example.com" }], replaces: bad }), 400, "malformed");
    }
    const rows = await sql<{ n: number }>(`select count(*)::int n from acme_orders where replaces is not null and identifiers @> ?::jsonb`, [
      JSON.stringify([{ type: "dns", value: "owned.example.com" }]),
    ]);
    assert.equal(rows[0]!.n, 0, "no refused order was written");
  });

  it("an order without replaces does not carry the field", async () => {
    const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "plain.example.com" }] });
    assert.equal(o.status, 201, o.text);
    assert.equal("replaces" in o.body, false);
  });
});
