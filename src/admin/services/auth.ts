/** sigil.admin.v1.AuthService: login, token refresh and rotation, logout, session invalidation, who-am-I. */
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { AuthService } from "../../gen/sigil/admin/v1/auth_pb.js";
import { requireAuth } from "../auth-hook.js";
import { requireActor } from "../principal.js";
import { serviceAccountToProto, ts, userToProto } from "./convert.js";
import type { AdminServiceDeps } from "./index.js";

export function authService({ auth }: AdminServiceDeps): ServiceBinding {
  return bindService(AuthService, {
    async login(req, ctx) {
      const r = await auth.login(req.username, req.password, ctx.peer);
      return {
        accessToken: r.accessToken,
        accessTokenExpiresAt: ts(r.accessTokenExpiresAt),
        refreshToken: r.refreshToken,
        refreshTokenExpiresAt: ts(r.refreshTokenExpiresAt),
        user: userToProto(r.user),
      };
    },
    async refresh(req) {
      const r = await auth.refresh(req.refreshToken);
      return {
        accessToken: r.accessToken,
        accessTokenExpiresAt: ts(r.accessTokenExpiresAt),
        refreshToken: r.refreshToken,
        refreshTokenExpiresAt: ts(r.refreshTokenExpiresAt),
      };
    },
    async logout(req, ctx) {
      await auth.logout(requireAuth(ctx), req.refreshToken);
      return {};
    },
    async invalidateAllSessions(req, ctx) {
      const revokedSessions = await auth.invalidateAllSessions(requireActor(ctx), req.userId);
      return { revokedSessions };
    },
    async whoAmI(_req, ctx) {
      const a = requireAuth(ctx);
      const expiresAt = ts(a.credential.expiresAt);
      if (a.principal.kind === "user") {
        return { principal: { case: "user", value: userToProto(a.principal.user) }, expiresAt };
      }
      return { principal: { case: "serviceAccount", value: serviceAccountToProto(a.principal.serviceAccount) }, expiresAt };
    },
  });
}
