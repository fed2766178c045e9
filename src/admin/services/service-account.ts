/** sigil.admin.v1.ServiceAccountService: service accounts, their API keys and public keys (rules in src/ra/service-accounts.ts, src/ra/jwt-bearer.ts). */
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { ServiceAccountService } from "../../gen/sigil/admin/v1/service_account_pb.js";
import { parsePage } from "../../ra/paging.js";
import * as sas from "../../ra/service-accounts.js";
import * as jwtBearer from "../../ra/jwt-bearer.js";
import { publicKeyToProto } from "./convert-service-auth.js";
import { requireActor } from "../principal.js";
import { apiKeyToProto, dateOf, flagsOf, serviceAccountToProto } from "./convert.js";
import type { AdminServiceDeps } from "./index.js";

export function serviceAccountService({ ra }: AdminServiceDeps): ServiceBinding {
  return bindService(ServiceAccountService, {
    async createServiceAccount(req, ctx) {
      const sa = await sas.createServiceAccount(ra, requireActor(ctx), {
        organizationId: req.organizationId,
        name: req.name,
        description: req.description,
        flags: flagsOf(req),
      });
      return { serviceAccount: serviceAccountToProto(sa) };
    },
    async getServiceAccount(req, ctx) {
      return { serviceAccount: serviceAccountToProto(await sas.getServiceAccount(ra, requireActor(ctx), req.id)) };
    },
    async listServiceAccounts(req, ctx) {
      const actor = requireActor(ctx);
      const page = await sas.listServiceAccounts(ra, actor, { organizationId: req.organizationId }, parsePage(req.pageSize, req.pageToken));
      return { serviceAccounts: page.items.map(serviceAccountToProto), nextPageToken: page.nextPageToken };
    },
    async updateServiceAccount(req, ctx) {
      const sa = await sas.updateServiceAccount(ra, requireActor(ctx), {
        id: req.id,
        name: req.name,
        description: req.description,
        isActive: req.isActive,
        flags: flagsOf(req),
      });
      return { serviceAccount: serviceAccountToProto(sa) };
    },
    async deleteServiceAccount(req, ctx) {
      await sas.deleteServiceAccount(ra, requireActor(ctx), req.id);
      return {};
    },
    async createApiKey(req, ctx) {
      const r = await sas.createApiKey(ra, requireActor(ctx), {
        serviceAccountId: req.serviceAccountId,
        name: req.name,
        expiresAt: dateOf(req.expiresAt, "expires_at"),
        scopes: req.scopes,
      });
      return { apiKey: apiKeyToProto(r.apiKey), key: r.key };
    },
    async listApiKeys(req, ctx) {
      const actor = requireActor(ctx);
      const page = await sas.listApiKeys(
        ra,
        actor,
        { serviceAccountId: req.serviceAccountId, includeRevoked: req.includeRevoked },
        parsePage(req.pageSize, req.pageToken),
      );
      return { apiKeys: page.items.map(apiKeyToProto), nextPageToken: page.nextPageToken };
    },
    async revokeApiKey(req, ctx) {
      return { apiKey: apiKeyToProto(await sas.revokeApiKey(ra, requireActor(ctx), req.id)) };
    },
    async registerServiceAccountPublicKey(req, ctx) {
      const key = await jwtBearer.registerPublicKey(ra, requireActor(ctx), {
        serviceAccountId: req.serviceAccountId,
        name: req.name,
        publicKey: req.publicKey,
        expiresAt: dateOf(req.expiresAt, "expires_at"),
        scopes: req.scopes,
      });
      return { publicKey: publicKeyToProto(key) };
    },
    async listServiceAccountPublicKeys(req, ctx) {
      const page = await jwtBearer.listPublicKeys(
        ra,
        requireActor(ctx),
        { serviceAccountId: req.serviceAccountId, includeRevoked: req.includeRevoked },
        parsePage(req.pageSize, req.pageToken),
      );
      return { publicKeys: page.items.map(publicKeyToProto), nextPageToken: page.nextPageToken };
    },
    async revokeServiceAccountPublicKey(req, ctx) {
      const key = await jwtBearer.revokePublicKey(ra, requireActor(ctx), { serviceAccountId: req.serviceAccountId, keyId: req.keyId });
      return { publicKey: publicKeyToProto(key) };
    },
  });
}
