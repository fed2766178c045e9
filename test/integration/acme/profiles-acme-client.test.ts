/**
 * A real ACME client (node acme-client) against the default directory's
 * profiles (draft-ietf-acme-profiles-00): meta.profiles lists them, it orders
 * under `tlsclient` with the profile field, and gets a clientAuth-only
 * certificate; an order without a profile still issues a classic one. The
 * challenge outcome comes from the injected validator (the network edge).
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as acme from "acme-client";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";

const EKU_SERVER = "1.3.6.1.5.5.7.3.1";
const EKU_CLIENT = "1.3.6.1.5.5.7.3.2";

describe("ACME profiles with acme-client", function () {
  this.timeout(60_000);
  let server: AcmeTestServer;
  const validator = new FakeValidator();
  before(async () => {
    server = await startAcmeTestServer({ validator });
  });
  after(async () => {
    await server?.stop();
  });

  async function order(client: acme.Client, name: string, profile?: string): Promise<{ order: acme.Order; pem: string }> {
    const o = await client.createOrder({ identifiers: [{ type: "dns", value: name }], ...(profile ? { profile } : {}) } as Parameters<acme.Client["createOrder"]>[0]);
    for (const authz of await client.getAuthorizations(o)) {
      const ch = authz.challenges.find((c) => c.type === "http-01")!;
      await client.completeChallenge(ch);
      await client.waitForValidStatus(ch);
    }
    const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] });
    const done = await client.finalizeOrder(o, csr);
    const pem = await client.getCertificate(done);
    return { order: done, pem };
  }

  it("reads meta.profiles, orders under tlsclient and gets clientAuth only; no profile gives classic", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    await client.createAccount({ termsOfServiceAgreed: true });
    const { meta } = (await (await fetch(server.directoryUrl())).json()) as { meta: { profiles: Record<string, string> } };
    assert.ok(meta.profiles.tlsclient, "tlsclient is offered");

    const tlsclient = await order(client, "client.acme-client.example.com", "tlsclient");
    assert.equal((tlsclient.order as acme.Order & { profile?: string }).profile, "tlsclient");
    const x = new X509Certificate(tlsclient.pem);
    assert.deepEqual(x.keyUsage, [EKU_CLIENT], "clientAuth only");

    const classic = await order(client, "classic.acme-client.example.com");
    assert.equal((classic.order as acme.Order & { profile?: string }).profile, "classic");
    assert.deepEqual(new X509Certificate(classic.pem).keyUsage, [EKU_SERVER]);
    assert.match(new X509Certificate(classic.pem).subject, /CN=classic\.acme-client\.example\.com/);

    await assert.rejects(
      client.createOrder({ identifiers: [{ type: "dns", value: "x.acme-client.example.com" }], profile: "nosuch" } as Parameters<acme.Client["createOrder"]>[0]),
      (e: Error) => /profile/.test(e.message),
    );
  });
});
