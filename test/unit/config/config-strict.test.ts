import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  closestVariable,
  CONFIG_VARIABLES,
  editDistance,
  loadConfig,
  NON_CONFIG_VARIABLES,
  unknownEnvironmentVariables,
  variablesReadOutsideTable,
} from "../../../src/config.js";
import { SigilError } from "../../../src/core/errors.js";

describe("config strictness: one table of variables, unknown names refused or warned about", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sigil-config-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function configFile(content: Record<string, unknown>): string {
    const file = path.join(dir, `c-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(content));
    return file;
  }

  const refusedFor = (key: string, suggestion?: string) => (e: unknown) => {
    assert.ok(e instanceof SigilError && e.kind === "config", String(e));
    assert.equal(e.field, "SIGIL_CONFIG_FILE");
    assert.ok(e.message.includes(`"${key}"`), e.message);
    if (suggestion) assert.ok(e.message.includes(`did you mean ${suggestion}?`), e.message);
    else assert.ok(!e.message.includes("did you mean"), e.message);
    return true;
  };

  it("refuses a mistyped key in SIGIL_CONFIG_FILE, naming the variable it probably meant", () => {
    assert.throws(() => loadConfig({ SIGIL_CONFIG_FILE: configFile({ SIGIL_HTTP_PROT: 8081 }) }), refusedFor("SIGIL_HTTP_PROT", "SIGIL_HTTP_PORT"));
    assert.throws(() => loadConfig({ SIGIL_CONFIG_FILE: configFile({ SIGL_PUBLIC_URL: "https://ca.example" }) }), refusedFor("SIGL_PUBLIC_URL", "SIGIL_PUBLIC_URL"));
    assert.throws(() => loadConfig({ SIGIL_CONFIG_FILE: configFile({ sigil_log_level: "debug" }) }), refusedFor("sigil_log_level", "SIGIL_LOG_LEVEL"));
  });

  it("refuses a key close to nothing without a suggestion, and lists every unknown key", () => {
    assert.throws(() => loadConfig({ SIGIL_CONFIG_FILE: configFile({ colour: "blue" }) }), refusedFor("colour"));
    assert.throws(
      () => loadConfig({ SIGIL_CONFIG_FILE: configFile({ SIGIL_GRPC_PORTT: 1, listen: "x" }) }),
      (e: unknown) => e instanceof SigilError && /unknown keys "SIGIL_GRPC_PORTT" \(did you mean SIGIL_GRPC_PORT\?\), "listen"/.test(e.message),
    );
  });

  it("reports the unknown key before a bad value of a known one (the typo is the cause)", () => {
    assert.throws(() => loadConfig({ SIGIL_CONFIG_FILE: configFile({ SIGIL_HTTP_PORT: "eighty", SIGIL_MASTR_KEY: "x" }) }), refusedFor("SIGIL_MASTR_KEY", "SIGIL_MASTER_KEY"));
  });

  it("accepts a file of known keys, the environment winning", () => {
    const c = loadConfig({ SIGIL_CONFIG_FILE: configFile({ SIGIL_HTTP_PORT: 8081, SIGIL_GRPC_PORT: 9091, SIGIL_METRICS: false }), SIGIL_GRPC_PORT: "9092" });
    assert.equal(c.httpPort, 8081);
    assert.equal(c.grpcPort, 9092);
  });

  it("warns about unknown SIGIL_* environment variables with a suggestion, never about the CLI's or the tests' own", () => {
    const warnings = unknownEnvironmentVariables({
      SIGIL_HTTP_PROT: "1",
      SIGIL_BCRYPT_COSTS: "4",
      SIGIL_ZEBRA: "1",
      SIGIL_SERVER: "127.0.0.1:9090",
      SIGIL_NEW_PASSWORD: "x",
      SIGIL_API_KEY: "k",
      SIGIL_TEST_DB: "embedded",
      SIGIL_TEST_ANYTHING: "1",
      SIGIL_HTTP_PORT: "8080",
      HTTP_PROXY: "x",
    });
    assert.deepEqual(warnings, [
      "unknown environment variable SIGIL_BCRYPT_COSTS (did you mean SIGIL_BCRYPT_COST?); it is ignored",
      "unknown environment variable SIGIL_HTTP_PROT (did you mean SIGIL_HTTP_PORT?); it is ignored",
      "unknown environment variable SIGIL_ZEBRA; it is ignored",
    ]);
    // and an unknown variable does not stop loadConfig (the environment is shared with other programs)
    assert.equal(loadConfig({ SIGIL_HTTP_PROT: "1" }).httpPort, 8080);
  });

  it("the table is what loadConfig reads: no variable read outside it, none listed that config.ts never reads", () => {
    // every branch that reads a variable, taken once
    loadConfig({ SIGIL_GRPC_TLS_CERT: "c", SIGIL_GRPC_TLS_KEY: "k", SIGIL_GRPC_CLIENT_CA: "ca", SIGIL_MASTER_KEY: "x".repeat(64) });
    loadConfig({});
    assert.deepEqual(variablesReadOutsideTable(), [], "add these to CONFIG_VARIABLES");
    const source = readFileSync(path.resolve("src/config.ts"), "utf8");
    const tableStart = source.indexOf("export const CONFIG_VARIABLES");
    const tableEnd = source.indexOf("] as const;", source.indexOf("export const NON_CONFIG_VARIABLES"));
    const outsideTables = source.slice(0, tableStart) + source.slice(tableEnd);
    const used = new Set([...outsideTables.matchAll(/(?:"|src\.)((?:SIGIL|DATABASE)_[A-Z0-9_]*[A-Z0-9])\b(?!_)/g)].map((m) => m[1]!));
    for (const v of CONFIG_VARIABLES) assert.ok(used.has(v), `${v} is in the table but config.ts never reads it`);
    for (const v of used) assert.ok((CONFIG_VARIABLES as readonly string[]).includes(v), `config.ts reads ${v}, missing from CONFIG_VARIABLES`);
    for (const v of NON_CONFIG_VARIABLES) assert.ok(!(CONFIG_VARIABLES as readonly string[]).includes(v), `${v} is in both tables`);
  });

  it("every SIGIL_* variable the CLI reads is in one of the two tables", () => {
    const cliDir = path.resolve("src/cli");
    const names = new Set<string>();
    for (const f of ["admin-client.ts", "admin-local.ts", "login.ts", "user.ts", "io.ts", "main.ts", "serve.ts"]) {
      let text = "";
      try {
        text = readFileSync(path.join(cliDir, f), "utf8");
      } catch {
        continue;
      }
      for (const m of text.matchAll(/env\.(SIGIL_[A-Z0-9_]+)/g)) names.add(m[1]!);
    }
    assert.ok(names.has("SIGIL_SERVER") && names.has("SIGIL_NEW_PASSWORD"));
    const all = new Set<string>([...CONFIG_VARIABLES, ...NON_CONFIG_VARIABLES]);
    for (const n of names) assert.ok(all.has(n), `src/cli reads ${n}: add it to NON_CONFIG_VARIABLES (or CONFIG_VARIABLES)`);
  });

  it("edit distance counts a transposition once; far names get no suggestion", () => {
    assert.equal(editDistance("SIGIL_HTTP_PROT", "SIGIL_HTTP_PORT"), 1);
    assert.equal(editDistance("abc", "abc"), 0);
    assert.equal(editDistance("kitten", "sitting"), 3);
    assert.equal(closestVariable("SIGIL_HOTS"), "SIGIL_HOST");
    assert.equal(closestVariable("SIGIL_SOMETHING_ELSE_ENTIRELY"), undefined);
  });
});

describe("DATABASE_PASSWORD_FILE", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sigil-dbpw-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("puts the file's password (one trailing newline dropped, reserved characters encoded) into DATABASE_URL", () => {
    const file = path.join(dir, "pw");
    writeFileSync(file, "p@ss:w/rd%?#\n");
    const c = loadConfig({ DATABASE_URL: "postgresql://sigil@db:5432/sigil", DATABASE_PASSWORD_FILE: file, SIGIL_MASTER_KEY: "x" });
    const u = new URL(c.databaseUrl!);
    assert.equal(decodeURIComponent(u.password), "p@ss:w/rd%?#");
    assert.equal(u.username, "sigil");
    assert.equal(u.host, "db:5432");
    assert.equal(u.pathname, "/sigil");
  });

  it("refuses a URL that has a password already, a missing file and no DATABASE_URL, never echoing a password", () => {
    const file = path.join(dir, "pw2");
    writeFileSync(file, "secret-from-file");
    const refused = (env: Record<string, string>, re: RegExp) =>
      assert.throws(
        () => loadConfig(env),
        (e: unknown) => e instanceof SigilError && e.field === "DATABASE_PASSWORD_FILE" && re.test(e.message) && !/secret-from-file|inline-pw/.test(e.message),
      );
    refused({ DATABASE_URL: "postgresql://u:inline-pw@db/sigil", DATABASE_PASSWORD_FILE: file }, /use only one/);
    refused({ DATABASE_URL: "postgresql://u@db/sigil", DATABASE_PASSWORD_FILE: path.join(dir, "missing") }, /cannot read .* \(ENOENT\)/);
    refused({ DATABASE_PASSWORD_FILE: file }, /needs DATABASE_URL/);
  });
});
