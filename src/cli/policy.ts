/** `sigil policy ...`: IssuancePolicyService (the admin plane's issuance policies, docs/issuance-policies.md). */
import { CertificateType } from "../gen/sigil/admin/v1/certificate_pb.js";
import { KeyAlgorithm } from "../gen/sigil/admin/v1/common_pb.js";
import {
  CreateIssuancePolicyResponseSchema,
  DeleteIssuancePolicyResponseSchema,
  GetIssuancePolicyResponseSchema,
  IssuancePolicyService,
  IssuancePolicySubjectType as Subject,
  ListIssuancePoliciesResponseSchema,
  UpdateIssuancePolicyResponseSchema,
  type IssuancePolicy,
  type IssuancePolicyRules,
} from "../gen/sigil/admin/v1/issuance_policy_pb.js";
import { AdminCli, details, list, optionalInt, optionalString, parseCommand, runCli, table, UsageError, when } from "./admin-client.js";
import { isHelpWord, type CliIo } from "./io.js";
import { arg } from "./pki-args.js";

const USAGE = `usage: sigil policy <command> [options]

Issuance policies: which names, IP ranges, CAs, certificate types, validity
and key types an organization's principals (or one user / service account)
may request through IssueCertificate, SignCsr and RenewCertificate. A request
must pass every policy that applies; once one applies, what it does not list
is refused.

commands:
  create (--org ORG_ID | --user USER_ID | --sa SERVICE_ACCOUNT_ID) [rules] [--description TEXT]
  get ID
  list [--org ORG_ID] [--page-size N] [--page-token T]
  update ID [rules] [--description TEXT]   only the rules given change (the others are kept)
  delete ID

rules (comma-separated or repeated):
  --dns PATTERN      www.example.com (that name), *.example.com (one label), .example.com (any depth)
  --email PATTERN    alice@example.com, *@example.com
  --ip CIDR          10.0.0.0/8, 2001:db8::/32
  --ca CA_ID         CAs that may issue (none: any CA of the organization)
  --type KIND        server, client, dual (none: any)
  --max-days N       longest validity (0: the organization's maximum)
  --key-type TYPE    p256, p384, rsa2048, rsa3072, rsa4096 (none: any)
  --clear LIST       empty these lists on update (dns,email,ip,ca,type,key-type)

common options: --server host:port --json --tls --tls-ca FILE --client-cert FILE --client-key FILE
`;

const SUBJECT_NAMES: Record<number, string> = {
  [Subject.ORGANIZATION]: "organization",
  [Subject.USER]: "user",
  [Subject.SERVICE_ACCOUNT]: "service account",
};

const TYPES: Record<string, CertificateType> = { server: CertificateType.SERVER, client: CertificateType.CLIENT, dual: CertificateType.DUAL };
const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(TYPES).map(([k, v]) => [v, k]));
const KEYS: Record<string, KeyAlgorithm> = {
  p256: KeyAlgorithm.P256,
  p384: KeyAlgorithm.P384,
  rsa2048: KeyAlgorithm.RSA2048,
  rsa3072: KeyAlgorithm.RSA3072,
  rsa4096: KeyAlgorithm.RSA4096,
};
const KEY_NAMES: Record<number, string> = Object.fromEntries(Object.entries(KEYS).map(([k, v]) => [v, k]));

function enumList<T>(values: Record<string, unknown>, name: string, table: Record<string, T>): T[] {
  return list(values, name).map((v) => {
    const hit = table[v.toLowerCase()];
    if (hit === undefined) throw new UsageError(`--${name}: ${v} is not one of ${Object.keys(table).join(", ")}`);
    return hit;
  });
}

/** The rules given on the command line over `base` (every given list replaces the base's; --clear empties). */
function rulesArgs(values: Record<string, unknown>, base?: IssuancePolicyRules): Partial<IssuancePolicyRules> {
  const clear = new Set(list(values, "clear"));
  const pick = <T>(flag: string, given: T[], old: T[] | undefined): T[] => (clear.has(flag) ? [] : values[flag] !== undefined ? given : (old ?? []));
  const maxDays = optionalInt(values, "max-days");
  return {
    dnsNames: pick("dns", list(values, "dns"), base?.dnsNames),
    emails: pick("email", list(values, "email"), base?.emails),
    ipRanges: pick("ip", list(values, "ip"), base?.ipRanges),
    caIds: pick("ca", list(values, "ca"), base?.caIds),
    certificateTypes: pick("type", enumList(values, "type", TYPES), base?.certificateTypes),
    keyTypes: pick("key-type", enumList(values, "key-type", KEYS), base?.keyTypes),
    maxValidityDays: maxDays ?? base?.maxValidityDays ?? 0,
  };
}

function join(xs: readonly string[], none: string): string {
  return xs.length ? xs.join(", ") : none;
}

export function policyRow(p: IssuancePolicy): Record<string, string> {
  const r = p.rules;
  return {
    id: p.id,
    organization: p.organizationId,
    subject: `${SUBJECT_NAMES[p.subjectType] ?? "-"} ${p.subjectId}`,
    "dns names": join(r?.dnsNames ?? [], "(none)"),
    emails: join(r?.emails ?? [], "(none)"),
    "ip ranges": join(r?.ipRanges ?? [], "(none)"),
    cas: join(r?.caIds ?? [], "any"),
    types: join((r?.certificateTypes ?? []).map((t) => TYPE_NAMES[t] ?? String(t)), "any"),
    "max validity": r?.maxValidityDays ? `${r.maxValidityDays} days` : "the organization's",
    "key types": join((r?.keyTypes ?? []).map((k) => KEY_NAMES[k] ?? String(k)), "any"),
    description: p.description || "-",
    updated: when(p.updatedAt),
  };
}

const COLUMNS = ["id", "subject", "dns names", "ip ranges", "cas", "max validity"];

export async function runPolicy(argv: string[], io: CliIo): Promise<number> {
  return runCli(USAGE, io, async () => {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseCommand(rest, {
      org: { type: "string" },
      user: { type: "string" },
      sa: { type: "string" },
      dns: { type: "string", multiple: true },
      email: { type: "string", multiple: true },
      ip: { type: "string", multiple: true },
      ca: { type: "string", multiple: true },
      type: { type: "string", multiple: true },
      "key-type": { type: "string", multiple: true },
      "max-days": { type: "string" },
      clear: { type: "string", multiple: true },
      description: { type: "string" },
      "tls-ca": { type: "string" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
    });
    if (!sub || values.help || isHelpWord(sub)) return void io.stdout.write(USAGE);
    const cli = AdminCli.open({ ...values, ca: values["tls-ca"] }, io);
    try {
      switch (sub) {
        case "create": {
          const given = (["org", "user", "sa"] as const).filter((k) => values[k] !== undefined);
          if (given.length !== 1) throw new UsageError("give exactly one of --org, --user, --sa");
          const subjectType = given[0] === "org" ? Subject.ORGANIZATION : given[0] === "user" ? Subject.USER : Subject.SERVICE_ACCOUNT;
          const r = await cli.call(IssuancePolicyService, "createIssuancePolicy", {
            subjectType,
            subjectId: optionalString(values, given[0]!) ?? "",
            rules: rulesArgs(values),
            description: optionalString(values, "description") ?? "",
          });
          cli.print(CreateIssuancePolicyResponseSchema, r, () => details(policyRow(r.issuancePolicy!)));
          return;
        }
        case "get": {
          const r = await cli.call(IssuancePolicyService, "getIssuancePolicy", { id: arg(positionals, 0, "ID") });
          cli.print(GetIssuancePolicyResponseSchema, r, () => details(policyRow(r.issuancePolicy!)));
          return;
        }
        case "list": {
          const r = await cli.call(IssuancePolicyService, "listIssuancePolicies", {
            organizationId: optionalString(values, "org") ?? "",
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListIssuancePoliciesResponseSchema, r, () => table(r.issuancePolicies.map(policyRow), COLUMNS) + (r.nextPageToken ? `next page: --page-token ${r.nextPageToken}\n` : ""));
          return;
        }
        case "update": {
          const id = arg(positionals, 0, "ID");
          const current = (await cli.call(IssuancePolicyService, "getIssuancePolicy", { id })).issuancePolicy!;
          const r = await cli.call(IssuancePolicyService, "updateIssuancePolicy", {
            id,
            rules: rulesArgs(values, current.rules),
            description: optionalString(values, "description") ?? current.description,
          });
          cli.print(UpdateIssuancePolicyResponseSchema, r, () => details(policyRow(r.issuancePolicy!)));
          return;
        }
        case "delete": {
          const r = await cli.call(IssuancePolicyService, "deleteIssuancePolicy", { id: arg(positionals, 0, "ID") });
          cli.print(DeleteIssuancePolicyResponseSchema, r, () => "deleted\n");
          return;
        }
        default:
          throw new UsageError(`unknown policy command "${sub}"`);
      }
    } finally {
      cli.close();
    }
  });
}
