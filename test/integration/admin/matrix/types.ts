/**
 * The permission matrix: one row per RPC, one expected outcome per principal.
 * test/integration/admin/permission-matrix.test.ts enumerates every method of
 * every sigil.admin.v1 service descriptor and fails when a method has no row.
 *
 * Rows live in rows-core.ts (Auth, Organization, User, Audit, ServiceAccount)
 * and rows-pki.ts (`export const pkiRows: MatrixRow[]`: CertificateAuthority,
 * Certificate, Acme).
 *
 * How a row runs, for each principal:
 *   1. `request(fx, principal)` builds the request (fresh per principal, so
 *      destructive RPCs get their own target; create targets with
 *      `fx.superuser` calls, share one-time setup through `fx.shared`);
 *   2. the RPC is called with the principal's credential (or `credential`'s);
 *   3. the outcome ("ok" or the gRPC code name) must equal `expect[principal]`;
 *   4. on "ok", `check` (if any) inspects the response.
 * Server-streaming RPCs count as "ok" when neither a message nor an error
 * arrives within a short wait (or the first message arrives), then are cancelled.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { ClientCallOptions } from "../../../../src/admin/grpc-adapter.js";
import type { Capability } from "../../../../src/core/types.js";

/**
 * The callers every RPC is tried with. "the flag" is the row's `flag`:
 * - userWithFlag: ROLE_USER of the organization holding exactly that flag
 *   (all five flags when the row has no `flag`);
 * - userWithoutFlag: ROLE_USER of the organization holding every flag except
 *   that one (no flags when the row has no `flag`);
 * - saWithFlag / saWithoutFlag: the same for service accounts (API keys);
 * - orgAdmin: ROLE_ADMIN of the organization (`fx.orgId`);
 * - otherOrgAdmin: ROLE_ADMIN of another organization (`fx.otherOrgId`);
 * - superuser: the bootstrap superuser "admin";
 * - unauthenticated: no authorization metadata.
 * Every row is also run for the principals derived from saWithFlag in
 * derived-principals.ts (JWT bearer, exchanged token, scoped API keys and
 * public keys); their outcomes follow from `expect.saWithFlag`.
 */
export const PRINCIPALS = [
  "superuser",
  "orgAdmin",
  "userWithFlag",
  "userWithoutFlag",
  "otherOrgAdmin",
  "saWithFlag",
  "saWithoutFlag",
  "unauthenticated",
] as const;
export type PrincipalName = (typeof PRINCIPALS)[number];

/** "ok", or the exact gRPC status code name expected. */
export type Outcome =
  | "ok"
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "FAILED_PRECONDITION"
  | "PERMISSION_DENIED"
  | "UNAUTHENTICATED"
  | "RESOURCE_EXHAUSTED"
  | "UNIMPLEMENTED";

export type Expectations = Record<PrincipalName, Outcome>;

/** Ids of the objects behind a principal (for requests that target the caller itself). */
export interface PrincipalIds {
  /** user id (user principals, superuser) */
  userId?: string;
  /** username (user principals, superuser) */
  username?: string;
  /** service account id (service-account principals) */
  serviceAccountId?: string;
}

/** What a row's request builder and check get. */
export interface MatrixFixture {
  /** "127.0.0.1:<grpcPort>" of the server under test */
  address: string;
  /** HTTP base URL of the server under test (public URL) */
  baseUrl: string;
  /** the organization of orgAdmin, the users and the service accounts */
  orgId: string;
  /** the organization of otherOrgAdmin */
  otherOrgId: string;
  /**
   * Call an RPC as the superuser (for setting up targets). Rejects with the
   * grpc ServiceError on failure.
   * @example const { organization } = await fx.superuser(OrganizationService, "createOrganization", { name: fx.unique("org") });
   */
  superuser<S extends DescService>(service: S, method: string, request: object): Promise<any>;
  /** Call an RPC as `principal` (for setup that must be done by someone else). */
  callAs<S extends DescService>(principal: PrincipalName, service: S, method: string, request: object): Promise<any>;
  /** Call options (authorization metadata) of the superuser. */
  superuserOptions(): Promise<ClientCallOptions>;
  /** Ids of a principal's objects, for the row's `flag` (see PRINCIPALS). */
  ids(principal: PrincipalName, flag: Capability | undefined): PrincipalIds;
  /** A name unique within the test run: `${prefix}-<counter>-<random>` (lowercase, DNS-safe). */
  unique(prefix: string): string;
  /** Runs `make` once per test run under `key` and returns its (cached) result: shared setup such as "a root CA in fx.orgId". */
  shared<T>(key: string, make: () => Promise<T>): Promise<T>;
  /** Logs in `username` with `password` and returns a fresh access token. */
  login(username: string, password: string): Promise<{ accessToken: string; refreshToken: string }>;
  /** A fresh credential (new login / new API key) of the principal; undefined for unauthenticated. */
  freshCredential(principal: PrincipalName, flag: Capability | undefined): Promise<string | undefined>;
}

/** One RPC of the matrix. */
export interface MatrixRow {
  /** the service descriptor from src/gen, e.g. OrganizationService */
  service: DescService;
  /** the proto method name, e.g. "GetOrganization" */
  method: string;
  /** the capability the row is about; selects which users / service accounts count as "with the flag" */
  flag?: Capability;
  /** optional label when a method has more than one row (e.g. "role superuser") */
  variant?: string;
  /** builds the request for `principal` (called once per principal) */
  request(fx: MatrixFixture, principal: PrincipalName): Promise<object> | object;
  /**
   * Use this bearer credential instead of the principal's standing one (for
   * RPCs that end the caller's session, e.g. Logout). Return undefined to
   * send none.
   */
  credential?(fx: MatrixFixture, principal: PrincipalName): Promise<string | undefined>;
  /** expected outcome per principal */
  expect: Expectations;
  /** inspects a successful response */
  check?(response: any, fx: MatrixFixture, principal: PrincipalName): Promise<void> | void;
}

/**
 * Expectations from a default with overrides, e.g.
 * `outcomes("PERMISSION_DENIED", { superuser: "ok", orgAdmin: "ok", otherOrgAdmin: "NOT_FOUND", unauthenticated: "UNAUTHENTICATED" })`.
 */
export function outcomes(dflt: Outcome, overrides: Partial<Expectations> = {}): Expectations {
  const out = {} as Expectations;
  for (const p of PRINCIPALS) out[p] = overrides[p] ?? dflt;
  return out;
}

/** Common shapes under the permission rule (src/policy/permissions.ts). */
export const EXPECT = {
  /** read within the organization: every member may, other tenants get NOT_FOUND */
  read: (): Expectations => outcomes("ok", { otherOrgAdmin: "NOT_FOUND", unauthenticated: "UNAUTHENTICATED" }),
  /** a write needing the row's flag: admins and holders of the flag */
  flagged: (): Expectations =>
    outcomes("ok", {
      userWithoutFlag: "PERMISSION_DENIED",
      saWithoutFlag: "PERMISSION_DENIED",
      otherOrgAdmin: "NOT_FOUND",
      unauthenticated: "UNAUTHENTICATED",
    }),
  /** organization admins (and superusers) only */
  admin: (): Expectations =>
    outcomes("PERMISSION_DENIED", { superuser: "ok", orgAdmin: "ok", otherOrgAdmin: "NOT_FOUND", unauthenticated: "UNAUTHENTICATED" }),
  /** superusers only; members of the organization get PERMISSION_DENIED, others NOT_FOUND */
  superuser: (): Expectations =>
    outcomes("PERMISSION_DENIED", { superuser: "ok", otherOrgAdmin: "NOT_FOUND", unauthenticated: "UNAUTHENTICATED" }),
  /** any authenticated caller */
  authenticated: (): Expectations => outcomes("ok", { unauthenticated: "UNAUTHENTICATED" }),
} as const;
