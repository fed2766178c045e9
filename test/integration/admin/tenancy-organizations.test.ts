/**
 * Issue 13 item 1: organization slugs (unique in any case, derived from the
 * name when not given, backfilled by the migration) and typed settings
 * (validated with INVALID_ARGUMENT naming the field, audited with old and
 * new values, enforced on admin issuance and on the session lifetime).
 */
import assert from "node:assert/strict";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { migrationsList } from "../../../migrations/index.js";
import { openDatabase } from "../../../src/db/orm.js";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import { LoginMethod } from "../../../src/gen/sigil/admin/v1/organization_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { createUser, PASSWORD, rejectsWith, unique } from "./helpers.js";
import { auditEntries, createRoot, openssl, PkiClients, TempDir } from "./pki-helpers.js";

const DAY_MS = 86_400_000;

describe("tenancy: organization slugs and settings", function () {
  this.timeout(180_000);
  let server: TestServer;
  let c: PkiClients;
  let su: Awaited<ReturnType<PkiClients["superuser"]>>;

  before(async () => {
    server = await startTestServer();
    c = new PkiClients(server);
    su = await c.superuser();
  });

  after(async () => {
    c?.close();
    await server?.stop();
  });

  it("ok/a slug is derived from the name, unique in any case; a given one is checked", async () => {
    const name = `Acme Widgets ${unique("x")}`;
    const { organization: a } = await c.orgs.createOrganization({ name }, su);
    assert.equal(a!.slug, name.toLowerCase().replace(/[^a-z0-9]+/g, "-"));
    // the same derived slug again (different name, same slug) gets the id's last digits
    const { organization: b } = await c.orgs.createOrganization({ name: `${name}!` }, su);
    assert.equal(b!.slug, `${a!.slug}-${b!.id.replace(/-/g, "").slice(-8)}`);
    await rejectsWith(c.orgs.createOrganization({ name: unique("n"), slug: a!.slug.toUpperCase() }, su), "ALREADY_EXISTS", /^slug: /);
    await rejectsWith(c.orgs.createOrganization({ name: unique("n"), slug: "-bad" }, su), "INVALID_ARGUMENT", /^slug: /);
    await rejectsWith(c.orgs.createOrganization({ name: unique("n"), slug: "has space" }, su), "INVALID_ARGUMENT", /^slug: /);
    const { organization: d } = await c.orgs.createOrganization({ name: unique("n"), slug: "My-Team-7" }, su);
    assert.equal(d!.slug, "my-team-7");
    // defaults are filled in
    assert.deepEqual(
      { ...d!.settings, $typeName: undefined },
      {
        $typeName: undefined,
        defaultValidityDays: 365,
        maxValidityDays: 3650,
        allowedKeyTypes: [],
        revokeCertificatesOnDeactivation: true,
        sessionLifetimeSeconds: 604800n,
        requiredLoginMethod: LoginMethod.PASSWORD,
      },
    );
    // only a superuser changes the slug; an org admin may change settings
    const admin = await createUser(c, su, { organizationId: d!.id, role: Role.ADMIN });
    const asAdmin = await c.login(admin.username, PASSWORD);
    await rejectsWith(c.orgs.updateOrganization({ id: d!.id, slug: "mine" }, asAdmin), "PERMISSION_DENIED");
    await c.orgs.updateOrganization({ id: d!.id, settings: { maxValidityDays: 400 } }, asAdmin);
    const { organization: moved } = await c.orgs.updateOrganization({ id: d!.id, slug: `t-${d!.id.slice(-6)}` }, su);
    assert.equal(moved!.slug, `t-${d!.id.slice(-6)}`);
  });

  it("fail/settings are validated with INVALID_ARGUMENT naming the field, and nothing changes", async () => {
    const { organization } = await c.orgs.createOrganization({ name: unique("v") }, su);
    const id = organization!.id;
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ defaultValidityDays: 0 }, /^settings\.default_validity_days: /],
      [{ maxValidityDays: 3651 }, /^settings\.max_validity_days: /],
      [{ defaultValidityDays: 100, maxValidityDays: 50 }, /^settings\.default_validity_days: at most/],
      [{ sessionLifetimeSeconds: 10n }, /^settings\.session_lifetime_seconds: /],
      [{ sessionLifetimeSeconds: 40n * 86400n }, /^settings\.session_lifetime_seconds: /],
      [{ allowedKeyTypes: { keyTypes: [KeyAlgorithm.UNSPECIFIED] } }, /^settings\.allowed_key_types: /],
      [{ allowedKeyTypes: { keyTypes: [KeyAlgorithm.P256, KeyAlgorithm.P256] } }, /^settings\.allowed_key_types: /],
      [{ requiredLoginMethod: LoginMethod.UNSPECIFIED }, /^settings\.required_login_method: /],
    ];
    for (const [settings, message] of bad) {
      await rejectsWith(c.orgs.updateOrganization({ id, settings }, su), "INVALID_ARGUMENT", message);
      await rejectsWith(c.orgs.createOrganization({ name: unique("v"), settings }, su), "INVALID_ARGUMENT", message);
    }
    // SSO needs a provider, which no organization has yet
    await rejectsWith(c.orgs.updateOrganization({ id, settings: { requiredLoginMethod: LoginMethod.SSO } }, su), "FAILED_PRECONDITION", /SSO/);
    const { organization: after } = await c.orgs.getOrganization({ id }, su);
    assert.equal(after!.settings!.defaultValidityDays, 365);
    assert.equal(after!.settings!.maxValidityDays, 3650);
  });

  it("ok/a settings change is audited with the old and new values", async () => {
    const { organization } = await c.orgs.createOrganization({ name: unique("a") }, su);
    const id = organization!.id;
    const { organization: changed } = await c.orgs.updateOrganization(
      { id, settings: { defaultValidityDays: 30, maxValidityDays: 90, allowedKeyTypes: { keyTypes: [KeyAlgorithm.P256, KeyAlgorithm.RSA3072] } } },
      su,
    );
    assert.equal(changed!.settings!.defaultValidityDays, 30);
    assert.deepEqual(changed!.settings!.allowedKeyTypes, [KeyAlgorithm.P256, KeyAlgorithm.RSA3072]);
    const entries = await auditEntries(server, { action: "org_update", resourceId: id });
    const detail = entries.at(-1)!.detail as { changed: { settings: Record<string, { from: unknown; to: unknown }> } };
    assert.deepEqual(detail.changed.settings, {
      "settings.default_validity_days": { from: 365, to: 30 },
      "settings.max_validity_days": { from: 3650, to: 90 },
      "settings.allowed_key_types": { from: [], to: ["p256", "rsa3072"] },
    });
  });

  it("ok/admin issuance follows the default and maximum validity and the allowed key types", async () => {
    const { organization } = await c.orgs.createOrganization(
      { name: unique("i"), settings: { defaultValidityDays: 30, maxValidityDays: 60, allowedKeyTypes: { keyTypes: [KeyAlgorithm.P256] } } },
      su,
    );
    const orgId = organization!.id;
    const root = await createRoot(c, su, orgId, { allowLeafCerts: true });
    const dflt = (await c.certs.issueCertificate({ caId: root.id, type: CertificateType.SERVER, dnsNames: ["d.example.test"], keyAlgorithm: KeyAlgorithm.P256 }, su))
      .certificate!;
    const days = Math.round((timestampDate(dflt.notAfter!).getTime() - timestampDate(dflt.notBefore!).getTime()) / DAY_MS);
    assert.equal(days, 30);
    await rejectsWith(
      c.certs.issueCertificate({ caId: root.id, type: CertificateType.SERVER, dnsNames: ["m.example.test"], validityDays: 61 }, su),
      "INVALID_ARGUMENT",
      /^validity_days: at most 60 days/,
    );
    await rejectsWith(
      c.certs.issueCertificate({ caId: root.id, type: CertificateType.SERVER, dnsNames: ["k.example.test"], keyAlgorithm: KeyAlgorithm.RSA2048 }, su),
      "INVALID_ARGUMENT",
      /^key_algorithm: the organization allows only these key types: p256/,
    );
    // a CSR with a key type the organization does not allow
    const tmp = new TempDir();
    try {
      const key = tmp.write("k.pem", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]));
      const csrPem = openssl(["req", "-new", "-key", key, "-subj", "/CN=csr.example.test", "-addext", "subjectAltName=DNS:csr.example.test"]);
      await rejectsWith(c.certs.signCsr({ caId: root.id, csrPem, type: CertificateType.SERVER }, su), "INVALID_ARGUMENT", /^csr_pem: the organization allows only/);
      const ok = openssl(["req", "-new", "-key", tmp.write("k2.pem", openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])), "-subj", "/CN=ok.example.test", "-addext", "subjectAltName=DNS:ok.example.test"]);
      const signed = (await c.certs.signCsr({ caId: root.id, csrPem: ok, type: CertificateType.SERVER, validityDays: 60 }, su)).certificate!;
      assert.equal(Math.round((timestampDate(signed.notAfter!).getTime() - timestampDate(signed.notBefore!).getTime()) / DAY_MS), 60);
    } finally {
      tmp.remove();
    }
  });

  it("ok/the session lifetime setting bounds a member's session", async () => {
    const { organization } = await c.orgs.createOrganization({ name: unique("s"), settings: { sessionLifetimeSeconds: 3600n } }, su);
    const u = await createUser(c, su, { organizationId: organization!.id });
    const before = Date.now();
    const s = await c.login(u.username, PASSWORD);
    const { sessions } = await c.auth.listSessions({}, s);
    assert.equal(sessions.length, 1);
    const lifetime = timestampDate(sessions[0]!.expiresAt!).getTime() - before;
    assert.ok(lifetime > 3590_000 && lifetime <= 3610_000, `session lasts ${lifetime} ms`);
  });
});

describe("migration Migration20261202170000OrganizationSlugSettings", function () {
  this.timeout(120_000);
  const MIGRATION = "Migration20261202170000OrganizationSlugSettings";
  const previous = migrationsList[migrationsList.findIndex((m) => m.name === MIGRATION) - 1]!.name;

  it("ok/backfills slugs from the names (oldest keeps the plain one) and fills them for raw inserts", async () => {
    const tdb = await createTestDatabase();
    const db = await openDatabase({ databaseUrl: tdb.url, dataDir: "/nonexistent" });
    try {
      await db.orm.getMigrator().up({ to: previous });
      const conn = db.orm.em.getConnection();
      const rows: Array<[string, string, string]> = [
        ["00000000-0000-7000-8000-000000000001", "Acme Corp", "2026-01-01T00:00:00Z"],
        ["00000000-0000-7000-8000-0000000000a2", "ACME corp.", "2026-01-02T00:00:00Z"],
        ["00000000-0000-7000-8000-000000000003", "Ünïcode ✓", "2026-01-03T00:00:00Z"],
        ["00000000-0000-7000-8000-000000000004", "x".repeat(70), "2026-01-04T00:00:00Z"],
      ];
      for (const [id, name, at] of rows) {
        await conn.execute(`insert into organizations (id, name, created_at, updated_at) values (?, ?, ?, ?)`, [id, name, at, at]);
      }
      await db.orm.getMigrator().up();
      const slugs = await conn.execute<Array<{ id: string; slug: string }>>(`select id, slug from organizations order by created_at`);
      assert.deepEqual(
        slugs.map((r) => r.slug),
        ["acme-corp", "acme-corp-000000a2", "n-code", "x".repeat(54)],
      );
      // a raw insert without a slug gets one
      await conn.execute(`insert into organizations (id, name, created_at, updated_at) values (gen_random_uuid(), 'Raw Insert', now(), now())`);
      const [raw] = await conn.execute<Array<{ slug: string }>>(`select slug from organizations where name = 'Raw Insert'`);
      assert.equal(raw!.slug, "raw-insert");
      await assert.rejects(
        conn.execute(`insert into organizations (id, name, slug, created_at, updated_at) values (gen_random_uuid(), 'other', 'ACME-CORP', now(), now())`),
        /organizations_slug_lower_unique/,
      );
    } finally {
      await db.close();
      await tdb.drop();
    }
  });
});
