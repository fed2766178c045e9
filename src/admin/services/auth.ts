/** sigil.admin.v1.AuthService: login, token refresh and rotation, logout, session invalidation, who-am-I. */
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { AuthService } from "../../gen/sigil/admin/v1/auth_pb.js";
import { requireAuth } from "../auth-hook.js";
import { requireActor } from "../principal.js";
import { serviceAccountToProto, ts, userToProto } from "./convert.js";
import { sessionToProto } from "./convert-tenancy.js";
import { parsePage } from "../../ra/paging.js";
import * as sessions from "../../ra/sessions.js";
import * as oidcLogin from "../../ra/oidc/login.js";
import type { AdminServiceDeps } from "./index.js";

export function authService({ auth, ra }: AdminServiceDeps): ServiceBinding {
  return bindService(AuthService, {
    async login(req, ctx) {
      const r = await auth.login(req.username, req.password, ctx.peer, String(ctx.metadata.get("user-agent")[0] ?? ""));
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
    async listSessions(req, ctx) {
      const a = requireAuth(ctx);
      const page = await sessions.listSessions(
        ra,
        a.actor,
        a.credential.kind === "session" ? a.credential.sessionId : undefined,
        { userId: req.userId, organizationId: req.organizationId, includeEnded: req.includeEnded },
        parsePage(req.pageSize, req.pageToken),
      );
      return { sessions: page.items.map(sessionToProto), nextPageToken: page.nextPageToken };
    },
    async revokeSession(req, ctx) {
      await sessions.revokeSession(ra, requireActor(ctx), req.sessionId);
      return {};
    },
    async exchangeJwt(req) {
      const r = await auth.exchangeJwt(req.assertion);
      return { accessToken: r.accessToken, accessTokenExpiresAt: ts(r.expiresAt), serviceAccount: serviceAccountToProto(r.serviceAccount) };
    },
    async beginSsoLogin(req) {
      const r = await oidcLogin.beginSsoLogin(ra, { organization: req.organization, identityProviderId: req.identityProviderId, redirectUri: req.redirectUri });
      return { authorizationUrl: r.authorizationUrl, state: r.state, binding: r.binding, expiresAt: ts(r.expiresAt) };
    },
    async completeSsoLogin(req, ctx) {
      const r = await oidcLogin.completeSsoLogin(auth, { code: req.code, state: req.state, binding: req.binding }, ctx.peer, String(ctx.metadata.get("user-agent")[0] ?? ""));
      return {
        accessToken: r.accessToken,
        accessTokenExpiresAt: ts(r.accessTokenExpiresAt),
        refreshToken: r.refreshToken,
        refreshTokenExpiresAt: ts(r.refreshTokenExpiresAt),
        user: userToProto(r.user),
        userCreated: r.userCreated,
      };
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
