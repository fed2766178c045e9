/**
 * sigil.admin.v1.IdentityProviderService: an organization's OpenID Connect
 * providers (rules in src/ra/oidc/providers.ts). The client secret is
 * write-only: requests may carry it, responses only say whether one is stored.
 */
import { create } from "@bufbuild/protobuf";
import type { Capability } from "../../core/types.js";
import { CAPABILITIES } from "../../core/types.js";
import {
  IdentityProviderSchema,
  IdentityProviderService,
  RoleMappingSchema,
  type IdentityProvider as IdentityProviderMsg,
  type RoleMapping,
} from "../../gen/sigil/admin/v1/identity_provider_pb.js";
import { Role } from "../../gen/sigil/admin/v1/user_pb.js";
import { parsePage } from "../../ra/paging.js";
import * as idps from "../../ra/oidc/providers.js";
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { requireActor } from "../principal.js";
import { roleFromProto, roleToProto, ts } from "./convert.js";
import type { AdminServiceDeps } from "./index.js";

const FLAG_FIELD: Record<Capability, "createCa" | "createCert" | "revokeCert" | "exportPrivateKey" | "deleteCa"> = {
  create_ca: "createCa",
  create_cert: "createCert",
  revoke_cert: "revokeCert",
  export_private_key: "exportPrivateKey",
  delete_ca: "deleteCa",
};

function mappingsFromProto(list: readonly RoleMapping[], field = "role_mappings"): idps.RoleMappingInput[] {
  return list.map((m, i) => ({
    claim: m.claim,
    value: m.value,
    role: roleFromProto(m.role, `${field}[${i}].role`),
    capabilities: CAPABILITIES.filter((c) => m[FLAG_FIELD[c]]),
  }));
}

/** A provider as the wire shows it: never the secret, only whether one is stored. */
export function identityProviderToProto(v: idps.IdentityProviderView): IdentityProviderMsg {
  const p = v.provider;
  return create(IdentityProviderSchema, {
    id: p.id,
    organizationId: p.organization.id,
    name: p.name,
    issuer: p.issuer,
    clientId: p.clientId,
    hasClientSecret: v.hasClientSecret,
    allowedEmailDomains: [...p.allowedEmailDomains],
    roleMappings: p.roleMappings.map((m) =>
      create(RoleMappingSchema, {
        claim: m.claim,
        value: m.value,
        role: roleToProto(m.role),
        ...Object.fromEntries(CAPABILITIES.map((c) => [FLAG_FIELD[c], m.capabilities.includes(c)])),
      }),
    ),
    defaultRole: p.defaultRole ? roleToProto(p.defaultRole) : Role.UNSPECIFIED,
    jitProvisioning: p.jitProvisioning,
    scopes: [...p.scopes],
    enabled: p.enabled,
    createdAt: ts(p.createdAt),
    updatedAt: ts(p.updatedAt),
  });
}

export function identityProviderService({ ra }: AdminServiceDeps): ServiceBinding {
  return bindService(IdentityProviderService, {
    async createIdentityProvider(req, ctx) {
      const v = await idps.createIdentityProvider(ra, requireActor(ctx), {
        organizationId: req.organizationId,
        name: req.name,
        issuer: req.issuer,
        clientId: req.clientId,
        clientSecret: req.clientSecret,
        allowedEmailDomains: req.allowedEmailDomains,
        roleMappings: mappingsFromProto(req.roleMappings),
        defaultRole: roleFromProto(req.defaultRole, "default_role"),
        jitProvisioning: req.jitProvisioning,
        scopes: req.scopes,
        disabled: req.disabled,
      });
      return { identityProvider: identityProviderToProto(v) };
    },
    async getIdentityProvider(req, ctx) {
      return { identityProvider: identityProviderToProto(await idps.getIdentityProvider(ra, requireActor(ctx), req.id)) };
    },
    async listIdentityProviders(req, ctx) {
      const page = await idps.listIdentityProviders(ra, requireActor(ctx), { organizationId: req.organizationId }, parsePage(req.pageSize, req.pageToken));
      return { identityProviders: page.items.map(identityProviderToProto), nextPageToken: page.nextPageToken };
    },
    async updateIdentityProvider(req, ctx) {
      const v = await idps.updateIdentityProvider(ra, requireActor(ctx), {
        id: req.id,
        name: req.name,
        issuer: req.issuer,
        clientId: req.clientId,
        clientSecret: req.clientSecret,
        allowedEmailDomains: req.allowedEmailDomains?.values,
        roleMappings: req.roleMappings ? mappingsFromProto(req.roleMappings.values, "role_mappings.values") : undefined,
        defaultRole: req.defaultRole === undefined ? undefined : (roleFromProto(req.defaultRole, "default_role") ?? null),
        jitProvisioning: req.jitProvisioning,
        scopes: req.scopes?.values,
        enabled: req.enabled,
      });
      return { identityProvider: identityProviderToProto(v) };
    },
    async deleteIdentityProvider(req, ctx) {
      await idps.deleteIdentityProvider(ra, requireActor(ctx), req.id);
      return {};
    },
  });
}
