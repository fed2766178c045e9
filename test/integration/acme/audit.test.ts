import assert from "node:assert/strict";
import acme from "acme-client";
import { exportJWK, generateKeyPair } from "jose";
import { createDirectory, createEabKey } from "../../../src/ra/acme/directories.js";
import { systemActor } from "../../../src/ra/actor.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme } from "./raw-client.js";

interface AuditRow {
  id: string;
  action: string;
  username: string;
  organization_id: string | null;
  resource_type: string;
  resource_id: string | null;
  detail: Record<string, unknown>;
}

describe("ACME audit trail (every change audited with it)", () => {
  let server: AcmeTestServer;
  const validator = new FakeValidator();
  let orgId: string;
  const seen = new Set<string>();

  /** audit entries written since the last call, ordered by action for stable comparison */
  async function newEntries(): Promise<AuditRow[]> {
    const rows = await server.db.orm.em
      .getConnection()
      .execute<AuditRow[]>(`select id, action, username, organization_id, resource_type, resource_id, detail from audit_log order by created_at, id`);
    const fresh = rows.filter((r) => !seen.has(r.id));
    for (const r of fresh) seen.add(r.id);
    return fresh.sort((a, b) => a.action.localeCompare(b.action));
  }
  const actions = (rows: AuditRow[]) => rows.map((r) => r.action);

  before(async () => {
    server = await startAcmeTestServer({ validator });
    const d = await createDirectory(server.ra, systemActor("test"), { name: "audited", ca: "default-intermediate", eabRequired: true });
    orgId = d.organization.id;
    await newEntries();
  });
  after(async () => server?.stop());

  it("an issuance leaves the expected audit trail: EAB use, account, order, validation, certificate, finalize, revocation", async () => {
    const eab = await createEabKey(server.ra, systemActor("test"), { directory: "audited" });
    assert.deepEqual(actions(await newEntries()), ["eab_create"]);

    const c = await RawAcme.create(server.directoryUrl("audited"));
    const reg = await c.register({ externalAccountBinding: await c.eab(eab.kid, eab.hmacKey) });
    assert.equal(reg.status, 201, reg.text);
    const accountId = c.kid!.split("/").pop()!;
    const me = `acme-account:${accountId}`;
    let rows = await newEntries();
    assert.deepEqual(actions(rows), ["acme_account_create", "eab_use"]);
    for (const r of rows) assert.equal(r.username, me);
    for (const r of rows) assert.equal(r.organization_id, orgId);
    assert.equal(rows[0]!.resource_id, accountId);
    assert.equal(rows[1]!.resource_id, eab.kid);

    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "audit.example.com" }] });
    assert.equal(order.status, 201, order.text);
    const orderId = order.headers.get("location")!.split("/").pop()!;
    rows = await newEntries();
    assert.deepEqual(actions(rows), ["acme_order_create"]);
    assert.deepEqual(
      { user: rows[0]!.username, org: rows[0]!.organization_id, type: rows[0]!.resource_type, id: rows[0]!.resource_id, ids: rows[0]!.detail.identifiers },
      { user: me, org: orgId, type: "acme_order", id: orderId, ids: ["dns:audit.example.com"] },
    );

    const authz = await c.post(order.body.authorizations[0], undefined);
    const ch = authz.body.challenges.find((x: { type: string }) => x.type === "http-01");
    await c.post(ch.url, {});
    await server.acme.validations.idle();
    rows = await newEntries();
    assert.deepEqual(actions(rows), ["acme_challenge_validate"]);
    assert.equal(rows[0]!.username, "acme-validation");
    assert.equal(rows[0]!.organization_id, orgId);
    assert.equal(rows[0]!.resource_id, ch.url.split("/").pop());
    assert.deepEqual(
      { s: rows[0]!.detail.status, t: rows[0]!.detail.type, a: rows[0]!.detail.accountId, i: rows[0]!.detail.identifier },
      { s: "valid", t: "http-01", a: accountId, i: "dns:audit.example.com" },
    );

    const [, csr] = await acme.crypto.createCsr({ commonName: "audit.example.com", altNames: ["audit.example.com"] });
    const fin = await c.post(order.body.finalize, { csr: acme.crypto.getPemBodyAsB64u(csr) });
    assert.equal(fin.body.status, "valid", fin.text);
    const certId = fin.body.certificate.split("/").pop();
    rows = await newEntries();
    assert.deepEqual(actions(rows), ["acme_order_finalize", "cert_create"]);
    assert.deepEqual(rows.map((r) => [r.username, r.resource_id]), [[me, orderId], [me, certId]]);
    assert.equal(rows[0]!.detail.certificateId, certId);

    const pem = (await c.post(fin.body.certificate, undefined)).text;
    const der = acme.crypto.getPemBodyAsB64u(pem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!);
    const rev = await c.post(c.dir.revokeCert!, { certificate: der, reason: 4 });
    assert.equal(rev.status, 200, rev.text);
    rows = await newEntries();
    assert.deepEqual(actions(rows), ["acme_cert_revoke"]);
    assert.deepEqual([rows[0]!.username, rows[0]!.resource_id, rows[0]!.detail.reason], [me, certId, 4]);
  });

  it("audits account update, key change, authorization deactivation, a failed validation and account deactivation", async () => {
    const c = await RawAcme.create(server.directoryUrl());
    await c.register();
    const accountId = c.kid!.split("/").pop()!;
    const me = `acme-account:${accountId}`;
    await newEntries();

    assert.equal((await c.post(c.kid!, { contact: ["mailto:ops@example.com"] })).status, 200);
    assert.deepEqual(actions(await newEntries()), ["acme_account_update"]);

    const kp = await generateKeyPair("ES384", { extractable: true });
    const next = { key: kp.privateKey, jwk: await exportJWK(kp.publicKey), alg: "ES384" };
    const kc = await c.post(c.dir.keyChange!, await c.keyChangeInner(next));
    assert.equal(kc.status, 200, kc.text);
    c.key = next.key;
    c.jwk = next.jwk;
    c.alg = next.alg;
    let rows = await newEntries();
    assert.deepEqual(actions(rows), ["acme_account_key_change"]);
    assert.equal(rows[0]!.username, me);
    assert.notEqual(rows[0]!.detail.oldThumbprint, rows[0]!.detail.newThumbprint);

    const o1 = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "gone.example.com" }] });
    const deact = await c.post(o1.body.authorizations[0], { status: "deactivated" });
    assert.equal(deact.body.status, "deactivated", deact.text);
    rows = await newEntries();
    assert.deepEqual(actions(rows), ["acme_authz_deactivate", "acme_order_create"]);
    assert.deepEqual([rows[0]!.username, rows[0]!.resource_id], [me, o1.body.authorizations[0].split("/").pop()]);

    validator.outcome = () => ({ status: "invalid", error: { type: "incorrectResponse", detail: "wrong key authorization" } });
    try {
      const o2 = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "fails.example.com" }] });
      const az = await c.post(o2.body.authorizations[0], undefined);
      await c.post(az.body.challenges.find((x: { type: string }) => x.type === "dns-01").url, {});
      await server.acme.validations.idle();
    } finally {
      validator.outcome = () => ({ status: "valid" });
    }
    rows = await newEntries();
    assert.deepEqual(actions(rows), ["acme_challenge_validate", "acme_order_create"]);
    assert.deepEqual(
      { s: rows[0]!.detail.status, e: rows[0]!.detail.error, t: rows[0]!.detail.type },
      { s: "invalid", e: "incorrectResponse", t: "dns-01" },
    );

    assert.equal((await c.post(c.kid!, { status: "deactivated" })).status, 200);
    rows = await newEntries();
    assert.deepEqual(actions(rows), ["acme_account_deactivate"]);
    assert.equal(rows[0]!.username, me);
  });
});
