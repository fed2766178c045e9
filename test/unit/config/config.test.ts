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

describe("config: relying-party timings", () => {
  it("ok/defaults: OCSP responses 24 h, signers 30 days renewed 10 days ahead, poll 2 s, CRL debounce 1 s, CRL check 5 s", () => {
    const c = loadConfig({});
    assert.equal(c.ocspResponseHours, 24);
    assert.equal(c.ocspSignerDays, 30);
    assert.equal(c.ocspSignerRenewDays, 10);
    assert.equal(c.ocspPollMs, 2000);
    assert.equal(c.crlDebounceMs, 1000);
    assert.equal(c.crlCheckMs, 5000);
  });

  it("ok/values from the environment and from the config file", () => {
    const c = loadConfig({
      SIGIL_OCSP_RESPONSE_HOURS: "6",
      SIGIL_OCSP_SIGNER_DAYS: "7",
      SIGIL_OCSP_SIGNER_RENEW_DAYS: "2",
      SIGIL_OCSP_POLL_MS: "500",
      SIGIL_CRL_DEBOUNCE_MS: "250",
      SIGIL_CRL_CHECK_MS: "1000",
    });
    assert.deepEqual(
      [c.ocspResponseHours, c.ocspSignerDays, c.ocspSignerRenewDays, c.ocspPollMs, c.crlDebounceMs, c.crlCheckMs],
      [6, 7, 2, 500, 250, 1000],
    );
    const dir = mkdtempSync(path.join(tmpdir(), "sigil-cfg-"));
    const file = path.join(dir, "sigil.json");
    writeFileSync(file, JSON.stringify({ SIGIL_OCSP_RESPONSE_HOURS: 12, SIGIL_CRL_CHECK_MS: 2000 }));
    const f = loadConfig({ SIGIL_CONFIG_FILE: file, SIGIL_CRL_CHECK_MS: "3000" });
    assert.equal(f.ocspResponseHours, 12);
    assert.equal(f.crlCheckMs, 3000);
  });

  const bad: Array<[string, Record<string, string>, string]> = [
    ["fail/OCSP response hours not a number", { SIGIL_OCSP_RESPONSE_HOURS: "a day" }, "SIGIL_OCSP_RESPONSE_HOURS"],
    ["fail/OCSP response hours zero", { SIGIL_OCSP_RESPONSE_HOURS: "0" }, "SIGIL_OCSP_RESPONSE_HOURS"],
    ["fail/OCSP signer days fractional", { SIGIL_OCSP_SIGNER_DAYS: "1.5" }, "SIGIL_OCSP_SIGNER_DAYS"],
    ["fail/OCSP signer renew days negative", { SIGIL_OCSP_SIGNER_RENEW_DAYS: "-1" }, "SIGIL_OCSP_SIGNER_RENEW_DAYS"],
    ["fail/OCSP signer renewal window not below the lifetime", { SIGIL_OCSP_SIGNER_DAYS: "10", SIGIL_OCSP_SIGNER_RENEW_DAYS: "10" }, "SIGIL_OCSP_SIGNER_RENEW_DAYS"],
    ["fail/renewal window above the default lifetime", { SIGIL_OCSP_SIGNER_RENEW_DAYS: "45" }, "SIGIL_OCSP_SIGNER_RENEW_DAYS"],
    ["fail/OCSP poll interval", { SIGIL_OCSP_POLL_MS: "2s" }, "SIGIL_OCSP_POLL_MS"],
    ["fail/CRL debounce", { SIGIL_CRL_DEBOUNCE_MS: "0" }, "SIGIL_CRL_DEBOUNCE_MS"],
    ["fail/CRL check interval", { SIGIL_CRL_CHECK_MS: "soon" }, "SIGIL_CRL_CHECK_MS"],
  ];
  for (const [name, env, variable] of bad) {
    it(`${name}: stops with a message naming ${variable}`, () => rejectsNaming(env, variable));
  }
});

describe("config: challenge validation network policy and caps", () => {
  it("ok/defaults: no explicit policy (the validator's default is public,private), 64 at once, 8 per account", () => {
    const c = loadConfig({});
    assert.equal(c.validationAllowedNetworks, undefined);
    assert.equal(c.validationMaxConcurrent, 64);
    assert.equal(c.validationMaxPerAccount, 8);
  });

  it("ok/a policy from the environment is parsed at start-up", () => {
    const c = loadConfig({ SIGIL_VALIDATION_ALLOWED_NETWORKS: "public, 10.0.0.0/8", SIGIL_VALIDATION_MAX_CONCURRENT: "16", SIGIL_VALIDATION_MAX_PER_ACCOUNT: "2" });
    assert.equal(c.validationAllowedNetworks?.spec, "public,10.0.0.0/8");
    assert.equal(c.validationAllowedNetworks?.check("10.9.9.9").allowed, true);
    assert.equal(c.validationAllowedNetworks?.check("192.168.0.1").allowed, false);
    assert.deepEqual([c.validationMaxConcurrent, c.validationMaxPerAccount], [16, 2]);
  });

  it("ok/SIGIL_OIDC_ALLOW_HTTP_LOOPBACK is off unless set (identity providers then need https)", () => {
    assert.equal(loadConfig({}).oidcAllowHttpLoopback, false);
    assert.equal(loadConfig({ SIGIL_OIDC_ALLOW_HTTP_LOOPBACK: "true" }).oidcAllowHttpLoopback, true);
    assert.throws(() => loadConfig({ SIGIL_OIDC_ALLOW_HTTP_LOOPBACK: "maybe" }), /SIGIL_OIDC_ALLOW_HTTP_LOOPBACK/);
  });

  const bad: Array<[string, Record<string, string>, string]> = [
    ["fail/unknown word", { SIGIL_VALIDATION_ALLOWED_NETWORKS: "public,internal" }, "SIGIL_VALIDATION_ALLOWED_NETWORKS"],
    ["fail/CIDR prefix out of range", { SIGIL_VALIDATION_ALLOWED_NETWORKS: "127.0.0.0/40" }, "SIGIL_VALIDATION_ALLOWED_NETWORKS"],
    ["fail/CIDR with host bits", { SIGIL_VALIDATION_ALLOWED_NETWORKS: "127.0.0.1/8" }, "SIGIL_VALIDATION_ALLOWED_NETWORKS"],
    ["fail/only commas", { SIGIL_VALIDATION_ALLOWED_NETWORKS: ",," }, "SIGIL_VALIDATION_ALLOWED_NETWORKS"],
    ["fail/max concurrent zero", { SIGIL_VALIDATION_MAX_CONCURRENT: "0" }, "SIGIL_VALIDATION_MAX_CONCURRENT"],
    ["fail/max per account not a number", { SIGIL_VALIDATION_MAX_PER_ACCOUNT: "many" }, "SIGIL_VALIDATION_MAX_PER_ACCOUNT"],
  ];
  for (const [name, env, variable] of bad) {
    it(`${name}: stops with a message naming ${variable}`, () => rejectsNaming(env, variable));
  }
});
