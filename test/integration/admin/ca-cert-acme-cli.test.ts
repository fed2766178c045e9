/**
 * `sigil ca`, `sigil cert` and the admin-plane `sigil acme` subcommands,
 * in-process through run(argv, io) (the binary's code) against the running server: login -> org -> root
 * -> intermediate -> issue -> list -> export (PKCS#12 opened by openssl) ->
 * revoke, and ACME directory / EAB management.
 */
import assert from "node:assert/strict";
import { runSigil } from "../../helpers/sigil-cli.js";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { unique } from "./helpers.js";
import { openssl, TempDir, verifyChain } from "./pki-helpers.js";

const sigil = runSigil;


describe("sigil ca / cert / acme (admin plane) CLI", function () {
  this.timeout(180_000);
  let server: TestServer;
  let home: string;
  let env: Record<string, string>;
  let tmp: TempDir;

  before(async () => {
    server = await startTestServer();
    home = mkdtempSync(path.join(tmpdir(), "sigil-cli-pki-"));
    tmp = new TempDir();
    env = { XDG_CONFIG_HOME: home, SIGIL_SERVER: `127.0.0.1:${server.grpcPort}`, SIGIL_API_KEY: "" };
  });
  after(async () => {
    await server?.stop();
    tmp?.remove();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  async function ok(args: string[]): Promise<string> {
    const r = await sigil(args, env);
    assert.equal(r.code, 0, `sigil ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }
  const json = async <T = any>(args: string[]): Promise<T> => JSON.parse(await ok([...args, "--json"])) as T;

  it("login -> org -> root -> intermediate -> issue -> list -> export PKCS#12 -> revoke -> renew; ACME directory and EAB keys", async () => {
    const login = await sigil(["login", "--username", "admin", "--password-stdin"], env, `${TEST_ADMIN_PASSWORD}\n`);
    assert.equal(login.code, 0, login.stderr);
    const org = (await json(["org", "create", "--name", unique("cli-pki")])).organization.id as string;

    const root = (await json(["ca", "create-root", "--org", org, "--name", "root", "--cn", "CLI Root", "--o", "Sigil", "--key", "p384", "--path-length", "1"])).certificateAuthority;
    assert.equal(root.keyAlgorithm, "KEY_ALGORITHM_P384");
    const int = (await json(["ca", "create-intermediate", "--parent", root.id, "--name", "issuing", "--cn", "CLI Issuing", "--key", "rsa2048"])).certificateAuthority;
    assert.equal(int.allowLeafCerts, true);
    assert.equal(int.pathLength, 0);

    const table = await ok(["ca", "list", "--org", org]);
    assert.match(table, /^ID\s+NAME\s+PARENT\s+STATUS/m);
    assert.match(table, new RegExp(`${int.id}\\s+issuing\\s+${root.id}\\s+active`));
    const chain = await ok(["ca", "chain", int.id]);
    assert.equal(chain.match(/BEGIN CERTIFICATE/g)?.length, 2);

    const cert = (await json(["cert", "issue", "--ca", int.id, "--type", "server", "--cn", "cli.example.test", "--dns", "cli.example.test,www.cli.example.test", "--ip", "192.0.2.55"])).certificate;
    assert.deepEqual(cert.dnsNames, ["cli.example.test", "www.cli.example.test"]);
    verifyChain(tmp, root.certificatePem, [int.certificatePem], cert.certificatePem, "sslserver");

    const listed = await ok(["cert", "list", "--org", org, "--name", "www.cli"]);
    assert.match(listed, new RegExp(`${cert.id}\\s+${cert.serial}\\s+server\\s+valid`));

    const noOut = await sigil(["cert", "export-key", cert.id, "--format", "pkcs12", "--password", "cli-pass"], env);
    assert.equal(noOut.code, 2);
    assert.match(noOut.stderr, /--out FILE is required/);
    const p12 = path.join(tmp.dir, "cli.p12");
    assert.match(await ok(["cert", "export-key", cert.id, "--format", "pkcs12", "--password", "cli-pass", "--out", p12]), /written/);
    assert.equal(statSync(p12).mode & 0o777, 0o600);
    assert.equal(openssl(["pkcs12", "-in", p12, "-nokeys", "-passin", "pass:cli-pass"]).match(/BEGIN CERTIFICATE/g)?.length, 3);
    const pem = await ok(["cert", "export-key", cert.id]);
    assert.equal(openssl(["pkey", "-pubout"], pem), openssl(["x509", "-noout", "-pubkey"], cert.certificatePem));

    const revoked = await ok(["cert", "revoke", cert.id, "--reason", "keyCompromise"]);
    assert.match(revoked, /status:\s+revoked/);
    assert.match(revoked, /reason:\s+KEY_COMPROMISE/);
    const again = await sigil(["cert", "revoke", cert.id], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /FAILED_PRECONDITION: the certificate is already revoked/);

    const renewedFrom = (await json(["cert", "issue", "--ca", int.id, "--type", "client", "--email", "me@example.test"])).certificate;
    const renewed = (await json(["cert", "renew", renewedFrom.id, "--days", "7"])).certificate;
    assert.equal(renewed.renewedFromId, renewedFrom.id);

    const badType = await sigil(["cert", "issue", "--ca", int.id, "--type", "ca"], env);
    assert.equal(badType.code, 2);

    // ACME through the admin API
    const dir = (await json(["acme", "directory", "new", "--name", unique("cli-dir"), "--org", org, "--issuer", int.id, "--allow-dns", "example.test", "--eab-required", "true"])).directory;
    assert.equal(dir.eabRequired, true);
    assert.match(dir.directoryUrl, /\/acme\/cli-dir-[^/]+\/directory$/);
    const updated = (await json(["acme", "directory", "update", dir.id, "--max-validity-days", "30", "--challenges", "dns-01"])).directory;
    assert.equal(updated.maxValidityDays, 30);
    assert.deepEqual(updated.challengeTypes, ["CHALLENGE_TYPE_DNS_01"]);
    const eab = await ok(["acme", "eab", "new", "--directory-id", dir.id, "--description", "for certbot"]);
    const kid = /kid:\s+(\S+)/.exec(eab)![1]!;
    assert.match(eab, /hmac key:\s+[A-Za-z0-9_-]{43}/);
    assert.match(await ok(["acme", "eab", "list", "--directory-id", dir.id]), new RegExp(kid));
    await ok(["acme", "eab", "revoke", kid]);
    assert.doesNotMatch(await ok(["acme", "eab", "list", "--directory-id", dir.id]), new RegExp(kid));
    assert.match(await ok(["acme", "directory", "list", "--org", org]), new RegExp(dir.id));
    await ok(["acme", "order", "list", "--directory-id", dir.id]);
    await ok(["acme", "account", "list", "--org", org]);
    await ok(["acme", "directory", "delete", dir.id]);

    const keyPem = await ok(["ca", "export-key", int.id]);
    assert.match(keyPem, /BEGIN PRIVATE KEY/);
    const revokedCa = await ok(["ca", "revoke", int.id, "--reason", "cessationOfOperation"]);
    assert.match(revokedCa, /status:\s+revoked/);
  });
});
