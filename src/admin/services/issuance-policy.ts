/** sigil.admin.v1.IssuancePolicyService: the admin plane's issuance policies (rules in src/ra/issuance-policies.ts). */
import { create } from "@bufbuild/protobuf";
import { SigilError } from "../../core/errors.js";
import type { KeyAlgorithm, LeafType } from "../../core/types.js";
import { KeyAlgorithm as KeyAlgorithmMsg } from "../../gen/sigil/admin/v1/common_pb.js";
import { CertificateType as CertTypeMsg } from "../../gen/sigil/admin/v1/certificate_pb.js";
import {
  IssuancePolicySchema,
  IssuancePolicyService,
  IssuancePolicySubjectType as SubjectMsg,
  type IssuancePolicy as IssuancePolicyMsg,
  type IssuancePolicyRules as RulesMsg,
} from "../../gen/sigil/admin/v1/issuance_policy_pb.js";
import * as policies from "../../ra/issuance-policies.js";
import { bindService, type ServiceBinding } from "../grpc-adapter.js";
import { requireActor } from "../principal.js";
import { certificateTypeFromProto, keyAlgorithmToProto } from "./convert-pki.js";
import { ts } from "./convert.js";
import type { AdminServiceDeps } from "./index.js";

const SUBJECTS: Record<policies.IssuancePolicySubjectType, SubjectMsg> = {
  organization: SubjectMsg.ORGANIZATION,
  user: SubjectMsg.USER,
  serviceAccount: SubjectMsg.SERVICE_ACCOUNT,
};

function subjectFromProto(s: SubjectMsg): policies.IssuancePolicySubjectType {
  const hit = (Object.entries(SUBJECTS) as Array<[policies.IssuancePolicySubjectType, SubjectMsg]>).find(([, v]) => v === s);
  if (!hit) throw SigilError.invalidArgument("required: organization, user or service account", "subject_type");
  return hit[0];
}

const KEY_TYPES: Partial<Record<KeyAlgorithmMsg, KeyAlgorithm>> = {
  [KeyAlgorithmMsg.P256]: "p256",
  [KeyAlgorithmMsg.P384]: "p384",
  [KeyAlgorithmMsg.RSA2048]: "rsa2048",
  [KeyAlgorithmMsg.RSA3072]: "rsa3072",
  [KeyAlgorithmMsg.RSA4096]: "rsa4096",
};

const KINDS: Record<LeafType, CertTypeMsg> = { server: CertTypeMsg.SERVER, client: CertTypeMsg.CLIENT, dual: CertTypeMsg.DUAL };

/** The wire rules as the RA takes them: an unset or unknown enum value stays "" so the RA names it (rules.key_types[i]). */
export function rulesFromProto(r: RulesMsg | undefined): policies.IssuancePolicyRulesInput {
  return {
    dnsNames: r?.dnsNames ?? [],
    emails: r?.emails ?? [],
    ipRanges: r?.ipRanges ?? [],
    caIds: r?.caIds ?? [],
    certificateKinds: (r?.certificateTypes ?? []).map(certificateTypeFromProto),
    maxValidityDays: r?.maxValidityDays ?? 0,
    keyTypes: (r?.keyTypes ?? []).map((k) => KEY_TYPES[k] ?? ""),
  };
}

export function issuancePolicyToProto(p: policies.IssuancePolicyRecord): IssuancePolicyMsg {
  return create(IssuancePolicySchema, {
    id: p.id,
    organizationId: p.organizationId,
    subjectType: SUBJECTS[p.subjectType],
    subjectId: p.subjectId,
    rules: {
      dnsNames: p.rules.dnsNames,
      emails: p.rules.emails,
      ipRanges: p.rules.ipRanges,
      caIds: p.rules.caIds,
      certificateTypes: p.rules.certificateKinds.map((k) => KINDS[k]),
      maxValidityDays: p.rules.maxValidityDays,
      keyTypes: p.rules.keyTypes.map((k) => keyAlgorithmToProto(k)),
    },
    description: p.description,
    createdAt: ts(p.createdAt),
    updatedAt: ts(p.updatedAt),
  });
}

export function issuancePolicyService({ ra }: AdminServiceDeps): ServiceBinding {
  return bindService(IssuancePolicyService, {
    async createIssuancePolicy(req, ctx) {
      const p = await policies.createIssuancePolicy(ra, requireActor(ctx), {
        subjectType: subjectFromProto(req.subjectType),
        subjectId: req.subjectId || undefined,
        rules: rulesFromProto(req.rules),
        description: req.description,
      });
      return { issuancePolicy: issuancePolicyToProto(p) };
    },
    async getIssuancePolicy(req, ctx) {
      return { issuancePolicy: issuancePolicyToProto(await policies.getIssuancePolicy(ra, requireActor(ctx), req.id)) };
    },
    async listIssuancePolicies(req, ctx) {
      const page = await policies.listIssuancePolicies(ra, requireActor(ctx), {
        organizationId: req.organizationId || undefined,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { issuancePolicies: page.items.map(issuancePolicyToProto), nextPageToken: page.nextPageToken };
    },
    async updateIssuancePolicy(req, ctx) {
      const p = await policies.updateIssuancePolicy(ra, requireActor(ctx), req.id, { rules: rulesFromProto(req.rules), description: req.description });
      return { issuancePolicy: issuancePolicyToProto(p) };
    },
    async deleteIssuancePolicy(req, ctx) {
      await policies.deleteIssuancePolicy(ra, requireActor(ctx), req.id);
      return {};
    },
  });
}
