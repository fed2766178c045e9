/**
 * dns-account-01 and dns-persist-01 through the admin AcmeService (real gRPC
 * client, real server): opt-in when a directory is created or updated, never
 * part of the default list, and the ACME directory document follows.
 */
import assert from "node:assert/strict";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { ChallengeType } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg, rejectsWith, unique } from "./helpers.js";
import { createIntermediate, createRoot, PkiClients } from "./pki-helpers.js";

describe("admin AcmeService: the opt-in DNS challenge types", function () {
  this.timeout(120_000);
  let server: TestServer;
  let c: PkiClients;
  let su: ClientCallOptions;
  let orgId: string;
  let issuerId: string;

  before(async () => {
    server = await startTestServer();
    c = new PkiClients(server);
    su = await c.superuser();
    orgId = await createOrg(c, su);
    const root = await createRoot(c, su, orgId);
    issuerId = (await createIntermediate(c, su, root.id)).id;
  });
  after(async () => {
    c?.close();
    await server?.stop();
  });

  const meta = async (url: string) => ((await (await fetch(url)).json()) as { meta: Record<string, unknown> }).meta;

  it("creates a directory offering them, renders them back, and its ACME meta names issuerDomainNames and accountHashPrefix", async () => {
    const { directory } = await c.acme.createAcmeDirectory(
      {
        name: unique("dnsx"),
        organizationId: orgId,
        caId: issuerId,
        challengeTypes: [ChallengeType.DNS_ACCOUNT_01, ChallengeType.DNS_PERSIST_01],
        caaIdentities: ["CA.Example.TEST"],
      },
      su,
    );
    assert.deepEqual(directory!.challengeTypes, [ChallengeType.DNS_ACCOUNT_01, ChallengeType.DNS_PERSIST_01]);
    const m = await meta(directory!.directoryUrl);
    assert.deepEqual(m.issuerDomainNames, ["ca.example.test"]);
    assert.equal(m.accountHashPrefix, `${server.baseUrl}/acme/${directory!.name}/account-hash/`);
    const got = await c.acme.getAcmeDirectory({ id: directory!.id }, su);
    assert.deepEqual(got.directory!.challengeTypes, [ChallengeType.DNS_ACCOUNT_01, ChallengeType.DNS_PERSIST_01]);
  });

  it("the default (empty) list stays the three standard types; an update opts in and out", async () => {
    const { directory } = await c.acme.createAcmeDirectory({ name: unique("dnsd"), organizationId: orgId, caId: issuerId }, su);
    assert.deepEqual(directory!.challengeTypes, [ChallengeType.HTTP_01, ChallengeType.DNS_01, ChallengeType.TLS_ALPN_01]);
    assert.equal((await meta(directory!.directoryUrl)).accountHashPrefix, undefined);

    const on = await c.acme.updateAcmeDirectory({ id: directory!.id, challengeTypes: { values: [ChallengeType.DNS_01, ChallengeType.DNS_PERSIST_01] } }, su);
    assert.deepEqual(on.directory!.challengeTypes, [ChallengeType.DNS_01, ChallengeType.DNS_PERSIST_01]);
    // the ACME front end's directory cache lives a few seconds
    let m = await meta(directory!.directoryUrl);
    for (let i = 0; i < 80 && m.accountHashPrefix === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      m = await meta(directory!.directoryUrl);
    }
    // no caaIdentities: the host of the ACME URL
    assert.deepEqual(m.issuerDomainNames, [new URL(server.baseUrl).hostname]);

    const off = await c.acme.updateAcmeDirectory({ id: directory!.id, challengeTypes: { values: [] } }, su);
    assert.deepEqual(off.directory!.challengeTypes, [ChallengeType.HTTP_01, ChallengeType.DNS_01, ChallengeType.TLS_ALPN_01]);
  });

  it("refuses an unknown enum value with INVALID_ARGUMENT naming challenge_types", async () => {
    await rejectsWith(
      c.acme.createAcmeDirectory({ name: unique("dnsbad"), organizationId: orgId, caId: issuerId, challengeTypes: [ChallengeType.DNS_PERSIST_01, 42 as ChallengeType] }, su),
      "INVALID_ARGUMENT",
      /challenge_types/,
    );
  });
});
