import { EntitySchema, type Opt } from "@mikro-orm/core";
import type { CertificateSource, CertificateStatus, CertificateType, RevocationReason } from "../../core/types.js";
import { createdAtProperty, idProperty, optionalTimestamp, timestamp } from "./common.js";
import { CertificateAuthority } from "./certificate-authority.js";
import { Organization } from "./organization.js";
import { User } from "./user.js";

/**
 * Every certificate a CA signed (leaves, intermediates as type "ca", the
 * responder's delegated OCSP signing certificates as type "ocsp"), so
 * (issuer, serial) is unique across all of them. Never deleted: revoked or
 * expired. The row is committed in the same transaction that reserves its
 * serial, before the certificate is used or returned. Properties with a
 * default are `Opt`, so `em.create(Certificate, {...})` needs no cast.
 */
export class Certificate {
  id!: string;
  /** lower-case hex of the DER serial; unique per issuer */
  serial!: string;
  issuer!: CertificateAuthority;
  organization!: Organization;
  type!: CertificateType;
  status: Opt<CertificateStatus> = "valid";
  commonName?: string | null;
  dnsNames: Opt<string[]> = [];
  ipAddresses: Opt<string[]> = [];
  emails: Opt<string[]> = [];
  notBefore!: Date;
  notAfter!: Date;
  revokedAt?: Date | null;
  revocationReason?: RevocationReason | null;
  /** the admin user who revoked it (null for ACME revocations) */
  revokedBy?: User | null;
  /** who revoked it, as text: "user:<name>", "acme-account:<id>", "acme-cert-key" */
  revokedByName?: string | null;
  creator?: User | null;
  source!: CertificateSource;
  certificatePem!: string;
  /** present only for server-generated keys; encrypted like CA keys */
  encryptedPrivateKey?: string | null;
  renewedFrom?: Certificate | null;
  /** ACME account and order ids when source = acme */
  acmeAccountId?: string | null;
  acmeOrderId?: string | null;
  createdAt!: Opt<Date>;
}

export const CertificateSchema = new EntitySchema<Certificate>({
  class: Certificate,
  tableName: "certificates",
  uniques: [{ name: "certificates_issuer_serial_unique", properties: ["issuer", "serial"] }],
  indexes: [
    { properties: ["organization", "status"] },
    { properties: ["notAfter"] },
    // the ACME clean-up job keeps an order a certificate names (src/db/store/cleanup.ts)
    { name: "certificates_acme_order_id_index", properties: ["acmeOrderId"] },
    // the CRL query (src/ra/crl.ts): one issuer's revoked rows; partial, so valid rows are neither indexed nor scanned
    {
      name: "certificates_revoked_issuer_index",
      expression: `create index "certificates_revoked_issuer_index" on "certificates" ("issuer_id") where "status" = 'revoked'`,
    },
    // RFC 9773 renewal campaigns count the certificates renewed from a member (partial: most rows renew nothing)
    {
      name: "certificates_renewed_from_index",
      expression: `create index "certificates_renewed_from_index" on "certificates" ("renewed_from_id") where "renewed_from_id" is not null`,
    },
    // held keys still sealed directly by the master key (legacy sgk1): the start-up proof and master-key rotation (docs/key-custody.md)
    {
      name: "certificates_legacy_key_blob_index",
      expression: `create index "certificates_legacy_key_blob_index" on "certificates" ("id") where "encrypted_private_key" like 'sgk1.%'`,
    },
  ],
  properties: {
    id: idProperty,
    serial: { type: "string", length: 64 },
    issuer: { kind: "m:1", entity: () => CertificateAuthority, deleteRule: "restrict" },
    organization: { kind: "m:1", entity: () => Organization, deleteRule: "restrict" },
    type: { type: "string", length: 16 },
    status: { type: "string", length: 16, default: "valid" },
    commonName: { type: "string", length: 255, nullable: true },
    dnsNames: { type: "json", default: "[]" },
    ipAddresses: { type: "json", default: "[]" },
    emails: { type: "json", default: "[]" },
    notBefore: timestamp,
    notAfter: timestamp,
    revokedAt: optionalTimestamp,
    revocationReason: { type: "smallint", nullable: true },
    revokedBy: { kind: "m:1", entity: () => User, nullable: true, deleteRule: "restrict" },
    revokedByName: { type: "string", length: 255, nullable: true },
    creator: { kind: "m:1", entity: () => User, nullable: true, deleteRule: "restrict" },
    source: { type: "string", length: 16 },
    certificatePem: { type: "text" },
    encryptedPrivateKey: { type: "text", nullable: true, lazy: true },
    renewedFrom: { kind: "m:1", entity: () => Certificate, nullable: true, deleteRule: "restrict" },
    acmeAccountId: { type: "uuid", nullable: true, index: true },
    acmeOrderId: { type: "uuid", nullable: true },
    createdAt: createdAtProperty,
  },
});
