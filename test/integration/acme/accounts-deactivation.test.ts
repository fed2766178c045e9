/**
 * RFC 8555 §7.3.6 account deactivation, by the client (POST to its account
 * URL with status "deactivated") and by an operator (AcmeService
 * DeactivateAcmeAccount, src/ra/acme-admin.ts): one rule for both. The
 * account's pending and valid authorizations become deactivated (§7.1.6)
 * in the same transaction; authorizations already final (invalid,
 * deactivated) and other accounts' authorizations are left alone.
 */
import assert from "node:assert/strict";
import { systemActor } from "../../../src/ra/actor.js";
import { deactivateAcmeAccount } from "../../../src/ra/acme-admin.js";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme } from "./raw-client.js";

describe("ACME account deactivation (RFC 8555 §7.3.6), client and operator alike", () => {
  let server: AcmeTestServer;
  const validator = new FakeValidator();

  before(async () => {
    server = await startAcmeTestServer({ validator });
  });
  after(async () => server?.stop());

  async function statuses(accountId: string): Promise<Record<string, string>> {
    const rows = await server.db.orm.em
      .fork()
      .getConnection()
      .execute<Array<{ identifier_value: string; status: string }>>(`select identifier_value, status from acme_authorizations where account_id = ?`, [accountId]);
    return Object.fromEntries(rows.map((r) => [r.identifier_value, r.status]));
  }

  async function auditDetail(accountId: string): Promise<Record<string, unknown>> {
    const [row] = await server.db.orm.em
      .fork()
      .getConnection()
      .execute<Array<{ detail: Record<string, unknown> }>>(`select detail from audit_log where action = 'acme_account_deactivate' and resource_id = ?`, [accountId]);
    assert.ok(row, "one acme_account_deactivate entry");
    return row.detail;
  }

  /** an account with a valid authorization (valid.example.com) and a pending one (pending.example.com) */
  async function accountWithAuthorizations(prefix: string): Promise<{ c: RawAcme; id: string }> {
    const c = await RawAcme.create(server.directoryUrl());
    assert.equal((await c.register()).status, 201);
    const o = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: `${prefix}-valid.example.com` }, { type: "dns", value: `${prefix}-pending.example.com` }] });
    assert.equal(o.status, 201, o.text);
    for (const az of o.body.authorizations as string[]) {
      const a = await c.post(az, undefined);
      if (a.body.identifier.value.endsWith("-valid.example.com")) await c.post(a.body.challenges.find((x: { type: string }) => x.type === "http-01").url, {});
    }
    await server.acme.validations.idle();
    const id = c.kid!.split("/").pop()!;
    assert.deepEqual(await statuses(id), { [`${prefix}-valid.example.com`]: "valid", [`${prefix}-pending.example.com`]: "pending" });
    return { c, id };
  }

  it("the client's own deactivation deactivates its pending and valid authorizations", async () => {
    const { c, id } = await accountWithAuthorizations("self");
    const bystander = await accountWithAuthorizations("other");
    const r = await c.post(c.kid!, { status: "deactivated" });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, "deactivated");
    assert.deepEqual(await statuses(id), { "self-valid.example.com": "deactivated", "self-pending.example.com": "deactivated" });
    assert.deepEqual(await statuses(bystander.id), { "other-valid.example.com": "valid", "other-pending.example.com": "pending" }, "another account is untouched");
    const detail = await auditDetail(id);
    assert.equal(detail.by, "client");
    assert.equal(detail.authorizationsDeactivated, 2);
  });

  it("an operator's DeactivateAcmeAccount deactivates the account's pending and valid authorizations too", async () => {
    const { c, id } = await accountWithAuthorizations("op");
    const after = await deactivateAcmeAccount(server.ra, systemActor("test"), id);
    assert.equal(after.status, "deactivated");
    assert.deepEqual(await statuses(id), { "op-valid.example.com": "deactivated", "op-pending.example.com": "deactivated" });
    const detail = await auditDetail(id);
    assert.equal(detail.by, "operator");
    assert.equal(detail.authorizationsDeactivated, 2);
    // and the account's key is refused from now on
    const refused = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: "again.example.com" }] });
    assert.equal(refused.status, 403, refused.text);
  });

  it("a second deactivation changes nothing (client: unauthorized; operator: FAILED_PRECONDITION)", async () => {
    const { c, id } = await accountWithAuthorizations("twice");
    assert.equal((await c.post(c.kid!, { status: "deactivated" })).status, 200);
    await assert.rejects(deactivateAcmeAccount(server.ra, systemActor("test"), id), (e: Error & { kind?: string }) => e.kind === "failedPrecondition");
    assert.equal((await c.post(c.kid!, { status: "deactivated" })).status, 403);
  });
});
