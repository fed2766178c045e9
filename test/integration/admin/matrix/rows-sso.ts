/**
 * Permission-matrix rows of OpenID Connect sign-in (src/ra/oidc/): the two
 * credential-less AuthService RPCs (BeginSsoLogin answers anyone; an
 * unknown state is UNAUTHENTICATED for everyone), and
 * IdentityProviderService: members of the organization read, its admins
 * write, other tenants get NOT_FOUND. The providers point at a real OpenID
 * provider started once for the run (test/helpers/oidc-provider.ts).
 */
import assert from "node:assert/strict";
import { AuthService } from "../../../../src/gen/sigil/admin/v1/auth_pb.js";
import { IdentityProviderService } from "../../../../src/gen/sigil/admin/v1/identity_provider_pb.js";
import { Role } from "../../../../src/gen/sigil/admin/v1/user_pb.js";
import { startOidcProvider, type TestOidcProvider } from "../../../helpers/oidc-provider.js";
import { EXPECT, outcomes, type MatrixFixture, type MatrixRow } from "./types.js";

const REDIRECT = "http://127.0.0.1:5555/callback";

function op(fx: MatrixFixture): Promise<TestOidcProvider> {
  // closed with the process (mocha --exit): it only answers discovery here
  return fx.shared("sso:op", () => startOidcProvider());
}

async function createRequest(fx: MatrixFixture, prefix: string): Promise<object> {
  const p = await op(fx);
  return {
    organizationId: fx.orgId,
    name: fx.unique(prefix),
    issuer: p.issuer,
    clientId: p.clientId,
    clientSecret: p.clientSecret,
    allowedEmailDomains: ["example.com"],
    roleMappings: [{ claim: "groups", value: "pki-admins", role: Role.ADMIN }],
    defaultRole: Role.USER,
  };
}

async function freshProvider(fx: MatrixFixture): Promise<{ id: string }> {
  const { identityProvider } = await fx.superuser(IdentityProviderService, "createIdentityProvider", await createRequest(fx, "m-idp"));
  return identityProvider;
}

function sharedProvider(fx: MatrixFixture): Promise<{ id: string }> {
  return fx.shared("sso:provider", () => freshProvider(fx));
}

export const ssoRows: MatrixRow[] = [
  {
    service: AuthService,
    method: "BeginSsoLogin",
    request: async (fx) => ({ identityProviderId: (await sharedProvider(fx)).id, redirectUri: REDIRECT }),
    // needs no credentials: everyone may start a sign-in
    expect: outcomes("ok"),
    check: (res) => {
      assert.match(res.authorizationUrl, /code_challenge_method=S256/);
      assert.ok(res.state && res.binding);
    },
  },
  {
    service: AuthService,
    method: "CompleteSsoLogin",
    request: () => ({ code: "not-a-code", state: "not-a-state", binding: "not-a-binding" }),
    // needs no credentials; an unknown state is refused whoever asks
    expect: outcomes("UNAUTHENTICATED"),
  },
  {
    service: IdentityProviderService,
    method: "CreateIdentityProvider",
    request: (fx) => createRequest(fx, "m-idp-create"),
    expect: EXPECT.admin(),
    check: (res, fx) => {
      assert.equal(res.identityProvider.organizationId, fx.orgId);
      assert.equal(res.identityProvider.hasClientSecret, true);
    },
  },
  {
    service: IdentityProviderService,
    method: "GetIdentityProvider",
    request: async (fx) => ({ id: (await sharedProvider(fx)).id }),
    expect: EXPECT.read(),
    check: (res) => assert.equal(res.identityProvider.defaultRole, Role.USER),
  },
  {
    service: IdentityProviderService,
    method: "ListIdentityProviders",
    request: (fx) => ({ organizationId: fx.orgId }),
    expect: EXPECT.read(),
  },
  {
    service: IdentityProviderService,
    method: "UpdateIdentityProvider",
    request: async (fx) => ({ id: (await sharedProvider(fx)).id, jitProvisioning: true }),
    expect: EXPECT.admin(),
    check: (res) => assert.equal(res.identityProvider.jitProvisioning, true),
  },
  {
    service: IdentityProviderService,
    method: "DeleteIdentityProvider",
    request: async (fx) => ({ id: (await freshProvider(fx)).id }),
    expect: EXPECT.admin(),
  },
];
