/**
 * Master-key rotation that finishes (issue 14 item 4, docs/key-custody.md):
 * the real `sigil rotate-master-key` binary is killed with SIGKILL after its
 * first committed batch, start-up with only the new key refuses (naming what
 * still needs the old one), a second run resumes and finishes, and then a
 * server with ONLY the new key configured opens every secret: the CAs sign
 * (openssl verifies), the EAB HMAC key is the one handed out, a held leaf key
 * exports and matches its certificate, the JWT signing key is unchanged.
 * Half of the secrets start as legacy sgk1 blobs (sealed directly by the
 * master key, as before data keys existed) and end under data keys.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createHash, createPublicKey, randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { MasterKeyRing, masterKeyId } from "../../../src/ca/key-encryption.js";
import { loadConfig } from "../../../src/config.js";
import { isSigilError } from "../../../src/core/errors.js";
import { openDatabase, type Database } from "../../../src/db/orm.js";
import { ENCRYPTED_COLUMNS } from "../../../src/db/store/encrypted-columns.js";
import { Store } from "../../../src/db/store/session.js";
import { createLogger } from "../../../src/logger.js";
import { systemActor } from "../../../src/ra/actor.js";
import { DEFAULT_ACME_DIRECTORY, DEFAULT_INTERMEDIATE_CA } from "../../../src/ra/bootstrap.js";
import { createRootCa } from "../../../src/ra/certificate-authorities/create.js";
import { exportCertificatePrivateKey, issueCertificate } from "../../../src/ra/certificates.js";
import { createEabKey, eabKeyAad } from "../../../src/ra/acme/directories.js";
import { masterKeyNeeds, proveMasterKeys } from "../../../src/ra/key-rotation.js";
import { createOrganization } from "../../../src/ra/organizations.js";
import { startSigil, type SigilServer } from "../../../src/server.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { freePort, testServerEnv } from "../../helpers/server.js";
import { cliEnv, runSigil, SIGIL_BIN, spawnSigil } from "../../helpers/sigil-cli.js";

const SYSTEM = systemActor("test");

describe("master-key rotation (sigil rotate-master-key)", function () {
  this.timeout(300_000);
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const oldId = masterKeyId(oldKey);
  const newId = masterKeyId(newKey);
  let db: { url: string; drop(): Promise<void> };
  let dir: string;
  let keyFile: string;
  let client: pg.Client;
  /** sha256 of every secret's plaintext, by "column/id", before the rotation */
  const plainBefore = new Map<string, string>();
  let eab: { kid: string; hmacKey: string };
  let legacyCertId: string;
  let caIds: string[] = [];
  /** a root store over the test database, for reads while no server runs */
  let storeDb: Database | undefined;
  let store: Store;

  async function start(master: Buffer, previous: Buffer[] = []): Promise<SigilServer> {
    const env = {
      ...testServerEnv({ dataDir: dir, httpPort: await freePort(), databaseUrl: db.url }),
      SIGIL_MASTER_KEY: master.toString("hex"),
      ...(previous.length ? { SIGIL_PREVIOUS_MASTER_KEYS: previous.map((k) => k.toString("hex")).join(",") } : {}),
    };
    return startSigil({ config: loadConfig(env), logger: createLogger("silent") });
  }

  function cliEnvFor(master: Buffer): Record<string, string> {
    return { DATABASE_URL: db.url, SIGIL_DATA_DIR: dir, SIGIL_MASTER_KEY: master.toString("hex"), SIGIL_LOG_LEVEL: "silent" };
  }

  async function blobs(): Promise<Array<{ key: string; column: (typeof ENCRYPTED_COLUMNS)[number]; id: string; blob: string }>> {
    const out = [];
    for (const c of ENCRYPTED_COLUMNS) {
      const where = c.where ? `and ${c.where}` : "";
      const rows = (await client.query<{ id: string; blob: string }>(`select t.${c.idColumn}::text as id, t.${c.blobColumn} as blob from ${c.table} t where t.${c.blobColumn} is not null ${where}`)).rows;
      for (const r of rows) out.push({ key: `${c.name}/${r.id}`, column: c, id: r.id, blob: r.blob });
    }
    return out;
  }

  const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

  before(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(path.join(tmpdir(), "sigil-rotate-"));
    keyFile = path.join(dir, "new-master.key");
    writeFileSync(keyFile, `${newKey.toString("hex")}\n`, { mode: 0o600 });
    client = new pg.Client({ connectionString: db.url });
    await client.connect();

    const server = await start(oldKey);
    try {
      const ra = server.ra;
      const [inter] = (await client.query<{ id: string }>(`select id from certificate_authorities where name = $1`, [DEFAULT_INTERMEDIATE_CA])).rows;
      const org2 = await createOrganization(ra, SYSTEM, { name: "rotation-two", description: "" });
      const ca2 = await createRootCa(ra, SYSTEM, { organizationId: org2.id, name: "two-root", subject: { commonName: "Two Root" }, keyAlgorithm: "p256", validityDays: 365, allowLeafCerts: true });
      caIds = [inter!.id, ca2.id];
      const certIds: string[] = [];
      for (let i = 0; i < 8; i++) {
        for (const caId of caIds) {
          const c = await issueCertificate(ra, SYSTEM, { caId, type: "server", dnsNames: [`h${i}.rotation.test`], ipAddresses: [], emails: [], keyAlgorithm: "p256", validityDays: 30 });
          certIds.push(c.id);
        }
      }
      eab = await createEabKey(ra, SYSTEM, { directory: DEFAULT_ACME_DIRECTORY });

      // pre-data-key rows: half of the secrets become legacy sgk1 blobs sealed directly by the (old) master key
      const ring = MasterKeyRing.fromKeys(oldKey);
      const all = await blobs();
      let legacy = 0;
      for (const [i, b] of all.entries()) {
        if (b.column.masterKeyOnly || i % 2 === 1) continue;
        const plain = await ra.secrets.open(ra.store, b.blob, b.column.aad(b.id));
        await client.query(`update ${b.column.table} t set ${b.column.blobColumn} = $1 where t.${b.column.idColumn}::text = $2`, [ring.encrypt(plain, b.column.aad(b.id)), b.id]);
        if (b.column.table === "certificates" && !legacyCertId) legacyCertId = b.id;
        legacy++;
      }
      assert.ok(legacy >= 8, `made ${legacy} legacy blobs`);
      assert.ok(legacyCertId, "a held leaf key is a legacy blob");
      for (const b of await blobs()) plainBefore.set(b.key, sha(await ra.secrets.open(ra.store, b.blob, b.column.aad(b.id))));
      assert.ok(plainBefore.size >= 20, `${plainBefore.size} secrets`);
    } finally {
      await server.close();
    }
    storeDb = await openDatabase({ databaseUrl: db.url, dataDir: dir, poolMax: 1, holder: "test" });
    store = new Store(storeDb.orm);
  });

  after(async () => {
    await storeDb?.close();
    await client?.end();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("survives kill -9 after the first committed batch; start-up with only the new key then refuses, naming what needs the old key", async () => {
    const child = spawn(process.execPath, [SIGIL_BIN, "rotate-master-key", "--new-key-file", keyFile, "--batch-size", "2", "--pause-ms", "400"], {
      env: cliEnv(cliEnvFor(oldKey)),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (/batch committed/.test(out)) {
          child.kill("SIGKILL");
          resolve();
        }
      });
      child.on("close", () => reject(new Error(`rotation ended before its first batch: ${out} ${err}`)));
    });
    const { signal } = await exit;
    assert.equal(signal, "SIGKILL", `killed (stdout: ${out})`);
    assert.doesNotMatch(out, /done:/);

    // half-way: some data keys under the new key, the rest (and the legacy blobs) still under the old one
    const needs = await masterKeyNeeds(store, MasterKeyRing.fromKeys(newKey, [oldKey]));
    assert.ok(needs.needed.has(oldId), "the old key is still needed after the kill");
    assert.ok(needs.needed.has(newId), "the first batch committed under the new key");

    await assert.rejects(
      start(newKey),
      (e: unknown) =>
        isSigilError(e, "config") && new RegExp(`still needs master key ${oldId} \\(`).test(e.message) && /SIGIL_PREVIOUS_MASTER_KEYS/.test(e.message) && !e.message.includes(oldKey.toString("hex")),
    );
  });

  it("resumes on a second run, finishes, and a third run has nothing left to do", async () => {
    const resumed = await spawnSigil(["rotate-master-key", "--new-key-file", keyFile, "--batch-size", "3"], cliEnvFor(oldKey));
    assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
    assert.match(resumed.stdout, new RegExp(`done: everything is sealed by master key ${newId}`));
    const again = await runSigil(["rotate-master-key", "--new-key-file", keyFile, "--json"], cliEnvFor(oldKey));
    assert.equal(again.code, 0, again.stderr);
    const r = JSON.parse(again.stdout) as { dataKeysRewrapped: number; blobsReencrypted: Record<string, number>; done: boolean };
    assert.equal(r.done, true);
    assert.equal(r.dataKeysRewrapped, 0);
    assert.deepEqual(Object.values(r.blobsReencrypted).filter((n) => n > 0), []);

    // nothing under the old key; the only sgk1 blob left is the master-key check value, under the new key
    const rows = await blobs();
    for (const b of rows) {
      if (b.column.masterKeyOnly) assert.ok(b.blob.startsWith(`sgk1.${newId}.`), b.key);
      else assert.ok(b.blob.startsWith("sgk2."), `${b.key} is under a data key`);
    }
    const wraps = (await client.query<{ wrapped_key: string }>(`select wrapped_key from data_keys`)).rows;
    assert.ok(wraps.length >= 3, "system, default and second organization data keys");
    for (const w of wraps) assert.ok(w.wrapped_key.startsWith(`sgk1.${newId}.`));

    const audit = (await client.query<{ action: string; detail: unknown }>(`select action, detail from audit_log where action like 'master_key_rotation_%' order by created_at`)).rows;
    assert.ok(audit.filter((a) => a.action === "master_key_rotation_start").length >= 3, "every run audits its start");
    assert.ok(audit.filter((a) => a.action === "master_key_rotation_finish").length >= 2, "the finished runs audit their counts");
    const text = JSON.stringify(audit);
    assert.ok(!text.includes(newKey.toString("hex")) && !text.includes(oldKey.toString("hex")), "no key material in the audit log");
  });

  it("with ONLY the new key configured everything decrypts: CAs sign, the EAB key, held-key export, the JWT signing key", async () => {
    const server = await start(newKey);
    try {
      const ra = server.ra;
      // every secret opens with the same plaintext as before
      const rows = await blobs();
      assert.equal(rows.length, plainBefore.size);
      for (const b of rows) assert.equal(sha(await ra.secrets.open(ra.store, b.blob, b.column.aad(b.id))), plainBefore.get(b.key), b.key);

      // both CAs sign; openssl verifies each leaf against its issuer
      for (const caId of caIds) {
        const leaf = await issueCertificate(ra, SYSTEM, { caId, type: "server", dnsNames: ["after.rotation.test"], ipAddresses: [], emails: [], keyAlgorithm: "p256", validityDays: 10 });
        const [ca] = (await client.query<{ certificate_pem: string }>(`select certificate_pem from certificate_authorities where id = $1`, [caId])).rows;
        const caFile = path.join(dir, `ca-${caId}.pem`);
        const leafFile = path.join(dir, `leaf-${leaf.id}.pem`);
        writeFileSync(caFile, ca!.certificate_pem);
        writeFileSync(leafFile, leaf.certificatePem);
        const verified = execFileSync("openssl", ["verify", "-partial_chain", "-CAfile", caFile, leafFile], { encoding: "utf8" });
        assert.match(verified, /: OK/);
      }

      // the EAB HMAC key is the one handed out (RFC 8555 §7.3.4)
      const [k] = (await client.query<{ encrypted_hmac_key: string }>(`select encrypted_hmac_key from acme_eab_keys where id = $1`, [eab.kid])).rows;
      const hmac = await ra.secrets.open(ra.store, k!.encrypted_hmac_key, eabKeyAad(eab.kid));
      assert.equal(hmac.toString("base64url"), eab.hmacKey);

      // a held key that was a legacy blob exports and matches its certificate
      const exported = await exportCertificatePrivateKey(ra, SYSTEM, legacyCertId, "pem", "");
      const [cert] = (await client.query<{ certificate_pem: string }>(`select certificate_pem from certificates where id = $1`, [legacyCertId])).rows;
      assert.equal(exported.format, "pem");
      const pem = exported.format === "pem" ? exported.pem : "";
      assert.ok(
        createPublicKey(pem).export({ format: "der", type: "spki" }).equals(new X509Certificate(cert!.certificate_pem).publicKey.export({ format: "der", type: "spki" })),
        "the exported key is the certificate's",
      );

      // the server started: its AuthManager opened the JWT signing key; it is the same key as before
      const [jwt] = (await client.query<{ value: string }>(`select value from system_settings where key = 'jwt_signing_key'`)).rows;
      assert.equal(sha(await ra.secrets.open(ra.store, jwt!.value, "jwt_signing_key")), plainBefore.get("system_settings.value[jwt_signing_key]/jwt_signing_key"));
    } finally {
      await server.close();
    }
  });

  it("refuses bad input with a usage or configuration error, never echoing key text", async () => {
    const missing = await runSigil(["rotate-master-key"], cliEnvFor(newKey));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--new-key-file is required/);
    const batch = await runSigil(["rotate-master-key", "--new-key-file", keyFile, "--batch-size", "0"], cliEnvFor(newKey));
    assert.equal(batch.code, 2);
    assert.match(batch.stderr, /--batch-size must be an integer 1\.\.10000/);
    const badFile = path.join(dir, "bad.key");
    writeFileSync(badFile, "not-a-key-but-a-secret-looking-string\n", { mode: 0o600 });
    const bad = await runSigil(["rotate-master-key", "--new-key-file", badFile], cliEnvFor(newKey));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--new-key-file must be a 32-byte key/);
    assert.ok(!bad.stderr.includes("secret-looking"), "the file's text is not echoed");
    const absent = await runSigil(["rotate-master-key", "--new-key-file", path.join(dir, "nope.key")], cliEnvFor(newKey));
    assert.notEqual(absent.code, 0);
    assert.match(absent.stderr, /cannot read .*nope\.key \(ENOENT\)/);
  });

  it("names a configured previous key that nothing needs any more", async () => {
    const server = await start(newKey, [oldKey]);
    try {
      assert.deepEqual((await proveMasterKeys(server.ra)).unneededPrevious, [oldId]);
    } finally {
      await server.close();
    }
  });
});

describe("master-key rotation on the embedded database", function () {
  this.timeout(180_000);

  it("rotates the generated data-dir key to a new key file; the server then starts with only the new key", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sigil-rotate-embedded-"));
    try {
      const env = testServerEnv({ dataDir: dir, httpPort: await freePort() });
      const first = await startSigil({ config: loadConfig(env), logger: createLogger("silent") });
      await first.close();
      const next = randomBytes(32);
      const file = path.join(dir, "next.key");
      writeFileSync(file, next.toString("hex"), { mode: 0o600 });
      const r = await runSigil(["rotate-master-key", "--new-key-file", file, "--batch-size", "1"], { SIGIL_DATA_DIR: dir, SIGIL_LOG_LEVEL: "silent" });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, new RegExp(`done: everything is sealed by master key ${masterKeyId(next)}`));
      const again = await startSigil({ config: loadConfig({ ...env, SIGIL_MASTER_KEY_FILE: file }), logger: createLogger("silent") });
      try {
        const [ca] = (await again.ra.store.orm.em.fork().getConnection().execute<Array<{ id: string }>>(`select id from certificate_authorities where name = '${DEFAULT_INTERMEDIATE_CA}'`)) as Array<{ id: string }>;
        const leaf = await issueCertificate(again.ra, SYSTEM, { caId: ca!.id, type: "server", dnsNames: ["embedded.rotation.test"], ipAddresses: [], emails: [], keyAlgorithm: "p256", validityDays: 5 });
        assert.ok(leaf.certificatePem.includes("BEGIN CERTIFICATE"));
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
