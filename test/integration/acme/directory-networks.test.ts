import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { calculateJwkThumbprint } from "jose";
import { createDirectory } from "../../../src/ra/acme/directories.js";
import { systemActor } from "../../../src/ra/actor.js";
import { startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme } from "./raw-client.js";

/**
 * The per-directory validation network override (AcmeDirectory
 * validation_allowed_networks) with the real http-01 validator: the server
 * allows loopback (SIGIL_VALIDATION_ALLOWED_NETWORKS=127.0.0.0/8), one
 * directory narrows it to public addresses, so its challenge for 127.0.0.1
 * is refused before any connection while the other directory's passes.
 */
describe("ACME validation network policy per directory (issue 8 §3)", () => {
  let server: AcmeTestServer;
  let responder: Server;
  const keyAuthorizations = new Map<string, string>();
  let fetched = 0;

  before(async () => {
    responder = createServer((req, res) => {
      fetched++;
      const token = (req.url ?? "").split("/").pop() ?? "";
      const ka = keyAuthorizations.get(token);
      res.writeHead(ka ? 200 : 404).end(ka ?? "");
    });
    await new Promise<void>((r) => responder.listen(0, "127.0.0.1", r));
    const port = (responder.address() as { port: number }).port;
    server = await startAcmeTestServer({
      env: { SIGIL_VALIDATION_HTTP_PORT: String(port), SIGIL_VALIDATION_ALLOWED_NETWORKS: "127.0.0.0/8" },
    });
    const actor = systemActor("test");
    await createDirectory(server.ra, actor, { name: "lo-allowed", ca: "default-intermediate", allowedIpRanges: ["127.0.0.0/8"] });
    await createDirectory(server.ra, actor, {
      name: "lo-refused",
      ca: "default-intermediate",
      allowedIpRanges: ["127.0.0.0/8"],
      validationAllowedNetworks: ["public"],
    });
  });
  after(async () => {
    await server?.stop();
    responder?.close();
  });

  async function validateLoopback(directory: string) {
    const c = await RawAcme.create(server.directoryUrl(directory));
    await c.register();
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "ip", value: "127.0.0.1" }] });
    assert.equal(order.status, 201, order.text);
    const authz = await c.post(order.body.authorizations[0], undefined);
    const challenge = authz.body.challenges.find((x: { type: string }) => x.type === "http-01");
    keyAuthorizations.set(challenge.token, `${challenge.token}.${await calculateJwkThumbprint(c.jwk)}`);
    await c.post(challenge.url, {});
    await server.acme.validations.idle();
    return (await c.post(challenge.url, undefined)).body;
  }

  it("validates 127.0.0.1 where the server's policy allows loopback", async () => {
    const ch = await validateLoopback("lo-allowed");
    assert.equal(ch.status, "valid", JSON.stringify(ch.error));
  });

  it("refuses 127.0.0.1 without connecting where the directory allows only public networks", async () => {
    const before = fetched;
    const ch = await validateLoopback("lo-refused");
    assert.equal(ch.status, "invalid");
    assert.equal(ch.error.type, "urn:ietf:params:acme:error:connection");
    assert.match(ch.error.detail, /not allowed/);
    assert.equal(fetched, before, "the responder was never contacted");
  });

  it("refuses a directory override that is not a network list (INVALID_ARGUMENT naming the field)", async () => {
    await assert.rejects(
      createDirectory(server.ra, systemActor("test"), { name: "bad-networks", ca: "default-intermediate", validationAllowedNetworks: ["10.0.0.0/33"] }),
      (e: Error & { field?: string }) => e.field === "validation_allowed_networks",
    );
  });
});
