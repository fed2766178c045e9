/**
 * Entity -> wire shapes of the core admin services. Nothing secret ever
 * crosses here: no password hashes, token or key hashes.
 */
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { SigilError } from "../../core/errors.js";
import type { Capability, UserRole } from "../../core/types.js";
import type { ApiKey, AuditLog, Organization, ServiceAccount, User } from "../../db/entities/index.js";
import { AuditEventSchema, type AuditEvent } from "../../gen/sigil/admin/v1/audit_pb.js";
import { OrganizationSchema, type Organization as OrganizationMsg } from "../../gen/sigil/admin/v1/organization_pb.js";
import {
  ApiKeySchema,
  ServiceAccountSchema,
  type ApiKey as ApiKeyMsg,
  type ServiceAccount as ServiceAccountMsg,
} from "../../gen/sigil/admin/v1/service_account_pb.js";
import { Role, UserSchema, type User as UserMsg } from "../../gen/sigil/admin/v1/user_pb.js";
import type { CapabilityFlags } from "../../ra/users.js";
import { TIMESTAMP_RANGE_MESSAGE, timestampInRange } from "../request-check.js";
import { settingsOf } from "../../ra/organization-settings.js";
import { settingsToProto } from "./convert-tenancy.js";

export function ts(d: Date): Timestamp;
export function ts(d: Date | null | undefined): Timestamp | undefined;
export function ts(d: Date | null | undefined): Timestamp | undefined {
  return d ? timestampFromDate(d) : undefined;
}

/**
 * An optional request timestamp -> Date (absent -> undefined). Outside the
 * range google.protobuf.Timestamp allows (years 1 to 9999) it is
 * INVALID_ARGUMENT, never an invalid Date that fails later as INTERNAL (the
 * edge refuses those already; this keeps the conversion total on its own).
 */
export function dateOf(t: Timestamp | undefined, field?: string): Date | undefined {
  if (!t) return undefined;
  if (!timestampInRange(t.seconds, t.nanos)) throw SigilError.invalidArgument(TIMESTAMP_RANGE_MESSAGE, field);
  return timestampDate(t);
}

export function roleToProto(role: UserRole): Role {
  switch (role) {
    case "superuser":
      return Role.SUPERUSER;
    case "admin":
      return Role.ADMIN;
    case "user":
      return Role.USER;
  }
}

/** Request role -> domain role; ROLE_UNSPECIFIED -> undefined; unknown numbers are INVALID_ARGUMENT. */
export function roleFromProto(role: Role, field = "role"): UserRole | undefined {
  switch (role) {
    case Role.UNSPECIFIED:
      return undefined;
    case Role.SUPERUSER:
      return "superuser";
    case Role.ADMIN:
      return "admin";
    case Role.USER:
      return "user";
    default:
      throw SigilError.invalidArgument(`unknown role ${String(role)}`, field);
  }
}

/** The five flags of a request (proto3 `optional bool` or plain bool). */
export function flagsOf(req: {
  createCa?: boolean;
  createCert?: boolean;
  revokeCert?: boolean;
  exportPrivateKey?: boolean;
  deleteCa?: boolean;
}): CapabilityFlags {
  const out: Partial<Record<Capability, boolean>> = {};
  if (req.createCa !== undefined) out.create_ca = req.createCa;
  if (req.createCert !== undefined) out.create_cert = req.createCert;
  if (req.revokeCert !== undefined) out.revoke_cert = req.revokeCert;
  if (req.exportPrivateKey !== undefined) out.export_private_key = req.exportPrivateKey;
  if (req.deleteCa !== undefined) out.delete_ca = req.deleteCa;
  return out;
}

export function userToProto(u: User): UserMsg {
  return create(UserSchema, {
    id: u.id,
    username: u.username,
    email: u.email ?? "",
    role: roleToProto(u.role),
    isActive: u.isActive,
    organizationId: u.organization?.id ?? "",
    createCa: u.canCreateCa,
    createCert: u.canCreateCert,
    revokeCert: u.canRevokeCert,
    exportPrivateKey: u.canExportPrivateKey,
    deleteCa: u.canDeleteCa,
    createdAt: ts(u.createdAt),
    updatedAt: ts(u.updatedAt),
    lastLoginAt: ts(u.lastLoginAt),
    lockedUntil: ts(u.lockedUntil),
  });
}

export function organizationToProto(o: Organization): OrganizationMsg {
  return create(OrganizationSchema, {
    id: o.id,
    name: o.name,
    description: o.description,
    createdAt: ts(o.createdAt),
    updatedAt: ts(o.updatedAt),
    slug: o.slug,
    settings: settingsToProto(settingsOf(o)),
  });
}

export function serviceAccountToProto(sa: ServiceAccount): ServiceAccountMsg {
  return create(ServiceAccountSchema, {
    id: sa.id,
    organizationId: sa.organization.id,
    name: sa.name,
    description: sa.description,
    isActive: sa.isActive,
    createCa: sa.canCreateCa,
    createCert: sa.canCreateCert,
    revokeCert: sa.canRevokeCert,
    exportPrivateKey: sa.canExportPrivateKey,
    deleteCa: sa.canDeleteCa,
    createdAt: ts(sa.createdAt),
    updatedAt: ts(sa.updatedAt),
  });
}

export function apiKeyToProto(k: ApiKey): ApiKeyMsg {
  return create(ApiKeySchema, {
    id: k.id,
    serviceAccountId: k.serviceAccount.id,
    name: k.name,
    keyPrefix: k.keyPrefix,
    createdAt: ts(k.createdAt),
    expiresAt: ts(k.expiresAt),
    lastUsedAt: ts(k.lastUsedAt),
    revokedAt: ts(k.revokedAt),
    scopes: k.scopes,
  });
}

const SERVICE_ACCOUNT_ACTOR = "service-account:";

export function auditToProto(a: AuditLog): AuditEvent {
  const bySa = a.username.startsWith(SERVICE_ACCOUNT_ACTOR);
  return create(AuditEventSchema, {
    id: a.id,
    time: ts(a.createdAt),
    action: a.action,
    userId: bySa ? "" : (a.userId ?? ""),
    serviceAccountId: bySa ? (a.userId ?? "") : "",
    username: a.username,
    organizationId: a.organizationId ?? "",
    resourceType: a.resourceType,
    resourceId: a.resourceId ?? "",
    detail: JSON.stringify(a.detail ?? {}),
  });
}
