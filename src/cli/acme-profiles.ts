/**
 * `sigil acme profile ...` (draft-ietf-acme-profiles-00), through the admin
 * plane (AcmeService): a directory's issuance profiles, new / get / list /
 * update / delete. Durations are given as 45d, 160h, 30m or seconds.
 */
import {
  AcmeCertificateKind,
  AcmeService,
  CreateAcmeProfileResponseSchema,
  DeleteAcmeProfileResponseSchema,
  GetAcmeProfileResponseSchema,
  ListAcmeProfilesResponseSchema,
  UpdateAcmeProfileResponseSchema,
  type AcmeProfile,
} from "../gen/sigil/admin/v1/acme_pb.js";
import { AdminCli, details, list, optionalBool, optionalInt, optionalString, parseCommand, required, runCli, table, UsageError } from "./admin-client.js";
import { isHelpWord, type CliIo } from "./io.js";
import { arg } from "./pki-args.js";

export const ACME_PROFILE_USAGE = `usage: sigil acme profile <verb> [options]     (draft-ietf-acme-profiles-00; durations: 45d, 160h, 30m or seconds)

  sigil acme profile new --directory-id ID --name N [--preset classic|tlsserver|tlsclient|shortlived] [--description TEXT]
        [--kind server|client|dual] [--max-validity D] [--key-usages digitalSignature,keyEncipherment,keyAgreement]
        [--cn true|false] [--max-identifiers N] [--identifier-types dns,ip] [--authz-reuse D]
        [--order-lifetime D] [--pending-authz-lifetime D]
  sigil acme profile get ID
  sigil acme profile list --directory-id ID
  sigil acme profile update ID [same options as new, except --directory-id, --name and --preset]
  sigil acme profile delete ID      (not the directory's default: see "sigil acme directory update ID --default-profile N")
common options: --server host:port --json --tls --ca FILE --client-cert FILE --client-key FILE
`;

const KINDS: Record<string, AcmeCertificateKind> = { server: AcmeCertificateKind.SERVER, client: AcmeCertificateKind.CLIENT, dual: AcmeCertificateKind.DUAL };
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "45d", "160h", "30m", "90s" or "3600": whole seconds */
export function parseDuration(v: string | undefined, option: string): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)([smhd]?)$/.exec(v.trim());
  const seconds = m ? Number(m[1]) * UNITS[m[2] || "s"]! : NaN;
  if (!Number.isSafeInteger(seconds) || seconds > 2 ** 31 - 1) throw new UsageError(`--${option} must be a duration such as 45d, 160h, 30m or 3600`);
  return seconds;
}

function kind(v: string | undefined): AcmeCertificateKind | undefined {
  if (v === undefined) return undefined;
  const k = KINDS[v];
  if (k === undefined) throw new UsageError(`--kind must be one of ${Object.keys(KINDS).join(", ")}`);
  return k;
}

function duration(seconds: number): string {
  return seconds % 86_400 === 0 ? `${seconds / 86_400}d` : seconds % 3600 === 0 ? `${seconds / 3600}h` : `${seconds}s`;
}

function profileRow(p: AcmeProfile): Record<string, string> {
  return {
    id: p.id,
    directory: p.directoryId,
    name: p.name,
    default: p.isDefault ? "yes" : "no",
    description: p.description || "-",
    kind: Object.entries(KINDS).find(([, k]) => k === p.certificateKind)?.[0] ?? "-",
    "max validity": duration(p.maxValiditySeconds),
    "key usages": p.keyUsages.join(",") || "default",
    "extended key usages": p.extendedKeyUsages.join(","),
    cn: p.includeCommonName ? "from the CSR" : "none",
    "max identifiers": String(p.maxIdentifiers),
    "identifier types": p.identifierTypes.join(","),
    "authz reuse": duration(p.authorizationReuseSeconds),
    "order lifetime": duration(p.orderLifetimeSeconds),
    "pending authz lifetime": duration(p.pendingAuthorizationLifetimeSeconds),
  };
}

const VERBS = ["new", "create", "get", "list", "update", "delete"];

/** `sigil acme profile VERB ...` */
export async function runAcmeProfiles(argv: string[], io: CliIo): Promise<number> {
  const [word, ...rest] = argv;
  if (!word || isHelpWord(word)) {
    io.stdout.write(ACME_PROFILE_USAGE);
    return 0;
  }
  if (!VERBS.includes(word)) {
    io.stderr.write(`sigil: unknown acme command "profile ${word}"\n${ACME_PROFILE_USAGE}`);
    return 2;
  }
  const verb = word === "create" ? "new" : word;
  return runCli(ACME_PROFILE_USAGE, io, async () => {
    const { values, positionals } = parseCommand(rest, {
      "directory-id": { type: "string" },
      name: { type: "string" },
      preset: { type: "string" },
      description: { type: "string" },
      kind: { type: "string" },
      "max-validity": { type: "string" },
      "key-usages": { type: "string", multiple: true },
      cn: { type: "string" },
      "max-identifiers": { type: "string" },
      "identifier-types": { type: "string", multiple: true },
      "authz-reuse": { type: "string" },
      "order-lifetime": { type: "string" },
      "pending-authz-lifetime": { type: "string" },
    });
    if (values.help) return void io.stdout.write(ACME_PROFILE_USAGE);
    const has = (k: string): boolean => values[k] !== undefined;
    const rules = {
      certificateKind: kind(optionalString(values, "kind")),
      maxValiditySeconds: parseDuration(optionalString(values, "max-validity"), "max-validity"),
      includeCommonName: optionalBool(values, "cn"),
      maxIdentifiers: optionalInt(values, "max-identifiers"),
      authorizationReuseSeconds: parseDuration(optionalString(values, "authz-reuse"), "authz-reuse"),
      orderLifetimeSeconds: parseDuration(optionalString(values, "order-lifetime"), "order-lifetime"),
      pendingAuthorizationLifetimeSeconds: parseDuration(optionalString(values, "pending-authz-lifetime"), "pending-authz-lifetime"),
    };
    const cli = AdminCli.open(values, io);
    try {
      switch (verb) {
        case "new": {
          const r = await cli.call(AcmeService, "createAcmeProfile", {
            directoryId: required(values, "directory-id"),
            name: required(values, "name"),
            preset: optionalString(values, "preset") ?? "",
            description: optionalString(values, "description") ?? "",
            ...rules,
            certificateKind: rules.certificateKind ?? AcmeCertificateKind.UNSPECIFIED,
            maxValiditySeconds: rules.maxValiditySeconds ?? 0,
            maxIdentifiers: rules.maxIdentifiers ?? 0,
            authorizationReuseSeconds: rules.authorizationReuseSeconds ?? 0,
            orderLifetimeSeconds: rules.orderLifetimeSeconds ?? 0,
            pendingAuthorizationLifetimeSeconds: rules.pendingAuthorizationLifetimeSeconds ?? 0,
            keyUsages: list(values, "key-usages"),
            identifierTypes: list(values, "identifier-types"),
          });
          cli.print(CreateAcmeProfileResponseSchema, r, () => details(profileRow(r.profile!)));
          return;
        }
        case "get": {
          const r = await cli.call(AcmeService, "getAcmeProfile", { id: arg(positionals, 0, "ID") });
          cli.print(GetAcmeProfileResponseSchema, r, () => details(profileRow(r.profile!)));
          return;
        }
        case "list": {
          const r = await cli.call(AcmeService, "listAcmeProfiles", { directoryId: required(values, "directory-id") });
          cli.print(ListAcmeProfilesResponseSchema, r, () => table(r.profiles.map(profileRow), ["id", "name", "default", "kind", "max validity", "cn", "identifier types", "authz reuse"]));
          return;
        }
        case "update": {
          const r = await cli.call(AcmeService, "updateAcmeProfile", {
            id: arg(positionals, 0, "ID"),
            description: optionalString(values, "description"),
            ...rules,
            keyUsages: has("key-usages") ? { values: list(values, "key-usages") } : undefined,
            identifierTypes: has("identifier-types") ? { values: list(values, "identifier-types") } : undefined,
          });
          cli.print(UpdateAcmeProfileResponseSchema, r, () => details(profileRow(r.profile!)));
          return;
        }
        case "delete": {
          const r = await cli.call(AcmeService, "deleteAcmeProfile", { id: arg(positionals, 0, "ID") });
          cli.print(DeleteAcmeProfileResponseSchema, r, () => "deleted\n");
          return;
        }
        default:
          throw new UsageError(`unknown acme command "profile ${verb}"`);
      }
    } finally {
      cli.close();
    }
  });
}
