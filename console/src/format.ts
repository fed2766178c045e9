import { CertificateSource, CertificateStatus, CertificateType } from "../../src/gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm, RevocationReason } from "../../src/gen/sigil/admin/v1/common_pb.js";

export const STATUS: Record<number, string> = {
  [CertificateStatus.VALID]: "valid",
  [CertificateStatus.REVOKED]: "revoked",
  [CertificateStatus.EXPIRED]: "expired",
};
export const SOURCE: Record<number, string> = { [CertificateSource.ADMIN]: "admin", [CertificateSource.ACME]: "ACME" };
export const TYPE: Record<number, string> = {
  [CertificateType.SERVER]: "server",
  [CertificateType.CLIENT]: "client",
  [CertificateType.DUAL]: "dual",
  [CertificateType.CA]: "CA",
};
export const KEY: Record<number, string> = {
  [KeyAlgorithm.P256]: "ECDSA P-256",
  [KeyAlgorithm.P384]: "ECDSA P-384",
  [KeyAlgorithm.RSA2048]: "RSA 2048",
  [KeyAlgorithm.RSA3072]: "RSA 3072",
  [KeyAlgorithm.RSA4096]: "RSA 4096",
};
// RFC 5280 §5.3.1 CRLReason names
export const REASON: [RevocationReason, string][] = [
  [RevocationReason.UNSPECIFIED, "unspecified"],
  [RevocationReason.KEY_COMPROMISE, "keyCompromise"],
  [RevocationReason.CA_COMPROMISE, "cACompromise"],
  [RevocationReason.AFFILIATION_CHANGED, "affiliationChanged"],
  [RevocationReason.SUPERSEDED, "superseded"],
  [RevocationReason.CESSATION_OF_OPERATION, "cessationOfOperation"],
  [RevocationReason.PRIVILEGE_WITHDRAWN, "privilegeWithdrawn"],
  [RevocationReason.AA_COMPROMISE, "aACompromise"],
];
export const reasonName = (r: number) => REASON.find(([v]) => v === r)?.[1] ?? String(r);

/** Splits a list typed by an operator: commas, spaces or new lines. */
export function splitList(s: string): string[] {
  return s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}
