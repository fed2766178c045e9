import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadConfig } from "../../../src/config.js";
import { SigilError } from "../../../src/core/errors.js";

function rejectsNaming(env: Record<string, string>, variable: string): void {
  assert.throws(
    () => loadConfig(env),
    (e: unknown) => e instanceof SigilError && e.kind === "config" && e.field === variable && e.message.includes(variable),
  );
}

describe("config", () => {
  it("ok/defaults: embedded database in ./data, loopback, 8080/9090", () => {
    const c = loadConfig({});
    assert.equal(c.databaseUrl, undefined);
    assert.equal(c.dataDir, path.resolve("./data"));
    assert.equal(c.host, "127.0.0.1");
    assert.equal(c.httpPort, 8080);
    assert.equal(c.grpcPort, 9090);
    assert.equal(c.publicUrl, "http://localhost:8080");
    assert.equal(c.migrateOnStart, true);
    assert.equal(c.validationHttpPort, 80);
    assert.equal(c.validationTlsPort, 443);
    assert.deepEqual(c.dnsServers, []);
  });

  it("ok/values from the environment, trailing slash of the public URL dropped", () => {
    const c = loadConfig({
      DATABASE_URL: "postgresql://u:p@db:5432/sigil",
      SIGIL_HTTP_PORT: "18080",
      SIGIL_PUBLIC_URL: "https://ca.example.com/",
      SIGIL_DNS_SERVERS: "127.0.0.1:8053, [::1]:53",
      SIGIL_MIGRATE_ON_START: "false",
    });
    assert.equal(c.databaseUrl, "postgresql://u:p@db:5432/sigil");
    assert.equal(c.httpPort, 18080);
    assert.equal(c.publicUrl, "https://ca.example.com");
    assert.deepEqual(c.dnsServers, ["127.0.0.1:8053", "[::1]:53"]);
    assert.equal(c.migrateOnStart, false);
  });

  it("ok/a JSON config file, with the environment taking precedence", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sigil-cfg-"));
    const file = path.join(dir, "sigil.json");
    writeFileSync(file, JSON.stringify({ SIGIL_HTTP_PORT: 7000, SIGIL_GRPC_PORT: 7001 }));
    const c = loadConfig({ SIGIL_CONFIG_FILE: file, SIGIL_GRPC_PORT: "7002" });
    assert.equal(c.httpPort, 7000);
    assert.equal(c.grpcPort, 7002);
  });

  const bad: Array<[string, Record<string, string>, string]> = [
    ["fail/port not a number", { SIGIL_HTTP_PORT: "eighty" }, "SIGIL_HTTP_PORT"],
    ["fail/port out of range", { SIGIL_GRPC_PORT: "70000" }, "SIGIL_GRPC_PORT"],
    ["fail/public URL not a URL", { SIGIL_PUBLIC_URL: "not a url" }, "SIGIL_PUBLIC_URL"],
    ["fail/public URL not http", { SIGIL_PUBLIC_URL: "ftp://x" }, "SIGIL_PUBLIC_URL"],
    ["fail/database URL not postgres", { DATABASE_URL: "mysql://x/y" }, "DATABASE_URL"],
    ["fail/boolean", { SIGIL_MIGRATE_ON_START: "maybe" }, "SIGIL_MIGRATE_ON_START"],
    ["fail/log level", { SIGIL_LOG_LEVEL: "loud" }, "SIGIL_LOG_LEVEL"],
    ["fail/both master key sources", { SIGIL_MASTER_KEY: "a", SIGIL_MASTER_KEY_FILE: "b" }, "SIGIL_MASTER_KEY"],
    ["fail/TLS cert without key", { SIGIL_GRPC_TLS_CERT: "c.pem" }, "SIGIL_GRPC_TLS_CERT"],
    ["fail/DNS server list", { SIGIL_DNS_SERVERS: "1.2.3.4:99999" }, "SIGIL_DNS_SERVERS"],
  ];
  for (const [name, env, variable] of bad) {
    it(`${name}: stops with a message naming ${variable}`, () => rejectsNaming(env, variable));
  }

  it("never echoes a database password in its message", () => {
    assert.throws(
      () => loadConfig({ DATABASE_URL: "mysql://user:s3cret@h/db" }),
      (e: unknown) => e instanceof Error && !e.message.includes("s3cret"),
    );
  });
});
