/**
 * The admin edge refuses bad input with INVALID_ARGUMENT through the real
 * server (PostgreSQL behind it): U+0000 in any string field (PostgreSQL
 * text cannot hold it; it used to answer INTERNAL, for Login before
 * authentication), out-of-range Timestamps and bytes that are not protobuf.
 */
import * as grpc from "@grpc/grpc-js";
import { CertificateService } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import type { ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { AdminClients, PASSWORD, rejectsWith, unique } from "./helpers.js";

const NUL = "must not contain the NUL character (U+0000)";
const RANGE = "must be a timestamp from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z";

describe("admin edge input checks (real server)", function () {
  this.timeout(120_000);
  let server: TestServer;
  let c: AdminClients;
  let su: ClientCallOptions;

  before(async () => {
    server = await startTestServer();
    c = new AdminClients(server);
    su = await c.superuser();
  });
  after(async () => {
    c?.close();
    await server?.stop();
  });

  it("fail/Login with U+0000 in the username -> INVALID_ARGUMENT naming username", async () => {
    await rejectsWith(c.auth.login({ username: "ad\u0000min", password: "whatever" }), "INVALID_ARGUMENT", `username: ${NUL}`);
  });

  it("fail/Login with U+0000 in the password -> INVALID_ARGUMENT naming password, never its value", async () => {
    await rejectsWith(c.auth.login({ username: "admin", password: "secret-pass\u0000word" }), "INVALID_ARGUMENT", `password: ${NUL}`);
  });

  it("fail/an authenticated RPC with U+0000 in a name -> INVALID_ARGUMENT naming the field", async () => {
    await rejectsWith(c.orgs.createOrganization({ name: `bad\u0000${unique("org")}` }, su), "INVALID_ARGUMENT", `name: ${NUL}`);
    await rejectsWith(c.orgs.createOrganization({ name: unique("org"), description: "d\u0000" }, su), "INVALID_ARGUMENT", `description: ${NUL}`);
    const { organization } = await c.orgs.createOrganization({ name: unique("org") }, su);
    await rejectsWith(
      c.users.createUser({ username: unique("user"), email: "a\u0000@example.com", password: PASSWORD, role: Role.USER, organizationId: organization!.id }, su),
      "INVALID_ARGUMENT",
      `email: ${NUL}`,
    );
    await rejectsWith(c.audit.listAuditEvents({ action: "x\u0000" }, su), "INVALID_ARGUMENT", `action: ${NUL}`);
    const certs = c.client(CertificateService);
    await rejectsWith(certs.listCertificates({ nameContains: "\u0000" }, su), "INVALID_ARGUMENT", `name_contains: ${NUL}`);
  });

  it("fail/U+0000 is refused before authentication (no credential needed to learn nothing)", async () => {
    await rejectsWith(c.orgs.createOrganization({ name: "x\u0000" }), "INVALID_ARGUMENT", `name: ${NUL}`);
  });

  it("fail/out-of-range Timestamps -> INVALID_ARGUMENT naming the field", async () => {
    await rejectsWith(c.audit.listAuditEvents({ startTime: { seconds: 253_402_300_800n, nanos: 0 } }, su), "INVALID_ARGUMENT", `start_time: ${RANGE}`);
    await rejectsWith(c.audit.listAuditEvents({ endTime: { seconds: -62_135_596_801n, nanos: 0 } }, su), "INVALID_ARGUMENT", `end_time: ${RANGE}`);
    const certs = c.client(CertificateService);
    await rejectsWith(certs.listCertificates({ expiringBefore: { seconds: 300_000_000_000n, nanos: 0 } }, su), "INVALID_ARGUMENT", `expiring_before: ${RANGE}`);
    // the ends of the range are fine
    await c.audit.listAuditEvents({ startTime: { seconds: -62_135_596_800n, nanos: 0 }, endTime: { seconds: 253_402_300_799n, nanos: 0 } }, su);
  });

  it("fail/bytes that are not protobuf -> INVALID_ARGUMENT, authenticated or not", async () => {
    const client = new grpc.Client(c.address, grpc.credentials.createInsecure());
    try {
      for (const path of ["/sigil.admin.v1.AuthService/Login", "/sigil.admin.v1.OrganizationService/ListOrganizations"]) {
        const err = await new Promise<grpc.ServiceError | undefined>((resolve) =>
          client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0x7f, 0x61]), new grpc.Metadata(), {}, (e) => resolve(e ?? undefined)),
        );
        await rejectsWith(err ? Promise.reject(err) : Promise.resolve(), "INVALID_ARGUMENT", /is not a valid sigil\.admin\.v1\.\w+Request message/);
      }
    } finally {
      client.close();
    }
  });
});
