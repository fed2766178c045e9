/**
 * Permission-matrix rows of IssuancePolicyService (src/ra/issuance-policies.ts):
 * members of the organization read, its admins (and superusers) write,
 * other tenants get NOT_FOUND, users and service accounts PERMISSION_DENIED
 * on writes. Every policy here binds a service account created for it
 * (never the organization: the matrix's issuance rows stay unbound).
 */
import assert from "node:assert/strict";
import { IssuancePolicyService, IssuancePolicySubjectType } from "../../../../src/gen/sigil/admin/v1/issuance_policy_pb.js";
import { ServiceAccountService } from "../../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { EXPECT, type MatrixFixture, type MatrixRow } from "./types.js";

async function freshSubject(fx: MatrixFixture): Promise<string> {
  const { serviceAccount } = await fx.superuser(ServiceAccountService, "createServiceAccount", { organizationId: fx.orgId, name: fx.unique("m-policy-sa") });
  return serviceAccount.id as string;
}

async function freshPolicy(fx: MatrixFixture): Promise<{ id: string }> {
  const { issuancePolicy } = await fx.superuser(IssuancePolicyService, "createIssuancePolicy", {
    subjectType: IssuancePolicySubjectType.SERVICE_ACCOUNT,
    subjectId: await freshSubject(fx),
    rules: { dnsNames: ["*.matrix.test"] },
    description: "matrix",
  });
  return issuancePolicy;
}

function sharedPolicy(fx: MatrixFixture): Promise<{ id: string }> {
  return fx.shared("issuance-policy:shared", () => freshPolicy(fx));
}

export const issuancePolicyRows: MatrixRow[] = [
  {
    service: IssuancePolicyService,
    method: "CreateIssuancePolicy",
    request: async (fx) => ({ subjectType: IssuancePolicySubjectType.SERVICE_ACCOUNT, subjectId: await freshSubject(fx), rules: { dnsNames: ["*.matrix.test"] } }),
    expect: EXPECT.admin(),
    check: (res, fx) => assert.equal(res.issuancePolicy.organizationId, fx.orgId),
  },
  {
    service: IssuancePolicyService,
    method: "GetIssuancePolicy",
    request: async (fx) => ({ id: (await sharedPolicy(fx)).id }),
    expect: EXPECT.read(),
    check: (res) => assert.deepEqual(res.issuancePolicy.rules.dnsNames, ["*.matrix.test"]),
  },
  {
    service: IssuancePolicyService,
    method: "ListIssuancePolicies",
    request: (fx) => ({ organizationId: fx.orgId }),
    expect: EXPECT.read(),
  },
  {
    service: IssuancePolicyService,
    method: "UpdateIssuancePolicy",
    request: async (fx) => ({ id: (await sharedPolicy(fx)).id, rules: { dnsNames: ["*.matrix.test"] }, description: "matrix" }),
    expect: EXPECT.admin(),
  },
  {
    service: IssuancePolicyService,
    method: "DeleteIssuancePolicy",
    request: async (fx) => ({ id: (await freshPolicy(fx)).id }),
    expect: EXPECT.admin(),
  },
];
