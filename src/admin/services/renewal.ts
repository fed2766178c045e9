/** sigil.admin.v1.RenewalService: operator renewal campaigns (rules in src/ra/renewal-campaigns.ts). */
import { create } from "@bufbuild/protobuf";
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import {
  RenewalCampaignSchema,
  RenewalCampaignScope as ScopeMsg,
  RenewalService,
  type RenewalCampaign as RenewalCampaignMsg,
} from "../../gen/sigil/admin/v1/renewal_pb.js";
import { SigilError } from "../../core/errors.js";
import type { RenewalCampaignScope } from "../../db/entities/index.js";
import * as campaigns from "../../ra/renewal-campaigns.js";
import { requireActor } from "../principal.js";
import { dateOf, ts } from "./convert.js";
import type { AdminServiceDeps } from "./index.js";

const SCOPES: Record<RenewalCampaignScope, ScopeMsg> = {
  certificate: ScopeMsg.CERTIFICATE,
  ca: ScopeMsg.CA,
  directory: ScopeMsg.DIRECTORY,
  serials: ScopeMsg.SERIALS,
  drill: ScopeMsg.DRILL,
};

export function scopeFromProto(s: ScopeMsg): RenewalCampaignScope {
  const hit = (Object.entries(SCOPES) as Array<[RenewalCampaignScope, ScopeMsg]>).find(([, v]) => v === s);
  if (!hit) throw SigilError.invalidArgument("required: certificate, ca, directory, serials or drill", "scope");
  return hit[0];
}

export function campaignToProto(c: campaigns.RenewalCampaignView): RenewalCampaignMsg {
  return create(RenewalCampaignSchema, {
    id: c.id,
    organizationId: c.organizationId,
    scope: SCOPES[c.scope],
    targets: c.targets,
    windowStart: ts(c.windowStart),
    windowEnd: ts(c.windowEnd),
    explanationUrl: c.explanationUrl ?? "",
    reason: c.reason,
    drillPercent: c.drillPercent ?? 0,
    certificateCount: c.memberCount,
    replacedCount: c.replacedCount,
    replacedPercent: c.memberCount ? (100 * c.replacedCount) / c.memberCount : 100,
    createdBy: c.createdByName,
    createdAt: ts(c.createdAt),
    cancelledAt: ts(c.cancelledAt),
  });
}

export function renewalService({ ra }: AdminServiceDeps): ServiceBinding {
  return bindService(RenewalService, {
    async createRenewalCampaign(req, ctx) {
      const c = await campaigns.createRenewalCampaign(ra, requireActor(ctx), {
        scope: scopeFromProto(req.scope),
        certificateId: req.certificateId || undefined,
        caId: req.caId || undefined,
        directoryId: req.directoryId || undefined,
        serials: req.serials,
        organizationId: req.organizationId || undefined,
        now: req.now,
        windowStart: dateOf(req.windowStart, "window_start"),
        windowEnd: dateOf(req.windowEnd, "window_end"),
        explanationUrl: req.explanationUrl || undefined,
        reason: req.reason,
        drillPercent: req.drillPercent || undefined,
      });
      return { campaign: campaignToProto(c) };
    },
    async getRenewalCampaign(req, ctx) {
      return { campaign: campaignToProto(await campaigns.getRenewalCampaign(ra, requireActor(ctx), req.id)) };
    },
    async listRenewalCampaigns(req, ctx) {
      const page = await campaigns.listRenewalCampaigns(ra, requireActor(ctx), {
        organizationId: req.organizationId || undefined,
        includeCancelled: req.includeCancelled,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { campaigns: page.items.map(campaignToProto), nextPageToken: page.nextPageToken };
    },
    async cancelRenewalCampaign(req, ctx) {
      return { campaign: campaignToProto(await campaigns.cancelRenewalCampaign(ra, requireActor(ctx), req.id)) };
    },
  });
}
