/**
 * Per-organization data keys (issue 14 item 5, docs/key-custody.md): each
 * organization's secrets are sealed with its own data key; rotating one
 * organization's key moves only its secrets (in batches) and destroys the
 * old key; deleting an organization destroys its data keys, so surviving
 * copies of its secrets can never be opened while other organizations are
 * unaffected.
 */
import assert from "node:assert/strict";
import { X509Certificate, createPublicKey } from "node:crypto";
import pg from "pg";
import { isSigilError } from "../../../src/core/errors.js";
import { systemActor, type Actor } from "../../../src/ra/actor.js";
import { createRootCa } from "../../../src/ra/certificate-authorities/create.js";
import { exportCertificatePrivateKey, issueCertificate } from "../../../src/ra/certificates.js";
import { certKeyAad } from "../../../src/ra/issuance.js";
import { caKeyAad } from "../../../src/ra/issuers.js";
import { rotateOrganizationDataKey } from "../../../src/ra/key-rotation.js";
import { createOrganization, deleteOrganization } from "../../../src/ra/organizations.js";
import { SecretVault } from "../../../src/ra/secrets.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";

const SYSTEM = systemActor("test");

describe("per-organization data keys: rotation and crypto-shredding", function () {
  this.timeout(120_000);
  let server: TestServer;
  let client: pg.Client;
  let orgA: string;
  let orgB: string;
  let caA: string;
  let caB: string;
  const certsA: string[] = [];

  const blobsOf = async (orgId: string) =>
    (
      await client.query<{ id: string; blob: string }>(
        `select id::text, encrypted_private_key as blob from certificate_authorities where organization_id = $1
         union all select id::text, encrypted_private_key from certificates where organization_id = $1 and encrypted_private_key is not null order by 1`,
        [orgId],
      )
    ).rows;
  const dataKeysOf = async (orgId: string) =>
    (await client.query<{ id: string; status: string }>(`select id::text, status from data_keys where organization_id = $1 order by created_at`, [orgId])).rows;

  before(async () => {
    server = await startTestServer({ embedded: false });
    client = new pg.Client({ connectionString: server.config.databaseUrl });
    await client.connect();
    const ra = server.ra;
    orgA = (await createOrganization(ra, SYSTEM, { name: "keys-a", description: "" })).id;
    orgB = (await createOrganization(ra, SYSTEM, { name: "keys-b", description: "" })).id;
    caA = (await createRootCa(ra, SYSTEM, { organizationId: orgA, name: "a-root", subject: { commonName: "A Root" }, keyAlgorithm: "p256", validityDays: 365, allowLeafCerts: true })).id;
    caB = (await createRootCa(ra, SYSTEM, { organizationId: orgB, name: "b-root", subject: { commonName: "B Root" }, keyAlgorithm: "p256", validityDays: 365, allowLeafCerts: true })).id;
    for (let i = 0; i < 5; i++) {
      certsA.push((await issueCertificate(ra, SYSTEM, { caId: caA, type: "server", dnsNames: [`a${i}.keys.test`], ipAddresses: [], emails: [], keyAlgorithm: "p256", validityDays: 10 })).id);
      await issueCertificate(ra, SYSTEM, { caId: caB, type: "server", dnsNames: [`b${i}.keys.test`], ipAddresses: [], emails: [], keyAlgorithm: "p256", validityDays: 10 });
    }
  });

  after(async () => {
    await client?.end();
    await server?.stop();
  });

  it("seals each organization's secrets with its own data key", async () => {
    const [ka] = await dataKeysOf(orgA);
    const [kb] = await dataKeysOf(orgB);
    assert.ok(ka && kb && ka.id !== kb.id);
    for (const b of await blobsOf(orgA)) assert.ok(b.blob.startsWith(`sgk2.${ka.id}.`), b.id);
    for (const b of await blobsOf(orgB)) assert.ok(b.blob.startsWith(`sgk2.${kb.id}.`), b.id);
  });

  it("rotates one organization's data key in batches, destroys the old key, leaves the other organization untouched", async () => {
    const [old] = await dataKeysOf(orgA);
    const beforeB = await blobsOf(orgB);
    const beforeA = await blobsOf(orgA);
    const batches: number[] = [];
    const admin: Actor = { kind: "user", id: "00000000-0000-7000-8000-000000000001", name: "a-admin", role: "admin", organizationId: orgA, capabilities: new Set() };
    const r = await rotateOrganizationDataKey(server.ra, admin, orgA, { batchSize: 2, onBatch: (b) => batches.push(b.count) });
    assert.deepEqual(r.retiredDataKeyIds, [old!.id]);
    assert.deepEqual(r.destroyedDataKeyIds, [old!.id]);
    assert.equal(Object.values(r.reencrypted).reduce((a, b) => a + b, 0), beforeA.length);
    assert.ok(batches.length >= 3 && batches.every((n) => n <= 2), `batches ${batches.join(",")}`);

    assert.deepEqual(await dataKeysOf(orgA), [{ id: r.newDataKeyId, status: "active" }]);
    for (const b of await blobsOf(orgA)) assert.ok(b.blob.startsWith(`sgk2.${r.newDataKeyId}.`), b.id);
    assert.deepEqual(await blobsOf(orgB), beforeB, "the other organization's blobs are byte for byte the same");

    // a fresh instance (cold cache) opens the re-encrypted secrets: the CA signs, a held key exports and matches
    const cold = new SecretVault(server.ra.keyRing);
    const [ca] = (await client.query<{ encrypted_private_key: string }>(`select encrypted_private_key from certificate_authorities where id = $1`, [caA])).rows;
    assert.ok((await cold.open(server.ra.store, ca!.encrypted_private_key, caKeyAad(caA))).length > 0);
    server.ra.issuers.invalidate(caA);
    await issueCertificate(server.ra, SYSTEM, { caId: caA, type: "server", dnsNames: ["after.keys.test"], ipAddresses: [], emails: [], keyAlgorithm: "p256", validityDays: 10 });
    const exported = await exportCertificatePrivateKey(server.ra, SYSTEM, certsA[0]!, "pem", "");
    const [cert] = (await client.query<{ certificate_pem: string }>(`select certificate_pem from certificates where id = $1`, [certsA[0]])).rows;
    assert.ok(exported.format === "pem");
    assert.ok(
      createPublicKey(exported.pem).export({ format: "der", type: "spki" }).equals(new X509Certificate(cert!.certificate_pem).publicKey.export({ format: "der", type: "spki" })),
    );

    const audit = (await client.query<{ action: string; detail: Record<string, unknown> }>(`select action, detail from audit_log where organization_id = $1 and action like 'data_key_%' order by created_at`, [orgA])).rows;
    assert.deepEqual(audit.map((a) => a.action), ["data_key_rotate", "data_key_destroy"]);
    assert.equal(audit[0]!.detail.newDataKeyId, r.newDataKeyId);
  });

  it("refuses the rotation to a member who is not an admin, and answers NOT_FOUND to another organization", async () => {
    const member: Actor = { kind: "user", id: "00000000-0000-7000-8000-000000000002", name: "a-user", role: "user", organizationId: orgA, capabilities: new Set(["create_ca", "create_cert", "revoke_cert", "export_private_key", "delete_ca"]) };
    const other: Actor = { kind: "user", id: "00000000-0000-7000-8000-000000000003", name: "b-admin", role: "admin", organizationId: orgB, capabilities: new Set() };
    const keys = await dataKeysOf(orgA);
    await assert.rejects(rotateOrganizationDataKey(server.ra, member, orgA), (e: unknown) => isSigilError(e, "permissionDenied"));
    await assert.rejects(rotateOrganizationDataKey(server.ra, other, orgA), (e: unknown) => isSigilError(e, "notFound"));
    await assert.rejects(rotateOrganizationDataKey(server.ra, SYSTEM, "not-an-id"), (e: unknown) => isSigilError(e, "invalidArgument"));
    assert.deepEqual(await dataKeysOf(orgA), keys, "nothing changed");
  });

  it("crypto-shreds a deleted organization: its surviving secrets can never be opened, other organizations are unaffected", async () => {
    const ra = server.ra;
    const orgC = (await createOrganization(ra, SYSTEM, { name: "keys-c", description: "" })).id;
    // copies of the organization's secrets that outlive its rows (a backup, an export of the table)
    const copies = [await ra.secrets.seal(ra.store, orgC, Buffer.from("client secret of C"), "copy:1"), await ra.secrets.seal(ra.store, orgC, Buffer.from("key of C"), "copy:2")];
    assert.deepEqual((await ra.secrets.open(ra.store, copies[0]!, "copy:1")).toString(), "client secret of C");
    const [keyC] = await dataKeysOf(orgC);
    assert.ok(keyC);

    await deleteOrganization(ra, SYSTEM, orgC);
    assert.deepEqual(await dataKeysOf(orgC), []);
    const destroyed = (e: unknown) => isSigilError(e, "failedPrecondition") && e.message.includes(`data key ${keyC.id}`) && /cannot be decrypted/.test(e.message);
    // this instance (its cache forgot the key) and a fresh one (cold cache) both refuse
    for (const vault of [ra.secrets, new SecretVault(ra.keyRing)]) {
      await assert.rejects(vault.open(ra.store, copies[0]!, "copy:1"), destroyed);
      await assert.rejects(vault.open(ra.store, copies[1]!, "copy:2"), destroyed);
    }
    const [del] = (await client.query<{ detail: Record<string, unknown> }>(`select detail from audit_log where action = 'org_delete' and organization_id = $1`, [orgC])).rows;
    assert.equal(del?.detail.dataKeysDestroyed, 1);

    // the others still open everything
    for (const orgId of [orgA, orgB]) {
      for (const b of await blobsOf(orgId)) {
        const isCa = (await client.query(`select 1 from certificate_authorities where id::text = $1`, [b.id])).rowCount === 1;
        assert.ok((await new SecretVault(ra.keyRing).open(ra.store, b.blob, isCa ? caKeyAad(b.id) : certKeyAad(b.id))).length > 0);
      }
    }
  });
});
