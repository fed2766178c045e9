/**
 * `sigil acme rate-limit ...` against the real server, in-process through
 * the CLI's run(argv, io): a directory's entries (set, show, clear) and an
 * account's override (set, list, delete), with usage errors exiting 2.
 */
import assert from "node:assert/strict";
import { runSigil } from "../../helpers/sigil-cli.js";
import { startCliSession, type CliSession } from "../../helpers/cli-session.js";
import { type TestServer } from "../../helpers/server.js";
import { RawAcme } from "../acme/raw-client.js";

describe("sigil acme rate-limit (CLI)", function () {
  this.timeout(120_000);
  let cli: CliSession;
  let server: TestServer;
  let env: Record<string, string>;

  before(async () => {
    cli = await startCliSession("rl", { SIGIL_PASSWORD: "" });
    ({ server, env } = cli);
  });
  after(async () => {
    await cli?.stop();
  });

  const ok = (args: string[]): Promise<string> => cli.ok(args);


  it("sets, shows and clears a directory's entries; sets, lists and deletes an account override", async () => {
    const dirs = JSON.parse(await ok(["acme", "directory", "list", "--json"])) as { directories: Array<{ id: string; name: string }> };
    const dir = dirs.directories.find((d) => d.name === "default")!;
    assert.match(await ok(["acme", "rate-limit", "directory", dir.id]), /no entries: the server's SIGIL_RATE_LIMITS apply/);
    const set = await ok(["acme", "rate-limit", "directory", dir.id, "--limits", "new-orders-per-account=1/1h,new-accounts-per-ip=off,pending-authorizations-per-account=20"]);
    assert.match(set, /new-orders-per-account\s+1\/1h/);
    assert.match(set, /new-accounts-per-ip\s+off/);
    assert.match(set, /pending-authorizations-per-account\s+20/);
    assert.match(await ok(["acme", "rate-limit", "directory", dir.id]), /new-orders-per-account\s+1\/1h/);

    const acme = await RawAcme.create(`${server.baseUrl}/acme/default/directory`);
    assert.equal((await acme.register()).status, 201);
    const accountId = acme.kid!.split("/").pop()!;
    const created = JSON.parse(
      await ok(["acme", "rate-limit", "set", "--account-id", accountId, "--limit", "new-orders-per-account", "--value", "500/3h", "--comment", "batch", "--json"]),
    ) as { rateLimitOverride: { id: string; count: number; periodSeconds: string } };
    assert.equal(created.rateLimitOverride.count, 500);
    assert.equal(created.rateLimitOverride.periodSeconds, "10800");
    const listed = await ok(["acme", "rate-limit", "list", "--directory-id", dir.id]);
    assert.match(listed, new RegExp(`account ${accountId}\\s+new-orders-per-account\\s+500/3h\\s+batch`));
    assert.match(await ok(["acme", "rate-limit", "delete", created.rateLimitOverride.id]), /deleted/);
    assert.doesNotMatch(await ok(["acme", "rate-limit", "list", "--directory-id", dir.id]), /new-orders-per-account/);

    assert.match(await ok(["acme", "rate-limit", "directory", dir.id, "--limits", ""]), /no entries/);
  });

  it("usage errors exit 2 without calling the server; server refusals exit 1", async () => {
    for (const args of [
      ["acme", "rate-limit", "directory", "0192f7a0-0000-7000-8000-000000000000", "--limits", "new-orders=1/1h"],
      ["acme", "rate-limit", "directory", "0192f7a0-0000-7000-8000-000000000000", "--limits", "new-orders-per-account=1/1y"],
      ["acme", "rate-limit", "set", "--limit", "new-orders-per-account", "--unlimited"],
      ["acme", "rate-limit", "set", "--account-id", "0192f7a0-0000-7000-8000-000000000000", "--limit", "new-orders-per-account", "--value", "1/1h", "--unlimited"],
      ["acme", "rate-limit", "frobnicate"],
    ]) {
      const r = await runSigil(args, env);
      assert.equal(r.code, 2, `sigil ${args.join(" ")}: ${r.code} ${r.stderr}`);
    }
    const r = await runSigil(["acme", "rate-limit", "set", "--account-id", "0192f7a0-0000-7000-8000-000000000000", "--limit", "new-orders-per-account", "--unlimited"], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /NOT_FOUND/);
    assert.match(await ok(["acme", "rate-limit", "--help"]), /^usage: sigil acme rate-limit/);
  });
});
