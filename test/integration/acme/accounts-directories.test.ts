/**
 * The ACME module's own createDirectory / createEabKey (src/ra/acme/
 * directories.ts, used by the admin API after authorization, by tests and
 * formerly by the CLI) apply the same directory policy rules as the admin
 * API (src/policy/directory-policy.ts): it used to store DNS suffixes and
 * meta URLs unchecked and to refuse an empty challenge list the admin API
 * reads as "all".
 */
import assert from "node:assert/strict";
import { isSigilError } from "../../../src/core/errors.js";
import { systemActor } from "../../../src/ra/actor.js";
import { createDirectory, createEabKey } from "../../../src/ra/acme/directories.js";
import { startAcmeTestServer, type AcmeTestServer } from "./harness.js";

describe("ACME createDirectory: one policy rule per input", () => {
  let server: AcmeTestServer;
  const actor = systemActor("test");
  let n = 0;
  const name = () => `policy-${++n}`;

  before(async () => {
    server = await startAcmeTestServer();
  });
  after(async () => server?.stop());

  const refusedNaming = (field: string) => (e: unknown) => {
    assert.ok(isSigilError(e, "invalidArgument"), String(e));
    assert.equal(e.field, field);
    return true;
  };

  it("refuses what the admin API refuses, naming the same field", async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: "Bad Name" }, "name"],
      [{ allowedDnsSuffixes: ["bad_suffix.test"] }, "allowed_dns_suffixes"],
      [{ allowedIpRanges: ["10.0.0.0/"] }, "allowed_ip_ranges"],
      [{ challengeTypes: ["http-02"] }, "challenge_types"],
      [{ maxValidityDays: 5000 }, "max_validity_days"],
      [{ certificateKind: "ca" }, "certificate_kind"],
      [{ termsOfServiceUrl: "javascript:alert(1)" }, "terms_of_service_url"],
      [{ caaIdentities: ["not a name"] }, "caa_identities"],
    ];
    for (const [extra, field] of cases) {
      await assert.rejects(createDirectory(server.ra, actor, { name: name(), ca: "default-intermediate", ...extra }), refusedNaming(field), JSON.stringify(extra));
    }
  });

  it("normalizes as the admin API does (suffixes lower-cased, '*.' dropped; an empty challenge list is all types; 0 days is 90)", async () => {
    const d = await createDirectory(server.ra, actor, {
      name: name(),
      ca: "default-intermediate",
      allowedDnsSuffixes: ["*.Example.TEST", "example.test"],
      challengeTypes: [],
      maxValidityDays: 0,
    });
    assert.deepEqual(d.allowedDnsSuffixes, ["example.test"]);
    assert.deepEqual(d.challengeTypes, ["http-01", "dns-01", "tls-alpn-01"]);
    assert.equal(d.maxValidityDays, 90);
    const served = (await (await fetch(server.directoryUrl(d.name))).json()) as { newAccount?: string };
    assert.ok(served.newAccount, "served over ACME");
  });

  it("refuses a taken name, an unknown CA or organization, and an EAB key for an unknown directory", async () => {
    const taken = name();
    await createDirectory(server.ra, actor, { name: taken, ca: "default-intermediate" });
    await assert.rejects(createDirectory(server.ra, actor, { name: taken, ca: "default-intermediate" }), (e: unknown) => isSigilError(e, "alreadyExists"));
    await assert.rejects(createDirectory(server.ra, actor, { name: name(), ca: "no-such-ca" }), (e: unknown) => isSigilError(e, "notFound"));
    await assert.rejects(createDirectory(server.ra, actor, { name: name(), ca: "default-intermediate", organization: "no-such-org" }), (e: unknown) => isSigilError(e, "notFound"));
    await assert.rejects(createEabKey(server.ra, actor, { directory: "no-such-directory" }), (e: unknown) => isSigilError(e, "notFound"));
  });
});
