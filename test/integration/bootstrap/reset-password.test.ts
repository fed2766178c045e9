import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import bcrypt from "bcrypt";
import pg from "pg";
import { loadConfig } from "../../../src/config.js";
import { createLogger } from "../../../src/logger.js";
import { startSigil } from "../../../src/server.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { runSigil, spawnSigil } from "../../helpers/sigil-cli.js";

const silent = createLogger("silent");
const BASE = { SIGIL_HOST: "127.0.0.1", SIGIL_HTTP_PORT: "0", SIGIL_HTTPS_PORT: "0", SIGIL_GRPC_PORT: "0", SIGIL_LOG_LEVEL: "silent", SIGIL_BCRYPT_COST: "4" };

async function query<R>(url: string, sql: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, values)).rows as R[];
  } finally {
    await c.end();
  }
}

async function adminHash(url: string): Promise<string> {
  const [r] = await query<{ password_hash: string }>(url, `select password_hash from users where username = 'admin'`);
  return r!.password_hash;
}

describe("sigil admin reset-password (break-glass, straight on the database)", function () {
  this.timeout(60_000);
  let dataDir: string;
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let env: Record<string, string>;
  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-reset-"));
    db = await createTestDatabase();
    env = { ...BASE, DATABASE_URL: db.url, SIGIL_MASTER_KEY: randomBytes(32).toString("hex"), SIGIL_DATA_DIR: dataDir, SIGIL_BOOTSTRAP_ADMIN_PASSWORD: "first-password-1" };
    await (await startSigil({ config: loadConfig(env), logger: silent })).close();
  });
  after(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await db.drop();
  });

  it("writes a generated password to a 0600 file (never to stdout), sets it, and audits the change as reset-password", async () => {
    const r = await runSigil(["admin", "reset-password", "--username", "admin"], env);
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(dataDir, "reset-password-admin");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const password = readFileSync(file, "utf8").trim();
    assert.ok(password.length >= 20);
    assert.ok(r.stdout.includes(file), "the file's path is printed");
    assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password), "the password is not");
    assert.ok(await bcrypt.compare(password, await adminHash(db.url)));
    assert.ok(!(await bcrypt.compare("first-password-1", await adminHash(db.url))), "the old password no longer works");
    const [audit] = await query<{ username: string; detail: { changed: string[] } }>(
      db.url,
      `select username, detail from audit_log where action = 'user_update' order by created_at desc limit 1`,
    );
    assert.equal(audit!.username, "reset-password");
    assert.deepEqual(audit!.detail.changed, ["password"]);
  });

  it("takes the new password from SIGIL_NEW_PASSWORD and writes no file", async () => {
    const file = path.join(dataDir, "reset-password-admin");
    rmSync(file, { force: true });
    const r = await runSigil(["admin", "reset-password", "--username", "admin"], { ...env, SIGIL_NEW_PASSWORD: "chosen-by-operator-9" });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(file));
    assert.ok(!r.stdout.includes("chosen-by-operator-9"));
    assert.ok(await bcrypt.compare("chosen-by-operator-9", await adminHash(db.url)));
  });

  it("refuses an unknown user and a wrong master key, leaving the password and no stray file", async () => {
    const before = await adminHash(db.url);
    const unknown = await runSigil(["admin", "reset-password", "--username", "nobody"], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no user named "nobody"/);
    assert.ok(!existsSync(path.join(dataDir, "reset-password-nobody")), "the file of a refused reset is removed");
    const wrongKey = await runSigil(["admin", "reset-password", "--username", "admin"], { ...env, SIGIL_MASTER_KEY: randomBytes(32).toString("hex") });
    assert.equal(wrongKey.code, 1, wrongKey.stderr);
    assert.match(wrongKey.stderr, /master key does not match/);
    assert.equal(await adminHash(db.url), before);
    const usage = await runSigil(["admin", "reset-password"], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--username is required/);
  });

  it("refuses while a server holds the embedded data directory", async function () {
    this.timeout(120_000);
    const dir = mkdtempSync(path.join(tmpdir(), "sigil-reset-emb-"));
    const embeddedEnv = { ...BASE, DATABASE_URL: "", SIGIL_DATA_DIR: dir, SIGIL_BOOTSTRAP_ADMIN_PASSWORD: "embedded-pass-1" };
    const server = await startSigil({ config: loadConfig(embeddedEnv), logger: silent });
    try {
      // another process, as an operator's would be (the lock tells processes apart)
      const r = await spawnSigil(["admin", "reset-password", "--username", "admin"], embeddedEnv);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /is in use by process \d+ \(sigil serve\)/);
      assert.ok(!existsSync(path.join(dir, "reset-password-admin")));
    } finally {
      await server.close();
    }
    // stopped, the same command works on the embedded database
    const ok = await runSigil(["admin", "reset-password", "--username", "admin"], embeddedEnv);
    assert.equal(ok.code, 0, ok.stderr);
    rmSync(dir, { recursive: true, force: true });
  });
});
