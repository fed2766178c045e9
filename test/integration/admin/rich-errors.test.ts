/**
 * google.rpc error details (issue 12 item 2) against the real server:
 * BadRequest with every field violation (request checks and the directory
 * policy), ErrorInfo reasons, PreconditionFailure (CA with children, the
 * default profile), RetryInfo for login throttling, and the CLI printing all
 * of them, as text and with --json.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { decodeStatusDetails, STATUS_DETAILS_TRAILER, type DecodedDetails } from "../../../src/admin/error-details.js";
import { LOGIN_THROTTLE_WINDOW_MS } from "../../../src/ra/auth.js";
import { AcmeService } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { CertificateAuthorityService } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { runSigil } from "../../helpers/sigil-cli.js";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { AdminClients, unique } from "./helpers.js";

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; details: DecodedDetails }> {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    const details = decodeStatusDetails(err.metadata?.get(STATUS_DETAILS_TRAILER)[0] as Buffer | undefined);
    assert.ok(details, `${grpc.status[err.code]}: no grpc-status-details-bin`);
    return { code: grpc.status[err.code]!, message: err.details, details };
  }
  throw new Error("the call succeeded");
}

describe("admin API rich errors (google.rpc details) and the CLI", function () {
  this.timeout(120_000);
  let server: TestServer;
  let clients: AdminClients;
  let su: Awaited<ReturnType<AdminClients["superuser"]>>;
  let home: string;
  let env: Record<string, string>;

  before(async function () {
    server = await startTestServer();
    clients = new AdminClients(server);
    su = await clients.superuser();
    home = mkdtempSync(path.join(tmpdir(), "sigil-rich-"));
    env = { XDG_CONFIG_HOME: home, SIGIL_SERVER: `127.0.0.1:${server.grpcPort}`, SIGIL_API_KEY: "", SIGIL_PASSWORD: "" };
    const login = await runSigil(["login", "--username", "admin", "--password-stdin"], env, `${TEST_ADMIN_PASSWORD}\n`);
    assert.equal(login.code, 0, login.stderr);
  });

  after(async function () {
    clients?.close();
    await server?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  async function defaultDirectory(): Promise<{ id: string; caId: string; organizationId: string }> {
    const acme = clients.client(AcmeService);
    const list = await acme.listAcmeDirectories({}, su);
    const dir = list.directories[0];
    assert.ok(dir, "the bootstrap directory");
    return { id: dir.id, caId: dir.caId, organizationId: dir.organizationId };
  }

  it("names every bad field of a directory policy in BadRequest", async function () {
    const acme = clients.client(AcmeService);
    const dir = await defaultDirectory();
    const f = await failure(
      acme.createAcmeDirectory(
        {
          name: unique("rich"),
          organizationId: dir.organizationId,
          caId: dir.caId,
          allowedDnsSuffixes: ["-not a suffix-"],
          allowedIpRanges: ["not-a-cidr"],
          termsOfServiceUrl: "ftp://example.test/tos",
        },
        su,
      ),
    );
    assert.equal(f.code, "INVALID_ARGUMENT");
    assert.equal(f.details.errorInfo?.reason, "INVALID_ARGUMENT");
    assert.equal(f.details.errorInfo?.domain, "sigil.dev");
    assert.deepEqual(
      f.details.badRequest?.fieldViolations.map((v) => v.field),
      ["allowed_dns_suffixes", "allowed_ip_ranges", "terms_of_service_url"],
    );
    assert.match(f.message, /^allowed_dns_suffixes: .* \(and 2 more\)$/);
    // nothing was written
    const after = await acme.listAcmeDirectories({}, su);
    assert.ok(after.directories.every((d) => !d.name.startsWith("rich-")));
  });

  it("lists the state that prevents deleting the default profile in PreconditionFailure", async function () {
    const acme = clients.client(AcmeService);
    const dir = await defaultDirectory();
    const profiles = await acme.listAcmeProfiles({ directoryId: dir.id }, su);
    const got = await acme.getAcmeDirectory({ id: dir.id }, su);
    const def = profiles.profiles.find((p) => p.name === got.directory?.defaultProfile);
    assert.ok(def, "the directory's default profile");
    const f = await failure(acme.deleteAcmeProfile({ id: def.id }, su));
    assert.equal(f.code, "FAILED_PRECONDITION");
    assert.equal(f.details.errorInfo?.reason, "DEFAULT_PROFILE");
    assert.deepEqual(
      f.details.preconditionFailure?.violations.map((v) => [v.type, v.subject, v.description]),
      [["DEFAULT_PROFILE", `acme_profiles/${def.id}`, f.message]],
    );
  });

  it("gives a retry delay (RetryInfo) once logins from an address are throttled", async function () {
    const name = unique("nobody");
    let last: Awaited<ReturnType<typeof failure>> | undefined;
    for (let i = 0; i < 25; i++) {
      last = await failure(clients.auth.login({ username: name, password: "wrong" }));
      if (last.code === "RESOURCE_EXHAUSTED") break;
      assert.equal(last.code, "UNAUTHENTICATED");
    }
    assert.equal(last?.code, "RESOURCE_EXHAUSTED");
    assert.equal(last.details.errorInfo?.reason, "LOGIN_THROTTLED");
    assert.ok(last.details.retryInfo?.retryDelay, "RetryInfo");
    assert.equal(durationMs(last.details.retryInfo.retryDelay), LOGIN_THROTTLE_WINDOW_MS);
  });

  it("CLI prints every detail, and with --json the google.rpc.Status as JSON", async function () {
    const cas = await clients.client(CertificateAuthorityService).listCertificateAuthorities({}, su);
    const root = cas.certificateAuthorities.find((c) => !c.parentId);
    assert.ok(root);
    const text = await runSigil(["ca", "delete", root.id], env);
    assert.equal(text.code, 1, text.stderr);
    const lines = text.stderr.trimEnd().split("\n");
    assert.match(lines[0]!, /^sigil: FAILED_PRECONDITION: the CA has \d+ child CA\(s\); delete them first$/);
    assert.ok(lines.includes("  reason: CA_HAS_CHILDREN (sigil.dev)"), text.stderr);
    assert.ok(lines.some((l) => l.startsWith(`  precondition CA_HAS_CHILDREN certificate_authorities/${root.id}: the CA has`)), text.stderr);

    const json = await runSigil(["ca", "delete", root.id, "--json"], env);
    assert.equal(json.code, 1, json.stderr);
    const doc = JSON.parse(json.stderr) as { code: number; codeName: string; message: string; details: Array<Record<string, unknown>> };
    assert.equal(doc.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(doc.codeName, "FAILED_PRECONDITION");
    assert.match(doc.message, /child CA/);
    const info = doc.details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.ErrorInfo");
    assert.deepEqual(info, { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "CA_HAS_CHILDREN", domain: "sigil.dev" });
    const pf = doc.details.find((d) => d["@type"] === "type.googleapis.com/google.rpc.PreconditionFailure") as { violations?: Array<{ type: string }> } | undefined;
    assert.equal(pf?.violations?.[0]?.type, "CA_HAS_CHILDREN");
  });

  it("CLI prints each field violation of a refused input", async function () {
    const r = await runSigil(["org", "create", "--name", "bad\u0000name", "--description", "also\u0000bad"], env);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^sigil: INVALID_ARGUMENT: name: must not contain the NUL character \(U\+0000\) \(and 1 more\)\n/);
    assert.match(r.stderr, /\n {2}field name: must not contain the NUL character \(U\+0000\)\n/);
    assert.match(r.stderr, /\n {2}field description: must not contain the NUL character \(U\+0000\)\n/);
  });
});
