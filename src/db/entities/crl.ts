import { BigIntType, EntitySchema, type Opt } from "@mikro-orm/core";
import { createdAtProperty, idProperty, timestamp } from "./common.js";
import { CertificateAuthority } from "./certificate-authority.js";
import { Certificate } from "./certificate.js";

/**
 * The current CRL of one CA (RFC 5280 §5), as signed: relying parties are
 * served these bytes, never a CRL re-signed per request. One row per CA,
 * replaced (in the same transaction that increments
 * CertificateAuthority.crlNumber under a row lock) each time the CRL is
 * regenerated.
 */
export class StoredCrl {
  /** the issuing CA; also the primary key (one current CRL per CA) */
  ca!: CertificateAuthority;
  /** RFC 5280 §5.2.3 cRLNumber of `der` */
  crlNumber!: bigint;
  thisUpdate!: Date;
  nextUpdate!: Date;
  /** the CertificateList DER */
  der!: Buffer;
  /** strong ETag (quoted hex SHA-256 prefix of `der`) */
  etag!: string;
  entryCount!: number;
  /**
   * The CA's RevocationGeneration.generation read before the revoked rows were
   * (so every revocation it counts is listed); a greater current generation
   * means a revocation committed since, and the periodic job rebuilds the CRL.
   */
  revocationGeneration!: bigint;
  createdAt!: Opt<Date>;
}

export const StoredCrlSchema = new EntitySchema<StoredCrl>({
  class: StoredCrl,
  tableName: "crls",
  properties: {
    ca: { kind: "m:1", entity: () => CertificateAuthority, primary: true, deleteRule: "cascade" },
    crlNumber: { type: new BigIntType("bigint") },
    thisUpdate: timestamp,
    nextUpdate: timestamp,
    der: { type: "blob", lazy: true },
    etag: { type: "string", length: 80 },
    entryCount: { type: "integer" },
    revocationGeneration: { type: new BigIntType("bigint"), default: 0 },
    createdAt: createdAtProperty,
  },
});

/**
 * How many revocations each CA has had: bumped by a database trigger
 * (certificates_revocation_generation, migration RevocationGenerations) in the
 * transaction that sets a certificate's status to 'revoked', whichever code
 * path does it. The CRL publisher compares it with StoredCrl.revocationGeneration
 * to find revocations no CRL lists yet (the revoking instance died before its
 * debounced rebuild), and OCSP caches on every instance poll it to drop
 * answers a revocation made stale. A row per CA that has had a revocation.
 */
export class RevocationGeneration {
  ca!: CertificateAuthority;
  generation!: Opt<bigint>;
}

export const RevocationGenerationSchema = new EntitySchema<RevocationGeneration>({
  class: RevocationGeneration,
  tableName: "revocation_generations",
  properties: {
    ca: { kind: "m:1", entity: () => CertificateAuthority, primary: true, deleteRule: "cascade" },
    generation: { type: new BigIntType("bigint"), default: 0 },
  },
});

/**
 * A delegated OCSP signing certificate (RFC 6960 §4.2.2.2: id-kp-OCSPSigning,
 * with id-pkix-ocsp-nocheck §4.2.2.2.1) that Sigil issued under `ca` for its
 * own responder. The private key is encrypted under the master key like CA
 * keys, bound to this row's id. Old rows stay (history); the newest valid one
 * signs. The certificate itself is a Certificate row of type "ocsp" (same id),
 * written in the same transaction: its serial is unique among everything the
 * CA signed, and it is recorded with the rest.
 */
export class OcspSigner {
  id!: string;
  ca!: CertificateAuthority;
  /** the certificates row of this signing certificate (type "ocsp", same id) */
  certificate!: Certificate;
  /** lower-case hex, like Certificate.serial */
  serial!: string;
  certificatePem!: string;
  encryptedPrivateKey!: string;
  notBefore!: Date;
  notAfter!: Date;
  createdAt!: Opt<Date>;
}

export const OcspSignerSchema = new EntitySchema<OcspSigner>({
  class: OcspSigner,
  tableName: "ocsp_signers",
  indexes: [{ properties: ["ca", "notAfter"] }],
  properties: {
    id: idProperty,
    ca: { kind: "m:1", entity: () => CertificateAuthority, deleteRule: "cascade" },
    certificate: { kind: "1:1", entity: () => Certificate, owner: true, deleteRule: "restrict" },
    serial: { type: "string", length: 64 },
    certificatePem: { type: "text" },
    encryptedPrivateKey: { type: "text", lazy: true },
    notBefore: timestamp,
    notAfter: timestamp,
    createdAt: createdAtProperty,
  },
});
