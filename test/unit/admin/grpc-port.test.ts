/**
 * The gRPC port as one node:http2 server with connect-node (src/admin/server.ts):
 * what grpc-js's server gave us and grpc-js clients rely on: UNIMPLEMENTED for
 * unknown paths, the 4 MiB request limit, deadlines (grpc-timeout), keepalive
 * pings, many concurrent streams on one connection, graceful shutdown
 * (GOAWAY), and server reflection v1 and v1alpha (list, file by name, file
 * containing a symbol, with dependencies sent once per stream). Plus Connect
 * JSON with curl over h2c on the same port.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { setMaxListeners } from "node:events";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { SigilError } from "../../../src/core/errors.js";
import { bindPartialService, makeClient } from "../../../src/admin/grpc-adapter.js";
import { HealthStatus } from "../../../src/admin/health.js";
import { buildAdminGrpcServer, listenAdmin, shutdownAdmin, type AdminServer, type AdminStreamLimits } from "../../../src/admin/server.js";
import { AuditEventSchema, AuditService } from "../../../src/gen/sigil/admin/v1/audit_pb.js";
import { OrganizationService } from "../../../src/gen/sigil/admin/v1/organization_pb.js";
import { ServerReflection as ReflectionV1, type ServerReflectionResponse } from "../../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../../../src/gen/grpc/reflection/v1alpha/reflection_pb.js";

const execFileP = promisify(execFile);

async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Probe {
  slowAborted: number;
  watching: number;
  watchesEnded: number;
}

function build(probe: Probe, streamLimits?: AdminStreamLimits): AdminServer {
  return buildAdminGrpcServer({
    streamLimits,
    health: new HealthStatus(),
    services: [
      bindPartialService(OrganizationService, {
        async getOrganization(req, ctx) {
          if (req.id === "slow") {
            // waits for the deadline or cancellation (or 5 s)
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, 5000);
              ctx.signal.addEventListener("abort", () => {
                probe.slowAborted++;
                clearTimeout(t);
                resolve();
              });
            });
            throw SigilError.unavailable("gave up");
          }
          if (req.id.startsWith("wait-")) await new Promise((r) => setTimeout(r, Number(req.id.slice(5))));
          return { organization: { id: req.id, name: "n" } };
        },
        async createOrganization(req) {
          return { organization: { id: "o", name: req.name, description: `${req.description.length}` } };
        },
      }),
      bindPartialService(AuditService, {
        async *watchAuditEvents(req, ctx) {
          probe.watching++;
          try {
            yield { event: create(AuditEventSchema, { id: "first", action: req.action }) };
            while (!ctx.signal.aborted) await new Promise((r) => setTimeout(r, 20));
          } finally {
            probe.watching--;
            probe.watchesEnded++;
          }
        },
      }),
    ],
  });
}

describe("admin gRPC port on node:http2 + connect-node", function () {
  this.timeout(30_000);
  const probe: Probe = { slowAborted: 0, watching: 0, watchesEnded: 0 };
  let server: AdminServer;
  let address: string;

  before(async function () {
    server = build(probe);
    address = `127.0.0.1:${await listenAdmin(server, "127.0.0.1", 0)}`;
  });
  after(async () => shutdownAdmin(server, 1000));

  function raw(path: string, options: grpc.ChannelOptions = {}): Promise<grpc.ServiceError | Buffer> {
    const client = new grpc.Client(address, grpc.credentials.createInsecure(), options);
    return new Promise<grpc.ServiceError | Buffer>((resolve) => {
      client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), new grpc.Metadata(), {}, (err, res) => resolve(err ?? res ?? Buffer.alloc(0)));
    }).finally(() => client.close());
  }

  it("fail/unknown service and unknown method -> UNIMPLEMENTED for a grpc-js client", async function () {
    for (const path of ["/nope.v1.NoService/Call", "/sigil.admin.v1.OrganizationService/NoSuchMethod", "/sigil.admin.v1.OrganizationService/DeleteOrganization"]) {
      const got = await raw(path);
      assert.ok(!Buffer.isBuffer(got), path);
      assert.equal(got.code, grpc.status.UNIMPLEMENTED, `${path}: ${got.code} ${got.details}`);
    }
  });

  it("fail/unknown procedure over Connect JSON (curl --http2-prior-knowledge) -> 404 unimplemented", async function () {
    const { stdout } = await execFileP("curl", ["-s", "--http2-prior-knowledge", "-w", "\\n%{http_code}", "-H", "Content-Type: application/json", "-d", "{}", `http://${address}/nope.v1.NoService/Call`]);
    const [body, status] = stdout.split("\n");
    assert.equal(status, "404");
    assert.equal((JSON.parse(body!) as { code: string }).code, "unimplemented");
  });

  it("ok/Connect JSON with curl over h2c on the gRPC port, and a mapped error", async function () {
    const ok = await execFileP("curl", ["-s", "--http2-prior-knowledge", "-H", "Content-Type: application/json", "-d", '{"id":"org-9"}', `http://${address}/sigil.admin.v1.OrganizationService/GetOrganization`]);
    assert.deepEqual(JSON.parse(ok.stdout), { organization: { id: "org-9", name: "n" } });
    const bad = await execFileP("curl", ["-s", "--http2-prior-knowledge", "-H", "Content-Type: application/json", "-d", '{"id":"a\\u0000"}', `http://${address}/sigil.admin.v1.OrganizationService/GetOrganization`]);
    const err = JSON.parse(bad.stdout) as { code: string; message: string; details: Array<{ type: string }> };
    assert.equal(err.code, "invalid_argument");
    assert.equal(err.message, "id: must not contain the NUL character (U+0000)");
    assert.ok(err.details.some((d) => d.type === "google.rpc.BadRequest"));
  });

  it("requests up to 4 MiB pass, larger ones answer RESOURCE_EXHAUSTED", async function () {
    const orgs = makeClient(OrganizationService, address, grpc.credentials.createInsecure());
    try {
      const res = await orgs.createOrganization({ name: "big", description: "x".repeat(4 * 1024 * 1024 - 64) });
      assert.equal(res.organization?.description, String(4 * 1024 * 1024 - 64));
      await assert.rejects(orgs.createOrganization({ name: "big", description: "x".repeat(4 * 1024 * 1024 + 1) }), (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.RESOURCE_EXHAUSTED, `${e.code} ${e.details}`);
        return true;
      });
    } finally {
      orgs.close();
    }
  });

  it("fail/deadline (grpc-timeout) -> DEADLINE_EXCEEDED, and the handler's signal is aborted", async function () {
    const orgs = makeClient(OrganizationService, address, grpc.credentials.createInsecure());
    const before = probe.slowAborted;
    const started = Date.now();
    try {
      await assert.rejects(orgs.getOrganization({ id: "slow" }, { timeoutMs: 300 }), { code: grpc.status.DEADLINE_EXCEEDED });
      assert.ok(Date.now() - started < 3000);
      await eventually(() => probe.slowAborted === before + 1);
    } finally {
      orgs.close();
    }
  });

  it("answers grpc-js keepalive pings: calls keep working on one connection", async function () {
    const orgs = makeClient(OrganizationService, address, grpc.credentials.createInsecure(), {
      "grpc.keepalive_time_ms": 300,
      "grpc.keepalive_timeout_ms": 1000,
      "grpc.keepalive_permit_without_calls": 1,
    });
    try {
      assert.equal((await orgs.getOrganization({ id: "k1" })).organization?.id, "k1");
      await new Promise((r) => setTimeout(r, 2000)); // several pings, no call
      assert.equal((await orgs.getOrganization({ id: "k2" })).organization?.id, "k2");
    } finally {
      orgs.close();
    }
  });

  it("carries 200 concurrent Watch streams and unary calls on one connection; cancelling ends every handler", async function () {
    const audit = makeClient(AuditService, address, grpc.credentials.createInsecure());
    const orgs = makeClient(OrganizationService, address, grpc.credentials.createInsecure());
    const ac = new AbortController();
    setMaxListeners(300, ac.signal); // one listener per call of this test
    const ended = probe.watchesEnded;
    try {
      const firsts = Array.from({ length: 200 }, (_, i) =>
        (async () => {
          for await (const res of audit.watchAuditEvents({ action: `a${i}` }, { signal: ac.signal })) return res.event?.action;
          return undefined;
        })(),
      );
      const got = await Promise.all(firsts); // each loop's return cancels its call
      assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => `a${i}`));
      const streams = Array.from({ length: 50 }, () =>
        (async () => {
          try {
            for await (const _ of audit.watchAuditEvents({ action: "held" }, { signal: ac.signal })) void _;
          } catch {
            // cancelled below
          }
        })(),
      );
      await eventually(() => probe.watching >= 50);
      const unary = await Promise.all(Array.from({ length: 20 }, (_, i) => orgs.getOrganization({ id: `u${i}` })));
      assert.equal(unary.length, 20);
      ac.abort();
      await Promise.all(streams);
      await eventually(() => probe.watching === 0 && probe.watchesEnded === ended + 250);
    } finally {
      audit.close();
      orgs.close();
    }
  });

  describe("server reflection", function () {
    for (const [name, service] of [
      ["v1", ReflectionV1],
      ["v1alpha", ReflectionV1alpha],
    ] as const) {
      it(`${name}: lists services, answers file-containing-symbol with dependencies once per stream, NOT_FOUND for unknown names`, async function () {
        const transport = createGrpcTransport({ baseUrl: `http://${address}` });
        const client = createClient(service as typeof ReflectionV1, transport);
        const requests: Array<MessageInitShape<typeof ReflectionV1.method.serverReflectionInfo.input>> = [
          { host: "h", messageRequest: { case: "listServices", value: "" } },
          { messageRequest: { case: "fileContainingSymbol", value: "sigil.admin.v1.OrganizationService.GetOrganization" } },
          { messageRequest: { case: "fileContainingSymbol", value: "sigil.admin.v1.AuditService" } },
          { messageRequest: { case: "fileByFilename", value: "grpc/health/v1/health.proto" } },
          { messageRequest: { case: "fileContainingSymbol", value: "grpc.health.v1.HealthCheckResponse.SERVING" } },
          { messageRequest: { case: "fileContainingSymbol", value: "no.such.Symbol" } },
          { messageRequest: { case: "fileByFilename", value: "no/such.proto" } },
          { messageRequest: { case: "allExtensionNumbersOfType", value: "sigil.admin.v1.Organization" } },
        ];
        async function* send() {
          for (const r of requests) yield r;
        }
        const answers: ServerReflectionResponse[] = [];
        for await (const res of client.serverReflectionInfo(send())) answers.push(res);
        assert.equal(answers.length, requests.length);
        const [list, org, audit, byName, enumValue, noSymbol, noFile, extensions] = answers;
        assert.equal(list!.validHost, "h");
        assert.equal(list!.originalRequest?.messageRequest.case, "listServices");
        assert.equal(list!.messageResponse.case, "listServicesResponse");
        const names = list!.messageResponse.case === "listServicesResponse" ? list!.messageResponse.value.service.map((s) => s.name) : [];
        for (const n of ["sigil.admin.v1.OrganizationService", "sigil.admin.v1.AuditService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]) {
          assert.ok(names.includes(n), `${n} listed: ${names.join(", ")}`);
        }
        const files = (a: (typeof answers)[number] | undefined) =>
          a?.messageResponse.case === "fileDescriptorResponse" ? a.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name) : [];
        const orgFiles = files(org);
        assert.equal(orgFiles[0], "sigil/admin/v1/organization.proto");
        assert.ok(orgFiles.includes("google/protobuf/timestamp.proto"), orgFiles.join(", "));
        const auditFiles = files(audit);
        assert.equal(auditFiles[0], "sigil/admin/v1/audit.proto");
        assert.ok(!auditFiles.includes("google/protobuf/timestamp.proto"), "a dependency already sent on this stream is not sent again");
        assert.deepEqual(files(byName), ["grpc/health/v1/health.proto"]);
        assert.deepEqual(files(enumValue), ["grpc/health/v1/health.proto"], "the requested file is always sent");
        for (const a of [noSymbol, noFile]) {
          assert.equal(a!.messageResponse.case, "errorResponse");
          assert.equal(a!.messageResponse.case === "errorResponse" && a!.messageResponse.value.errorCode, grpc.status.NOT_FOUND);
        }
        assert.equal(extensions!.messageResponse.case, "allExtensionNumbersResponse");
      });
    }

    it("v1alpha with a grpc-js client (what older grpcurl and Postman use)", async function () {
      const client = new grpc.Client(address, grpc.credentials.createInsecure());
      const method = ReflectionV1alpha.method.serverReflectionInfo;
      const { toBinary } = await import("@bufbuild/protobuf");
      const call = client.makeBidiStreamRequest(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        (m: object) => Buffer.from(toBinary(method.input, create(method.input, m))),
        (b: Buffer) => fromBinary(method.output, b),
      );
      try {
        const first = new Promise<ReturnType<typeof fromBinary<typeof method.output>>>((resolve, reject) => {
          call.once("data", resolve);
          call.once("error", reject);
        });
        call.write({ messageRequest: { case: "listServices", value: "" } });
        const res = await first;
        assert.equal(res.messageResponse.case, "listServicesResponse");
      } finally {
        call.end();
        client.close();
      }
    });
  });

  it("Connect over HTTP/2 (connect-node client) on the gRPC port", async function () {
    const orgs = createClient(OrganizationService, createConnectTransport({ baseUrl: `http://${address}`, httpVersion: "2" }));
    assert.equal((await orgs.getOrganization({ id: "c1" })).organization?.id, "c1");
  });
});

describe("admin gRPC port graceful shutdown", function () {
  this.timeout(30_000);

  it("lets running calls finish, refuses new connections, and closes held streams after the grace", async function () {
    const probe: Probe = { slowAborted: 0, watching: 0, watchesEnded: 0 };
    const server = build(probe);
    const address = `127.0.0.1:${await listenAdmin(server, "127.0.0.1", 0)}`;
    const orgs = makeClient(OrganizationService, address, grpc.credentials.createInsecure());
    const audit = makeClient(AuditService, address, grpc.credentials.createInsecure());
    try {
      await orgs.getOrganization({ id: "warm" });
      const held = (async () => {
        try {
          for await (const _ of audit.watchAuditEvents({ action: "held" })) void _;
          return "ended";
        } catch (e) {
          return (e as grpc.ServiceError).code;
        }
      })();
      await eventually(() => probe.watching === 1);
      const running = orgs.getOrganization({ id: "wait-300" });
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      const stopped = shutdownAdmin(server, 1500);
      assert.equal((await running).organization?.id, "wait-300", "the running call finished");
      await stopped;
      const took = Date.now() - started;
      assert.ok(took >= 1000 && took < 5000, `shutdown took ${took} ms (the held stream kept it open until the grace)`);
      assert.notEqual(await held, "ended");
      await eventually(() => probe.watching === 0);
      const fresh = makeClient(OrganizationService, address, grpc.credentials.createInsecure());
      try {
        await assert.rejects(fresh.getOrganization({ id: "late" }, { timeoutMs: 2000 }), (e: grpc.ServiceError) => [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(e.code));
      } finally {
        fresh.close();
      }
    } finally {
      orgs.close();
      audit.close();
      await shutdownAdmin(server, 100);
    }
  });

  it("resolves at once when no call is running", async function () {
    const server = build({ slowAborted: 0, watching: 0, watchesEnded: 0 });
    const address = `127.0.0.1:${await listenAdmin(server, "127.0.0.1", 0)}`;
    const orgs = makeClient(OrganizationService, address, grpc.credentials.createInsecure());
    await orgs.getOrganization({ id: "x" });
    const started = Date.now();
    await shutdownAdmin(server, 5000);
    orgs.close();
    assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
  });
});

describe("admin gRPC port stream limits (review R3: unauthenticated streams holding memory)", function () {
  this.timeout(30_000);
  const probe: Probe = { slowAborted: 0, watching: 0, watchesEnded: 0 };
  let server: AdminServer;
  let address: string;

  before(async function () {
    server = build(probe, { requestBodyTimeoutMs: 400, reflectionIdleTimeoutMs: 600 });
    address = `127.0.0.1:${await listenAdmin(server, "127.0.0.1", 0)}`;
  });
  after(async () => shutdownAdmin(server, 1000));

  /** Opens a raw gRPC stream on `path`, writes `body` without ending it; resolves with the RST_STREAM code and when it came. */
  function heldStream(path: string, body: Buffer): Promise<{ rstCode: number | undefined; ms: number; status: unknown }> {
    const session = http2.connect(`http://${address}`);
    session.on("error", () => undefined);
    const started = Date.now();
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    let status: unknown;
    stream.on("response", (h) => (status = h[":status"]));
    stream.on("error", () => undefined);
    stream.on("data", () => undefined);
    if (body.length) stream.write(body);
    return new Promise((resolve) => {
      stream.once("close", () => {
        resolve({ rstCode: stream.rstCode, ms: Date.now() - started, status });
        session.close();
      });
    });
  }

  for (const [path, announced, sent] of [
    ["/grpc.health.v1.Health/Check", 1000, 100],
    // the admin services take 4 MiB messages (authentication runs once the message is read)
    ["/sigil.admin.v1.OrganizationService/CreateOrganization", 4 * 1024 * 1024 - 100, 1024 * 1024],
  ] as const) {
    it(`a stream that never ends its request body (${path}, ${sent} of ${announced} bytes sent) is reset with CANCEL within the bound`, async function () {
      const header = Buffer.alloc(5);
      header.writeUInt32BE(announced, 1);
      const got = await heldStream(path, Buffer.concat([header, Buffer.alloc(sent, 0x41)]));
      assert.equal(got.rstCode, http2.constants.NGHTTP2_CANCEL);
      assert.ok(got.ms >= 350 && got.ms < 3000, `reset after ${got.ms} ms`);
      assert.equal(got.status, undefined, "no response before the reset");
    });
  }

  it("a reflection stream left idle with its request open is reset after the idle bound", async function () {
    const got = await heldStream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", Buffer.alloc(0));
    assert.equal(got.rstCode, http2.constants.NGHTTP2_CANCEL);
    assert.ok(got.ms >= 550 && got.ms < 3000, `reset after ${got.ms} ms`);
  });

  it("a Watch whose request has ended keeps streaming past the bound, and calls still work", async function () {
    const audit = makeClient(AuditService, address, grpc.credentials.createInsecure());
    const orgs = makeClient(OrganizationService, address, grpc.credentials.createInsecure());
    const ac = new AbortController();
    const ended = probe.watchesEnded;
    try {
      let first: string | undefined;
      const held = (async () => {
        try {
          for await (const res of audit.watchAuditEvents({ action: "long" }, { signal: ac.signal })) first ??= res.event?.action;
        } catch {
          // cancelled below
        }
      })();
      await eventually(() => first === "long");
      await new Promise((r) => setTimeout(r, 1200)); // three request-body bounds
      assert.equal(probe.watching, 1);
      assert.equal(probe.watchesEnded, ended);
      // a unary call whose body ends at once is not cut either
      assert.equal((await orgs.getOrganization({ id: "wait-700" })).organization?.id, "wait-700");
      ac.abort();
      await held;
      await eventually(() => probe.watching === 0);
    } finally {
      audit.close();
      orgs.close();
    }
  });

  it("health and reflection refuse a request message over 64 KiB with RESOURCE_EXHAUSTED; admin services still take 4 MiB", async function () {
    const client = new grpc.Client(address, grpc.credentials.createInsecure());
    try {
      const big = Buffer.alloc(64 * 1024 + 1, 0x41);
      const err = await new Promise<grpc.ServiceError | undefined>((resolve) => {
        client.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, big, new grpc.Metadata(), {}, (e) => resolve(e ?? undefined));
      });
      assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED, `${err?.code} ${err?.details}`);
      // a normal health check still answers
      const ok = await new Promise<grpc.ServiceError | Buffer | undefined>((resolve) => {
        client.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), new grpc.Metadata(), {}, (e, r) => resolve(e ?? r));
      });
      assert.ok(Buffer.isBuffer(ok), String(ok));
      const refl = await new Promise<grpc.ServiceError | undefined>((resolve) => {
        const call = client.makeBidiStreamRequest("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", (b: Buffer) => b, (b: Buffer) => b, new grpc.Metadata());
        call.on("data", () => undefined);
        call.on("error", (e: grpc.ServiceError) => resolve(e));
        call.on("end", () => resolve(undefined));
        call.write(big);
        call.end();
      });
      assert.equal(refl?.code, grpc.status.RESOURCE_EXHAUSTED, `${refl?.code} ${refl?.details}`);
    } finally {
      client.close();
    }
    const orgs = makeClient(OrganizationService, address, grpc.credentials.createInsecure());
    try {
      const res = await orgs.createOrganization({ name: "big", description: "x".repeat(1024 * 1024) });
      assert.equal(res.organization?.description, String(1024 * 1024));
    } finally {
      orgs.close();
    }
  });
});
