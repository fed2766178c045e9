/** sigil.admin.v1.CertificateService: leaf issuance and lifecycle (rules in src/ra/certificates.ts). */
import { create } from "@bufbuild/protobuf";
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import {
  CertificateSchema,
  CertificateService,
  CertificateSource,
  CertificateStatus as CertStatusMsg,
  CertificateType as CertTypeMsg,
  type Certificate as CertificateMsg,
} from "../../gen/sigil/admin/v1/certificate_pb.js";
import { SigilError } from "../../core/errors.js";
import type { Certificate } from "../../db/entities/index.js";
import * as certs from "../../ra/certificates.js";
import { requireActor } from "../principal.js";
import { dateOf } from "./convert.js";
import {
  certificateStatusFromProto,
  certificateToProto,
  certificateTypeFromProto,
  exportFormatFromProto,
  keyAlgorithmFromProto,
  keyAlgorithmToProto,
} from "./convert-pki.js";
import { ts } from "./convert.js";
import type { AdminServiceDeps } from "./index.js";

const LEAF_TYPE: Record<certs.IssuedCertificate["type"], CertTypeMsg> = {
  server: CertTypeMsg.SERVER,
  client: CertTypeMsg.CLIENT,
  dual: CertTypeMsg.DUAL,
  ca: CertTypeMsg.CA,
  ocsp: CertTypeMsg.UNSPECIFIED,
};

/**
 * The wire shape of a certificate just issued, from what was signed and
 * written (no re-read of the row, no X.509 parse): it is valid, not
 * revoked, not ACME-issued, and its key algorithm is the request's.
 */
function issuedToProto(c: certs.IssuedCertificate): CertificateMsg {
  return create(CertificateSchema, {
    id: c.id,
    organizationId: c.organizationId,
    issuerCaId: c.issuerId,
    serial: c.serial,
    type: LEAF_TYPE[c.type],
    status: CertStatusMsg.VALID,
    source: c.source === "acme" ? CertificateSource.ACME : CertificateSource.ADMIN,
    commonName: c.commonName ?? "",
    dnsNames: c.dnsNames,
    ipAddresses: c.ipAddresses,
    emails: c.emails,
    notBefore: ts(c.notBefore),
    notAfter: ts(c.notAfter),
    certificatePem: c.certificatePem,
    renewedFromId: c.renewedFromId ?? "",
    hasPrivateKey: c.hasPrivateKey,
    keyAlgorithm: keyAlgorithmToProto(c.keyAlgorithm),
    createdAt: ts(c.createdAt),
  });
}

export function certificateService({ ra }: AdminServiceDeps): ServiceBinding {
  const render = async (list: Certificate[]) => {
    const extras = await certs.certificateExtras(ra, list);
    const now = ra.clock.now();
    return list.map((c) => certificateToProto(c, extras.hasPrivateKey.has(c.id), now, extras.acmeDirectoryId.get(c.id) ?? ""));
  };
  const one = async (c: Certificate) => (await render([c]))[0]!;
  return bindService(CertificateService, {
    async issueCertificate(req, ctx) {
      const actor = requireActor(ctx);
      if (req.subject && (req.subject.organization || req.subject.organizationalUnit || req.subject.country || req.subject.province || req.subject.locality)) {
        // the leaf profile writes CN only (RFC 5280 §4.1.2.6: identity goes in the subjectAltName)
        throw SigilError.invalidArgument("only common_name is supported in a leaf subject", "subject");
      }
      const cert = await certs.issueCertificate(ra, actor, {
        caId: req.caId,
        type: certificateTypeFromProto(req.type),
        commonName: req.commonName,
        dnsNames: req.dnsNames,
        ipAddresses: req.ipAddresses,
        emails: req.emails,
        keyAlgorithm: keyAlgorithmFromProto(req.keyAlgorithm),
        validityDays: req.validityDays,
      });
      return { certificate: issuedToProto(cert) };
    },
    async signCsr(req, ctx) {
      const cert = await certs.signCsr(ra, requireActor(ctx), {
        caId: req.caId,
        csrPem: req.csrPem,
        type: certificateTypeFromProto(req.type),
        validityDays: req.validityDays,
      });
      return { certificate: issuedToProto(cert) };
    },
    async getCertificate(req, ctx) {
      return { certificate: await one(await certs.getCertificate(ra, requireActor(ctx), req.id)) };
    },
    async listCertificates(req, ctx) {
      const page = await certs.listCertificates(ra, requireActor(ctx), {
        organizationId: req.organizationId,
        caId: req.caId,
        status: certificateStatusFromProto(req.status),
        nameContains: req.nameContains,
        expiringBefore: dateOf(req.expiringBefore, "expiring_before"),
        serial: req.serial,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { certificates: await render(page.items), nextPageToken: page.nextPageToken };
    },
    async getCertificateChain(req, ctx) {
      return { certificatePems: await certs.getCertificateChain(ra, requireActor(ctx), req.id) };
    },
    async revokeCertificate(req, ctx) {
      return { certificate: await one(await certs.revokeCertificate(ra, requireActor(ctx), req.id, req.reason)) };
    },
    async renewCertificate(req, ctx) {
      return { certificate: await one(await certs.renewCertificate(ra, requireActor(ctx), req.id, req.validityDays)) };
    },
    async exportCertificatePrivateKey(req, ctx) {
      const out = await certs.exportCertificatePrivateKey(ra, requireActor(ctx), req.id, exportFormatFromProto(req.format), req.password);
      return out.format === "pem"
        ? { key: { case: "privateKeyPem" as const, value: out.pem } }
        : { key: { case: "pkcs12" as const, value: new Uint8Array(out.der) } };
    },
  });
}
