// The console's side of the admin API: Connect (JSON) over fetch to the
// console's own origin, with the operator's own login (docs/console.md).
//
// Tokens live in this module's memory only: never localStorage,
// sessionStorage or a cookie (an SSO sign-in in flight keeps only its state
// and binding in sessionStorage, below). A reload or a new tab asks for the password
// again. Every call carries "Authorization: Bearer" set here by script, and no
// cookie is involved, so a cross-site page has no ambient credential to
// ride (CSRF); and a Connect unary call needs Content-Type application/json
// (or proto), which a cross-site form or a CORS-simple fetch cannot send
// without a preflight the server never answers.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { DescService } from "@bufbuild/protobuf";
import { AuthService } from "../../src/gen/sigil/admin/v1/auth_pb.js";
import { AuditService } from "../../src/gen/sigil/admin/v1/audit_pb.js";
import { CertificateService } from "../../src/gen/sigil/admin/v1/certificate_pb.js";
import { CertificateAuthorityService } from "../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { OrganizationService } from "../../src/gen/sigil/admin/v1/organization_pb.js";
import { AcmeService } from "../../src/gen/sigil/admin/v1/acme_pb.js";
import { UserService, type User } from "../../src/gen/sigil/admin/v1/user_pb.js";
import { ServiceAccountService } from "../../src/gen/sigil/admin/v1/service_account_pb.js";
import { RenewalService } from "../../src/gen/sigil/admin/v1/renewal_pb.js";
import { IssuancePolicyService } from "../../src/gen/sigil/admin/v1/issuance_policy_pb.js";

export interface SessionState {
  accessToken: string;
  accessExpiresAt: Date;
  refreshToken: string;
  user: User;
}

let session: SessionState | undefined;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshing: Promise<boolean> | undefined;
const listeners = new Set<(s: SessionState | undefined) => void>();

export function currentSession(): SessionState | undefined {
  return session;
}

export function onSessionChange(fn: (s: SessionState | undefined) => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setSession(s: SessionState | undefined): void {
  session = s;
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = undefined;
  if (s) {
    // refresh at 80 % of the access token's life (at least 5 s from now)
    const ms = Math.max(5_000, (s.accessExpiresAt.getTime() - Date.now()) * 0.8);
    refreshTimer = setTimeout(() => void refresh(), ms);
  }
  for (const fn of listeners) fn(s);
}

const NO_AUTH = new Set(["Login", "Refresh", "BeginSsoLogin", "CompleteSsoLogin"]);

/** Authorization from memory; an expired access token gets one refresh and one retry. */
const auth: Interceptor = (next) => async (req) => {
  if (NO_AUTH.has(req.method.name)) return next(req);
  if (session) req.header.set("Authorization", `Bearer ${session.accessToken}`);
  try {
    return await next(req);
  } catch (e) {
    const err = ConnectError.from(e);
    if (err.code !== Code.Unauthenticated || !session || req.stream) throw err;
    if (!(await refresh())) throw err;
    req.header.set("Authorization", `Bearer ${session.accessToken}`);
    return next(req);
  }
};

const transport = createConnectTransport({
  baseUrl: location.origin,
  interceptors: [auth],
  // the console's own origin only; no cookies are sent or needed
  fetch: (input, init) => fetch(input, { ...init, credentials: "omit", redirect: "error" }),
});

function client<T extends DescService>(s: T): Client<T> {
  return createClient(s, transport);
}

export const api = {
  auth: client(AuthService),
  audit: client(AuditService),
  certificates: client(CertificateService),
  cas: client(CertificateAuthorityService),
  organizations: client(OrganizationService),
  acme: client(AcmeService),
  users: client(UserService),
  serviceAccounts: client(ServiceAccountService),
  renewal: client(RenewalService),
  policies: client(IssuancePolicyService),
};

export async function login(username: string, password: string): Promise<void> {
  const res = await api.auth.login({ username, password });
  if (!res.user || !res.accessTokenExpiresAt) throw new Error("the server sent an incomplete login answer");
  setSession({
    accessToken: res.accessToken,
    accessExpiresAt: timestampDate(res.accessTokenExpiresAt),
    refreshToken: res.refreshToken,
    user: res.user,
  });
}

// Sign-in with the organization's OpenID provider (docs/sso.md, docs/console.md):
// the authorization code flow with PKCE run by the server (OIDC Core §3.1,
// RFC 7636). Between leaving for the provider and coming back only the state
// and the binding are kept, in this tab's sessionStorage (never a token); the
// binding never goes into a URL, so a code and state planted by another site
// cannot complete here (login CSRF, RFC 9700 §4.7).
const SSO_KEY = "sigil.sso.pending";

/** The console's redirect URI: its root, which the provider must have registered exactly. */
export function ssoRedirectUri(): string {
  return location.origin + "/console/";
}

/** BeginSsoLogin, then the browser goes to the provider. */
export async function beginSso(organization: string): Promise<void> {
  const res = await api.auth.beginSsoLogin({ organization: organization.trim(), redirectUri: ssoRedirectUri() });
  sessionStorage.setItem(SSO_KEY, JSON.stringify({ state: res.state, binding: res.binding }));
  location.assign(res.authorizationUrl);
}

/** Whether this page load is the provider's redirect back (RFC 6749 §4.1.2: code and state, or error). */
export function isSsoReturn(): boolean {
  const q = new URLSearchParams(location.search);
  return q.has("state") && (q.has("code") || q.has("error"));
}

let ssoCompletion: Promise<void> | undefined;

/**
 * The provider's redirect back: the query leaves the URL and the pending
 * sign-in leaves sessionStorage first (a reload or the back button cannot
 * replay them), then CompleteSsoLogin; the session is held like a password
 * login's. Throws an operator-readable Error (or the server's ConnectError).
 */
export function completeSso(): Promise<void> {
  ssoCompletion ??= (async () => {
    const q = new URLSearchParams(location.search);
    const raw = sessionStorage.getItem(SSO_KEY);
    sessionStorage.removeItem(SSO_KEY);
    history.replaceState(null, "", location.pathname);
    // RFC 6749 §4.1.2.1: the provider refused (or the user cancelled)
    const error = q.get("error");
    if (error) throw new Error(`The identity provider refused the sign-in: ${q.get("error_description") || error}`);
    let pending: { state?: string; binding?: string } = {};
    try {
      pending = raw ? (JSON.parse(raw) as typeof pending) : {};
    } catch {
      pending = {};
    }
    if (!pending.state || !pending.binding || pending.state !== q.get("state")) {
      throw new Error("This sign-in was not started in this tab or was already used; start it again with Sign in with SSO.");
    }
    const res = await api.auth.completeSsoLogin({ code: q.get("code") ?? "", state: pending.state, binding: pending.binding });
    if (!res.user || !res.accessTokenExpiresAt) throw new Error("the server sent an incomplete login answer");
    setSession({
      accessToken: res.accessToken,
      accessExpiresAt: timestampDate(res.accessTokenExpiresAt),
      refreshToken: res.refreshToken,
      user: res.user,
    });
  })().finally(() => {
    ssoCompletion = undefined;
  });
  return ssoCompletion;
}

/** Exchanges the refresh token (single use) for a new pair; false (and logged out) when that fails. */
export function refresh(): Promise<boolean> {
  if (refreshing) return refreshing;
  const s = session;
  if (!s) return Promise.resolve(false);
  refreshing = (async () => {
    try {
      const res = await api.auth.refresh({ refreshToken: s.refreshToken });
      setSession({
        ...s,
        accessToken: res.accessToken,
        accessExpiresAt: res.accessTokenExpiresAt ? timestampDate(res.accessTokenExpiresAt) : new Date(Date.now() + 60_000),
        refreshToken: res.refreshToken,
      });
      return true;
    } catch {
      setSession(undefined);
      return false;
    } finally {
      refreshing = undefined;
    }
  })();
  return refreshing;
}

export async function logout(): Promise<void> {
  const s = session;
  try {
    if (s) await api.auth.logout({ refreshToken: s.refreshToken });
  } finally {
    setSession(undefined);
  }
}

/** The message an operator should read for a failed call (the server's message, never a stack). */
export function errorText(e: unknown): string {
  if (e instanceof ConnectError) return e.rawMessage || Code[e.code];
  return e instanceof Error ? e.message : String(e);
}

export function date(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

export function fmtDate(ts: Timestamp | undefined): string {
  const d = date(ts);
  return d ? d.toISOString().replace("T", " ").slice(0, 16) + " UTC" : "—";
}

// What the principal may do: the same rule as policy/ (superuser -> all;
// admin -> all in its organization; user -> read, writes need the flag). The
// API remains the enforcement; the console only hides what would be refused.
export type Capability = "create_cert" | "revoke_cert" | "create_ca" | "delete_ca" | "export_private_key";
/** What an operation needs (policy/permissions.ts Need): a capability, or "admin" (user management, directory policy, API keys). */
export type Need = Capability | "admin";

export function isSuperuser(u: User | undefined): boolean {
  return u?.role === 1;
}

export function may(u: User | undefined, cap: Need, organizationId?: string): boolean {
  if (!u) return false;
  if (u.role === 1) return true;
  if (organizationId !== undefined && organizationId !== u.organizationId) return false;
  if (u.role === 2) return true;
  switch (cap) {
    case "create_cert":
      return u.createCert;
    case "revoke_cert":
      return u.revokeCert;
    case "create_ca":
      return u.createCa;
    case "delete_ca":
      return u.deleteCa;
    case "export_private_key":
      return u.exportPrivateKey;
    case "admin":
      return false;
  }
}

export function isAdmin(u: User | undefined): boolean {
  return u?.role === 1 || u?.role === 2;
}
