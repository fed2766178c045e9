import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { SigilError } from "../../../src/core/errors.js";
import { bindPartialService, makeClient, type AdminLogger } from "../../../src/admin/grpc-adapter.js";
import { Health, HealthStatus, ServingStatus } from "../../../src/admin/health.js";
import { buildAdminGrpcServer, listenAdmin, shutdownAdmin, type AdminServer } from "../../../src/admin/server.js";
import { AcmeService } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { AuditEventSchema, AuditService } from "../../../src/gen/sigil/admin/v1/audit_pb.js";
import { AuthService } from "../../../src/gen/sigil/admin/v1/auth_pb.js";
import { CertificateAuthorityService } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateService } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { OrganizationService } from "../../../src/gen/sigil/admin/v1/organization_pb.js";
import { ServiceAccountService } from "../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { UserService } from "../../../src/gen/sigil/admin/v1/user_pb.js";

const execFileP = promisify(execFile);
const BUF = path.resolve("node_modules/.bin/buf");

interface LogLine {
  level: "info" | "error";
  obj: Record<string, unknown>;
  msg?: string;
}

function captureLogger(): AdminLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: "info", obj: obj as Record<string, unknown>, msg }),
    error: (obj, msg) => lines.push({ level: "error", obj: obj as Record<string, unknown>, msg }),
  };
}

const SECRET = "s3cret-request-body-value";
const created = timestampFromDate(new Date("2030-01-02T03:04:05Z"));

async function eventually(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function bufCurl(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  assert.ok(existsSync(BUF), `buf CLI missing at ${BUF} (npm install)`);
  try {
    const { stdout, stderr } = await execFileP(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], {
      timeout: 20_000,
    });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; code?: number };
    return { stdout: err.stdout ?? "", stderr: err.stderr ?? "", code: err.code ?? -1 };
  }
}

describe("admin gRPC plumbing", function () {
  let server: AdminServer;
  let port: number;
  let address: string;
  const logger = captureLogger();
  const health = new HealthStatus();
  let watchCleanedUp = false;
  let lastRequestMetadata: { authorization?: string; peer?: string } = {};
  /** paths the `before` hook (authentication in the real server) saw */
  const hookCalls: string[] = [];
  let listAuditCalls = 0;

  before(async function () {
    server = buildAdminGrpcServer({
      logger,
      health,
      before: (ctx) => void hookCalls.push(ctx.path),
      services: [
        bindPartialService(OrganizationService, {
          async getOrganization(req, ctx) {
            lastRequestMetadata = { authorization: ctx.authorization, peer: ctx.peer };
            switch (req.id) {
              case "org-1":
                return { organization: { id: "org-1", name: "Acme Corp", description: "d", createdAt: created } };
              case "missing":
                throw SigilError.notFound("organization not found");
              case "boom":
                throw new Error("database exploded at 10.0.0.7: password=hunter2");
              case "internal":
                throw SigilError.internal("signer unavailable", new Error("HSM offline"));
              default:
                throw SigilError.failedPrecondition("unexpected");
            }
          },
          async createOrganization(req) {
            if (req.name === "") throw SigilError.invalidArgument("must not be empty", "name");
            if (req.name === "taken") throw SigilError.alreadyExists("already exists", "name");
            return { organization: { id: "org-2", name: req.name, description: req.description } };
          },
          async updateOrganization(req) {
            // proto3 optional: presence must survive JSON -> reflection -> binary
            return {
              organization: {
                id: req.id,
                name: req.name === undefined ? "<unchanged>" : req.name,
                description: req.description === undefined ? "<unchanged>" : req.description,
              },
            };
          },
        }),
        bindPartialService(AuditService, {
          async listAuditEvents() {
            listAuditCalls++;
            return { events: [] };
          },
          async *watchAuditEvents(req, ctx) {
            try {
              for (let i = 0; !ctx.signal.aborted; i++) {
                yield { event: create(AuditEventSchema, { id: `ev-${i}`, action: req.action || "any", detail: "{}" }) };
                await new Promise((r) => setTimeout(r, 10));
              }
            } finally {
              watchCleanedUp = true;
            }
          },
        }),
        bindPartialService(AuthService, {}),
        bindPartialService(UserService, {}),
        bindPartialService(CertificateAuthorityService, {}),
        bindPartialService(CertificateService, {}),
        bindPartialService(AcmeService, {}),
        bindPartialService(ServiceAccountService, {}),
      ],
    });
    port = await listenAdmin(server, "127.0.0.1", 0);
    address = `127.0.0.1:${port}`;
  });

  after(async function () {
    await shutdownAdmin(server, 1000);
  });

  it("binds an ephemeral port when asked for port 0", function () {
    assert.ok(port > 0);
  });

  describe("unary calls through makeClient", function () {
    let orgs: ReturnType<typeof makeClient<typeof OrganizationService>>;
    before(() => {
      orgs = makeClient(OrganizationService, address, grpc.credentials.createInsecure());
    });
    after(() => orgs.close());

    it("returns the response message and passes authorization metadata and peer", async function () {
      const res = await orgs.getOrganization({ id: "org-1" }, { metadata: { authorization: "Bearer abc" } });
      assert.equal(res.organization?.name, "Acme Corp");
      assert.equal(res.organization?.createdAt?.seconds, created.seconds);
      assert.equal(lastRequestMetadata.authorization, "Bearer abc");
      assert.match(lastRequestMetadata.peer ?? "", /127\.0\.0\.1/);
    });

    const cases: Array<{ name: string; call: () => Promise<unknown>; code: grpc.status; details: string }> = [
      {
        name: "fail/not-found",
        call: () => orgs.getOrganization({ id: "missing" }),
        code: grpc.status.NOT_FOUND,
        details: "organization not found",
      },
      {
        name: "fail/plain-error-is-internal-without-detail",
        call: () => orgs.getOrganization({ id: "boom" }),
        code: grpc.status.INTERNAL,
        details: "internal error",
      },
      {
        name: "fail/sigil-internal-without-detail",
        call: () => orgs.getOrganization({ id: "internal" }),
        code: grpc.status.INTERNAL,
        details: "internal error",
      },
      {
        name: "fail/invalid-argument-names-the-field",
        call: () => orgs.createOrganization({ name: "" }),
        code: grpc.status.INVALID_ARGUMENT,
        details: "name: must not be empty",
      },
      {
        name: "fail/already-exists-names-the-field",
        call: () => orgs.createOrganization({ name: "taken" }),
        code: grpc.status.ALREADY_EXISTS,
        details: "name: already exists",
      },
      {
        name: "fail/unimplemented-method",
        call: () => orgs.deleteOrganization({ id: "org-1" }),
        code: grpc.status.UNIMPLEMENTED,
        details: "",
      },
    ];
    for (const c of cases) {
      it(`${c.name} -> ${grpc.status[c.code]}`, async function () {
        await assert.rejects(c.call(), (err: grpc.ServiceError) => {
          assert.equal(err.code, c.code, `${err.code} ${err.details}`);
          if (c.details !== "") assert.equal(err.details, c.details);
          return true;
        });
      });
    }

    it("logs one line per RPC, the internal cause only in the log, never the request body", async function () {
      logger.lines.length = 0;
      await orgs.createOrganization({ name: "ok", description: SECRET });
      await assert.rejects(orgs.getOrganization({ id: "boom" }));
      await eventually(() => logger.lines.length >= 2);
      assert.equal(logger.lines.length, 2);
      const [ok, failed] = logger.lines;
      assert.equal(ok.level, "info");
      assert.equal(ok.obj.rpc, "/sigil.admin.v1.OrganizationService/CreateOrganization");
      assert.equal(ok.obj.code, "OK");
      assert.equal(typeof ok.obj.duration_ms, "number");
      assert.equal(failed.level, "error");
      assert.equal(failed.obj.code, "INTERNAL");
      assert.match(String((failed.obj.err as Error).message), /database exploded/);
      assert.ok(!JSON.stringify(logger.lines).includes(SECRET));
    });
  });

  describe("request checks at the edge, before the before-hook and the handler", function () {
    /** a unary call with hand-made request bytes */
    function rawUnary(path: string, bytes: Buffer): Promise<grpc.ServiceError | Buffer> {
      const client = new grpc.Client(address, grpc.credentials.createInsecure());
      return new Promise<grpc.ServiceError | Buffer>((resolve) => {
        client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), {}, (err, res) => resolve(err ?? res ?? Buffer.alloc(0)));
      }).finally(() => client.close());
    }
    function rawStream(path: string, bytes: Buffer): Promise<grpc.ServiceError | "ended"> {
      const client = new grpc.Client(address, grpc.credentials.createInsecure());
      return new Promise<grpc.ServiceError | "ended">((resolve) => {
        const call = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), {});
        call.on("data", () => undefined);
        call.on("error", (e: grpc.ServiceError) => resolve(e));
        call.on("end", () => resolve("ended"));
      }).finally(() => client.close());
    }
    const malformed: Array<[string, number[]]> = [
      ["a truncated length-delimited field", [0x0a, 0x05, 0x61]],
      ["an illegal wire type", [0x0f]],
      ["an invalid varint", [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
      ["a string field that is not UTF-8", [0x0a, 0x02, 0xc3, 0x28]],
    ];
    for (const [what, bytes] of malformed) {
      it(`fail/unary request with ${what} -> INVALID_ARGUMENT (not INTERNAL), hook and handler not run`, async function () {
        hookCalls.length = 0;
        const got = await rawUnary("/sigil.admin.v1.OrganizationService/GetOrganization", Buffer.from(bytes));
        assert.ok(!Buffer.isBuffer(got), "the call must fail");
        assert.equal(got.code, grpc.status.INVALID_ARGUMENT, `${got.code} ${got.details}`);
        assert.equal(got.details, "the request is not a valid sigil.admin.v1.GetOrganizationRequest message");
        assert.deepEqual(hookCalls, []);
      });
    }

    it("fail/server-streaming request that is not valid protobuf -> INVALID_ARGUMENT", async function () {
      hookCalls.length = 0;
      const got = await rawStream("/sigil.admin.v1.AuditService/WatchAuditEvents", Buffer.from([0x0a, 0x05, 0x61]));
      assert.notEqual(got, "ended");
      if (got === "ended") return;
      assert.equal(got.code, grpc.status.INVALID_ARGUMENT, got.details);
      assert.deepEqual(hookCalls, []);
    });

    it("fail/U+0000 in a string field -> INVALID_ARGUMENT naming the field, value not echoed, hook not run", async function () {
      const orgs = makeClient(OrganizationService, address, grpc.credentials.createInsecure());
      const audit = makeClient(AuditService, address, grpc.credentials.createInsecure());
      hookCalls.length = 0;
      try {
        await assert.rejects(orgs.getOrganization({ id: "org\u0000-1" }), (e: grpc.ServiceError) => {
          assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
          assert.equal(e.details, "id: must not contain the NUL character (U+0000)");
          return true;
        });
        await assert.rejects(orgs.createOrganization({ name: "ok", description: `${SECRET}\u0000` }), (e: grpc.ServiceError) => {
          assert.equal(e.code, grpc.status.INVALID_ARGUMENT);
          assert.equal(e.details, "description: must not contain the NUL character (U+0000)");
          assert.ok(!e.details.includes(SECRET));
          return true;
        });
        // proto3 optional field
        await assert.rejects(orgs.updateOrganization({ id: "org-1", name: "\u0000" }), { code: grpc.status.INVALID_ARGUMENT, details: "name: must not contain the NUL character (U+0000)" });
        // server streaming
        await assert.rejects(
          (async () => {
            for await (const _ of audit.watchAuditEvents({ action: "cert\u0000" })) break;
          })(),
          { code: grpc.status.INVALID_ARGUMENT, details: "action: must not contain the NUL character (U+0000)" },
        );
        assert.deepEqual(hookCalls, []);
      } finally {
        orgs.close();
        audit.close();
      }
    });

    it("fail/out-of-range Timestamps -> INVALID_ARGUMENT naming the field; the range's ends are accepted", async function () {
      const audit = makeClient(AuditService, address, grpc.credentials.createInsecure());
      try {
        const bad: Array<[string, Parameters<typeof audit.listAuditEvents>[0]]> = [
          ["start_time", { startTime: { seconds: 253_402_300_800n, nanos: 0 } }], // 10000-01-01T00:00:00Z
          ["end_time", { endTime: { seconds: -62_135_596_801n, nanos: 0 } }], // 0000-12-31T23:59:59Z
          ["start_time", { startTime: { seconds: 0n, nanos: -1 } }],
          ["end_time", { endTime: { seconds: 0n, nanos: 1_000_000_000 } }],
          ["start_time", { startTime: { seconds: 9_223_372_036_854_775_807n, nanos: 0 } }],
        ];
        listAuditCalls = 0;
        for (const [field, req] of bad) {
          await assert.rejects(audit.listAuditEvents(req), (e: grpc.ServiceError) => {
            assert.equal(e.code, grpc.status.INVALID_ARGUMENT, `${field}: ${e.code} ${e.details}`);
            assert.equal(e.details, `${field}: must be a timestamp from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z`);
            return true;
          });
        }
        assert.equal(listAuditCalls, 0);
        await audit.listAuditEvents({ startTime: { seconds: -62_135_596_800n, nanos: 0 }, endTime: { seconds: 253_402_300_799n, nanos: 999_999_999 } });
        assert.equal(listAuditCalls, 1);
      } finally {
        audit.close();
      }
    });
  });

  describe("health", function () {
    it("Check answers SERVING for the server and for a Sigil service, NOT_FOUND for an unknown one", async function () {
      const client = makeClient(Health, address, grpc.credentials.createInsecure());
      try {
        assert.equal((await client.check({ service: "" })).status, ServingStatus.SERVING);
        assert.equal((await client.check({ service: "sigil.admin.v1.UserService" })).status, ServingStatus.SERVING);
        await assert.rejects(client.check({ service: "nope.Service" }), { code: grpc.status.NOT_FOUND });
      } finally {
        client.close();
      }
    });

    it("Watch streams the current status and then changes", async function () {
      const client = makeClient(Health, address, grpc.credentials.createInsecure());
      const name = "sigil.admin.v1.AcmeService";
      try {
        const seen: ServingStatus[] = [];
        for await (const res of client.watch({ service: name })) {
          seen.push(res.status);
          if (seen.length === 1) health.set(name, ServingStatus.NOT_SERVING);
          if (seen.length === 2) break; // cancels the call
        }
        assert.deepEqual(seen, [ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
      } finally {
        health.set(name, ServingStatus.SERVING);
        client.close();
      }
    });

    it("Watch of any name (unauthenticated) keeps nothing once the call ends", async function () {
      const client = makeClient(Health, address, grpc.credentials.createInsecure());
      const baseline = health.watchedServices;
      try {
        for (let i = 0; i < 5; i++) {
          for await (const res of client.watch({ service: `made.up.Service${i}-${"x".repeat(10_000)}` })) {
            assert.equal(res.status, ServingStatus.SERVICE_UNKNOWN);
            break; // cancels the call
          }
        }
        const deadline = Date.now() + 2000;
        while (health.watchedServices !== baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(health.watchedServices, baseline);
      } finally {
        client.close();
      }
    });
  });

  describe("server streaming", function () {
    it("delivers messages and stops the handler when the client cancels", async function () {
      const audit = makeClient(AuditService, address, grpc.credentials.createInsecure());
      const ac = new AbortController();
      const ids: string[] = [];
      logger.lines.length = 0;
      watchCleanedUp = false;
      try {
        await assert.rejects(
          (async () => {
            for await (const res of audit.watchAuditEvents({ action: "cert_revoke" }, { signal: ac.signal })) {
              assert.equal(res.event?.action, "cert_revoke");
              ids.push(res.event?.id ?? "");
              if (ids.length === 3) ac.abort();
            }
          })(),
          { code: grpc.status.CANCELLED },
        );
        assert.deepEqual(ids.slice(0, 3), ["ev-0", "ev-1", "ev-2"]);
        await eventually(() => watchCleanedUp);
        await eventually(() => logger.lines.some((l) => l.obj.rpc === "/sigil.admin.v1.AuditService/WatchAuditEvents"));
        const line = logger.lines.find((l) => l.obj.rpc === "/sigil.admin.v1.AuditService/WatchAuditEvents");
        assert.equal(line?.obj.code, "CANCELLED");
      } finally {
        audit.close();
      }
    });
  });

  describe("reflection with buf curl", function () {
    it("lists the methods of all eight Sigil services (and health)", async function () {
      const { stdout, stderr, code } = await bufCurl(["--reflect", "--list-methods", `http://${address}`]);
      assert.equal(code, 0, stderr);
      const methods = stdout.split("\n").filter(Boolean);
      for (const service of [
        AuthService,
        OrganizationService,
        UserService,
        CertificateAuthorityService,
        CertificateService,
        AcmeService,
        AuditService,
        ServiceAccountService,
        Health,
      ]) {
        for (const m of service.methods) {
          assert.ok(methods.includes(`${service.typeName}/${m.name}`), `missing ${service.typeName}/${m.name}\n${stdout}`);
        }
      }
    });

    it("calls a unary method with JSON data and renders the JSON response", async function () {
      const { stdout, stderr, code } = await bufCurl([
        "--reflect",
        "-d",
        '{"id":"org-1"}',
        `http://${address}/sigil.admin.v1.OrganizationService/GetOrganization`,
      ]);
      assert.equal(code, 0, stderr);
      assert.deepEqual(JSON.parse(stdout), {
        organization: { id: "org-1", name: "Acme Corp", description: "d", createdAt: "2030-01-02T03:04:05Z" },
      });
    });

    it("keeps proto3 optional presence through reflection", async function () {
      const { stdout, stderr, code } = await bufCurl([
        "--reflect",
        "-d",
        '{"id":"org-1","name":""}',
        `http://${address}/sigil.admin.v1.OrganizationService/UpdateOrganization`,
      ]);
      assert.equal(code, 0, stderr);
      // name present but empty; description absent
      assert.deepEqual(JSON.parse(stdout), { organization: { id: "org-1", description: "<unchanged>" } });
    });

    it("reports a mapped error status", async function () {
      const { stdout, stderr, code } = await bufCurl([
        "--reflect",
        "-d",
        '{"id":"missing"}',
        `http://${address}/sigil.admin.v1.OrganizationService/GetOrganization`,
      ]);
      assert.notEqual(code, 0);
      assert.match(stdout + stderr, /not_found/);
      assert.match(stdout + stderr, /organization not found/);
    });

    it("calls Health/Check", async function () {
      const { stdout, stderr, code } = await bufCurl(["--reflect", "-d", "{}", `http://${address}/grpc.health.v1.Health/Check`]);
      assert.equal(code, 0, stderr);
      assert.deepEqual(JSON.parse(stdout), { status: "SERVING" });
    });
  });
});
