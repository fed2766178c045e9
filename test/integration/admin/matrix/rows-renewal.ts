/**
 * Permission-matrix rows of RenewalService (src/ra/renewal-campaigns.ts):
 * members of the organization read, its admins create and cancel, other
 * tenants get NOT_FOUND, service accounts and users PERMISSION_DENIED on writes.
 */
import assert from "node:assert/strict";
import { CertificateAuthorityService } from "../../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { RenewalCampaignScope, RenewalService } from "../../../../src/gen/sigil/admin/v1/renewal_pb.js";
import { EXPECT, type MatrixFixture, type MatrixRow } from "./types.js";

function renewalCa(fx: MatrixFixture): Promise<{ id: string }> {
  return fx.shared("renewal:ca", async () => {
    const { certificateAuthority } = await fx.superuser(CertificateAuthorityService, "createRootCertificateAuthority", {
      organizationId: fx.orgId,
      name: fx.unique("m-renewal-root"),
      subject: { commonName: "Matrix Renewal Root" },
      allowLeafCerts: true,
    });
    return certificateAuthority;
  });
}

async function freshCampaign(fx: MatrixFixture): Promise<{ id: string }> {
  const ca = await renewalCa(fx);
  const { campaign } = await fx.superuser(RenewalService, "createRenewalCampaign", { scope: RenewalCampaignScope.CA, caId: ca.id, now: true, reason: "matrix" });
  return campaign;
}

function sharedCampaign(fx: MatrixFixture): Promise<{ id: string }> {
  return fx.shared("renewal:campaign", () => freshCampaign(fx));
}

export const renewalRows: MatrixRow[] = [
  {
    service: RenewalService,
    method: "CreateRenewalCampaign",
    request: async (fx) => ({ scope: RenewalCampaignScope.CA, caId: (await renewalCa(fx)).id, now: true, reason: "matrix create" }),
    expect: EXPECT.admin(),
    check: (res, fx) => assert.equal(res.campaign.organizationId, fx.orgId),
  },
  {
    service: RenewalService,
    method: "GetRenewalCampaign",
    request: async (fx) => ({ id: (await sharedCampaign(fx)).id }),
    expect: EXPECT.read(),
    check: (res) => assert.equal(res.campaign.reason, "matrix"),
  },
  {
    service: RenewalService,
    method: "ListRenewalCampaigns",
    request: (fx) => ({ organizationId: fx.orgId }),
    expect: EXPECT.read(),
  },
  {
    service: RenewalService,
    method: "CancelRenewalCampaign",
    request: async (fx) => ({ id: (await freshCampaign(fx)).id }),
    expect: EXPECT.admin(),
    check: (res) => assert.ok(res.campaign.cancelledAt),
  },
];
