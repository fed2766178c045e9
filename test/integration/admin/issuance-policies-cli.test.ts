/**
 * `sigil policy ...` against the running server: create for an
 * organization, get, list, update (only the given rules change), the
 * refusal of an issuance outside it (every field violation printed), delete.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runSigil } from "../../helpers/sigil-cli.js";
import { startCliSession, type CliSession } from "../../helpers/cli-session.js";
import { unique } from "./helpers.js";

describe("sigil policy CLI", function () {
  this.timeout(180_000);
  let cli: CliSession;
  before(async () => {
    cli = await startCliSession("policy");
  });
  after(async () => {
    await cli?.stop();
  });
  const ok = (args: string[]) => cli.ok(args);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const json = <T = any>(args: string[]) => cli.json<T>(args);

  it("create, get, list, update, a refused issuance, delete", async () => {
    const org = (await json(["org", "create", "--name", unique("cli-policy")])).organization.id as string;
    const root = (await json(["ca", "create-root", "--org", org, "--name", "root", "--cn", "Policy Root", "--path-length", "1"])).certificateAuthority;
    const int = (await json(["ca", "create-intermediate", "--parent", root.id, "--name", "issuing", "--cn", "Policy Issuing"])).certificateAuthority;

    const created = (await json(["policy", "create", "--org", org, "--dns", "*.example.com,.corp.test", "--ip", "10.0.0.0/8", "--ca", int.id, "--max-days", "90", "--key-type", "p256", "--description", "org-wide"])).issuancePolicy;
    assert.equal(created.subjectType, "ISSUANCE_POLICY_SUBJECT_TYPE_ORGANIZATION");
    assert.deepEqual(created.rules.dnsNames, ["*.example.com", ".corp.test"]);
    const text = await ok(["policy", "get", created.id]);
    assert.match(text, /dns names:\s+\*\.example\.com, \.corp\.test/);
    assert.match(text, /max validity:\s+90 days/);
    assert.match(await ok(["policy", "list", "--org", org]), new RegExp(created.id));

    // only --dns changes; --clear empties the key types
    const updated = (await json(["policy", "update", created.id, "--dns", "*.example.org", "--clear", "key-type"])).issuancePolicy;
    assert.deepEqual(updated.rules.dnsNames, ["*.example.org"]);
    assert.deepEqual(updated.rules.ipRanges, ["10.0.0.0/8"]);
    assert.equal(updated.rules.maxValidityDays, 90);
    assert.equal(updated.rules.keyTypes, undefined, "cleared (absent in JSON)");
    assert.equal(updated.description, "org-wide");

    // the superuser is not bound: an organization admin is
    const adminName = unique("poladmin");
    const mk = await runSigil(["user", "create", "--username", adminName, "--email", `${adminName}@example.com`, "--org", org, "--role", "admin", "--password-stdin"], cli.env, "correct horse battery\n");
    assert.equal(mk.code, 0, mk.stderr);
    const home2 = mkdtempSync(path.join(tmpdir(), "sigil-cli-policy-admin-"));
    try {
      const env2 = { ...cli.env, XDG_CONFIG_HOME: home2 };
      assert.equal((await runSigil(["login", "--username", adminName, "--password-stdin"], env2, "correct horse battery\n")).code, 0);
      const refused = await runSigil(["cert", "issue", "--ca", int.id, "--type", "server", "--dns", "www.example.org,www.evil.test"], env2);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /PERMISSION_DENIED/);
      assert.match(refused.stderr, /dns_names\[1\]/);
      assert.match(refused.stderr, /www\.evil\.test/);
      const r = await runSigil(["cert", "issue", "--ca", int.id, "--type", "server", "--dns", "www.example.org", "--json"], env2);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      rmSync(home2, { recursive: true, force: true });
    }

    assert.match(await ok(["policy", "delete", created.id]), /deleted/);
    const usage = await runSigil(["policy", "create", "--dns", "a.test"], cli.env);
    assert.notEqual(usage.code, 0);
    assert.match(usage.stderr, /exactly one of --org, --user, --sa/);
  });
});
