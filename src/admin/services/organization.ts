/** sigil.admin.v1.OrganizationService: tenants and their membership (rules in src/ra/organizations.ts). */
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { OrganizationService } from "../../gen/sigil/admin/v1/organization_pb.js";
import * as orgs from "../../ra/organizations.js";
import { parsePage } from "../../ra/paging.js";
import { requireActor } from "../principal.js";
import { organizationToProto, userToProto } from "./convert.js";
import { settingsUpdateFromProto } from "./convert-tenancy.js";
import type { AdminServiceDeps } from "./index.js";

export function organizationService({ ra }: AdminServiceDeps): ServiceBinding {
  return bindService(OrganizationService, {
    async createOrganization(req, ctx) {
      const o = await orgs.createOrganization(ra, requireActor(ctx), {
        name: req.name,
        description: req.description,
        slug: req.slug,
        settings: settingsUpdateFromProto(req.settings),
      });
      return { organization: organizationToProto(o) };
    },
    async getOrganization(req, ctx) {
      return { organization: organizationToProto(await orgs.getOrganization(ra, requireActor(ctx), req.id)) };
    },
    async listOrganizations(req, ctx) {
      const actor = requireActor(ctx);
      const page = await orgs.listOrganizations(ra, actor, parsePage(req.pageSize, req.pageToken));
      return { organizations: page.items.map(organizationToProto), nextPageToken: page.nextPageToken };
    },
    async updateOrganization(req, ctx) {
      const o = await orgs.updateOrganization(ra, requireActor(ctx), {
        id: req.id,
        name: req.name,
        description: req.description,
        slug: req.slug,
        settings: settingsUpdateFromProto(req.settings),
      });
      return { organization: organizationToProto(o) };
    },
    async deleteOrganization(req, ctx) {
      await orgs.deleteOrganization(ra, requireActor(ctx), req.id);
      return {};
    },
    async addOrganizationUser(req, ctx) {
      const u = await orgs.addOrganizationUser(ra, requireActor(ctx), { organizationId: req.organizationId, userId: req.userId });
      return { user: userToProto(u) };
    },
    async removeOrganizationUser(req, ctx) {
      const u = await orgs.removeOrganizationUser(ra, requireActor(ctx), { organizationId: req.organizationId, userId: req.userId });
      return { user: userToProto(u) };
    },
    async listOrganizationUsers(req, ctx) {
      const actor = requireActor(ctx);
      const page = await orgs.listOrganizationUsers(ra, actor, { organizationId: req.organizationId }, parsePage(req.pageSize, req.pageToken));
      return { users: page.items.map(userToProto), nextPageToken: page.nextPageToken };
    },
  });
}
