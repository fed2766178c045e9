import assert from "node:assert/strict";
import acme from "acme-client";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";

describe("ACME smoke (acme-client, fake validator)", () => {
  let server: AcmeTestServer;
  const validator = new FakeValidator();
  before(async () => {
    server = await startAcmeTestServer({ validator });
  });
  after(async () => server?.stop());

  it("issues a certificate for a dns name with http-01", async () => {
    const client = new acme.Client({ directoryUrl: server.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    const [key, csr] = await acme.crypto.createCsr({ commonName: "smoke.example.com", altNames: ["smoke.example.com"] });
    const cert = await client.auto({
      csr,
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      skipChallengeVerification: true,
      challengeCreateFn: async () => {},
      challengeRemoveFn: async () => {},
    });
    assert.ok(key);
    assert.match(cert, /BEGIN CERTIFICATE/);
    assert.equal(validator.requests.length, 1);
  });
});
