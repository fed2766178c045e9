/** sigil.admin.v1.UserService: human users (rules in src/ra/users.ts). No hard delete. */
import { SigilError } from "../../core/errors.js";
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { UserService } from "../../gen/sigil/admin/v1/user_pb.js";
import { parsePage } from "../../ra/paging.js";
import * as users from "../../ra/users.js";
import { requireActor } from "../principal.js";
import { flagsOf, roleFromProto, userToProto } from "./convert.js";
import type { AdminServiceDeps } from "./index.js";

export function userService({ ra }: AdminServiceDeps): ServiceBinding {
  return bindService(UserService, {
    async createUser(req, ctx) {
      const actor = requireActor(ctx);
      const u = await users.createUser(ra, actor, {
        username: req.username,
        email: req.email,
        password: req.password,
        role: roleFromProto(req.role),
        organizationId: req.organizationId,
        flags: flagsOf(req),
      });
      return { user: userToProto(u) };
    },
    async getUser(req, ctx) {
      return { user: userToProto(await users.getUser(ra, requireActor(ctx), req.id)) };
    },
    async listUsers(req, ctx) {
      const actor = requireActor(ctx);
      const page = await users.listUsers(
        ra,
        actor,
        { organizationId: req.organizationId, includeInactive: req.includeInactive },
        parsePage(req.pageSize, req.pageToken),
      );
      return { users: page.items.map(userToProto), nextPageToken: page.nextPageToken };
    },
    async updateUser(req, ctx) {
      const actor = requireActor(ctx);
      const role = req.role === undefined ? undefined : roleFromProto(req.role);
      if (req.role !== undefined && role === undefined) {
        // ROLE_UNSPECIFIED sent explicitly
        throw SigilError.invalidArgument("must not be ROLE_UNSPECIFIED", "role");
      }
      const r = await users.updateUserWithOutcome(ra, actor, {
        id: req.id,
        email: req.email,
        password: req.password,
        currentPassword: req.currentPassword,
        peer: ctx.peer,
        role,
        isActive: req.isActive,
        organizationId: req.organizationId,
        flags: flagsOf(req),
      });
      return { user: userToProto(r.user), revokedCertificates: r.revokedCertificates };
    },
    async deactivateUser(req, ctx) {
      const r = await users.deactivateUser(ra, requireActor(ctx), req.id);
      return { user: userToProto(r.user), revokedCertificates: r.revokedCertificates };
    },
    async unlockUser(req, ctx) {
      return { user: userToProto(await users.unlockUser(ra, requireActor(ctx), req.id)) };
    },
  });
}
