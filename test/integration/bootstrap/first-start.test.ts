import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import bcrypt from "bcrypt";
import pg from "pg";
import { loadConfig } from "../../../src/config.js";
import { SigilError } from "../../../src/core/errors.js";
import { createLogger } from "../../../src/logger.js";
import { INITIAL_ADMIN_PASSWORD_FILE } from "../../../src/ra/bootstrap.js";
import { startSigil } from "../../../src/server.js";
import { createTestDatabase } from "../../helpers/postgres.js";

const silent = createLogger("silent");

function env(extra: Record<string, string>): Record<string, string> {
  return { SIGIL_HOST: "127.0.0.1", SIGIL_HTTP_PORT: "0", SIGIL_HTTPS_PORT: "0", SIGIL_GRPC_PORT: "0", SIGIL_LOG_LEVEL: "silent", SIGIL_BCRYPT_COST: "4", ...extra };
}

async function query<R>(url: string, sql: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)).rows as R[];
  } finally {
    await c.end();
  }
}

async function counts(url: string): Promise<Record<string, number>> {
  const [r] = await query<Record<string, string>>(
    url,
    `select (select count(*) from users where role = 'superuser') superusers,
            (select count(*) from organizations) organizations,
            (select count(*) from certificate_authorities where parent_id is null) roots,
            (select count(*) from certificate_authorities where parent_id is not null) intermediates,
            (select count(*) from certificates where type = 'ca') ca_certificates,
            (select count(*) from acme_directories) directories,
            (select count(*) from audit_log where action in ('org_create', 'user_create', 'ca_create', 'acme_directory_create')) audit`,
  );
  return Object.fromEntries(Object.entries(r!).map(([k, v]) => [k, Number(v)]));
}

const COMPLETE = { superusers: 1, organizations: 1, roots: 1, intermediates: 1, ca_certificates: 1, directories: 1, audit: 5 };
const EMPTY = { superusers: 0, organizations: 0, roots: 0, intermediates: 0, ca_certificates: 0, directories: 0, audit: 0 };

/** the generated password in the 0600 file matches the admin's stored hash */
async function assertPasswordFileWorks(url: string, dataDir: string): Promise<void> {
  const file = path.join(dataDir, INITIAL_ADMIN_PASSWORD_FILE);
  assert.equal(statSync(file).mode & 0o777, 0o600, "the password file is 0600");
  const password = readFileSync(file, "utf8").trim();
  assert.ok(password.length >= 20, "a long random password");
  const [admin] = await query<{ password_hash: string }>(url, `select password_hash from users where username = 'admin'`);
  assert.ok(admin, "the admin exists");
  assert.ok(await bcrypt.compare(password, admin.password_hash), "the file's password logs the admin in");
}

function occupy(port = 0): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

describe("first start that cannot lose the admin", function () {
  this.timeout(60_000);
  let dataDir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let key: string;
  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-first-"));
    db = await createTestDatabase();
    key = randomBytes(32).toString("hex");
  });
  afterEach(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  });

  it("refuses a start whose HTTP port is in use before touching the database; the next start bootstraps completely", async () => {
    const blocker = await occupy();
    const busy = (blocker.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        startSigil({ config: loadConfig(env({ DATABASE_URL: db.url, SIGIL_MASTER_KEY: key, SIGIL_DATA_DIR: dataDir, SIGIL_HTTP_PORT: String(busy) })), logger: silent }),
        (e: unknown) => e instanceof SigilError && e.kind === "config" && e.field === "SIGIL_HTTP_PORT" && /already in use/.test(e.message),
      );
    } finally {
      await new Promise((r) => blocker.close(r));
    }
    const [migrations] = await query<{ t: string | null }>(db.url, `select to_regclass('public.sigil_migrations')::text t`);
    assert.equal(migrations!.t, null, "not even the migrations ran");
    const server = await startSigil({ config: loadConfig(env({ DATABASE_URL: db.url, SIGIL_MASTER_KEY: key, SIGIL_DATA_DIR: dataDir })), logger: silent });
    try {
      assert.equal(server.bootstrap.adminPasswordFile, path.join(dataDir, INITIAL_ADMIN_PASSWORD_FILE));
      assert.equal(server.bootstrap.created.length, 5);
    } finally {
      await server.close();
    }
    assert.deepEqual(await counts(db.url), COMPLETE);
    await assertPasswordFileWorks(db.url, dataDir);
  });

  it("refuses a bind address that is not this machine's, or not an address at all, with the database untouched", async () => {
    for (const host of ["192.0.2.77", "not a host", "[::1]:80"]) {
      await assert.rejects(
        startSigil({ config: loadConfig(env({ DATABASE_URL: db.url, SIGIL_MASTER_KEY: key, SIGIL_DATA_DIR: dataDir, SIGIL_HOST: host })), logger: silent }),
        (e: unknown) => e instanceof SigilError && e.kind === "config" && e.field === "SIGIL_HOST",
        host,
      );
    }
    const [migrations] = await query<{ t: string | null }>(db.url, `select to_regclass('public.sigil_migrations')::text t`);
    assert.equal(migrations!.t, null);
  });

  it("rolls the whole bootstrap back when the password file cannot be written, and completes on the next start", async () => {
    // a directory where the file should go: writing it fails inside the bootstrap transaction
    mkdirSync(path.join(dataDir, INITIAL_ADMIN_PASSWORD_FILE, "blocked"), { recursive: true });
    const config = loadConfig(env({ DATABASE_URL: db.url, SIGIL_MASTER_KEY: key, SIGIL_DATA_DIR: dataDir }));
    await assert.rejects(startSigil({ config, logger: silent }), (e: unknown) => e instanceof SigilError && /initial admin password/.test(e.message));
    assert.deepEqual(await counts(db.url), EMPTY, "nothing of the first run is left: no CA without an admin");
    rmSync(path.join(dataDir, INITIAL_ADMIN_PASSWORD_FILE), { recursive: true });
    const server = await startSigil({ config, logger: silent });
    await server.close();
    assert.deepEqual(await counts(db.url), COMPLETE);
    await assertPasswordFileWorks(db.url, dataDir);
  });

  it("brings up two instances started at once on one empty database, with one admin, one root and one password file", async () => {
    const dirs = [dataDir, mkdtempSync(path.join(tmpdir(), "sigil-first-"))];
    try {
      const configs = dirs.map((d) => loadConfig(env({ DATABASE_URL: db.url, SIGIL_MASTER_KEY: key, SIGIL_DATA_DIR: d })));
      const servers = await Promise.all(configs.map((config) => startSigil({ config, logger: silent })));
      try {
        assert.equal(servers[0]!.bootstrap.rootCaId, servers[1]!.bootstrap.rootCaId, "both serve the same root");
        const writers = servers.filter((s) => s.bootstrap.adminPasswordFile);
        assert.equal(writers.length, 1, "exactly one instance created the admin");
        const r = await fetch(`http://127.0.0.1:${servers[1]!.httpPort}/acme/default/directory`);
        assert.equal(r.status, 200);
      } finally {
        await Promise.all(servers.map((s) => s.close()));
      }
      assert.deepEqual(await counts(db.url), COMPLETE);
      const writerDir = dirs.find((d) => {
        try {
          return statSync(path.join(d, INITIAL_ADMIN_PASSWORD_FILE)).isFile();
        } catch {
          return false;
        }
      });
      assert.ok(writerDir);
      await assertPasswordFileWorks(db.url, writerDir);
    } finally {
      rmSync(dirs[1]!, { recursive: true, force: true });
    }
  });
});
