/**
 * Permission-matrix rows of the offline-root RPCs
 * (src/ra/certificate-authorities/external-parent.ts): activating a pending
 * intermediate needs create_ca, importing an offline CA's CRL revoke_cert;
 * other tenants get NOT_FOUND. Each principal gets its own offline root
 * (openssl) and pending intermediate, so no call depends on another's.
 */
import assert from "node:assert/strict";
import { CertificateAuthorityService, CertificateAuthorityStatus } from "../../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { opensslCrl, opensslRoot, opensslSign, type OpensslRoot } from "../offline-root-helpers.js";
import { EXPECT, type MatrixFixture, type MatrixRow } from "./types.js";

async function pendingIntermediate(fx: MatrixFixture): Promise<{ id: string; csrPem: string }> {
  const { certificateAuthority } = await fx.superuser(CertificateAuthorityService, "createIntermediateCertificateAuthority", {
    externalParent: true,
    organizationId: fx.orgId,
    name: fx.unique("m-pending"),
    subject: { commonName: "Matrix Pending Intermediate" },
    allowLeafCerts: true,
  });
  return certificateAuthority;
}

/** An offline root stored in fx.orgId by activating an intermediate under it; its CA id. */
async function offlineRootCa(fx: MatrixFixture): Promise<{ id: string; root: OpensslRoot }> {
  const root = opensslRoot(fx.unique("m-offline-root"));
  const pending = await pendingIntermediate(fx);
  const { certificateAuthority } = await fx.superuser(CertificateAuthorityService, "activateIntermediateCertificateAuthority", {
    id: pending.id,
    certificatePem: opensslSign(root, pending.csrPem),
    chainPems: [root.pem],
  });
  return { id: certificateAuthority.parentId, root };
}

export const offlineRootRows: MatrixRow[] = [
  {
    service: CertificateAuthorityService,
    method: "ActivateIntermediateCertificateAuthority",
    flag: "create_ca",
    request: async (fx) => {
      const root = opensslRoot(fx.unique("m-activate-root"));
      const pending = await pendingIntermediate(fx);
      return { id: pending.id, certificatePem: opensslSign(root, pending.csrPem), chainPems: [root.pem] };
    },
    expect: EXPECT.flagged(),
    check: (res) => {
      assert.equal(res.certificateAuthority.status, CertificateAuthorityStatus.ACTIVE);
      assert.equal(res.certificateAuthority.csrPem, "");
    },
  },
  {
    service: CertificateAuthorityService,
    method: "ImportCertificateAuthorityCrl",
    flag: "revoke_cert",
    request: async (fx) => {
      const { id, root } = await offlineRootCa(fx);
      return { id, crl: opensslCrl(root) };
    },
    expect: EXPECT.flagged(),
    check: (res) => assert.equal(res.crlNumber, "1"),
  },
];
