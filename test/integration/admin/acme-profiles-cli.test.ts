/**
 * `sigil acme profile ...` and `sigil acme directory ... --default-profile`
 * in-process through run(argv, io) against the running server: new from a
 * preset with durations, list, get, update, default switch, delete (not the
 * default), and usage errors.
 */
import assert from "node:assert/strict";
import { parseDuration } from "../../../src/cli/acme-profiles.js";
import { startCliSession, type CliSession } from "../../helpers/cli-session.js";
import { type TestServer } from "../../helpers/server.js";
import { runSigil } from "../../helpers/sigil-cli.js";
import { unique } from "./helpers.js";

describe("sigil acme profile (admin plane) CLI", function () {
  this.timeout(120_000);
  let cli: CliSession;
  let server: TestServer;
  let env: Record<string, string>;

  before(async () => {
    cli = await startCliSession("profiles");
    ({ server, env } = cli);
  });
  after(async () => {
    await cli?.stop();
  });

  const ok = (args: string[]): Promise<string> => cli.ok(args);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const json = async (args: string[]): Promise<any> => cli.json(args);

  it("parses durations", () => {
    assert.equal(parseDuration("45d", "x"), 45 * 86_400);
    assert.equal(parseDuration("160h", "x"), 160 * 3600);
    assert.equal(parseDuration("30m", "x"), 1800);
    assert.equal(parseDuration("3600", "x"), 3600);
    assert.equal(parseDuration(undefined, "x"), undefined);
    for (const bad of ["", "1w", "-1d", "1.5h", "99999999999"]) assert.throws(() => parseDuration(bad, "max-validity"), /--max-validity must be a duration/);
  });

  it("manages a directory's profiles", async () => {
    const dirs = await json(["acme", "directory", "list"]);
    const dflt = dirs.directories.find((d: { name: string }) => d.name === "default");
    assert.deepEqual(dflt.profiles.map((p: { name: string }) => p.name), ["classic", "shortlived", "tlsclient", "tlsserver"]);
    assert.equal(dflt.defaultProfile, "classic");

    const org = dflt.organizationId as string;
    // dual: a profile below becomes dual, and the directory's kind bounds its profiles' (review 2 M6)
    const dir = (await json(["acme", "directory", "new", "--name", unique("cliprof"), "--org", org, "--issuer", dflt.caId, "--default-profile", "tlsserver", "--kind", "dual"])).directory;
    assert.equal(dir.defaultProfile, "tlsserver");

    const created = (
      await json(["acme", "profile", "new", "--directory-id", dir.id, "--name", "web", "--preset", "shortlived", "--description", "Web", "--max-validity", "100h", "--identifier-types", "dns", "--authz-reuse", "1h"])
    ).profile;
    assert.equal(created.maxValiditySeconds, 100 * 3600);
    assert.deepEqual(created.identifierTypes, ["dns"]);
    assert.equal(created.authorizationReuseSeconds, 3600);
    assert.equal(created.includeCommonName ?? false, false, "shortlived's");

    const table = await ok(["acme", "profile", "list", "--directory-id", dir.id]);
    assert.match(table, /web\s+no\s+server\s+100h/);
    assert.match(table, /tlsserver\s+yes/);
    const details = await ok(["acme", "profile", "get", created.id]);
    assert.match(details, /authz reuse:\s+1h/);

    const updated = (await json(["acme", "profile", "update", created.id, "--cn", "true", "--kind", "dual", "--order-lifetime", "2h"])).profile;
    assert.equal(updated.includeCommonName, true);
    assert.equal(updated.certificateKind, "ACME_CERTIFICATE_KIND_DUAL");
    assert.equal(updated.orderLifetimeSeconds, 7200);

    const switched = (await json(["acme", "directory", "update", dir.id, "--default-profile", "web"])).directory;
    assert.equal(switched.defaultProfile, "web");
    const refused = await runSigil(["acme", "profile", "delete", created.id], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /default/);
    const tlsserver = (await json(["acme", "profile", "list", "--directory-id", dir.id])).profiles.find((p: { name: string }) => p.name === "tlsserver");
    assert.match(await ok(["acme", "profile", "delete", tlsserver.id]), /deleted/);

    const bad = await runSigil(["acme", "profile", "new", "--directory-id", dir.id, "--name", "x", "--max-validity", "soon"], env);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--max-validity must be a duration/);
    const invalid = await runSigil(["acme", "profile", "new", "--directory-id", dir.id, "--name", "Bad Name"], env);
    assert.notEqual(invalid.code, 0);
    assert.match(invalid.stderr, /name/);
    const unknown = await runSigil(["acme", "profile", "frobnicate"], env);
    assert.equal(unknown.code, 2);
    assert.match(await ok(["acme", "profile", "help"]), /sigil acme profile new/);
  });
});
