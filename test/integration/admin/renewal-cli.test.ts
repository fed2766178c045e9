/**
 * `sigil renewal ...` against the running server: create (CA, serials),
 * drill, get, list, cancel, and usage errors that never reach the server.
 */
import assert from "node:assert/strict";
import { runSigil } from "../../helpers/sigil-cli.js";
import { startCliSession, type CliSession } from "../../helpers/cli-session.js";
import { unique } from "./helpers.js";

describe("sigil renewal CLI", function () {
  this.timeout(180_000);
  let cli: CliSession;
  before(async () => {
    cli = await startCliSession("renewal");
  });
  after(async () => {
    await cli?.stop();
  });
  const ok = (args: string[]) => cli.ok(args);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const json = <T = any>(args: string[]) => cli.json<T>(args);

  it("create for a CA and for serials, get, list, cancel; a drill of a directory", async () => {
    const org = (await json(["org", "create", "--name", unique("cli-renewal")])).organization.id as string;
    const root = (await json(["ca", "create-root", "--org", org, "--name", "root", "--cn", "Renewal Root", "--path-length", "1"])).certificateAuthority;
    const int = (await json(["ca", "create-intermediate", "--parent", root.id, "--name", "issuing", "--cn", "Renewal Issuing"])).certificateAuthority;
    const certs = [];
    for (const name of ["a.renewal.example", "b.renewal.example"]) {
      certs.push((await json(["cert", "issue", "--ca", int.id, "--type", "server", "--dns", name])).certificate);
    }

    const created = (await json(["renewal", "create", "--ca", int.id, "--now", "--reason", "CA rotation", "--explanation-url", "https://status.example.com/r"])).campaign;
    assert.equal(created.scope, "RENEWAL_CAMPAIGN_SCOPE_CA");
    assert.equal(created.certificateCount, 2);
    assert.equal(created.explanationUrl, "https://status.example.com/r");

    // an admin renewal of a member records renewed_from: counted as replaced
    await json(["cert", "renew", certs[0].id]);
    const got = (await json(["renewal", "get", created.id])).campaign;
    assert.equal(got.replacedCount, 1);
    assert.equal(got.replacedPercent, 50);
    const text = await ok(["renewal", "get", created.id]);
    assert.match(text, /replaced:\s+1 \(50\.0%\)/);
    assert.match(text, /reason:\s+CA rotation/);

    const end = new Date(Date.now() + 7 * 86_400_000).toISOString();
    const bySerial = (await json(["renewal", "create", "--serials", certs[1].serial, "--org", org, "--end", end, "--reason", "one serial"])).campaign;
    assert.equal(bySerial.certificateCount, 1);
    assert.equal(bySerial.windowEnd, end);

    const table = await ok(["renewal", "list", "--org", org]);
    assert.match(table, /^ID\s+SCOPE\s+WINDOW\s+CERTIFICATES\s+REPLACED\s+STATUS\s+REASON/m);
    assert.match(table, new RegExp(`${created.id}\\s+ca\\s`));
    assert.match(table, new RegExp(`${bySerial.id}\\s+serials\\s`));

    const cancelled = (await json(["renewal", "cancel", created.id])).campaign;
    assert.ok(cancelled.cancelledAt);
    assert.doesNotMatch(await ok(["renewal", "list", "--org", org]), new RegExp(created.id));
    assert.match(await ok(["renewal", "list", "--org", org, "--all"]), new RegExp(created.id));
    const again = await runSigil(["renewal", "cancel", created.id], cli.env);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /already cancelled/);

    const dir = (await json(["acme", "directory", "create", "--name", unique("renewal-dir"), "--org", org, "--issuer", int.id])).directory;
    const drill = (await json(["renewal", "drill", "--directory", dir.id, "--percent", "10", "--now", "--reason", "quarterly drill"])).campaign;
    assert.equal(drill.scope, "RENEWAL_CAMPAIGN_SCOPE_DRILL");
    assert.equal(drill.drillPercent, 10);
    assert.equal(drill.certificateCount ?? 0, 0, "no ACME certificate was issued through the new directory");
    assert.equal(drill.replacedPercent, 100);
  });

  it("usage errors exit 2 without calling the server", async () => {
    for (const args of [
      ["renewal", "create", "--now", "--reason", "r"],
      ["renewal", "create", "--ca", "x", "--directory", "y", "--now", "--reason", "r"],
      ["renewal", "create", "--ca", "x", "--reason", "r"],
      ["renewal", "create", "--ca", "x", "--now", "--end", "2030-01-01T00:00:00Z", "--reason", "r"],
      ["renewal", "create", "--ca", "x", "--end", "soon", "--reason", "r"],
      ["renewal", "drill", "--directory", "x", "--now", "--reason", "r"],
      ["renewal", "frobnicate"],
    ]) {
      const r = await runSigil(args, cli.env);
      assert.equal(r.code, 2, `sigil ${args.join(" ")}: ${r.code} ${r.stderr}`);
    }
  });
});
