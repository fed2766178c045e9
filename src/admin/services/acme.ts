/** sigil.admin.v1.AcmeService: ACME directories, EAB keys, accounts and orders (rules in src/ra/acme-admin.ts). */
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { AcmeService } from "../../gen/sigil/admin/v1/acme_pb.js";
import * as acme from "../../ra/acme-admin.js";
import * as rateLimits from "../../ra/acme/rate-limits.js";
import { overrideToProto, periodSeconds, rateLimitsFromProto } from "./convert-rate-limits.js";
import { requireActor } from "../principal.js";
import {
  accountStatusFromProto,
  accountToProto,
  acmeKindFromProto,
  challengeTypeFromProto,
  eabKeyToProto,
  orderStatusFromProto,
  orderToProto,
} from "./convert-pki.js";
import type { AdminServiceDeps } from "./index.js";
import { acmeProfileMethods } from "./acme-profiles.js";
import { directoryWithProfiles } from "./convert-profiles.js";

export function acmeService({ ra }: AdminServiceDeps): ServiceBinding {
  return bindService(AcmeService, {
    async createAcmeDirectory(req, ctx) {
      const d = await acme.createAcmeDirectory(ra, requireActor(ctx), {
        name: req.name,
        organizationId: req.organizationId,
        caId: req.caId,
        eabRequired: req.eabRequired,
        allowedDnsSuffixes: req.allowedDnsSuffixes,
        allowedIpRanges: req.allowedIpRanges,
        challengeTypes: req.challengeTypes.map(challengeTypeFromProto),
        maxValidityDays: req.maxValidityDays,
        certificateKind: acmeKindFromProto(req.certificateKind),
        termsOfServiceUrl: req.termsOfServiceUrl,
        websiteUrl: req.websiteUrl,
        caaIdentities: req.caaIdentities,
        validationAllowedNetworks: req.validationAllowedNetworks,
        caaEnabled: req.caaEnabled,
        rateLimits: rateLimitsFromProto(req.rateLimits),
        defaultProfile: req.defaultProfile,
      });
      return { directory: await directoryWithProfiles(ra, d) };
    },
    async getAcmeDirectory(req, ctx) {
      return { directory: await directoryWithProfiles(ra, await acme.getAcmeDirectory(ra, requireActor(ctx), req.id)) };
    },
    async listAcmeDirectories(req, ctx) {
      const page = await acme.listAcmeDirectories(ra, requireActor(ctx), {
        organizationId: req.organizationId,
        caId: req.caId,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { directories: await Promise.all(page.items.map((d) => directoryWithProfiles(ra, d))), nextPageToken: page.nextPageToken };
    },
    async updateAcmeDirectory(req, ctx) {
      const d = await acme.updateAcmeDirectory(ra, requireActor(ctx), req.id, {
        caId: req.caId,
        eabRequired: req.eabRequired,
        allowedDnsSuffixes: req.allowedDnsSuffixes?.values,
        allowedIpRanges: req.allowedIpRanges?.values,
        challengeTypes: req.challengeTypes?.values.map(challengeTypeFromProto),
        maxValidityDays: req.maxValidityDays,
        certificateKind: req.certificateKind === undefined ? undefined : acmeKindFromProto(req.certificateKind),
        termsOfServiceUrl: req.termsOfServiceUrl,
        websiteUrl: req.websiteUrl,
        caaIdentities: req.caaIdentities?.values,
        validationAllowedNetworks: req.validationAllowedNetworks?.values,
        caaEnabled: req.caaEnabled,
        rateLimits: rateLimitsFromProto(req.rateLimits),
        defaultProfile: req.defaultProfile,
      });
      return { directory: await directoryWithProfiles(ra, d) };
    },
    async deleteAcmeDirectory(req, ctx) {
      await acme.deleteAcmeDirectory(ra, requireActor(ctx), req.id);
      return {};
    },
    async createEabKey(req, ctx) {
      const { key, hmacKey } = await acme.createAcmeEabKey(ra, requireActor(ctx), { directoryId: req.directoryId, description: req.description });
      // RFC 8555 §7.3.4: the HMAC key is shown here, once
      return { eabKey: eabKeyToProto(key), hmacKey };
    },
    async listEabKeys(req, ctx) {
      const page = await acme.listAcmeEabKeys(ra, requireActor(ctx), {
        directoryId: req.directoryId,
        organizationId: req.organizationId,
        includeRevoked: req.includeRevoked,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { eabKeys: page.items.map(eabKeyToProto), nextPageToken: page.nextPageToken };
    },
    async revokeEabKey(req, ctx) {
      return { eabKey: eabKeyToProto(await acme.revokeAcmeEabKey(ra, requireActor(ctx), req.id)) };
    },
    async listAcmeAccounts(req, ctx) {
      const page = await acme.listAcmeAccounts(ra, requireActor(ctx), {
        directoryId: req.directoryId,
        organizationId: req.organizationId,
        status: accountStatusFromProto(req.status),
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { accounts: page.items.map(accountToProto), nextPageToken: page.nextPageToken };
    },
    async deactivateAcmeAccount(req, ctx) {
      return { account: accountToProto(await acme.deactivateAcmeAccount(ra, requireActor(ctx), req.id)) };
    },
    async listAcmeOrders(req, ctx) {
      const page = await acme.listAcmeOrders(ra, requireActor(ctx), {
        directoryId: req.directoryId,
        accountId: req.accountId,
        status: orderStatusFromProto(req.status),
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { orders: page.items.map(orderToProto), nextPageToken: page.nextPageToken };
    },
    // rate-limit overrides (docs/rate-limits.md)
    async setAcmeRateLimitOverride(req, ctx) {
      const o = await rateLimits.setRateLimitOverride(ra, requireActor(ctx), {
        accountId: req.subject.case === "accountId" ? req.subject.value : undefined,
        eabKeyId: req.subject.case === "eabKeyId" ? req.subject.value : undefined,
        limit: req.limit,
        unlimited: req.unlimited,
        count: req.count,
        periodSeconds: periodSeconds(req.periodSeconds),
        comment: req.comment,
      });
      return { rateLimitOverride: overrideToProto(o) };
    },
    async listAcmeRateLimitOverrides(req, ctx) {
      const page = await rateLimits.listRateLimitOverrides(ra, requireActor(ctx), {
        directoryId: req.directoryId,
        accountId: req.accountId,
        eabKeyId: req.eabKeyId,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { rateLimitOverrides: page.items.map(overrideToProto), nextPageToken: page.nextPageToken };
    },
    async deleteAcmeRateLimitOverride(req, ctx) {
      await rateLimits.deleteRateLimitOverride(ra, requireActor(ctx), req.id);
      return {};
    },
    // draft-ietf-acme-profiles-00 profiles (./acme-profiles.ts)
    ...acmeProfileMethods(ra),
  });
}
