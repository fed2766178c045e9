/**
 * Permission-matrix rows of AcmeService's rate-limit override methods
 * (src/ra/acme/rate-limits.ts): members read, organization admins write,
 * other tenants get NOT_FOUND. Each write gets its own EAB key, so a
 * principal's override never collides with another's.
 */
import assert from "node:assert/strict";
import { AcmeService } from "../../../../src/gen/sigil/admin/v1/acme_pb.js";
import { sharedDirectory } from "./rows-pki.js";
import { EXPECT, type MatrixFixture, type MatrixRow } from "./types.js";

async function freshEabKeyId(fx: MatrixFixture): Promise<string> {
  const dir = await sharedDirectory(fx);
  const { eabKey } = await fx.superuser(AcmeService, "createEabKey", { directoryId: dir.id, description: "matrix rate limits" });
  return eabKey.id;
}

async function freshOverride(fx: MatrixFixture): Promise<{ id: string }> {
  const { rateLimitOverride } = await fx.superuser(AcmeService, "setAcmeRateLimitOverride", {
    subject: { case: "eabKeyId", value: await freshEabKeyId(fx) },
    limit: "new-orders-per-account",
    unlimited: true,
    comment: "matrix",
  });
  return rateLimitOverride;
}

export const rateLimitRows: MatrixRow[] = [
  {
    service: AcmeService,
    method: "SetAcmeRateLimitOverride",
    request: async (fx) => ({
      subject: { case: "eabKeyId", value: await freshEabKeyId(fx) },
      limit: "new-orders-per-account",
      count: 1000,
      periodSeconds: 10_800n,
      comment: "matrix",
    }),
    expect: EXPECT.admin(),
    check: (res) => assert.equal(res.rateLimitOverride.limit, "new-orders-per-account"),
  },
  {
    service: AcmeService,
    method: "ListAcmeRateLimitOverrides",
    request: async (fx) => {
      await fx.shared("rate-limits:override", () => freshOverride(fx));
      return { directoryId: (await sharedDirectory(fx)).id };
    },
    expect: EXPECT.read(),
    check: (res) => assert.ok(res.rateLimitOverrides.length > 0),
  },
  {
    service: AcmeService,
    method: "DeleteAcmeRateLimitOverride",
    request: async (fx) => ({ id: (await freshOverride(fx)).id }),
    expect: EXPECT.admin(),
  },
];
