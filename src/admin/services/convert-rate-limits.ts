/** Rate-limit messages of the admin API (docs/rate-limits.md) to and from ra/ shapes. */
import { create } from "@bufbuild/protobuf";
import {
  AcmeRateLimitOverrideSchema,
  AcmeRateLimitSchema,
  AcmeRateLimitsSchema,
  type AcmeRateLimitOverride as AcmeRateLimitOverrideMsg,
  type AcmeRateLimits as AcmeRateLimitsMsg,
} from "../../gen/sigil/admin/v1/acme_pb.js";
import type { RateLimitOverrideRow } from "../../db/store/rate-limits.js";
import type { DirectoryRateLimitInput } from "../../ra/acme/rate-limits.js";
import { ts } from "./convert.js";

/** a directory's stored entries (period in ms) as the AcmeRateLimits message (period in seconds) */
export function rateLimitsToProto(entries: ReadonlyArray<{ name: string; disabled: boolean; count: number; periodMs: number }> | undefined): AcmeRateLimitsMsg {
  return create(AcmeRateLimitsSchema, {
    limits: (entries ?? []).map((e) =>
      create(AcmeRateLimitSchema, { name: e.name, disabled: e.disabled, count: e.count, periodSeconds: BigInt(Math.floor(e.periodMs / 1000)) }),
    ),
  });
}

/** the message's entries for ra/ (which checks them); undefined when the message is absent */
export function rateLimitsFromProto(msg: AcmeRateLimitsMsg | undefined): DirectoryRateLimitInput[] | undefined {
  if (!msg) return undefined;
  return msg.limits.map((l) => ({ name: l.name, disabled: l.disabled, count: l.count, periodSeconds: periodSeconds(l.periodSeconds) }));
}

/** a uint64 of seconds as a number; beyond any valid period it stays beyond (ra/ refuses it) */
export function periodSeconds(v: bigint): number {
  return v > 10n ** 12n ? 1e12 : Number(v);
}

export function overrideToProto(o: RateLimitOverrideRow): AcmeRateLimitOverrideMsg {
  return create(AcmeRateLimitOverrideSchema, {
    id: o.id,
    directoryId: o.directoryId,
    organizationId: o.organizationId,
    subject: o.accountId ? { case: "accountId", value: o.accountId } : { case: "eabKeyId", value: o.eabKeyId ?? "" },
    limit: o.limitName,
    unlimited: o.unlimited,
    count: o.count,
    periodSeconds: BigInt(Math.floor(o.periodMs / 1000)),
    comment: o.comment,
    createdAt: ts(o.createdAt),
    updatedAt: ts(o.updatedAt),
  });
}
