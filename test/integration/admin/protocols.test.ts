/**
 * One admin API, three protocols, two listeners (issue 12 item 1): the same
 * table of calls runs over gRPC (grpc-js, and connect-node's gRPC client),
 * Connect (JSON and binary) and gRPC-Web over HTTP/2 on the gRPC port, and
 * over Connect and gRPC-Web on the HTTPS listener (HTTP/1.1), against one
 * real server on PostgreSQL, and every row must give the same result or the
 * same error (code, message and google.rpc details). Plus the documented
 * curl commands on both listeners, the CSRF rule (non-JSON content types
 * refused) and "never on the plain HTTP listener".
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { toJson, type DescMessage, type DescService, type Message } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { makeClient } from "../../../src/admin/grpc-adapter.js";
import { decodeStatusDetails, errorDetailRegistry, sortDetails, STATUS_DETAILS_TRAILER, type DecodedDetails } from "../../../src/admin/error-details.js";
import { AuditService } from "../../../src/gen/sigil/admin/v1/audit_pb.js";
import { AuthService } from "../../../src/gen/sigil/admin/v1/auth_pb.js";
import { CertificateAuthorityService } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { OrganizationService } from "../../../src/gen/sigil/admin/v1/organization_pb.js";
import { CertificateService, CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { IssuancePolicyService, IssuancePolicySubjectType } from "../../../src/gen/sigil/admin/v1/issuance_policy_pb.js";
import { Role, UserService } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { unique } from "./helpers.js";

const execFileP = promisify(execFile);

/** What a failed call looks like, whatever the protocol. */
interface Failure {
  code: string;
  message: string;
  reason?: string;
  domain?: string;
  fields: string[][];
  preconditions: string[][];
  retryMs?: number;
}

function normalize(d: DecodedDetails | undefined): Omit<Failure, "code" | "message"> {
  return {
    reason: d?.errorInfo?.reason,
    domain: d?.errorInfo?.domain,
    fields: (d?.badRequest?.fieldViolations ?? []).map((v) => [v.field, v.description]),
    preconditions: (d?.preconditionFailure?.violations ?? []).map((v) => [v.type, v.subject, v.description]),
    retryMs: d?.retryInfo?.retryDelay ? durationMs(d.retryInfo.retryDelay) : undefined,
  };
}

type Outcome = { ok: unknown } | { error: Failure };

interface Protocol {
  name: string;
  unary(service: DescService, method: string, req: object, token?: string): Promise<Outcome>;
  stream(service: DescService, method: string, req: object, token: string, signal: AbortSignal): AsyncIterable<Message>;
  close(): void;
}

function jsonOf(desc: DescMessage, m: Message): unknown {
  return toJson(desc, m as never, { registry: errorDetailRegistry });
}

function outputOf(service: DescService, method: string): DescMessage {
  const m = service.methods.find((x) => x.localName === method);
  if (!m) throw new Error(`no method ${method}`);
  return m.output;
}

function grpcProtocol(address: string): Protocol {
  const clients = new Map<DescService, Record<string, (...a: unknown[]) => unknown> & { close(): void }>();
  const client = (s: DescService) => {
    let c = clients.get(s);
    if (!c) {
      c = makeClient(s, address, grpc.credentials.createInsecure()) as never;
      clients.set(s, c!);
    }
    return c!;
  };
  const md = (token?: string) => ({ metadata: token ? { authorization: `Bearer ${token}` } : {} });
  return {
    name: "grpc",
    async unary(service, method, req, token) {
      try {
        const res = (await client(service)[method]!(req, md(token))) as Message;
        return { ok: jsonOf(outputOf(service, method), res) };
      } catch (e) {
        const err = e as grpc.ServiceError;
        assert.equal(typeof err.code, "number", String(e));
        const bin = err.metadata?.get(STATUS_DETAILS_TRAILER)[0];
        return { error: { code: grpc.status[err.code]!, message: err.details, ...normalize(decodeStatusDetails(bin as Buffer | undefined)) } };
      }
    },
    stream(service, method, req, token, signal) {
      return client(service)[method]!(req, { ...md(token), signal }) as AsyncIterable<Message>;
    },
    close() {
      for (const c of clients.values()) c.close();
    },
  };
}

function connectProtocol(name: string, transport: Transport): Protocol {
  const headers = (token?: string) => (token ? { authorization: `Bearer ${token}` } : {});
  return {
    name,
    async unary(service, method, req, token) {
      const c = createClient(service, transport) as unknown as Record<string, (r: object, o: object) => Promise<Message>>;
      try {
        const res = await c[method]!(req, { headers: headers(token) });
        return { ok: jsonOf(outputOf(service, method), res) };
      } catch (e) {
        const err = ConnectError.from(e);
        const details = sortDetails(err.findDetails(errorDetailRegistry));
        return { error: { code: grpc.status[err.code as number]!, message: err.rawMessage, ...normalize(details) } };
      }
    },
    stream(service, method, req, token, signal) {
      const c = createClient(service, transport) as unknown as Record<string, (r: object, o: object) => AsyncIterable<Message>>;
      return c[method]!(req, { headers: headers(token), signal });
    },
    close() {},
  };
}

describe("admin API over gRPC, Connect and gRPC-Web", function () {
  this.timeout(60_000);
  let server: TestServer;
  let protocols: Protocol[];
  let token: string;
  let httpsUrl: string;
  let grpcUrl: string;

  before(async function () {
    server = await startTestServer();
    httpsUrl = `https://127.0.0.1:${server.httpsPort}`;
    // the HTTPS listener's certificate is self-issued by the test server's own CA
    const nodeOptions = { rejectUnauthorized: false };
    grpcUrl = `http://127.0.0.1:${server.grpcPort}`;
    protocols = [
      grpcProtocol(`127.0.0.1:${server.grpcPort}`),
      // the gRPC port (h2c): every protocol on one HTTP/2 server
      connectProtocol("grpc (connect-node client, gRPC port)", createGrpcTransport({ baseUrl: grpcUrl })),
      connectProtocol("connect+json (gRPC port)", createConnectTransport({ baseUrl: grpcUrl, httpVersion: "2" })),
      connectProtocol("connect+proto (gRPC port)", createConnectTransport({ baseUrl: grpcUrl, httpVersion: "2", useBinaryFormat: true })),
      connectProtocol("grpc-web (gRPC port)", createGrpcWebTransport({ baseUrl: grpcUrl, httpVersion: "2", useBinaryFormat: true })),
      // the HTTPS listener (HTTP/1.1, in front of Koa and the console)
      connectProtocol("connect+json (HTTPS)", createConnectTransport({ baseUrl: httpsUrl, httpVersion: "1.1", nodeOptions })),
      connectProtocol("connect+proto (HTTPS)", createConnectTransport({ baseUrl: httpsUrl, httpVersion: "1.1", nodeOptions, useBinaryFormat: true })),
      connectProtocol("grpc-web (HTTPS)", createGrpcWebTransport({ baseUrl: httpsUrl, httpVersion: "1.1", nodeOptions, useBinaryFormat: true })),
    ];
    const login = await protocols[0]!.unary(AuthService, "login", { username: "admin", password: TEST_ADMIN_PASSWORD });
    assert.ok("ok" in login);
    token = (login.ok as { accessToken: string }).accessToken;
  });

  after(async function () {
    for (const p of protocols ?? []) p.close();
    await server?.stop();
  });

  /** Runs one call through every protocol and asserts they agree; returns the common outcome. */
  async function same(call: (p: Protocol) => Promise<Outcome>, normalizeOk: (ok: unknown) => unknown = (x) => x): Promise<Outcome> {
    const outcomes: Outcome[] = [];
    for (const p of protocols) outcomes.push(await call(p));
    const shown = outcomes.map((o) => ("ok" in o ? { ok: normalizeOk(o.ok) } : o));
    for (let i = 1; i < shown.length; i++) assert.deepEqual(shown[i], shown[0], `${protocols[i]!.name} differs from ${protocols[0]!.name}`);
    return shown[0]!;
  }

  const table: Array<{ name: string; run: (p: Protocol) => Promise<Outcome>; expect: (o: Outcome) => void; normalizeOk?: (ok: unknown) => unknown }> = [
    {
      name: "ok/login",
      run: (p) => p.unary(AuthService, "login", { username: "admin", password: TEST_ADMIN_PASSWORD }),
      // tokens differ per session: compare the user and that tokens came back
      normalizeOk: (ok) => {
        const o = ok as { accessToken: string; refreshToken: string; user: Record<string, unknown> };
        // each login moves last_login_at / updated_at
        const { lastLoginAt: _l, updatedAt: _u, ...user } = o.user;
        return { user, tokens: o.accessToken.length > 20 && o.refreshToken.length > 20 };
      },
      expect: (o) => assert.ok("ok" in o && (o.ok as { tokens: boolean }).tokens),
    },
    {
      name: "fail/login-wrong-password",
      // one unknown name per protocol: five failures for one name and address lock it out (src/ra/auth.ts rule 2)
      run: (p) => p.unary(AuthService, "login", { username: `nobody-${p.name.replace(/[^a-z]/g, "")}`, password: "wrong" }),
      expect: (o) => assert.deepEqual(o, { error: { code: "UNAUTHENTICATED", message: "invalid username or password", reason: "UNAUTHENTICATED", domain: "sigil.dev", fields: [], preconditions: [], retryMs: undefined } }),
    },
    {
      name: "fail/no-credential",
      run: (p) => p.unary(OrganizationService, "listOrganizations", {}),
      expect: (o) => assert.equal("error" in o && o.error.code, "UNAUTHENTICATED"),
    },
    {
      name: "fail/every-bad-field-in-bad-request",
      run: (p) => p.unary(OrganizationService, "createOrganization", { name: "a\u0000b", description: "c\u0000d" }, token),
      expect: (o) => {
        assert.ok("error" in o);
        assert.equal(o.error.code, "INVALID_ARGUMENT");
        assert.equal(o.error.reason, "INVALID_ARGUMENT");
        assert.deepEqual(o.error.fields, [
          ["name", "must not contain the NUL character (U+0000)"],
          ["description", "must not contain the NUL character (U+0000)"],
        ]);
        assert.equal(o.error.message, "name: must not contain the NUL character (U+0000) (and 1 more)");
      },
    },
    {
      name: "fail/not-found",
      run: (p) => p.unary(OrganizationService, "getOrganization", { id: "01900000-0000-7000-8000-000000000000" }, token),
      expect: (o) => assert.ok("error" in o && o.error.code === "NOT_FOUND" && o.error.reason === "NOT_FOUND"),
    },
    {
      name: "ok/list-certificate-authorities",
      run: (p) => p.unary(CertificateAuthorityService, "listCertificateAuthorities", {}, token),
      expect: (o) => assert.ok("ok" in o && ((o.ok as { certificateAuthorities: unknown[] }).certificateAuthorities.length >= 2)),
    },
  ];

  for (const row of table) {
    it(`${row.name}: the same outcome on every protocol`, async function () {
      row.expect(await same(row.run, row.normalizeOk));
    });
  }

  it("ok/create then fail/already-exists: the same per protocol, and an audit entry for each create", async function () {
    for (const p of protocols) {
      const name = unique(`proto-${p.name.replace(/[^a-z]/g, "")}`);
      const created = await p.unary(OrganizationService, "createOrganization", { name, description: "three protocols" }, token);
      assert.ok("ok" in created, JSON.stringify(created));
      assert.equal((created.ok as { organization: { name: string } }).organization.name, name);
      const again = await p.unary(OrganizationService, "createOrganization", { name }, token);
      assert.ok("error" in again, p.name);
      assert.equal(again.error.code, "ALREADY_EXISTS", p.name);
      assert.equal(again.error.reason, "ALREADY_EXISTS", p.name);
      const audit = await protocols[0]!.unary(AuditService, "listAuditEvents", { action: "org_create" }, token);
      assert.ok("ok" in audit);
      const events = (audit.ok as { events: Array<{ detail?: { name?: string } }> }).events;
      assert.ok(JSON.stringify(events).includes(name), `${p.name}: audit entry for ${name}`);
    }
  });

  it("fail/delete-ca-with-children: FAILED_PRECONDITION with every blocker in PreconditionFailure", async function () {
    const list = await protocols[0]!.unary(CertificateAuthorityService, "listCertificateAuthorities", {}, token);
    assert.ok("ok" in list);
    const root = (list.ok as { certificateAuthorities: Array<{ id: string; parentId?: string }> }).certificateAuthorities.find((c) => !c.parentId);
    assert.ok(root, "the bootstrap root CA");
    const o = await same((p) => p.unary(CertificateAuthorityService, "deleteCertificateAuthority", { id: root.id }, token));
    assert.ok("error" in o);
    assert.equal(o.error.code, "FAILED_PRECONDITION");
    assert.equal(o.error.reason, "CA_HAS_CHILDREN");
    assert.equal(o.error.preconditions[0]![0], "CA_HAS_CHILDREN");
    assert.equal(o.error.preconditions[0]![1], `certificate_authorities/${root.id}`);
    assert.equal(o.error.message, o.error.preconditions[0]![2]);
  });

  it("fail/issuance-policy-denied: PERMISSION_DENIED with every refused name in BadRequest, the same on every protocol", async function () {
    const g = protocols[0]!;
    const ok = async (o: Promise<Outcome>): Promise<any> => {
      const r = await o;
      assert.ok("ok" in r, JSON.stringify(r));
      return r.ok;
    };
    const orgId = (await ok(g.unary(OrganizationService, "createOrganization", { name: unique("proto-policy") }, token))).organization.id as string;
    const root = (await ok(g.unary(CertificateAuthorityService, "createRootCertificateAuthority", { organizationId: orgId, name: "root", subject: { commonName: "Protocols Policy Root" } }, token))).certificateAuthority;
    const ca = (await ok(g.unary(CertificateAuthorityService, "createIntermediateCertificateAuthority", { parentId: root.id, name: "issuing", subject: { commonName: "Protocols Policy Issuing" }, allowLeafCerts: true }, token))).certificateAuthority;
    const username = unique("proto-admin");
    await ok(g.unary(UserService, "createUser", { username, email: `${username}@example.com`, password: "correct horse battery", role: Role.ADMIN, organizationId: orgId }, token));
    const adminToken = (await ok(g.unary(AuthService, "login", { username, password: "correct horse battery" }))).accessToken as string;
    await ok(g.unary(IssuancePolicyService, "createIssuancePolicy", { subjectType: IssuancePolicySubjectType.ORGANIZATION, subjectId: orgId, rules: { dnsNames: ["*.example.com"] } }, adminToken));
    const o = await same((p) => p.unary(CertificateService, "issueCertificate", { caId: ca.id, type: CertificateType.SERVER, dnsNames: ["www.example.com", "evil.test"], ipAddresses: ["192.0.2.1"] }, adminToken));
    assert.ok("error" in o);
    assert.equal(o.error.code, "PERMISSION_DENIED");
    assert.equal(o.error.reason, "ISSUANCE_POLICY_DENIED");
    assert.deepEqual(o.error.fields.map((f) => f[0]), ["dns_names[1]", "ip_addresses[0]"]);
  });

  it("streams WatchAuditEvents over every protocol", async function () {
    for (const p of protocols) {
      const ac = new AbortController();
      const name = unique(`watch-${p.name.replace(/[^a-z]/g, "")}`);
      const seen = (async () => {
        try {
          for await (const msg of p.stream(AuditService, "watchAuditEvents", { action: "org_create" }, token, ac.signal)) {
            const text = JSON.stringify(toJson(outputOf(AuditService, "watchAuditEvents"), msg as never));
            if (text.includes(name)) return true;
          }
        } catch (e) {
          if (ac.signal.aborted) return false;
          throw e;
        }
        return false;
      })();
      // the watch is registered before the change is made
      await new Promise((r) => setTimeout(r, 300));
      const created = await protocols[0]!.unary(OrganizationService, "createOrganization", { name }, token);
      assert.ok("ok" in created);
      const timer = setTimeout(() => ac.abort(), 10_000);
      try {
        assert.equal(await seen, true, `${p.name}: the event arrived on the stream`);
      } finally {
        clearTimeout(timer);
        ac.abort();
      }
    }
  });

  for (const listener of ["HTTPS listener", "gRPC port (h2c)"] as const) {
    it(`answers the documented curl JSON login on the ${listener}`, async function () {
      const body = JSON.stringify({ username: "admin", password: TEST_ADMIN_PASSWORD });
      const target = listener === "HTTPS listener" ? ["-sk", `${httpsUrl}/sigil.admin.v1.AuthService/Login`] : ["-s", "--http2-prior-knowledge", `${grpcUrl}/sigil.admin.v1.AuthService/Login`];
      const { stdout } = await execFileP("curl", ["-H", "Content-Type: application/json", "-d", body, ...target]);
      const res = JSON.parse(stdout) as { accessToken?: string; refreshToken?: string; user?: { username?: string } };
      assert.ok(res.accessToken && res.refreshToken);
      assert.equal(res.user?.username, "admin");
      // the token works with grpc-js on the gRPC port: one auth implementation
      const orgs = await protocols[0]!.unary(OrganizationService, "listOrganizations", {}, res.accessToken);
      assert.ok("ok" in orgs);
    });
  }

  it("answers a curl JSON error with the Connect error and its details", async function () {
    const { stdout } = await execFileP("curl", ["-sk", "-H", "Content-Type: application/json", "-d", '{"name":"x\\u0000","description":"y\\u0000"}', "-H", `Authorization: Bearer ${token}`, `${httpsUrl}/sigil.admin.v1.OrganizationService/CreateOrganization`]);
    const res = JSON.parse(stdout) as { code: string; message: string; details: Array<{ type: string; debug?: { fieldViolations?: Array<{ field: string }> } }> };
    assert.equal(res.code, "invalid_argument");
    const br = res.details.find((d) => d.type === "google.rpc.BadRequest");
    assert.deepEqual(br?.debug?.fieldViolations?.map((v) => v.field), ["name", "description"]);
    assert.ok(res.details.some((d) => d.type === "google.rpc.ErrorInfo"));
  });

  it("refuses CORS-simple content types (text/plain, forms) with 415 and runs nothing", async function () {
    const before = await protocols[0]!.unary(AuditService, "listAuditEvents", { action: "login_failure" }, token);
    assert.ok("ok" in before);
    const count = (before.ok as { events?: unknown[] }).events?.length ?? 0;
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      // (the gRPC port runs the same handler; on HTTP/2 connect-node resets the stream right after a refusal, which curl may report before it reads the status)
      const { stdout } = await execFileP("curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H", `Content-Type: ${type}`, "-d", '{"username":"admin","password":"wrong"}', `${httpsUrl}/sigil.admin.v1.AuthService/Login`]);
      assert.equal(stdout, "415", type);
    }
    const after = await protocols[0]!.unary(AuditService, "listAuditEvents", { action: "login_failure" }, token);
    assert.ok("ok" in after);
    assert.equal((after.ok as { events?: unknown[] }).events?.length ?? 0, count, "no login attempt was made");
  });

  it("is never served on the plain HTTP listener", async function () {
    const { stdout } = await execFileP("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json", "-d", '{"username":"admin","password":"x"}', `http://127.0.0.1:${server.httpPort}/sigil.admin.v1.AuthService/Login`]);
    assert.equal(stdout, "404");
  });
});
