/**
 * Review 2 M3: behind a trusted proxy the native gRPC port takes the
 * client's address from x-forwarded-for metadata (the rightmost entry), so
 * one client's wrong passwords lock out that client, not every caller
 * behind the proxy; without SIGIL_TRUST_PROXY the metadata is ignored.
 */
import assert from "node:assert/strict";
import { LOCKOUT_THRESHOLD } from "../../../src/ra/auth.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { AdminClients, createOrg, createUser, PASSWORD, rejectsWith } from "./helpers.js";

async function lockOutVia(server: TestServer): Promise<{ sameClient: string; otherClient: string }> {
  const c = new AdminClients(server);
  try {
    const su = await c.superuser();
    const u = await createUser(c, su, { organizationId: await createOrg(c, su) });
    const from = (ip: string) => ({ metadata: { "x-forwarded-for": `198.51.100.250, ${ip}` } });
    for (let i = 0; i < LOCKOUT_THRESHOLD; i++) await rejectsWith(c.auth.login({ username: u.username, password: "wrong wrong" }, from("203.0.113.1")), "UNAUTHENTICATED");
    const outcome = async (ip: string) => c.auth.login({ username: u.username, password: PASSWORD }, from(ip)).then(() => "ok", (e: { code?: number }) => `code ${e.code}`);
    return { sameClient: await outcome("203.0.113.1"), otherClient: await outcome("203.0.113.2") };
  } finally {
    c.close();
  }
}

describe("native gRPC behind a trusted proxy (SIGIL_TRUST_PROXY)", function () {
  this.timeout(120_000);
  it("ok/x-forwarded-for metadata separates the clients behind the proxy", async () => {
    const server = await startTestServer({ env: { SIGIL_TRUST_PROXY: "true" } });
    try {
      assert.deepEqual(await lockOutVia(server), { sameClient: "code 16", otherClient: "ok" });
    } finally {
      await server.stop();
    }
  });
  it("fail/without SIGIL_TRUST_PROXY the metadata is ignored: the peer is locked out", async () => {
    const server = await startTestServer();
    try {
      assert.deepEqual(await lockOutVia(server), { sameClient: "code 16", otherClient: "code 16" });
    } finally {
      await server.stop();
    }
  });
});
