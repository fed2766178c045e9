/**
 * The permission matrix (issue 4): every RPC of every sigil.admin.v1 service
 * x {superuser, org admin, user with the flag, user without it, admin of
 * another organization, service account with and without the flag,
 * unauthenticated}, through a real gRPC client against the running server
 * on PostgreSQL. Generated from one table (rows-core.ts + rows-pki.ts); a
 * method without a row fails the "covers every RPC" test.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { makeClient, type ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { CAPABILITIES, type Capability } from "../../../src/core/types.js";
import { AcmeService } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { AuditService } from "../../../src/gen/sigil/admin/v1/audit_pb.js";
import { AuthService } from "../../../src/gen/sigil/admin/v1/auth_pb.js";
import { CertificateAuthorityService } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateService } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { OrganizationService } from "../../../src/gen/sigil/admin/v1/organization_pb.js";
import { RenewalService } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import { IdentityProviderService } from "../../../src/gen/sigil/admin/v1/identity_provider_pb.js";
import { IssuancePolicyService } from "../../../src/gen/sigil/admin/v1/issuance_policy_pb.js";
import { KeyManagementService } from "../../../src/gen/sigil/admin/v1/key_management_pb.js";
import { ServiceAccountService } from "../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { Role, UserService } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { bearer, unique } from "./helpers.js";
import { coreRows, MATRIX_PASSWORD } from "./matrix/rows-core.js";
import { pkiRows } from "./matrix/rows-pki.js";
import { profileRows } from "./matrix/rows-profiles.js";
import { renewalRows } from "./matrix/rows-renewal.js";
import { offlineRootRows } from "./matrix/rows-offline-root.js";
import { issuancePolicyRows } from "./matrix/rows-issuance-policies.js";
import { rateLimitRows } from "./matrix/rows-rate-limits.js";
import { keyManagementRows } from "./matrix/rows-key-management.js";
import { serviceAuthRows } from "./matrix/rows-service-auth.js";
import { ssoRows } from "./matrix/rows-sso.js";
import { DERIVED_PRINCIPALS, DerivedCredentials, derivedExpectation } from "./matrix/derived-principals.js";
import { PRINCIPALS, type MatrixFixture, type MatrixRow, type Outcome, type PrincipalIds, type PrincipalName } from "./matrix/types.js";

/** Every service of the admin API. A new service must be added here (and get rows). */
const ALL_SERVICES: DescService[] = [
  KeyManagementService,
  AuthService,
  OrganizationService,
  UserService,
  CertificateAuthorityService,
  CertificateService,
  AcmeService,
  AuditService,
  ServiceAccountService,
  RenewalService,
  IssuancePolicyService,
  IdentityProviderService,
];

const ROWS: MatrixRow[] = [...keyManagementRows, ...coreRows, ...pkiRows, ...profileRows, ...renewalRows, ...issuancePolicyRows, ...rateLimitRows, ...serviceAuthRows, ...offlineRootRows, ...ssoRows];

/** How long a server stream may stay silent and still count as accepted. */
const STREAM_QUIET_MS = 400;

type FlagSet = "all" | "none" | { only: Capability } | { allBut: Capability };

function flagFields(set: FlagSet): Record<string, boolean> {
  const has = (c: Capability): boolean =>
    set === "all" ? true : set === "none" ? false : "only" in set ? set.only === c : set.allBut !== c;
  return {
    createCa: has("create_ca"),
    createCert: has("create_cert"),
    revokeCert: has("revoke_cert"),
    exportPrivateKey: has("export_private_key"),
    deleteCa: has("delete_ca"),
  };
}

function flagSetFor(principal: "with" | "without", flag: Capability | undefined): FlagSet {
  if (flag === undefined) return principal === "with" ? "all" : "none";
  return principal === "with" ? { only: flag } : { allBut: flag };
}

function setKey(set: FlagSet): string {
  return typeof set === "string" ? set : "only" in set ? `only:${set.only}` : `allBut:${set.allBut}`;
}

function findMethod(service: DescService, name: string): DescMethod {
  const m = service.methods.find((x) => x.name === name || x.localName === name);
  if (!m) throw new Error(`${service.typeName} has no method ${name}`);
  return m;
}

class Fixture implements MatrixFixture {
  address: string;
  baseUrl: string;
  orgId = "";
  otherOrgId = "";
  readonly #clients = new Map<string, Record<string, (req: object, opts?: ClientCallOptions) => unknown> & { close(): void }>();
  readonly #shared = new Map<string, Promise<unknown>>();
  readonly #users = new Map<string, PrincipalIds & { username: string }>();
  readonly #serviceAccounts = new Map<string, string>();
  readonly #credentials = new Map<string, Promise<string>>();
  #superuserToken: Promise<string> | undefined;
  superuserIds: PrincipalIds = {};
  orgAdmin: PrincipalIds & { username: string } = { username: "" };
  otherOrgAdmin: PrincipalIds & { username: string } = { username: "" };

  constructor(readonly server: TestServer) {
    this.address = `127.0.0.1:${server.grpcPort}`;
    this.baseUrl = server.baseUrl;
  }

  client(service: DescService): Record<string, (req: object, opts?: ClientCallOptions) => unknown> & { close(): void } {
    let c = this.#clients.get(service.typeName);
    if (!c) {
      c = makeClient(service, this.address, grpc.credentials.createInsecure()) as never;
      this.#clients.set(service.typeName, c!);
    }
    return c!;
  }

  close(): void {
    for (const c of this.#clients.values()) c.close();
  }

  async superuserOptions(): Promise<ClientCallOptions> {
    this.#superuserToken ??= this.login("admin", TEST_ADMIN_PASSWORD).then((r) => r.accessToken);
    return bearer(await this.#superuserToken);
  }

  async superuser(service: DescService, method: string, request: object): Promise<any> {
    const m = findMethod(service, method);
    try {
      return await this.client(service)[m.localName]!(request, await this.superuserOptions());
    } catch (e) {
      // a row may have ended the superuser's sessions (InvalidateAllSessions on itself): log in again once
      if ((e as { code?: number }).code !== grpc.status.UNAUTHENTICATED) throw e;
      this.#superuserToken = undefined;
      return this.client(service)[m.localName]!(request, await this.superuserOptions());
    }
  }

  async callAs(principal: PrincipalName, service: DescService, method: string, request: object): Promise<any> {
    const m = findMethod(service, method);
    const token = await this.credential(principal, undefined);
    return this.client(service)[m.localName]!(request, token === undefined ? {} : bearer(token));
  }

  async login(username: string, password: string): Promise<{ accessToken: string; refreshToken: string }> {
    const r = (await this.client(AuthService).login!({ username, password })) as { accessToken: string; refreshToken: string };
    return { accessToken: r.accessToken, refreshToken: r.refreshToken };
  }

  unique(prefix: string): string {
    return unique(prefix);
  }

  shared<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.#shared.get(key);
    if (!p) {
      p = make();
      this.#shared.set(key, p);
    }
    return p as Promise<T>;
  }

  async #user(set: FlagSet): Promise<PrincipalIds & { username: string }> {
    const key = setKey(set);
    let u = this.#users.get(key);
    if (!u) {
      const username = unique(`u-${key.replace(/[^a-z]/gi, "")}`.toLowerCase());
      const { user } = await this.superuser(UserService, "createUser", {
        username,
        email: `${username}@example.com`,
        password: MATRIX_PASSWORD,
        role: Role.USER,
        organizationId: this.orgId,
        ...flagFields(set),
      });
      u = { userId: user.id, username };
      this.#users.set(key, u);
    }
    return u;
  }

  async #serviceAccount(set: FlagSet): Promise<string> {
    const key = setKey(set);
    let id = this.#serviceAccounts.get(key);
    if (!id) {
      const { serviceAccount } = await this.superuser(ServiceAccountService, "createServiceAccount", {
        organizationId: this.orgId,
        name: unique(`sa-${key.replace(/[^a-z]/gi, "")}`.toLowerCase()),
        ...flagFields(set),
      });
      id = serviceAccount.id as string;
      this.#serviceAccounts.set(key, id);
    }
    return id;
  }

  /** Creates every principal's user / service account (for every flag), so `ids` is synchronous. */
  async prepare(): Promise<void> {
    const su = (await this.superuser(AuthService, "whoAmI", {})) as { principal: { value: { id: string } } };
    this.superuserIds = { userId: su.principal.value.id, username: "admin" };
    this.orgId = (await this.superuser(OrganizationService, "createOrganization", { name: unique("matrix-org") })).organization.id;
    this.otherOrgId = (await this.superuser(OrganizationService, "createOrganization", { name: unique("matrix-other") })).organization.id;
    const admin = async (orgId: string) => {
      const username = unique("admin");
      const { user } = await this.superuser(UserService, "createUser", {
        username,
        email: `${username}@example.com`,
        password: MATRIX_PASSWORD,
        role: Role.ADMIN,
        organizationId: orgId,
      });
      return { userId: user.id as string, username };
    };
    this.orgAdmin = await admin(this.orgId);
    this.otherOrgAdmin = await admin(this.otherOrgId);
    const sets: FlagSet[] = ["all", "none", ...CAPABILITIES.flatMap((c) => [{ only: c }, { allBut: c }] as FlagSet[])];
    for (const s of sets) {
      await this.#user(s);
      await this.#serviceAccount(s);
    }
  }

  ids(principal: PrincipalName, flag: Capability | undefined): PrincipalIds {
    switch (principal) {
      case "superuser":
        return this.superuserIds;
      case "orgAdmin":
        return this.orgAdmin;
      case "otherOrgAdmin":
        return this.otherOrgAdmin;
      case "userWithFlag":
      case "userWithoutFlag": {
        const u = this.#users.get(setKey(flagSetFor(principal === "userWithFlag" ? "with" : "without", flag)));
        assert.ok(u, "prepare() created every user");
        return u;
      }
      case "saWithFlag":
      case "saWithoutFlag": {
        const id = this.#serviceAccounts.get(setKey(flagSetFor(principal === "saWithFlag" ? "with" : "without", flag)));
        assert.ok(id, "prepare() created every service account");
        return { serviceAccountId: id };
      }
      case "unauthenticated":
        return {};
    }
  }

  async freshCredential(principal: PrincipalName, flag: Capability | undefined): Promise<string | undefined> {
    if (principal === "unauthenticated") return undefined;
    const ids = this.ids(principal, flag);
    if (ids.serviceAccountId) {
      const { key } = await this.superuser(ServiceAccountService, "createApiKey", { serviceAccountId: ids.serviceAccountId, name: unique("key") });
      return key as string;
    }
    const password = principal === "superuser" ? TEST_ADMIN_PASSWORD : MATRIX_PASSWORD;
    return (await this.login(ids.username!, password)).accessToken;
  }

  /** The principal's standing credential (cached). */
  credential(principal: PrincipalName, flag: Capability | undefined): Promise<string | undefined> {
    if (principal === "unauthenticated") return Promise.resolve(undefined);
    const key = `${principal}:${principal === "superuser" || principal.endsWith("Admin") ? "" : (flag ?? "")}`;
    let p = this.#credentials.get(key);
    if (!p) {
      p = this.freshCredential(principal, flag) as Promise<string>;
      this.#credentials.set(key, p);
    }
    return p;
  }

  /** Forget standing credentials (after a row that may have ended sessions). */
  resetCredentials(): void {
    this.#credentials.clear();
    this.#superuserToken = undefined;
  }
}

function codeName(e: unknown): Outcome | string {
  const code = (e as { code?: number }).code;
  if (typeof code !== "number") throw e;
  return grpc.status[code] ?? String(code);
}

async function runStreaming(iterable: AsyncIterable<unknown>, controller: AbortController): Promise<{ outcome: string; response?: unknown }> {
  const it = iterable[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  const quiet = new Promise<"quiet">((resolve) => {
    timer = setTimeout(() => resolve("quiet"), STREAM_QUIET_MS);
  });
  try {
    const first = await Promise.race([it.next(), quiet]);
    if (first === "quiet") return { outcome: "ok" };
    return { outcome: "ok", response: first.value };
  } catch (e) {
    return { outcome: codeName(e) };
  } finally {
    clearTimeout(timer);
    // cancel the call (a pending next() would hold back it.return())
    controller.abort();
    void it.return?.(undefined)?.catch(() => undefined);
  }
}

async function runCell(fx: Fixture, row: MatrixRow, principal: PrincipalName, derivedToken?: string): Promise<{ outcome: string; detail?: string }> {
  const method = findMethod(row.service, row.method);
  const request = await row.request(fx, principal);
  // a derived principal (matrix/derived-principals.ts) acts as `principal` with its own credential
  const token = derivedToken ?? (row.credential ? await row.credential(fx, principal) : await fx.credential(principal, row.flag));
  const options: ClientCallOptions = token === undefined ? { timeoutMs: 30_000 } : { ...bearer(token), timeoutMs: 30_000 };
  const call = fx.client(row.service)[method.localName]!;
  let outcome: string;
  let response: unknown;
  let detail: string | undefined;
  if (method.methodKind === "server_streaming") {
    const controller = new AbortController();
    ({ outcome, response } = await runStreaming(
      call(request, { ...options, timeoutMs: undefined, signal: controller.signal }) as AsyncIterable<unknown>,
      controller,
    ));
  } else {
    try {
      response = await call(request, options);
      outcome = "ok";
    } catch (e) {
      outcome = codeName(e);
      detail = (e as { details?: string }).details;
    }
  }
  if (outcome === "ok" && row.check && response !== undefined) await row.check(response, fx, principal);
  return { outcome, detail };
}

function rowName(row: MatrixRow): string {
  return `${row.service.name}.${row.method}${row.variant ? ` (${row.variant})` : ""}${row.flag ? ` [flag ${row.flag}]` : ""}`;
}

describe("admin permission matrix", function () {
  this.timeout(600_000);
  let server: TestServer;
  let fx: Fixture;
  let derived: DerivedCredentials;

  before(async () => {
    server = await startTestServer();
    fx = new Fixture(server);
    await fx.prepare();
    derived = new DerivedCredentials(fx, server.config.jwtAudience);
  });

  after(async () => {
    fx?.close();
    await server?.stop();
  });

  it("covers every RPC of every sigil.admin.v1 service with a row", () => {
    const missing: string[] = [];
    for (const service of ALL_SERVICES) {
      for (const m of service.methods) {
        if (!ROWS.some((r) => r.service.typeName === service.typeName && r.method === m.name)) missing.push(`${service.name}.${m.name}`);
      }
    }
    assert.deepEqual(missing, [], `methods without a permission-matrix row: ${missing.join(", ")}`);
    for (const r of ROWS) {
      assert.ok(ALL_SERVICES.some((s) => s.typeName === r.service.typeName), `${rowName(r)}: unknown service`);
      findMethod(r.service, r.method);
      assert.deepEqual(Object.keys(r.expect).sort(), [...PRINCIPALS].sort(), `${rowName(r)}: one expectation per principal`);
    }
  });

  for (const row of ROWS) {
    it(rowName(row), async () => {
      const mismatches: string[] = [];
      for (const principal of PRINCIPALS) {
        const want = row.expect[principal];
        let got: { outcome: string; detail?: string };
        try {
          got = await runCell(fx, row, principal);
        } catch (e) {
          got = { outcome: "threw", detail: (e as Error).message };
        }
        if (got.outcome !== want) mismatches.push(`${principal}: expected ${want}, got ${got.outcome}${got.detail ? ` (${got.detail})` : ""}`);
      }
      // issue 13: the saWithFlag service account through a JWT, an exchanged token and scoped credentials
      for (const principal of DERIVED_PRINCIPALS) {
        const want = derivedExpectation(row, principal);
        let got: { outcome: string; detail?: string };
        try {
          got = await runCell(fx, row, "saWithFlag", await derived.credential(row, principal));
        } catch (e) {
          got = { outcome: "threw", detail: (e as Error).message };
        }
        if (got.outcome !== want) mismatches.push(`${principal}: expected ${want}, got ${got.outcome}${got.detail ? ` (${got.detail})` : ""}`);
      }
      if (row.credential) fx.resetCredentials();
      assert.deepEqual(mismatches, [], `${rowName(row)}:\n  ${mismatches.join("\n  ")}`);
    });
  }
});
