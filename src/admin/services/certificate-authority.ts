/** sigil.admin.v1.CertificateAuthorityService: CA lifecycle (rules in src/ra/certificate-authorities.ts). */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { SigilError } from "../../core/errors.js";
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { CertificateAuthorityService } from "../../gen/sigil/admin/v1/certificate_authority_pb.js";
import * as cas from "../../ra/certificate-authorities.js";
import { requireActor } from "../principal.js";
import { caToProto, exportFormatFromProto, keyAlgorithmFromProto, keyStorageFromProto, subjectFromProto } from "./convert-pki.js";
import type { AdminServiceDeps } from "./index.js";

/** CA validity when the request gives 0: ten years for a root, five for an intermediate. */
export const DEFAULT_ROOT_VALIDITY_DAYS = 3650;
export const DEFAULT_INTERMEDIATE_VALIDITY_DAYS = 1825;

export function certificateAuthorityService({ ra }: AdminServiceDeps): ServiceBinding {
  const now = () => ra.clock.now();
  return bindService(CertificateAuthorityService, {
    async createRootCertificateAuthority(req, ctx) {
      const actor = requireActor(ctx);
      const ca = await cas.createRootCa(ra, actor, {
        organizationId: req.organizationId,
        name: req.name,
        description: req.description,
        subject: subjectFromProto(req.subject),
        keyAlgorithm: keyAlgorithmFromProto(req.keyAlgorithm),
        validityDays: req.validityDays || DEFAULT_ROOT_VALIDITY_DAYS,
        pathLength: req.pathLength ?? null,
        allowLeafCerts: req.allowLeafCerts,
        crlBaseUrl: req.crlBaseUrl || null,
        keyStorage: keyStorageFromProto(req.keyStorage),
      });
      return { certificateAuthority: caToProto(ca, now()) };
    },
    async createIntermediateCertificateAuthority(req, ctx) {
      const actor = requireActor(ctx);
      if (req.externalParent) {
        // docs/key-custody.md "Offline root": the key and CSR now, the certificate at activation
        if (req.parentId) throw SigilError.invalidArgument("must be empty with external_parent", "parent_id");
        const ca = await cas.createPendingIntermediateCa(ra, actor, {
          organizationId: req.organizationId,
          name: req.name,
          description: req.description,
          subject: subjectFromProto(req.subject),
          keyAlgorithm: keyAlgorithmFromProto(req.keyAlgorithm),
          validityDays: DEFAULT_INTERMEDIATE_VALIDITY_DAYS,
          allowLeafCerts: req.allowLeafCerts,
          crlBaseUrl: req.crlBaseUrl || null,
          keyStorage: keyStorageFromProto(req.keyStorage),
        });
        return { certificateAuthority: caToProto(ca, now()) };
      }
      const parent = await cas.getCa(ra, actor, req.parentId);
      const ca = await cas.createIntermediateCa(ra, actor, parent.id, {
        organizationId: parent.organization.id,
        name: req.name,
        description: req.description,
        subject: subjectFromProto(req.subject),
        keyAlgorithm: keyAlgorithmFromProto(req.keyAlgorithm),
        validityDays: req.validityDays || DEFAULT_INTERMEDIATE_VALIDITY_DAYS,
        pathLength: req.pathLength ?? null,
        allowLeafCerts: req.allowLeafCerts,
        crlBaseUrl: req.crlBaseUrl || null,
        keyStorage: keyStorageFromProto(req.keyStorage),
      });
      return { certificateAuthority: caToProto(ca, now()) };
    },
    async importCertificateAuthority(req, ctx) {
      const ca = await cas.importCa(ra, requireActor(ctx), {
        organizationId: req.organizationId,
        name: req.name,
        description: req.description,
        certificatePem: req.certificatePem,
        privateKeyPem: req.privateKeyPem,
        privateKeyPassword: req.privateKeyPassword,
        parentId: req.parentId,
        allowLeafCerts: req.allowLeafCerts,
        crlBaseUrl: req.crlBaseUrl,
        keyStorage: keyStorageFromProto(req.keyStorage),
      });
      return { certificateAuthority: caToProto(ca, now()) };
    },
    async getCertificateAuthority(req, ctx) {
      return { certificateAuthority: caToProto(await cas.getCa(ra, requireActor(ctx), req.id), now()) };
    },
    async listCertificateAuthorities(req, ctx) {
      const page = await cas.listCas(ra, requireActor(ctx), {
        organizationId: req.organizationId,
        rootsOnly: req.rootsOnly,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      const t = now();
      return { certificateAuthorities: page.items.map((c) => caToProto(c, t)), nextPageToken: page.nextPageToken };
    },
    async getCertificateAuthorityChain(req, ctx) {
      return { certificatePems: await cas.getCaChain(ra, requireActor(ctx), req.id) };
    },
    async listCertificateAuthorityChildren(req, ctx) {
      const page = await cas.listCaChildren(ra, requireActor(ctx), req.id, { pageSize: req.pageSize, pageToken: req.pageToken });
      const t = now();
      return { certificateAuthorities: page.items.map((c) => caToProto(c, t)), nextPageToken: page.nextPageToken };
    },
    async updateCertificateAuthority(req, ctx) {
      const ca = await cas.updateCa(ra, requireActor(ctx), req.id, {
        description: req.description,
        crlBaseUrl: req.crlBaseUrl,
        allowLeafCerts: req.allowLeafCerts,
      });
      return { certificateAuthority: caToProto(ca, now()) };
    },
    async deleteCertificateAuthority(req, ctx) {
      await cas.deleteCa(ra, requireActor(ctx), req.id);
      return {};
    },
    async revokeCertificateAuthority(req, ctx) {
      const ca = await cas.revokeCa(ra, requireActor(ctx), req.id, req.reason);
      return { certificateAuthority: caToProto(ca, now()) };
    },
    async activateIntermediateCertificateAuthority(req, ctx) {
      const ca = await cas.activateIntermediateCa(ra, requireActor(ctx), req.id, req.certificatePem, req.chainPems);
      return { certificateAuthority: caToProto(ca, now()) };
    },
    async importCertificateAuthorityCrl(req, ctx) {
      const r = await cas.importCaCrl(ra, requireActor(ctx), req.id, Buffer.from(req.crl));
      return { crlNumber: r.crlNumber.toString(), thisUpdate: timestampFromDate(r.thisUpdate), nextUpdate: timestampFromDate(r.nextUpdate), entryCount: r.entryCount };
    },
    // the only response that ever carries a CA private key (always audited in the RA)
    async exportCertificateAuthorityPrivateKey(req, ctx) {
      const out = await cas.exportCaPrivateKey(ra, requireActor(ctx), req.id, exportFormatFromProto(req.format), req.password);
      return out.format === "pem"
        ? { key: { case: "privateKeyPem" as const, value: out.pem } }
        : { key: { case: "pkcs12" as const, value: new Uint8Array(out.der) } };
    },
  });
}
