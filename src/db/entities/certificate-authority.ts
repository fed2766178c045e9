import { BigIntType, EntitySchema, type Opt } from "@mikro-orm/core";
import type { CaStatus, KeyAlgorithm, RevocationReason } from "../../core/types.js";
import { createdAtProperty, idProperty, optionalTimestamp, timestamp, updatedAtProperty } from "./common.js";
import { Organization } from "./organization.js";
import { User } from "./user.js";

/**
 * A root or intermediate CA of one organization. The private key is stored
 * encrypted (src/ca/key-encryption.ts). Properties with a default are `Opt`,
 * so `em.create(CertificateAuthority, {...})` needs no cast.
 */
export class CertificateAuthority {
  id!: string;
  name!: string;
  description: Opt<string> = "";
  organization!: Organization;
  /** null for a root */
  parent?: CertificateAuthority | null;
  /** RFC 5280 §4.2.1.9 pathLenConstraint; null = unlimited */
  pathLength?: number | null;
  allowLeafCerts: Opt<boolean> = true;
  /** overrides SIGIL_PUBLIC_URL as the base of the CRL DP, AIA and OCSP URLs */
  crlBaseUrl?: string | null;
  keyAlgorithm!: KeyAlgorithm;
  /** where the key lives: "database" (encryptedPrivateKey) or "pkcs11" (a token; src/ca/key-store.ts) */
  keyStorage: Opt<"database" | "pkcs11"> = "database";
  /** the PKCS#11 key's CKA_ID in hex; null for database keys */
  keyReference?: string | null;
  /**
   * AES-256-GCM blob bound to this row's id; never leaves the server except through the audited export.
   * null when the key is offline (offlineKey).
   */
  encryptedPrivateKey?: string | null;
  /** empty while status is pending_activation (the certificate does not exist yet) */
  certificatePem!: string;
  /** empty while status is pending_activation */
  serial!: string;
  subject!: string;
  notBefore!: Date;
  notAfter!: Date;
  status: Opt<CaStatus> = "active";
  revokedAt?: Date | null;
  revocationReason?: RevocationReason | null;
  /** the last CRL number issued (RFC 5280 §5.2.3); incremented under a row lock */
  crlNumber: Opt<bigint> = 0n;
  creator?: User | null;
  /** set when the CA was deleted: the row stays (its certificates reference it) but the admin API no longer shows it */
  deletedAt?: Date | null;
  /** the PKCS#10 request (PEM) of a pending_activation CA, for an offline root to sign; null otherwise */
  csrPem?: string | null;
  /** Sigil does not hold the key (an offline root): no signing; the CRL is imported (docs/key-custody.md) */
  offlineKey: Opt<boolean> = false;
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const CertificateAuthoritySchema = new EntitySchema<CertificateAuthority>({
  class: CertificateAuthority,
  tableName: "certificate_authorities",
  uniques: [{ properties: ["organization", "name"] }],
  properties: {
    id: idProperty,
    name: { type: "string", length: 128 },
    description: { type: "text", default: "" },
    organization: { kind: "m:1", entity: () => Organization, deleteRule: "restrict" },
    parent: { kind: "m:1", entity: () => CertificateAuthority, nullable: true, deleteRule: "restrict" },
    pathLength: { type: "integer", nullable: true },
    allowLeafCerts: { type: "boolean", default: true },
    crlBaseUrl: { type: "string", length: 512, nullable: true },
    keyAlgorithm: { type: "string", length: 16 },
    keyStorage: { type: "string", length: 16, default: "database" },
    keyReference: { type: "string", length: 255, nullable: true },
    encryptedPrivateKey: { type: "text", nullable: true, lazy: true },
    certificatePem: { type: "text" },
    serial: { type: "string", length: 64 },
    subject: { type: "string", length: 512 },
    notBefore: timestamp,
    notAfter: timestamp,
    status: { type: "string", length: 32, default: "active" },
    revokedAt: optionalTimestamp,
    revocationReason: { type: "smallint", nullable: true },
    crlNumber: { type: new BigIntType("bigint"), default: 0 },
    creator: { kind: "m:1", entity: () => User, nullable: true, deleteRule: "restrict" },
    deletedAt: optionalTimestamp,
    csrPem: { type: "text", nullable: true },
    offlineKey: { type: "boolean", default: false },
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});
