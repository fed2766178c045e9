/**
 * Wire <-> domain for the tenancy additions of issue 13: organization
 * settings and login sessions.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { SigilError } from "../../core/errors.js";
import type { KeyAlgorithm } from "../../core/types.js";
import { KeyAlgorithm as KeyAlgorithmMsg } from "../../gen/sigil/admin/v1/common_pb.js";
import {
  LoginMethod,
  OrganizationSettingsSchema,
  type OrganizationSettings as OrganizationSettingsMsg,
  type OrganizationSettingsUpdate,
} from "../../gen/sigil/admin/v1/organization_pb.js";
import { LoginSessionSchema, type LoginSession as LoginSessionMsg } from "../../gen/sigil/admin/v1/auth_pb.js";
import type { OrganizationSettings, SettingsUpdate, LoginMethod as DomainLoginMethod } from "../../ra/organization-settings.js";
import type { SessionView } from "../../ra/sessions.js";

const KEY_TO_PROTO: Record<KeyAlgorithm, KeyAlgorithmMsg> = {
  p256: KeyAlgorithmMsg.P256,
  p384: KeyAlgorithmMsg.P384,
  rsa2048: KeyAlgorithmMsg.RSA2048,
  rsa3072: KeyAlgorithmMsg.RSA3072,
  rsa4096: KeyAlgorithmMsg.RSA4096,
};

function keyFromProto(k: KeyAlgorithmMsg): KeyAlgorithm {
  const found = (Object.entries(KEY_TO_PROTO) as Array<[KeyAlgorithm, KeyAlgorithmMsg]>).find(([, v]) => v === k);
  if (!found) throw SigilError.invalidArgument("unknown or unspecified key type", "settings.allowed_key_types");
  return found[0];
}

function loginMethodFromProto(m: LoginMethod): DomainLoginMethod {
  switch (m) {
    case LoginMethod.PASSWORD:
      return "password";
    case LoginMethod.SSO:
      return "sso";
    default:
      throw SigilError.invalidArgument("LOGIN_METHOD_PASSWORD or LOGIN_METHOD_SSO", "settings.required_login_method");
  }
}

export function settingsToProto(s: OrganizationSettings): OrganizationSettingsMsg {
  return create(OrganizationSettingsSchema, {
    defaultValidityDays: s.defaultValidityDays,
    maxValidityDays: s.maxValidityDays,
    allowedKeyTypes: s.allowedKeyTypes.map((k) => KEY_TO_PROTO[k]),
    revokeCertificatesOnDeactivation: s.revokeCertificatesOnDeactivation,
    sessionLifetimeSeconds: BigInt(s.sessionLifetimeSeconds),
    requiredLoginMethod: s.requiredLoginMethod === "sso" ? LoginMethod.SSO : LoginMethod.PASSWORD,
  });
}

/** A settings update from the wire; undefined when none was sent. */
export function settingsUpdateFromProto(u: OrganizationSettingsUpdate | undefined): SettingsUpdate | undefined {
  if (!u) return undefined;
  const out: SettingsUpdate = {};
  if (u.defaultValidityDays !== undefined) out.defaultValidityDays = u.defaultValidityDays;
  if (u.maxValidityDays !== undefined) out.maxValidityDays = u.maxValidityDays;
  if (u.allowedKeyTypes) out.allowedKeyTypes = u.allowedKeyTypes.keyTypes.map(keyFromProto);
  if (u.revokeCertificatesOnDeactivation !== undefined) out.revokeCertificatesOnDeactivation = u.revokeCertificatesOnDeactivation;
  if (u.sessionLifetimeSeconds !== undefined) {
    const n = Number(u.sessionLifetimeSeconds);
    if (!Number.isSafeInteger(n)) throw SigilError.invalidArgument("out of range", "settings.session_lifetime_seconds");
    out.sessionLifetimeSeconds = n;
  }
  if (u.requiredLoginMethod !== undefined) out.requiredLoginMethod = loginMethodFromProto(u.requiredLoginMethod);
  return out;
}

export function sessionToProto(v: SessionView): LoginSessionMsg {
  const t = (d: Date | null | undefined) => (d ? timestampFromDate(d) : undefined);
  return create(LoginSessionSchema, {
    id: v.id,
    userId: v.userId,
    username: v.username,
    client: v.client ?? "",
    clientAddress: v.clientAddress ?? "",
    createdAt: t(v.createdAt),
    lastUsedAt: t(v.lastUsedAt),
    expiresAt: t(v.expiresAt),
    revokedAt: t(v.revokedAt),
    revokedReason: v.revokedReason ?? "",
    current: v.current,
  });
}
