/**
 * Permission-matrix rows of AuthService, OrganizationService, UserService,
 * AuditService and ServiceAccountService (see types.ts for how rows run).
 * The rules they pin down: src/policy/permissions.ts (outside the
 * organization -> NOT_FOUND), src/ra/organizations.ts, src/ra/users.ts,
 * src/ra/service-accounts.ts, src/ra/audit-query.ts, src/ra/auth.ts.
 */
import assert from "node:assert/strict";
import { AuditService } from "../../../../src/gen/sigil/admin/v1/audit_pb.js";
import { AuthService } from "../../../../src/gen/sigil/admin/v1/auth_pb.js";
import { OrganizationService } from "../../../../src/gen/sigil/admin/v1/organization_pb.js";
import { ServiceAccountService } from "../../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { Role, UserService } from "../../../../src/gen/sigil/admin/v1/user_pb.js";
import { EXPECT, outcomes, type MatrixFixture, type MatrixRow, type PrincipalName } from "./types.js";

export const MATRIX_PASSWORD = "matrix password 1";

/** A fresh ROLE_USER in `orgId` (default fx.orgId); returns its id. */
async function freshUser(fx: MatrixFixture, orgId = fx.orgId): Promise<string> {
  const username = fx.unique("target");
  const { user } = await fx.superuser(UserService, "createUser", {
    username,
    email: `${username}@example.com`,
    password: MATRIX_PASSWORD,
    role: Role.USER,
    organizationId: orgId,
  });
  return user.id;
}

/** The user the Login / Refresh rows log in as. */
function loginUser(fx: MatrixFixture): Promise<{ username: string }> {
  return fx.shared("core:login-user", async () => {
    const username = fx.unique("login");
    await fx.superuser(UserService, "createUser", {
      username,
      email: `${username}@example.com`,
      password: MATRIX_PASSWORD,
      role: Role.USER,
      organizationId: fx.orgId,
    });
    return { username };
  });
}

/** A service account of fx.orgId shared by read rows. */
function sharedServiceAccount(fx: MatrixFixture): Promise<string> {
  return fx.shared("core:service-account", async () => {
    const { serviceAccount } = await fx.superuser(ServiceAccountService, "createServiceAccount", { organizationId: fx.orgId, name: fx.unique("sa") });
    return serviceAccount.id as string;
  });
}

async function freshServiceAccount(fx: MatrixFixture): Promise<string> {
  const { serviceAccount } = await fx.superuser(ServiceAccountService, "createServiceAccount", { organizationId: fx.orgId, name: fx.unique("sa") });
  return serviceAccount.id;
}

const superuserOnly = (): ReturnType<typeof outcomes> => outcomes("PERMISSION_DENIED", { superuser: "ok", unauthenticated: "UNAUTHENTICATED" });

/** the organization each principal belongs to */
function ownOrg(fx: MatrixFixture, p: PrincipalName): string | undefined {
  if (p === "superuser" || p === "unauthenticated") return undefined;
  return p === "otherOrgAdmin" ? fx.otherOrgId : fx.orgId;
}

export const coreRows: MatrixRow[] = [
  // ---------------------------------------------------------------- AuthService
  {
    service: AuthService,
    method: "Login",
    request: async (fx) => ({ username: (await loginUser(fx)).username, password: MATRIX_PASSWORD }),
    // needs no credentials: everyone (even with a credential of someone else) just logs in
    expect: outcomes("ok"),
    check: (res) => {
      assert.ok(res.accessToken && res.refreshToken);
      assert.equal(res.user.role, Role.USER);
    },
  },
  {
    service: AuthService,
    method: "Refresh",
    request: async (fx) => ({ refreshToken: (await fx.login((await loginUser(fx)).username, MATRIX_PASSWORD)).refreshToken }),
    expect: outcomes("ok"),
  },
  {
    service: AuthService,
    method: "Logout",
    request: () => ({}),
    // a fresh session of the same principal, so the standing one survives
    credential: (fx, p) => fx.freshCredential(p, undefined),
    expect: outcomes("ok", { saWithFlag: "FAILED_PRECONDITION", saWithoutFlag: "FAILED_PRECONDITION", unauthenticated: "UNAUTHENTICATED" }),
  },
  {
    service: AuthService,
    method: "InvalidateAllSessions",
    request: async (fx) => ({ userId: await freshUser(fx) }),
    expect: EXPECT.admin(),
  },
  {
    service: AuthService,
    method: "InvalidateAllSessions",
    variant: "own sessions",
    request: () => ({}),
    credential: (fx, p) => fx.freshCredential(p, undefined),
    // a new login has a new session generation; the standing credentials of the matrix are re-created after this row
    expect: outcomes("ok", { saWithFlag: "FAILED_PRECONDITION", saWithoutFlag: "FAILED_PRECONDITION", unauthenticated: "UNAUTHENTICATED" }),
  },
  {
    service: AuthService,
    method: "ListSessions",
    variant: "own sessions",
    request: () => ({}),
    expect: outcomes("ok", { saWithFlag: "FAILED_PRECONDITION", saWithoutFlag: "FAILED_PRECONDITION", unauthenticated: "UNAUTHENTICATED" }),
    check: (res, _fx, p) => {
      if (p !== "superuser") assert.ok(res.sessions.some((s: { current: boolean }) => s.current), "the caller's own session is listed as current");
    },
  },
  {
    service: AuthService,
    method: "ListSessions",
    variant: "another user's",
    request: async (fx) => ({ userId: await fx.shared("core:target-user", () => freshUser(fx)) }),
    expect: EXPECT.admin(),
  },
  {
    service: AuthService,
    method: "ListSessions",
    variant: "an organization's",
    request: (fx) => ({ organizationId: fx.orgId }),
    expect: EXPECT.admin(),
  },
  {
    service: AuthService,
    method: "RevokeSession",
    request: async (fx) => {
      const userId = await freshUser(fx);
      const { user } = await fx.superuser(UserService, "getUser", { id: userId });
      await fx.login(user.username, MATRIX_PASSWORD);
      const { sessions } = await fx.superuser(AuthService, "listSessions", { userId });
      return { sessionId: sessions[0].id };
    },
    expect: EXPECT.admin(),
  },
  {
    service: AuthService,
    method: "WhoAmI",
    request: () => ({}),
    expect: EXPECT.authenticated(),
    check: (res, fx, p) => {
      if (p.startsWith("sa")) assert.equal(res.principal.case, "serviceAccount");
      else assert.equal(res.principal.case, "user");
      const id = res.principal.value.id;
      const ids = fx.ids(p, undefined);
      assert.equal(id, ids.serviceAccountId ?? ids.userId);
    },
  },

  // ---------------------------------------------------------------- OrganizationService
  {
    service: OrganizationService,
    method: "CreateOrganization",
    request: (fx) => ({ name: fx.unique("org") }),
    expect: superuserOnly(),
  },
  {
    service: OrganizationService,
    method: "GetOrganization",
    request: (fx) => ({ id: fx.orgId }),
    expect: EXPECT.read(),
  },
  {
    service: OrganizationService,
    method: "ListOrganizations",
    request: () => ({ pageSize: 500 }),
    expect: EXPECT.authenticated(),
    check: (res, fx, p) => {
      const ids: string[] = res.organizations.map((o: { id: string }) => o.id);
      if (p === "superuser") assert.ok(ids.includes(fx.orgId) && ids.includes(fx.otherOrgId));
      else assert.deepEqual(ids, [ownOrg(fx, p)], "a member sees exactly its own organization");
    },
  },
  {
    service: OrganizationService,
    method: "UpdateOrganization",
    request: (fx) => ({ id: fx.orgId, description: fx.unique("description") }),
    expect: EXPECT.admin(),
  },
  {
    service: OrganizationService,
    method: "UpdateOrganization",
    variant: "settings",
    // the default value: the change is allowed and audited, and other rows see the same settings
    request: (fx) => ({ id: fx.orgId, settings: { sessionLifetimeSeconds: 604800n } }),
    expect: EXPECT.admin(),
  },
  {
    service: OrganizationService,
    method: "UpdateOrganization",
    variant: "slug",
    request: async (fx) => ({
      id: (await fx.superuser(OrganizationService, "createOrganization", { name: fx.unique("slugged") })).organization.id,
      slug: fx.unique("slug"),
    }),
    // nobody but the superuser belongs to the new organization
    expect: outcomes("NOT_FOUND", { superuser: "ok", unauthenticated: "UNAUTHENTICATED" }),
  },
  {
    service: OrganizationService,
    method: "UpdateOrganization",
    variant: "slug of the caller's organization",
    request: (fx) => ({ id: fx.orgId, slug: fx.unique("slug") }),
    expect: EXPECT.superuser(),
  },
  {
    service: OrganizationService,
    method: "DeleteOrganization",
    variant: "empty organization",
    request: async (fx) => ({ id: (await fx.superuser(OrganizationService, "createOrganization", { name: fx.unique("doomed") })).organization.id }),
    // nobody but the superuser belongs to the new organization
    expect: outcomes("NOT_FOUND", { superuser: "ok", unauthenticated: "UNAUTHENTICATED" }),
  },
  {
    service: OrganizationService,
    method: "DeleteOrganization",
    variant: "organization with users",
    request: (fx) => ({ id: fx.orgId }),
    expect: { ...EXPECT.superuser(), superuser: "FAILED_PRECONDITION" },
  },
  {
    service: OrganizationService,
    method: "AddOrganizationUser",
    request: async (fx) => ({ organizationId: fx.orgId, userId: await freshUser(fx, fx.otherOrgId) }),
    expect: EXPECT.superuser(),
  },
  {
    service: OrganizationService,
    method: "RemoveOrganizationUser",
    request: async (fx) => ({ organizationId: fx.orgId, userId: await freshUser(fx) }),
    expect: EXPECT.superuser(),
  },
  {
    service: OrganizationService,
    method: "ListOrganizationUsers",
    request: (fx) => ({ organizationId: fx.orgId }),
    expect: EXPECT.read(),
  },

  // ---------------------------------------------------------------- UserService
  {
    service: UserService,
    method: "CreateUser",
    request: (fx) => {
      const username = fx.unique("new");
      return { username, email: `${username}@example.com`, password: MATRIX_PASSWORD, role: Role.USER, organizationId: fx.orgId, createCert: true };
    },
    expect: EXPECT.admin(),
  },
  {
    service: UserService,
    method: "CreateUser",
    variant: "role superuser",
    request: (fx) => {
      const username = fx.unique("su");
      return { username, email: `${username}@example.com`, password: MATRIX_PASSWORD, role: Role.SUPERUSER };
    },
    expect: superuserOnly(),
  },
  {
    service: UserService,
    method: "CreateUser",
    variant: "role admin",
    request: (fx) => {
      const username = fx.unique("adm");
      return { username, email: `${username}@example.com`, password: MATRIX_PASSWORD, role: Role.ADMIN, organizationId: fx.orgId };
    },
    expect: EXPECT.admin(),
  },
  {
    service: UserService,
    method: "GetUser",
    request: async (fx) => ({ id: await fx.shared("core:target-user", () => freshUser(fx)) }),
    expect: EXPECT.read(),
    check: (res) => assert.equal(Object.keys(res.user).some((k) => /password|hash/i.test(k)), false),
  },
  {
    service: UserService,
    method: "ListUsers",
    request: (fx) => ({ organizationId: fx.orgId }),
    expect: EXPECT.read(),
  },
  {
    service: UserService,
    method: "UpdateUser",
    request: async (fx) => ({ id: await freshUser(fx), createCert: true, email: `${fx.unique("mail")}@example.com` }),
    expect: EXPECT.admin(),
  },
  {
    service: UserService,
    method: "UpdateUser",
    variant: "move to another organization",
    request: async (fx) => ({ id: await freshUser(fx), organizationId: fx.otherOrgId }),
    expect: EXPECT.superuser(),
  },
  {
    service: UserService,
    method: "UpdateUser",
    variant: "grant superuser",
    request: async (fx) => ({ id: await freshUser(fx), role: Role.SUPERUSER }),
    expect: EXPECT.superuser(),
  },
  {
    service: UserService,
    method: "UpdateUser",
    variant: "a superuser of the organization",
    request: async (fx) =>
      fx.shared("core:org-superuser", async () => {
        const username = fx.unique("orgsu");
        const { user } = await fx.superuser(UserService, "createUser", {
          username,
          email: `${username}@example.com`,
          password: MATRIX_PASSWORD,
          role: Role.SUPERUSER,
          organizationId: fx.orgId,
        });
        return { id: user.id, email: `${username}@example.org` };
      }),
    // even the organization's admin may not touch a superuser
    expect: EXPECT.superuser(),
  },
  {
    service: UserService,
    method: "DeactivateUser",
    request: async (fx) => ({ id: await freshUser(fx) }),
    expect: EXPECT.admin(),
  },
  {
    service: UserService,
    method: "UnlockUser",
    request: async (fx) => ({ id: await freshUser(fx) }),
    expect: EXPECT.admin(),
  },
  {
    service: UserService,
    method: "UnlockUser",
    variant: "a superuser",
    request: async (fx) => ({ id: fx.ids("superuser", undefined).userId }),
    // the bootstrap superuser is in the default organization, which no other principal belongs to
    expect: outcomes("NOT_FOUND", { superuser: "ok", unauthenticated: "UNAUTHENTICATED" }),
  },

  // ---------------------------------------------------------------- AuditService
  {
    service: AuditService,
    method: "ListAuditEvents",
    request: (fx) => ({ organizationId: fx.orgId }),
    expect: EXPECT.read(),
  },
  {
    service: AuditService,
    method: "ListAuditEvents",
    variant: "no organization filter",
    request: () => ({ pageSize: 500 }),
    expect: EXPECT.authenticated(),
    check: (res, fx, p) => {
      if (p === "superuser") return;
      for (const e of res.events) assert.equal(e.organizationId, ownOrg(fx, p), "only the caller's organization's slice");
    },
  },
  {
    service: AuditService,
    method: "WatchAuditEvents",
    request: (fx) => ({ organizationId: fx.orgId }),
    expect: EXPECT.read(),
  },

  // ---------------------------------------------------------------- ServiceAccountService
  {
    service: ServiceAccountService,
    method: "CreateServiceAccount",
    request: (fx) => ({ organizationId: fx.orgId, name: fx.unique("sa"), createCert: true }),
    expect: EXPECT.admin(),
  },
  {
    service: ServiceAccountService,
    method: "GetServiceAccount",
    request: async (fx) => ({ id: await sharedServiceAccount(fx) }),
    expect: EXPECT.read(),
  },
  {
    service: ServiceAccountService,
    method: "ListServiceAccounts",
    request: (fx) => ({ organizationId: fx.orgId }),
    expect: EXPECT.read(),
  },
  {
    service: ServiceAccountService,
    method: "UpdateServiceAccount",
    request: async (fx) => ({ id: await freshServiceAccount(fx), description: "changed", revokeCert: true }),
    expect: EXPECT.admin(),
  },
  {
    service: ServiceAccountService,
    method: "DeleteServiceAccount",
    request: async (fx) => ({ id: await freshServiceAccount(fx) }),
    expect: EXPECT.admin(),
  },
  {
    service: ServiceAccountService,
    method: "CreateApiKey",
    request: async (fx) => ({ serviceAccountId: await sharedServiceAccount(fx), name: fx.unique("key") }),
    expect: EXPECT.admin(),
    check: (res) => {
      assert.match(res.key, /^sigil_[A-Za-z0-9_-]{43}$/);
      assert.ok(res.key.startsWith(res.apiKey.keyPrefix));
    },
  },
  {
    service: ServiceAccountService,
    method: "ListApiKeys",
    request: async (fx) => ({ serviceAccountId: await sharedServiceAccount(fx) }),
    expect: EXPECT.read(),
  },
  {
    service: ServiceAccountService,
    method: "RevokeApiKey",
    request: async (fx) => {
      const { apiKey } = await fx.superuser(ServiceAccountService, "createApiKey", { serviceAccountId: await sharedServiceAccount(fx), name: fx.unique("key") });
      return { id: apiKey.id };
    },
    expect: EXPECT.admin(),
  },
];
