/**
 * Permission-matrix rows of KeyManagementService (src/ra/key-rotation.ts):
 * an organization's admins (and superusers) rotate its data key; members,
 * service accounts get PERMISSION_DENIED, other tenants NOT_FOUND.
 */
import assert from "node:assert/strict";
import { KeyManagementService } from "../../../../src/gen/sigil/admin/v1/key_management_pb.js";
import { EXPECT, type MatrixRow } from "./types.js";

export const keyManagementRows: MatrixRow[] = [
  {
    service: KeyManagementService,
    method: "RotateOrganizationDataKey",
    request: (fx) => ({ organizationId: fx.orgId }),
    expect: EXPECT.admin(),
    check: (res, fx) => {
      assert.equal(res.organizationId, fx.orgId);
      assert.match(res.newDataKeyId, /^[0-9a-f-]{36}$/);
      assert.ok(!res.retiredDataKeyIds.includes(res.newDataKeyId));
    },
  },
];
