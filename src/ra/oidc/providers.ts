/**
 * An organization's OpenID Connect providers (issue 13 item 5,
 * docs/sso.md): create, read, update, delete. Managing them needs an admin
 * of the organization (or a superuser); members may read them. The client
 * secret is write-only: sealed with the organization's data key
 * (ctx.secrets, AAD "identity_provider:<id>:client_secret") and never
 * returned or audited. Creating a provider or changing its issuer fetches
 * the discovery document first, so a mistyped issuer is refused at once.
 */
import { SigilError } from "../../core/errors.js";
import { uuidv7 } from "../../core/ids.js";
import type { Capability, UserRole } from "../../core/types.js";
import { CAPABILITIES } from "../../core/types.js";
import { isSigilError } from "../../core/errors.js";
import type { IdentityProvider, StoredRoleMapping } from "../../db/entities/index.js";
import {
  deleteIdentityProvider as deleteProviderRow,
  deleteProviderUserIdentities,
  enabledIdentityProviders,
  findIdentityProvider,
  identityProviderNameTaken,
  insertIdentityProvider,
  listIdentityProviders as listProviderRows,
} from "../../db/store/identity-providers.js";
import { findOrganization, organizationExists } from "../../db/store/organizations.js";
import type { Session } from "../../db/store/session.js";
import { authorize, isSuperuser } from "../../policy/permissions.js";
import type { Actor } from "../actor.js";
import { inTransaction, type RaContext, type Tx } from "../context.js";
import { settingsOf } from "../organization-settings.js";
import { requireId, requireName, uniquely } from "../input.js";
import { notFoundFor } from "../not-found.js";
import { ORGANIZATION_NOT_FOUND, type Page } from "../organizations.js";
import { nextPageToken, type PageRequest } from "../paging.js";
import { allowedProviderUrl, OidcClient } from "./client.js";

export const IDENTITY_PROVIDER_NOT_FOUND = "identity provider not found";
export const DEFAULT_SCOPES: readonly string[] = ["openid", "email", "profile"];
export const MAX_EMAIL_DOMAINS = 50;
export const MAX_ROLE_MAPPINGS = 100;
export const MAX_SCOPES = 20;
export const MAX_CLIENT_SECRET = 1024;

/** AAD binding a provider's sealed client secret to its row (src/db/store/encrypted-columns.ts lists the column). */
export function clientSecretAad(providerId: string): string {
  return `identity_provider:${providerId}:client_secret`;
}

/** The server's OIDC client: the context's, or one over the global fetch made on first use. */
export function oidcClientOf(ctx: RaContext): OidcClient {
  ctx.oidc ??= new OidcClient({ fetch: (input, init) => fetch(input, init), clock: ctx.clock, allowHttpLoopback: false });
  return ctx.oidc;
}

// ---------------------------------------------------------------------------
// Input checks (each names the offending field)

/**
 * An issuer identifier (OpenID Connect Discovery 1.0 §2): https, no query or
 * fragment; http on a loopback address only when the operator set
 * SIGIL_OIDC_ALLOW_HTTP_LOOPBACK (otherwise an org admin could make the
 * server probe its loopback ports).
 */
export function requireIssuer(value: string, allowHttpLoopback: boolean, field = "issuer"): string {
  const v = value.trim();
  if (!v) throw SigilError.invalidArgument("required", field);
  if (v.length > 512) throw SigilError.invalidArgument("at most 512 characters", field);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw SigilError.invalidArgument("not a URL", field);
  }
  if (!allowedProviderUrl(u, allowHttpLoopback)) {
    throw SigilError.invalidArgument(allowHttpLoopback ? "must be https (http only on a loopback address)" : "must be https", field);
  }
  if (u.search || u.hash || v.includes("?") || v.includes("#")) throw SigilError.invalidArgument("must not have a query or fragment", field);
  if (u.username || u.password) throw SigilError.invalidArgument("must not carry credentials", field);
  return v;
}

function requireClientId(value: string, field = "client_id"): string {
  if (!value) throw SigilError.invalidArgument("required", field);
  if (value.length > 255) throw SigilError.invalidArgument("at most 255 characters", field);
  // RFC 6749 Appendix A.1: VSCHAR
  if (!/^[\x20-\x7e]+$/.test(value)) throw SigilError.invalidArgument("printable ASCII only", field);
  return value;
}

function acceptClientSecret(value: string, field = "client_secret"): string | null {
  if (!value) return null;
  if (value.length > MAX_CLIENT_SECRET) throw SigilError.invalidArgument(`at most ${MAX_CLIENT_SECRET} characters`, field);
  if (!/^[\x20-\x7e]+$/.test(value)) throw SigilError.invalidArgument("printable ASCII only", field);
  return value;
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

function requireDomains(values: readonly string[], field = "allowed_email_domains"): string[] {
  if (!values.length) throw SigilError.invalidArgument("at least one email domain is required", field);
  if (values.length > MAX_EMAIL_DOMAINS) throw SigilError.invalidArgument(`at most ${MAX_EMAIL_DOMAINS} domains`, field);
  const out: string[] = [];
  for (const [i, raw] of values.entries()) {
    const d = raw.trim().toLowerCase();
    if (!DOMAIN.test(d)) throw SigilError.invalidArgument("not a domain name (e.g. example.com; no wildcards)", `${field}[${i}]`);
    if (!out.includes(d)) out.push(d);
  }
  return out;
}

function requireScopes(values: readonly string[], field = "scopes"): string[] {
  if (!values.length) return [...DEFAULT_SCOPES];
  if (values.length > MAX_SCOPES) throw SigilError.invalidArgument(`at most ${MAX_SCOPES} scopes`, field);
  const out: string[] = [];
  for (const [i, s] of values.entries()) {
    // RFC 6749 §3.3 scope-token
    if (!/^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(s)) throw SigilError.invalidArgument("not a scope token", `${field}[${i}]`);
    if (!out.includes(s)) out.push(s);
  }
  // OIDC Core §3.1.2.1: "openid" must be present
  if (!out.includes("openid")) throw SigilError.invalidArgument('must include "openid"', field);
  return out;
}

/** A role mapping as the transport hands it over. */
export interface RoleMappingInput {
  claim: string;
  value: string;
  role: UserRole | undefined;
  capabilities: Capability[];
}

function requireMappings(values: readonly RoleMappingInput[], field = "role_mappings"): StoredRoleMapping[] {
  if (values.length > MAX_ROLE_MAPPINGS) throw SigilError.invalidArgument(`at most ${MAX_ROLE_MAPPINGS} rules`, field);
  return values.map((m, i) => {
    const f = `${field}[${i}]`;
    const claim = m.claim.trim();
    if (!claim) throw SigilError.invalidArgument("required", `${f}.claim`);
    if (claim.length > 128 || /[\u0000-\u001f\u007f]/.test(claim)) throw SigilError.invalidArgument("1 to 128 characters, no control characters", `${f}.claim`);
    if (!m.value) throw SigilError.invalidArgument("required", `${f}.value`);
    if (m.value.length > 256 || /[\u0000-\u001f\u007f]/.test(m.value)) throw SigilError.invalidArgument("1 to 256 characters, no control characters", `${f}.value`);
    if (m.role !== "admin" && m.role !== "user") throw SigilError.invalidArgument("ROLE_ADMIN or ROLE_USER", `${f}.role`);
    const capabilities = CAPABILITIES.filter((c) => m.capabilities.includes(c));
    return { claim, value: m.value, role: m.role, capabilities };
  });
}

function acceptDefaultRole(role: UserRole | undefined, field = "default_role"): "admin" | "user" | null {
  if (role === undefined) return null;
  if (role === "superuser") throw SigilError.invalidArgument("ROLE_ADMIN, ROLE_USER or ROLE_UNSPECIFIED (refuse unmapped subjects)", field);
  return role;
}

export const DISCOVERY_FAILED = "the issuer's discovery document could not be fetched or is not valid";

/**
 * The issuer's discovery document must load and offer what Sigil needs
 * (the code flow with PKCE S256, RFC 7636 §4.2); otherwise
 * FAILED_PRECONDITION naming the issuer field. The caller learns nothing
 * of why (no status, no reachability: that would let an org admin map the
 * server's network); the reason goes to the server log.
 */
async function checkDiscovery(ctx: RaContext, issuer: string): Promise<void> {
  const client = oidcClientOf(ctx);
  try {
    const meta = await client.discover(issuer, { fresh: true });
    if (meta.code_challenge_methods_supported && !meta.code_challenge_methods_supported.includes("S256")) {
      throw SigilError.failedPrecondition("the provider does not offer PKCE with S256 (code_challenge_methods_supported)", { type: "OIDC_DISCOVERY", subject: "issuer" });
    }
  } catch (e) {
    if (isSigilError(e, "unavailable")) {
      client.log({ issuer, reason: e.message, err: e.cause }, "identity provider discovery failed");
      throw SigilError.failedPrecondition(`issuer: ${DISCOVERY_FAILED}`, { type: "OIDC_DISCOVERY", subject: "issuer" });
    }
    throw e;
  }
}

export const LAST_SSO_PROVIDER = "the organization requires SSO and this is its last enabled identity provider: change settings.required_login_method first";

/** Disabling or deleting `p` must leave an organization that requires SSO with an enabled provider (or its members are locked out). */
async function keepSsoPossible(tx: Tx, p: IdentityProvider): Promise<void> {
  if (!p.enabled) return;
  const org = await findOrganization(tx, p.organization.id, { lock: true });
  if (!org || settingsOf(org).requiredLoginMethod !== "sso") return;
  const others = (await enabledIdentityProviders(tx, org.id)).filter((o) => o.id !== p.id);
  if (!others.length) throw SigilError.failedPrecondition(LAST_SSO_PROVIDER, { type: "SSO_REQUIRED", subject: "organization" });
}

async function loadProvider(s: Session, actor: Actor, id: string, lock = false): Promise<IdentityProvider> {
  const p = await findIdentityProvider(s, id, { lock });
  if (!p) throw notFoundFor(actor, IDENTITY_PROVIDER_NOT_FOUND);
  return p;
}

/** A provider as the admin plane shows it (no secret, only whether one is stored). */
export interface IdentityProviderView {
  provider: IdentityProvider;
  hasClientSecret: boolean;
}

// ---------------------------------------------------------------------------
// Operations

export interface CreateIdentityProviderInput {
  organizationId: string;
  name: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  allowedEmailDomains: string[];
  roleMappings: RoleMappingInput[];
  defaultRole: UserRole | undefined;
  jitProvisioning: boolean;
  scopes: string[];
  disabled: boolean;
}

export async function createIdentityProvider(ctx: RaContext, actor: Actor, input: CreateIdentityProviderInput): Promise<IdentityProviderView> {
  const orgId = requireId(input.organizationId, "organization_id");
  authorize(actor, orgId, "admin");
  const name = requireName(input.name, "name", 128);
  const issuer = requireIssuer(input.issuer, oidcClientOf(ctx).allowHttpLoopback);
  const clientId = requireClientId(input.clientId);
  const clientSecret = acceptClientSecret(input.clientSecret);
  const allowedEmailDomains = requireDomains(input.allowedEmailDomains);
  const roleMappings = requireMappings(input.roleMappings);
  const defaultRole = acceptDefaultRole(input.defaultRole);
  const scopes = requireScopes(input.scopes);
  if (!(await organizationExists(ctx.store, orgId))) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
  await checkDiscovery(ctx, issuer);
  return uniquely("name", "an identity provider with this name in the organization", () =>
    inTransaction(ctx, async (tx) => {
      if (!(await organizationExists(tx, orgId))) throw SigilError.notFound(ORGANIZATION_NOT_FOUND);
      if (await identityProviderNameTaken(tx, orgId, name)) throw SigilError.alreadyExists("an identity provider with this name already exists in the organization", "name");
      const id = uuidv7();
      const sealed = clientSecret === null ? null : await ctx.secrets.seal(tx, orgId, Buffer.from(clientSecret, "utf8"), clientSecretAad(id));
      const provider = insertIdentityProvider(tx, {
        id,
        organizationId: orgId,
        name,
        issuer,
        clientId,
        clientSecretEncrypted: sealed,
        allowedEmailDomains,
        roleMappings,
        defaultRole,
        jitProvisioning: input.jitProvisioning,
        scopes,
        enabled: !input.disabled,
      });
      tx.audit(actor, {
        action: "identity_provider_create",
        organizationId: orgId,
        resourceType: "identity_provider",
        resourceId: id,
        detail: { name, issuer, clientId, confidential: sealed !== null, allowedEmailDomains, roleMappings: roleMappings.length, defaultRole, jitProvisioning: input.jitProvisioning, scopes },
      });
      return { provider, hasClientSecret: sealed !== null };
    }),
  );
}

export async function getIdentityProvider(ctx: RaContext, actor: Actor, id: string): Promise<IdentityProviderView> {
  const providerId = requireId(id, "id");
  const p = await findIdentityProvider(ctx.store, providerId, { withSecret: true });
  if (!p) throw notFoundFor(actor, IDENTITY_PROVIDER_NOT_FOUND);
  authorize(actor, p.organization.id, "read");
  return { provider: p, hasClientSecret: !!p.clientSecretEncrypted };
}

export async function listIdentityProviders(ctx: RaContext, actor: Actor, input: { organizationId: string }, page: PageRequest): Promise<Page<IdentityProviderView>> {
  let organizationId: string | undefined;
  if (input.organizationId) {
    organizationId = requireId(input.organizationId, "organization_id");
    authorize(actor, organizationId, "read");
  } else if (!isSuperuser(actor)) {
    const own = actor.kind === "system" ? null : actor.organizationId;
    if (!own) return { items: [], nextPageToken: "" };
    organizationId = own;
  }
  const { items, total } = await listProviderRows(ctx.store, { organizationId }, page);
  const views = items.map((p) => ({ provider: p, hasClientSecret: !!p.clientSecretEncrypted }));
  return { items: views, nextPageToken: nextPageToken(page, items.length, total) };
}

export interface UpdateIdentityProviderInput {
  id: string;
  name?: string;
  issuer?: string;
  clientId?: string;
  clientSecret?: string;
  allowedEmailDomains?: string[];
  roleMappings?: RoleMappingInput[];
  /** null: ROLE_UNSPECIFIED given (refuse unmapped subjects) */
  defaultRole?: UserRole | null;
  jitProvisioning?: boolean;
  scopes?: string[];
  enabled?: boolean;
}

export async function updateIdentityProvider(ctx: RaContext, actor: Actor, input: UpdateIdentityProviderInput): Promise<IdentityProviderView> {
  const providerId = requireId(input.id, "id");
  const name = input.name === undefined ? undefined : requireName(input.name, "name", 128);
  const issuer = input.issuer === undefined ? undefined : requireIssuer(input.issuer, oidcClientOf(ctx).allowHttpLoopback);
  const clientId = input.clientId === undefined ? undefined : requireClientId(input.clientId);
  const clientSecret = input.clientSecret === undefined ? undefined : acceptClientSecret(input.clientSecret);
  const domains = input.allowedEmailDomains === undefined ? undefined : requireDomains(input.allowedEmailDomains);
  const mappings = input.roleMappings === undefined ? undefined : requireMappings(input.roleMappings);
  const defaultRole = input.defaultRole === undefined ? undefined : acceptDefaultRole(input.defaultRole ?? undefined);
  const scopes = input.scopes === undefined ? undefined : requireScopes(input.scopes);
  // the permission check before the discovery fetch: another tenant learns nothing and costs no request
  const before = await loadProvider(ctx.store, actor, providerId);
  authorize(actor, before.organization.id, "admin");
  if (issuer !== undefined && issuer !== before.issuer) await checkDiscovery(ctx, issuer);
  return uniquely("name", "an identity provider with this name in the organization", () =>
    inTransaction(ctx, async (tx) => {
      const p = await loadProvider(tx, actor, providerId, true);
      authorize(actor, p.organization.id, "admin");
      const changed: string[] = [];
      const set = <K extends keyof IdentityProvider>(key: K, value: IdentityProvider[K] | undefined, wire: string) => {
        if (value === undefined || JSON.stringify(value) === JSON.stringify(p[key])) return;
        p[key] = value;
        changed.push(wire);
      };
      if (name !== undefined && name !== p.name && (await identityProviderNameTaken(tx, p.organization.id, name, p.id))) {
        throw SigilError.alreadyExists("an identity provider with this name already exists in the organization", "name");
      }
      set("name", name, "name");
      const issuerBefore = p.issuer;
      set("issuer", issuer, "issuer");
      // a subject ("sub") is unique only within its issuer (OIDC Core §2): links made
      // with the old issuer must not sign anyone in through the new one
      const unlinkedUsers = p.issuer !== issuerBefore ? await deleteProviderUserIdentities(tx, p.id) : 0;
      set("clientId", clientId, "client_id");
      set("allowedEmailDomains", domains, "allowed_email_domains");
      set("roleMappings", mappings, "role_mappings");
      if (defaultRole !== undefined && defaultRole !== (p.defaultRole ?? null)) {
        p.defaultRole = defaultRole;
        changed.push("default_role");
      }
      set("jitProvisioning", input.jitProvisioning, "jit_provisioning");
      set("scopes", scopes, "scopes");
      if (input.enabled === false) await keepSsoPossible(tx, p);
      set("enabled", input.enabled, "enabled");
      if (clientSecret !== undefined) {
        p.clientSecretEncrypted = clientSecret === null ? null : await ctx.secrets.seal(tx, p.organization.id, Buffer.from(clientSecret, "utf8"), clientSecretAad(p.id));
        changed.push("client_secret");
      }
      const withSecret = clientSecret !== undefined ? clientSecret !== null : !!(await findIdentityProvider(tx, p.id, { withSecret: true }))?.clientSecretEncrypted;
      tx.audit(actor, {
        action: "identity_provider_update",
        organizationId: p.organization.id,
        resourceType: "identity_provider",
        resourceId: p.id,
        // the secret's change is named, never its value
        detail: { name: p.name, changed, ...(changed.includes("issuer") ? { unlinkedUsers } : {}) },
      });
      return { provider: p, hasClientSecret: withSecret };
    }),
  );
}

export async function deleteIdentityProvider(ctx: RaContext, actor: Actor, id: string): Promise<void> {
  const providerId = requireId(id, "id");
  await inTransaction(ctx, async (tx) => {
    const p = await loadProvider(tx, actor, providerId, true);
    authorize(actor, p.organization.id, "admin");
    await keepSsoPossible(tx, p);
    const links = await deleteProviderRow(tx, p);
    tx.audit(actor, {
      action: "identity_provider_delete",
      organizationId: p.organization.id,
      resourceType: "identity_provider",
      resourceId: p.id,
      detail: { name: p.name, issuer: p.issuer, unlinkedUsers: links },
    });
  });
}
