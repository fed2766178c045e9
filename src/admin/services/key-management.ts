/** sigil.admin.v1.KeyManagementService: data-key rotation of one organization (src/ra/key-rotation.ts, docs/key-custody.md). */
import { KeyManagementService } from "../../gen/sigil/admin/v1/key_management_pb.js";
import { rotateOrganizationDataKey } from "../../ra/key-rotation.js";
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { requireActor } from "../principal.js";
import type { AdminServiceDeps } from "./index.js";

export function keyManagementService({ ra }: AdminServiceDeps): ServiceBinding {
  return bindService(KeyManagementService, {
    async rotateOrganizationDataKey(req, ctx) {
      const r = await rotateOrganizationDataKey(ra, requireActor(ctx), req.organizationId);
      return {
        organizationId: r.organizationId,
        newDataKeyId: r.newDataKeyId,
        retiredDataKeyIds: r.retiredDataKeyIds,
        destroyedDataKeyIds: r.destroyedDataKeyIds,
        secretsReencrypted: BigInt(Object.values(r.reencrypted).reduce((a, b) => a + b, 0)),
      };
    },
  });
}
