/**
 * Shared helpers of the admin-plane integration tests: typed clients on the
 * test server's gRPC port, bearer metadata, and status assertions.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { makeClient, type Client, type ClientCallOptions } from "../../../src/admin/grpc-adapter.js";
import { AuditService } from "../../../src/gen/sigil/admin/v1/audit_pb.js";
import { AuthService } from "../../../src/gen/sigil/admin/v1/auth_pb.js";
import { OrganizationService } from "../../../src/gen/sigil/admin/v1/organization_pb.js";
import { ServiceAccountService } from "../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { Role, UserService } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";

export { TEST_ADMIN_PASSWORD };

/** Call options carrying "authorization: Bearer <token>". */
export function bearer(token: string): ClientCallOptions {
  return { metadata: { authorization: `Bearer ${token}` } };
}

/** Typed clients of the core services on one server. */
export class AdminClients {
  readonly address: string;
  readonly auth: Client<typeof AuthService>;
  readonly orgs: Client<typeof OrganizationService>;
  readonly users: Client<typeof UserService>;
  readonly audit: Client<typeof AuditService>;
  readonly sas: Client<typeof ServiceAccountService>;
  readonly #extra: Array<{ close(): void }> = [];

  constructor(server: Pick<TestServer, "grpcPort">) {
    this.address = `127.0.0.1:${server.grpcPort}`;
    this.auth = this.client(AuthService);
    this.orgs = this.client(OrganizationService);
    this.users = this.client(UserService);
    this.audit = this.client(AuditService);
    this.sas = this.client(ServiceAccountService);
  }

  /** A client of any service on the same server (closed with the others). */
  client<S extends DescService>(service: S): Client<S> {
    const c = makeClient(service, this.address, grpc.credentials.createInsecure());
    this.#extra.push(c);
    return c;
  }

  /** Logs in and returns call options with the access token. */
  async login(username: string, password: string): Promise<ClientCallOptions & { accessToken: string; refreshToken: string }> {
    const r = await this.auth.login({ username, password });
    return { ...bearer(r.accessToken), accessToken: r.accessToken, refreshToken: r.refreshToken };
  }

  /** The bootstrap superuser's call options. */
  superuser(): Promise<ClientCallOptions & { accessToken: string; refreshToken: string }> {
    return this.login("admin", TEST_ADMIN_PASSWORD);
  }

  close(): void {
    for (const c of this.#extra) c.close();
  }
}

let counter = 0;
/** A name unique within the run (lowercase, DNS-safe). */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The gRPC code name of a rejection ("NOT_FOUND"), or "ok". */
export async function outcomeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    const code = (e as { code?: number }).code;
    if (typeof code !== "number") throw e;
    return grpc.status[code] ?? String(code);
  }
}

/** Asserts that `p` rejects with `code` (name), and optionally that the details match. */
export async function rejectsWith(p: Promise<unknown>, code: keyof typeof grpc.status, details?: string | RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    const err = e as { code?: number; details?: string };
    assert.equal(grpc.status[err.code ?? -1], code, `expected ${code}, got ${grpc.status[err.code ?? -1]}: ${err.details}`);
    if (details !== undefined) {
      if (typeof details === "string") assert.equal(err.details, details);
      else assert.match(err.details ?? "", details);
    }
    return;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}

export const PASSWORD = "correct horse battery";

/** Creates an organization and returns its id. */
export async function createOrg(c: AdminClients, su: ClientCallOptions, name = unique("org")): Promise<string> {
  const { organization } = await c.orgs.createOrganization({ name }, su);
  return organization!.id;
}

/** Creates a user and returns its id and username (password PASSWORD). */
export async function createUser(
  c: AdminClients,
  su: ClientCallOptions,
  opts: { organizationId: string; role?: Role; flags?: Partial<Record<"createCa" | "createCert" | "revokeCert" | "exportPrivateKey" | "deleteCa", boolean>> },
): Promise<{ id: string; username: string }> {
  const username = unique("user");
  const { user } = await c.users.createUser(
    { username, email: `${username}@example.com`, password: PASSWORD, role: opts.role ?? Role.USER, organizationId: opts.organizationId, ...opts.flags },
    su,
  );
  return { id: user!.id, username };
}
