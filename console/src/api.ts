// The console's side of the admin API: Connect (JSON) over fetch to the
// console's own origin, with the operator's own login (docs/console.md).
//
// Tokens live in this module's memory only: never localStorage,
// sessionStorage or a cookie. A reload or a new tab asks for the password
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

const NO_AUTH = new Set(["Login", "Refresh"]);

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
