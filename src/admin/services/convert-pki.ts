/**
 * Entity <-> wire shapes of CertificateAuthorityService, CertificateService
 * and AcmeService. Nothing secret crosses here: CA and certificate keys,
 * encrypted or not, and EAB HMAC keys never appear in these messages (keys
 * leave only through the Export RPCs, HMAC keys only in CreateEabKey's
 * response, built by the service itself).
 */
import { create } from "@bufbuild/protobuf";
import { rateLimitsToProto } from "./convert-rate-limits.js";
import { X509Certificate } from "node:crypto";
import { keyAlgorithmOf } from "../../ca/keys.js";
import { SigilError } from "../../core/errors.js";
import type {
  AcmeAccountStatus,
  AcmeChallengeType,
  AcmeOrderStatus,
  CertificateStatus,
  CertificateType,
  KeyAlgorithm,
} from "../../core/types.js";
import type { AcmeAccount, AcmeDirectory, AcmeEabKey, AcmeOrder, Certificate, CertificateAuthority } from "../../db/entities/index.js";
import type { AcmeCertificateKind as AcmeKind } from "../../db/entities/acme.js";
import {
  AcmeAccountSchema,
  AcmeAccountStatus as AccountStatusMsg,
  AcmeCertificateKind,
  AcmeDirectorySchema,
  AcmeOrderSchema,
  AcmeOrderStatus as OrderStatusMsg,
  ChallengeType,
  EabKeySchema,
  type AcmeAccount as AcmeAccountMsg,
  type AcmeDirectory as AcmeDirectoryMsg,
  type AcmeOrder as AcmeOrderMsg,
  type EabKey as EabKeyMsg,
} from "../../gen/sigil/admin/v1/acme_pb.js";
import {
  CertificateAuthoritySchema,
  CertificateAuthorityStatus,
  KeyStorage as KeyStorageMsg,
  type CertificateAuthority as CaMsg,
} from "../../gen/sigil/admin/v1/certificate_authority_pb.js";
import type { KeyStorage } from "../../ca/key-store.js";
import {
  CertificateSchema,
  CertificateSource,
  CertificateStatus as CertStatusMsg,
  CertificateType as CertTypeMsg,
  type Certificate as CertificateMsg,
} from "../../gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm as KeyAlgorithmMsg, PrivateKeyFormat, RevocationReason, type DistinguishedName } from "../../gen/sigil/admin/v1/common_pb.js";
import { effectiveCaStatus, type PrivateKeyExportFormat } from "../../ra/certificate-authorities.js";
import { effectiveCertificateStatus } from "../../ra/certificates.js";
import { directoryUrl } from "../../ra/acme-admin.js";
import { pemToDer } from "../../ra/issuers.js";
import type { RaContext } from "../../ra/context.js";
import type { DistinguishedName as SignerDn } from "../../ca/signer.js";
import { ts } from "./convert.js";

// ---------------------------------------------------------------------------
// enums

export function keyAlgorithmFromProto(k: KeyAlgorithmMsg, field = "key_algorithm"): KeyAlgorithm {
  switch (k) {
    case KeyAlgorithmMsg.UNSPECIFIED:
    case KeyAlgorithmMsg.P256:
      return "p256";
    case KeyAlgorithmMsg.P384:
      return "p384";
    case KeyAlgorithmMsg.RSA2048:
      return "rsa2048";
    case KeyAlgorithmMsg.RSA3072:
      return "rsa3072";
    case KeyAlgorithmMsg.RSA4096:
      return "rsa4096";
    default:
      throw SigilError.invalidArgument(`unknown key algorithm ${String(k)}`, field);
  }
}

/** KeyStorage: unspecified is the database (docs/key-custody.md) */
export function keyStorageFromProto(k: KeyStorageMsg, field = "key_storage"): KeyStorage {
  switch (k) {
    case KeyStorageMsg.UNSPECIFIED:
    case KeyStorageMsg.DATABASE:
      return "database";
    case KeyStorageMsg.PKCS11:
      return "pkcs11";
    default:
      throw SigilError.invalidArgument(`unknown key storage ${String(k)}`, field);
  }
}

export function keyStorageToProto(k: KeyStorage): KeyStorageMsg {
  return k === "pkcs11" ? KeyStorageMsg.PKCS11 : KeyStorageMsg.DATABASE;
}

export function keyAlgorithmToProto(k: KeyAlgorithm | undefined): KeyAlgorithmMsg {
  switch (k) {
    case "p256":
      return KeyAlgorithmMsg.P256;
    case "p384":
      return KeyAlgorithmMsg.P384;
    case "rsa2048":
      return KeyAlgorithmMsg.RSA2048;
    case "rsa3072":
      return KeyAlgorithmMsg.RSA3072;
    case "rsa4096":
      return KeyAlgorithmMsg.RSA4096;
    default:
      return KeyAlgorithmMsg.UNSPECIFIED;
  }
}

/** RFC 5280 §5.3.1 codes equal the enum numbers; 6 and 8 (not offered) read as unspecified. */
export function reasonToProto(r: number | null | undefined): RevocationReason {
  return r != null && r in RevocationReason && r !== 0 ? (r as RevocationReason) : RevocationReason.UNSPECIFIED;
}

export function exportFormatFromProto(f: PrivateKeyFormat): PrivateKeyExportFormat {
  switch (f) {
    case PrivateKeyFormat.UNSPECIFIED:
    case PrivateKeyFormat.PEM:
      return "pem";
    case PrivateKeyFormat.PKCS12:
      return "pkcs12";
    default:
      throw SigilError.invalidArgument(`unknown format ${String(f)}`, "format");
  }
}

/** Request certificate type -> leaf profile; UNSPECIFIED and CA are refused by the RA ("type: server, client or dual"). */
export function certificateTypeFromProto(t: CertTypeMsg): string {
  switch (t) {
    case CertTypeMsg.SERVER:
      return "server";
    case CertTypeMsg.CLIENT:
      return "client";
    case CertTypeMsg.DUAL:
      return "dual";
    case CertTypeMsg.CA:
      return "ca";
    default:
      return "";
  }
}

function certificateTypeToProto(t: CertificateType): CertTypeMsg {
  switch (t) {
    case "server":
      return CertTypeMsg.SERVER;
    case "client":
      return CertTypeMsg.CLIENT;
    case "dual":
      return CertTypeMsg.DUAL;
    case "ca":
      return CertTypeMsg.CA;
    case "ocsp":
      // OCSP signing certificates are not served by the admin API (ra/certificates.ts filters them out);
      // the proto has no value for them
      return CertTypeMsg.UNSPECIFIED;
  }
}

export function certificateStatusFromProto(s: CertStatusMsg): CertificateStatus | undefined {
  switch (s) {
    case CertStatusMsg.UNSPECIFIED:
      return undefined;
    case CertStatusMsg.VALID:
      return "valid";
    case CertStatusMsg.REVOKED:
      return "revoked";
    case CertStatusMsg.EXPIRED:
      return "expired";
    default:
      throw SigilError.invalidArgument(`unknown status ${String(s)}`, "status");
  }
}

function certificateStatusToProto(s: CertificateStatus): CertStatusMsg {
  switch (s) {
    case "valid":
      return CertStatusMsg.VALID;
    case "revoked":
      return CertStatusMsg.REVOKED;
    case "expired":
      return CertStatusMsg.EXPIRED;
  }
}

export function challengeTypeFromProto(t: ChallengeType): AcmeChallengeType {
  switch (t) {
    case ChallengeType.HTTP_01:
      return "http-01";
    case ChallengeType.DNS_01:
      return "dns-01";
    case ChallengeType.TLS_ALPN_01:
      return "tls-alpn-01";
    case ChallengeType.DNS_ACCOUNT_01:
      return "dns-account-01";
    case ChallengeType.DNS_PERSIST_01:
      return "dns-persist-01";
    default:
      throw SigilError.invalidArgument(`unknown challenge type ${String(t)}`, "challenge_types");
  }
}

function challengeTypeToProto(t: AcmeChallengeType): ChallengeType {
  switch (t) {
    case "http-01":
      return ChallengeType.HTTP_01;
    case "dns-01":
      return ChallengeType.DNS_01;
    case "tls-alpn-01":
      return ChallengeType.TLS_ALPN_01;
    case "dns-account-01":
      return ChallengeType.DNS_ACCOUNT_01;
    case "dns-persist-01":
      return ChallengeType.DNS_PERSIST_01;
  }
}

export function acmeKindFromProto(k: AcmeCertificateKind): AcmeKind {
  switch (k) {
    case AcmeCertificateKind.UNSPECIFIED:
    case AcmeCertificateKind.SERVER:
      return "server";
    case AcmeCertificateKind.CLIENT:
      return "client";
    case AcmeCertificateKind.DUAL:
      return "dual";
    default:
      throw SigilError.invalidArgument(`unknown certificate kind ${String(k)}`, "certificate_kind");
  }
}

export function acmeKindToProto(k: AcmeKind): AcmeCertificateKind {
  switch (k) {
    case "server":
      return AcmeCertificateKind.SERVER;
    case "client":
      return AcmeCertificateKind.CLIENT;
    case "dual":
      return AcmeCertificateKind.DUAL;
  }
}

export function accountStatusFromProto(s: AccountStatusMsg): AcmeAccountStatus | undefined {
  switch (s) {
    case AccountStatusMsg.UNSPECIFIED:
      return undefined;
    case AccountStatusMsg.VALID:
      return "valid";
    case AccountStatusMsg.DEACTIVATED:
      return "deactivated";
    case AccountStatusMsg.REVOKED:
      return "revoked";
    default:
      throw SigilError.invalidArgument(`unknown status ${String(s)}`, "status");
  }
}

function accountStatusToProto(s: AcmeAccountStatus): AccountStatusMsg {
  switch (s) {
    case "valid":
      return AccountStatusMsg.VALID;
    case "deactivated":
      return AccountStatusMsg.DEACTIVATED;
    case "revoked":
      return AccountStatusMsg.REVOKED;
  }
}

const ORDER_STATUSES: Record<AcmeOrderStatus, OrderStatusMsg> = {
  pending: OrderStatusMsg.PENDING,
  ready: OrderStatusMsg.READY,
  processing: OrderStatusMsg.PROCESSING,
  valid: OrderStatusMsg.VALID,
  invalid: OrderStatusMsg.INVALID,
};

export function orderStatusFromProto(s: OrderStatusMsg): AcmeOrderStatus | undefined {
  if (s === OrderStatusMsg.UNSPECIFIED) return undefined;
  const hit = (Object.entries(ORDER_STATUSES) as Array<[AcmeOrderStatus, OrderStatusMsg]>).find(([, v]) => v === s);
  if (!hit) throw SigilError.invalidArgument(`unknown status ${String(s)}`, "status");
  return hit[0];
}

/**
 * A request subject -> the signer's name. The signer encodes C, O, OU and CN
 * (RFC 5280 §4.1.2.4); province and locality are refused rather than dropped.
 */
export function subjectFromProto(dn: DistinguishedName | undefined, field = "subject"): SignerDn {
  if (dn?.province) throw SigilError.invalidArgument("province (ST) is not supported", `${field}.province`);
  if (dn?.locality) throw SigilError.invalidArgument("locality (L) is not supported", `${field}.locality`);
  return {
    commonName: dn?.commonName ?? "",
    ...(dn?.organization ? { organization: dn.organization } : {}),
    ...(dn?.organizationalUnit ? { organizationalUnit: dn.organizationalUnit } : {}),
    ...(dn?.country ? { country: dn.country } : {}),
  };
}

// ---------------------------------------------------------------------------
// messages

/** A CA without its key (the key is never part of this message). */
export function caToProto(ca: CertificateAuthority, now: Date): CaMsg {
  const status = effectiveCaStatus(ca, now);
  return create(CertificateAuthoritySchema, {
    id: ca.id,
    organizationId: ca.organization.id,
    name: ca.name,
    description: ca.description,
    parentId: ca.parent?.id ?? "",
    pathLength: ca.pathLength ?? undefined,
    allowLeafCerts: ca.allowLeafCerts,
    crlBaseUrl: ca.crlBaseUrl ?? "",
    keyAlgorithm: keyAlgorithmToProto(ca.keyAlgorithm),
    certificatePem: ca.certificatePem,
    status:
      status === "active"
        ? CertificateAuthorityStatus.ACTIVE
        : status === "revoked"
          ? CertificateAuthorityStatus.REVOKED
          : status === "pending_activation"
            ? CertificateAuthorityStatus.PENDING_ACTIVATION
            : CertificateAuthorityStatus.EXPIRED,
    notBefore: ts(ca.notBefore),
    notAfter: ts(ca.notAfter),
    serial: ca.serial,
    subject: ca.subject,
    revocationReason: reasonToProto(ca.revocationReason),
    revokedAt: ts(ca.revokedAt),
    createdAt: ts(ca.createdAt),
    updatedAt: ts(ca.updatedAt),
    csrPem: ca.csrPem ?? "",
    offlineKey: ca.offlineKey,
    keyStorage: keyStorageToProto(ca.keyStorage),
    keyReference: ca.keyReference ?? "",
  });
}

function certKeyAlgorithm(pem: string): KeyAlgorithm | undefined {
  try {
    return keyAlgorithmOf(new X509Certificate(pemToDer(pem)).publicKey);
  } catch {
    return undefined;
  }
}

/** A certificate without any key; `hasPrivateKey` says whether Sigil holds one. */
export function certificateToProto(c: Certificate, hasPrivateKey: boolean, now: Date, acmeDirectoryId = ""): CertificateMsg {
  return create(CertificateSchema, {
    id: c.id,
    organizationId: c.organization.id,
    issuerCaId: c.issuer.id,
    serial: c.serial,
    type: certificateTypeToProto(c.type),
    status: certificateStatusToProto(effectiveCertificateStatus(c, now)),
    source: c.source === "acme" ? CertificateSource.ACME : CertificateSource.ADMIN,
    commonName: c.commonName ?? "",
    dnsNames: c.dnsNames,
    ipAddresses: c.ipAddresses,
    emails: c.emails,
    notBefore: ts(c.notBefore),
    notAfter: ts(c.notAfter),
    certificatePem: c.certificatePem,
    revocationReason: reasonToProto(c.revocationReason),
    revokedAt: ts(c.revokedAt),
    renewedFromId: c.renewedFrom?.id ?? "",
    hasPrivateKey,
    keyAlgorithm: keyAlgorithmToProto(certKeyAlgorithm(c.certificatePem)),
    createdAt: ts(c.createdAt),
    acmeDirectoryId,
  });
}

export function directoryToProto(ctx: RaContext, d: AcmeDirectory): AcmeDirectoryMsg {
  return create(AcmeDirectorySchema, {
    id: d.id,
    name: d.name,
    organizationId: d.organization.id,
    caId: d.ca.id,
    eabRequired: d.eabRequired,
    allowedDnsSuffixes: d.allowedDnsSuffixes,
    allowedIpRanges: d.allowedIpRanges,
    challengeTypes: d.challengeTypes.map(challengeTypeToProto),
    maxValidityDays: d.maxValidityDays,
    certificateKind: acmeKindToProto(d.certificateKind),
    termsOfServiceUrl: d.termsOfServiceUrl ?? "",
    websiteUrl: d.websiteUrl ?? "",
    caaIdentities: d.caaIdentities,
    validationAllowedNetworks: d.validationAllowedNetworks,
    caaEnabled: d.caaEnabled,
    rateLimits: rateLimitsToProto(d.rateLimits),
    directoryUrl: directoryUrl(ctx, d.name),
    createdAt: ts(d.createdAt),
    updatedAt: ts(d.updatedAt),
  });
}

/** EAB key metadata; never the HMAC key. */
export function eabKeyToProto(k: AcmeEabKey): EabKeyMsg {
  return create(EabKeySchema, {
    id: k.id,
    kid: k.id,
    directoryId: k.directory.id,
    organizationId: k.organization.id,
    description: k.description,
    createdAt: ts(k.createdAt),
    usedAt: ts(k.usedAt),
    boundAccountId: k.usedByAccountId ?? "",
    revokedAt: ts(k.revokedAt),
  });
}

export function accountToProto(a: AcmeAccount): AcmeAccountMsg {
  return create(AcmeAccountSchema, {
    id: a.id,
    directoryId: a.directory.id,
    organizationId: a.organization.id,
    status: accountStatusToProto(a.status),
    contacts: a.contact,
    eabKeyId: a.eabKeyId ?? "",
    keyThumbprint: a.keyThumbprint,
    createdAt: ts(a.createdAt),
  });
}

export function orderToProto(o: AcmeOrder): AcmeOrderMsg {
  return create(AcmeOrderSchema, {
    id: o.id,
    accountId: o.account.id,
    directoryId: o.directory.id,
    status: ORDER_STATUSES[o.status] ?? OrderStatusMsg.UNSPECIFIED,
    identifiers: o.identifiers.map((i) => ({ type: i.type, value: i.value })),
    expires: ts(o.expires),
    notBefore: ts(o.notBefore),
    notAfter: ts(o.notAfter),
    certificateId: o.certificateId ?? "",
    error: o.error ? JSON.stringify(o.error) : "",
    createdAt: ts(o.createdAt),
    replaces: o.replaces ?? "",
    profile: o.profile ?? "",
  });
}
