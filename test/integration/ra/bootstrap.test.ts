import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { loadConfig } from "../../../src/config.js";
import { SigilError } from "../../../src/core/errors.js";
import { createLogger } from "../../../src/logger.js";
import { startSigil } from "../../../src/server.js";
import { createTestDatabase } from "../../helpers/postgres.js";

const silent = createLogger("silent");

function env(extra: Record<string, string>): Record<string, string> {
  return { SIGIL_HTTP_PORT: "0", SIGIL_HTTPS_PORT: "0", SIGIL_GRPC_PORT: "0", SIGIL_LOG_LEVEL: "silent", ...extra };
}

async function counts(url: string): Promise<Record<string, number>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const q = async (sql: string) => Number((await c.query(sql)).rows[0].n);
    return {
      superusers: await q(`select count(*) n from users where role = 'superuser'`),
      roots: await q(`select count(*) n from certificate_authorities where parent_id is null`),
      intermediates: await q(`select count(*) n from certificate_authorities where parent_id is not null`),
      organizations: await q(`select count(*) n from organizations where name = 'default'`),
      directories: await q(`select count(*) n from acme_directories where name = 'default'`),
    };
  } finally {
    await c.end();
  }
}

describe("first-run bootstrap", () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-boot-"));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it("creates admin, default org, P-256 root and intermediate, ACME directory once; a second start reuses them", async () => {
    const db = await createTestDatabase();
    const key = randomBytes(32).toString("hex");
    try {
      const config = loadConfig(env({ DATABASE_URL: db.url, SIGIL_MASTER_KEY: key, SIGIL_DATA_DIR: dataDir }));
      const first = await startSigil({ config, logger: silent });
      assert.ok(first.bootstrap.generatedAdminPassword, "a password is generated and reported once");
      assert.ok(first.bootstrap.generatedAdminPassword.length >= 20);
      assert.equal(first.bootstrap.created.length, 5);
      await first.close();
      const second = await startSigil({ config, logger: silent });
      assert.equal(second.bootstrap.generatedAdminPassword, undefined, "never printed again");
      assert.deepEqual(second.bootstrap.created, []);
      assert.equal(second.bootstrap.rootCaId, first.bootstrap.rootCaId);
      await second.close();
      assert.deepEqual(await counts(db.url), { superusers: 1, roots: 1, intermediates: 1, organizations: 1, directories: 1 });
    } finally {
      await db.drop();
    }
  });

  it("stores no plaintext private key and no password anywhere in the database", async () => {
    const db = await createTestDatabase();
    try {
      const config = loadConfig(env({ DATABASE_URL: db.url, SIGIL_MASTER_KEY: randomBytes(32).toString("hex"), SIGIL_BOOTSTRAP_ADMIN_PASSWORD: "pw-Plaintext-123" }));
      const s = await startSigil({ config, logger: silent });
      await s.close();
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        const dump = JSON.stringify(
          (await c.query(`select row_to_json(t)::text r from (select * from certificate_authorities) t union all select row_to_json(u)::text from users u union all select row_to_json(a)::text from audit_log a`)).rows,
        );
        assert.ok(!dump.includes("PRIVATE KEY"), "no PEM private key");
        assert.ok(!dump.includes("pw-Plaintext-123"), "no plaintext password");
        const keys = (await c.query(`select encrypted_private_key k from certificate_authorities`)).rows as { k: string }[];
        assert.equal(keys.length, 2);
        for (const { k } of keys) {
          assert.match(k, /^sgk2\./, "keys are AES-GCM blobs under a data key (envelope encryption)");
          // a PKCS#8 DER starts with SEQUENCE (0x30 0x81/0x82): base64 "MI"; the blob must not contain one
          assert.ok(!/\.MI[GHIJ]/.test(k));
        }
      } finally {
        await c.end();
      }
    } finally {
      await db.drop();
    }
  });

  it("refuses to start with a wrong master key and changes nothing", async () => {
    const db = await createTestDatabase();
    try {
      const good = loadConfig(env({ DATABASE_URL: db.url, SIGIL_MASTER_KEY: randomBytes(32).toString("hex") }));
      await (await startSigil({ config: good, logger: silent })).close();
      const before = await counts(db.url);
      const wrong = loadConfig(env({ DATABASE_URL: db.url, SIGIL_MASTER_KEY: randomBytes(32).toString("hex") }));
      await assert.rejects(
        startSigil({ config: wrong, logger: silent }),
        (e: unknown) => e instanceof SigilError && e.kind === "config" && /master key/.test(e.message),
      );
      assert.deepEqual(await counts(db.url), before);
      // the right key still works afterwards
      await (await startSigil({ config: good, logger: silent })).close();
    } finally {
      await db.drop();
    }
  });

  it("on the embedded default generates a 0600 master key in the data dir and reuses everything on restart", async function () {
    this.timeout(120_000);
    const config = loadConfig(env({ SIGIL_DATA_DIR: dataDir, SIGIL_BOOTSTRAP_ADMIN_PASSWORD: "x-password-1" }));
    const first = await startSigil({ config, logger: silent });
    assert.equal(first.db.kind, "embedded");
    const root = first.bootstrap.rootCaId;
    await first.close();
    assert.equal(statSync(path.join(dataDir, "master.key")).mode & 0o777, 0o600);
    const second = await startSigil({ config, logger: silent });
    assert.deepEqual(second.bootstrap.created, []);
    assert.equal(second.bootstrap.rootCaId, root);
    await second.close();
  });
});

describe("bootstrap audit trail", () => {
  it("names the resource and organization of every first-run audit entry", async () => {
    const db = await createTestDatabase();
    try {
      const config = loadConfig(env({ DATABASE_URL: db.url, SIGIL_MASTER_KEY: randomBytes(32).toString("hex"), SIGIL_BOOTSTRAP_ADMIN_PASSWORD: "pw-1234567890" }));
      await (await startSigil({ config, logger: silent })).close();
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        const rows = (await c.query(`select action, resource_id, organization_id from audit_log order by created_at`)).rows as Array<Record<string, string | null>>;
        // cert_create: the HTTPS listener's self-issued certificate (src/tls/self-issued.ts)
        assert.deepEqual(rows.map((r) => r.action).sort(), ["acme_directory_create", "ca_create", "ca_create", "cert_create", "org_create", "user_create"]);
        for (const r of rows) {
          assert.ok(r.resource_id, `${r.action} names its resource`);
          assert.ok(r.organization_id, `${r.action} names its organization`);
        }
      } finally {
        await c.end();
      }
    } finally {
      await db.drop();
    }
  });
});
