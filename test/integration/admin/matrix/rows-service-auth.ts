/**
 * Permission-matrix rows of the service-account key-pair RPCs (issue 13
 * item 4, src/ra/jwt-bearer.ts): members of the organization list public
 * keys, its admins (and superusers) register and revoke them, other tenants
 * get NOT_FOUND; AuthService.ExchangeJwt needs no credentials (the JWT is
 * the credential), so every caller gets a token for a valid JWT.
 */
import assert from "node:assert/strict";
import { exportSPKI, generateKeyPair } from "jose";
import { AuthService } from "../../../../src/gen/sigil/admin/v1/auth_pb.js";
import { ServiceAccountService } from "../../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { registerKey, signAssertion, type RegisteredKey } from "./derived-principals.js";
import { EXPECT, outcomes, type MatrixFixture, type MatrixRow } from "./types.js";

function keysServiceAccount(fx: MatrixFixture): Promise<string> {
  return fx.shared("service-auth:sa", async () => {
    const { serviceAccount } = await fx.superuser(ServiceAccountService, "createServiceAccount", { organizationId: fx.orgId, name: fx.unique("m-keys-sa") });
    return serviceAccount.id as string;
  });
}

function sharedKey(fx: MatrixFixture): Promise<RegisteredKey> {
  return fx.shared("service-auth:key", async () => registerKey(fx, await keysServiceAccount(fx), ["*"]));
}

/** The audience of the server under test: its SIGIL_PUBLIC_URL (SIGIL_JWT_AUDIENCE is unset in the matrix). */
function audience(fx: MatrixFixture): string {
  return fx.baseUrl;
}

export const serviceAuthRows: MatrixRow[] = [
  {
    service: ServiceAccountService,
    method: "RegisterServiceAccountPublicKey",
    request: async (fx) => {
      const { publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
      return { serviceAccountId: await keysServiceAccount(fx), name: fx.unique("m-pk"), publicKey: await exportSPKI(publicKey), scopes: ["certificates:read"] };
    },
    expect: EXPECT.admin(),
    check: (res) => {
      assert.equal(res.publicKey.algorithm, "EdDSA");
      assert.match(res.publicKey.keyId, /^[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(res.publicKey.scopes, ["certificates:read"]);
    },
  },
  {
    service: ServiceAccountService,
    method: "ListServiceAccountPublicKeys",
    request: async (fx) => {
      await sharedKey(fx);
      return { serviceAccountId: await keysServiceAccount(fx) };
    },
    expect: EXPECT.read(),
    check: (res) => assert.ok(res.publicKeys.length >= 1),
  },
  {
    service: ServiceAccountService,
    method: "RevokeServiceAccountPublicKey",
    request: async (fx) => {
      const key = await registerKey(fx, await keysServiceAccount(fx), ["*"]);
      return { serviceAccountId: key.serviceAccountId, keyId: key.kid };
    },
    expect: EXPECT.admin(),
    check: (res) => assert.ok(res.publicKey.revokedAt),
  },
  {
    service: AuthService,
    method: "ExchangeJwt",
    request: async (fx) => ({ assertion: await signAssertion(await sharedKey(fx), audience(fx)) }),
    expect: outcomes("ok"),
    check: async (res, fx) => {
      assert.equal(res.serviceAccount.id, await keysServiceAccount(fx));
      assert.ok(res.accessToken);
    },
  },
];
