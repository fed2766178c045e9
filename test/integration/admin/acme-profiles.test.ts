/**
 * AcmeService's profiles (draft-ietf-acme-profiles-00) through a real gRPC
 * client against the running server on PostgreSQL: a new directory's
 * classic default, presets, validation errors naming the field, update,
 * the default switch, deletion (not of the default), one audit entry per
 * write, and an ACME client seeing the change in meta.profiles.
 */
import assert from "node:assert/strict";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { AcmeCertificateKind } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createOrg, rejectsWith, unique } from "./helpers.js";
import { auditDuring, createIntermediate, createRoot, PkiClients } from "./pki-helpers.js";

const DAY = 86_400;

describe("admin AcmeService profiles", function () {
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

  const newDir = (extra: Record<string, unknown> = {}) =>
    c.acme.createAcmeDirectory({ name: unique("pdir"), organizationId: orgId, caId: issuerId, allowedDnsSuffixes: ["example.test"], ...extra }, su).then((r) => r.directory!);

  it("gives a new directory a classic default from its kind and validity, and a preset named as default_profile", async () => {
    const plain = await newDir({ certificateKind: AcmeCertificateKind.CLIENT, maxValidityDays: 30 });
    assert.equal(plain.defaultProfile, "classic");
    assert.equal(plain.profiles.length, 1);
    const classic = plain.profiles[0]!;
    assert.equal(classic.name, "classic");
    assert.equal(classic.isDefault, true);
    assert.equal(classic.certificateKind, AcmeCertificateKind.CLIENT);
    assert.deepEqual(classic.extendedKeyUsages, ["clientAuth"]);
    assert.equal(classic.maxValiditySeconds, 30 * DAY);
    assert.equal(classic.includeCommonName, true);
    assert.equal(classic.authorizationReuseSeconds, 30 * DAY);

    const short = await newDir({ defaultProfile: "shortlived" });
    assert.equal(short.defaultProfile, "shortlived");
    assert.deepEqual(short.profiles.map((p) => p.name), ["classic", "shortlived"]);
    assert.equal(short.profiles.find((p) => p.name === "shortlived")!.maxValiditySeconds, 160 * 3600);
    const got = (await c.acme.getAcmeDirectory({ id: short.id }, su)).directory!;
    assert.equal(got.defaultProfile, "shortlived");

    await rejectsWith(newDir({ defaultProfile: "nosuch" }), "INVALID_ARGUMENT", /preset/);
  });

  it("creates a profile from a preset with one acme_profile_create entry, and refuses bad fields naming them", async () => {
    const dir = await newDir({ maxValidityDays: 100 });
    let created!: Awaited<ReturnType<typeof c.acme.createAcmeProfile>>;
    const audit = await auditDuring(server, async () => {
      created = await c.acme.createAcmeProfile(
        { directoryId: dir.id, name: "web", preset: "tlsserver", description: "Web servers", maxIdentifiers: 10, identifierTypes: ["dns"], keyUsages: ["digitalSignature", "keyEncipherment"] },
        su,
      );
    });
    const p = created.profile!;
    assert.equal(p.name, "web");
    assert.equal(p.description, "Web servers");
    assert.equal(p.certificateKind, AcmeCertificateKind.SERVER);
    assert.equal(p.maxValiditySeconds, 45 * DAY, "the preset's");
    assert.equal(p.includeCommonName, false, "the preset's");
    assert.equal(p.maxIdentifiers, 10);
    assert.deepEqual(p.identifierTypes, ["dns"]);
    assert.deepEqual(p.keyUsages, ["digitalSignature", "keyEncipherment"]);
    assert.equal(p.isDefault, false);
    assert.deepEqual(audit.map((a) => a.action), ["acme_profile_create"]);
    assert.equal(audit[0]!.resource_id, p.id);

    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ name: "Bad Name" }, /name/],
      [{ name: "web" }, /profile "web"/],
      [{ name: unique("p"), preset: "nosuch" }, /preset/],
      [{ name: unique("p"), maxValiditySeconds: 101 * DAY }, /max_validity_seconds/],
      [{ name: unique("p"), maxValiditySeconds: 60 }, /max_validity_seconds/],
      [{ name: unique("p"), keyUsages: ["keyCertSign"] }, /key_usages/],
      [{ name: unique("p"), keyUsages: ["keyEncipherment"] }, /key_usages/],
      [{ name: unique("p"), maxIdentifiers: 101 }, /max_identifiers/],
      [{ name: unique("p"), identifierTypes: ["email"] }, /identifier_types/],
      [{ name: unique("p"), authorizationReuseSeconds: 31 * DAY }, /authorization_reuse_seconds/],
      [{ name: unique("p"), orderLifetimeSeconds: 10 }, /order_lifetime_seconds/],
      [{ name: unique("p"), pendingAuthorizationLifetimeSeconds: 31 * DAY }, /pending_authorization_lifetime_seconds/],
      [{ name: unique("p"), description: "x".repeat(513) }, /description/],
    ];
    for (const [extra, field] of cases) {
      const code = extra.name === "web" ? "ALREADY_EXISTS" : "INVALID_ARGUMENT";
      await rejectsWith(c.acme.createAcmeProfile({ directoryId: dir.id, ...extra } as never, su), code, field);
    }
    const names = (await c.acme.listAcmeProfiles({ directoryId: dir.id }, su)).profiles.map((x) => x.name);
    assert.deepEqual(names, ["classic", "web"], "nothing half-written by the refusals");
  });

  it("updates a profile (one acme_profile_update entry naming the changes), switches the default, and refuses to delete the default", async () => {
    // dual: the bound of the client and dual profiles below (review 2 M6; a server directory refuses them)
    const dir = await newDir({ certificateKind: AcmeCertificateKind.DUAL });
    await rejectsWith(c.acme.createAcmeProfile({ directoryId: (await newDir()).id, name: "svc", preset: "tlsclient" }, su), "INVALID_ARGUMENT", /server directory cannot have a client profile/);
    const p = (await c.acme.createAcmeProfile({ directoryId: dir.id, name: "svc", preset: "tlsclient" }, su)).profile!;
    let updated!: Awaited<ReturnType<typeof c.acme.updateAcmeProfile>>;
    const audit = await auditDuring(server, async () => {
      updated = await c.acme.updateAcmeProfile({ id: p.id, certificateKind: AcmeCertificateKind.DUAL, orderLifetimeSeconds: 3600, identifierTypes: { values: ["ip"] } }, su);
    });
    assert.equal(updated.profile!.certificateKind, AcmeCertificateKind.DUAL);
    assert.deepEqual(updated.profile!.extendedKeyUsages, ["serverAuth", "clientAuth"]);
    assert.equal(updated.profile!.orderLifetimeSeconds, 3600);
    assert.deepEqual(updated.profile!.identifierTypes, ["ip"]);
    assert.equal(updated.profile!.maxValiditySeconds, 45 * DAY, "unchanged");
    assert.deepEqual(audit.map((a) => a.action), ["acme_profile_update"]);
    assert.deepEqual(Object.keys(audit[0]!.detail.changed as object).sort(), ["certificateKind", "identifierTypes", "orderLifetimeSeconds"]);
    await rejectsWith(c.acme.updateAcmeProfile({ id: p.id, maxIdentifiers: -1 }, su), "INVALID_ARGUMENT", /max_identifiers/);
    await rejectsWith(c.acme.getAcmeProfile({ id: "00000000-0000-7000-8000-000000000000" }, su), "NOT_FOUND");

    const classic = (await c.acme.listAcmeProfiles({ directoryId: dir.id }, su)).profiles.find((x) => x.name === "classic")!;
    await rejectsWith(c.acme.deleteAcmeProfile({ id: classic.id }, su), "FAILED_PRECONDITION", /default/);
    await rejectsWith(c.acme.updateAcmeDirectory({ id: dir.id, defaultProfile: "nosuch" }, su), "INVALID_ARGUMENT", /default_profile/);
    const switched = await auditDuring(server, async () => {
      const d = (await c.acme.updateAcmeDirectory({ id: dir.id, defaultProfile: "svc" }, su)).directory!;
      assert.equal(d.defaultProfile, "svc");
      assert.equal(d.profiles.find((x) => x.name === "svc")!.isDefault, true);
    });
    assert.equal((switched[0]!.detail.changed as Record<string, unknown>).defaultProfile, "svc");
    await rejectsWith(c.acme.deleteAcmeProfile({ id: p.id }, su), "FAILED_PRECONDITION", /default/);
    const deleted = await auditDuring(server, () => c.acme.deleteAcmeProfile({ id: classic.id }, su));
    assert.deepEqual(deleted.map((a) => a.action), ["acme_profile_delete"]);
    assert.deepEqual((await c.acme.listAcmeProfiles({ directoryId: dir.id }, su)).profiles.map((x) => x.name), ["svc"]);
    await rejectsWith(c.acme.getAcmeProfile({ id: classic.id }, su), "NOT_FOUND");
  });

  it("shows the change to ACME clients in meta.profiles", async () => {
    const dir = await newDir();
    await c.acme.createAcmeProfile({ directoryId: dir.id, name: "extra", description: "An extra profile" }, su);
    // the ACME front end caches a directory for a few seconds
    const deadline = Date.now() + 10_000;
    let profiles: Record<string, string> = {};
    while (Date.now() < deadline) {
      const body = (await (await fetch(dir.directoryUrl)).json()) as { meta: { profiles?: Record<string, string> } };
      profiles = body.meta.profiles ?? {};
      if (profiles.extra) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(profiles.extra, "An extra profile");
    assert.ok(profiles.classic);
  });
});
