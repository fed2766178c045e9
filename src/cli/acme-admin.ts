/**
 * `sigil acme ...`, all through the admin plane (AcmeService): directories
 * (new, get, list, update, delete), EAB keys (new, list, revoke), accounts
 * (list, deactivate) and orders (list). `directory create` and `eab create`
 * are aliases of `new`.
 *
 * There is no database-direct path any more: it opened the embedded data
 * directory while `sigil serve` had it open, and the two PGlite instances
 * overwrote each other's files (the command reported success, the
 * directory was gone). The embedded database now refuses a second process
 * (src/db/embedded.ts); the running server is the one writer.
 */
import {
  AcmeAccountStatus,
  AcmeCertificateKind,
  AcmeOrderStatus,
  AcmeService,
  ChallengeType,
  CreateAcmeDirectoryResponseSchema,
  CreateEabKeyResponseSchema,
  DeactivateAcmeAccountResponseSchema,
  DeleteAcmeDirectoryResponseSchema,
  GetAcmeDirectoryResponseSchema,
  ListAcmeAccountsResponseSchema,
  ListAcmeDirectoriesResponseSchema,
  ListAcmeOrdersResponseSchema,
  ListEabKeysResponseSchema,
  RevokeEabKeyResponseSchema,
  UpdateAcmeDirectoryResponseSchema,
  type AcmeAccount,
  type AcmeDirectory,
  type AcmeOrder,
  type EabKey,
} from "../gen/sigil/admin/v1/acme_pb.js";
import { AdminCli, details, list, optionalBool, optionalInt, optionalString, parseCommand, required, runCli, table, UsageError, when } from "./admin-client.js";
import { isHelpWord, type CliIo } from "./io.js";
import { arg } from "./pki-args.js";
import { runAcmeProfiles } from "./acme-profiles.js";
import { runAcmeRateLimits } from "./acme-rate-limits.js";

export const ACME_USAGE = `usage: sigil acme <noun> <verb> [options]     (through the gRPC admin API, after "sigil login")

  sigil acme directory new|create --name N --org ORG_ID --issuer CA_ID [--eab-required] [--kind server|client|dual]
        [--allow-dns suffix,..] [--allow-ip cidr,..] [--challenges http-01,dns-01,tls-alpn-01[,dns-account-01,dns-persist-01]]
        [--max-validity-days N] [--tos URL] [--website URL] [--caa name,..] [--validation-networks public,10.0.0.0/8,..]
        [--caa-check on|off]   (RFC 8659 CAA checking, off by default; needs --caa, the CA's issuer domain names)
  sigil acme directory get ID
  sigil acme directory list [--org ORG_ID] [--issuer CA_ID] [--page-size N] [--page-token T]
  sigil acme directory update ID [--issuer CA_ID] [--eab-required true|false] [--kind K] [--allow-dns ..]
        [--allow-ip ..] [--challenges ..] [--max-validity-days N] [--tos URL] [--website URL] [--caa ..]
        [--validation-networks ..]   (where challenge validation may connect; "" = the server's setting) [--caa-check on|off]
  sigil acme directory delete ID
  sigil acme eab new|create --directory-id ID [--description TEXT]      (HMAC key shown once)
  sigil acme eab list [--directory-id ID] [--org ORG_ID] [--include-revoked]
  sigil acme eab revoke ID
  sigil acme account list [--directory-id ID] [--org ORG_ID] [--status valid|deactivated|revoked]
  sigil acme account deactivate ID
  sigil acme order list [--directory-id ID] [--account ID] [--status pending|ready|processing|valid|invalid]
  sigil acme profile new|get|list|update|delete ...   (issuance profiles; "sigil acme profile help")
  sigil acme rate-limit directory|set|list|delete ...   (rate-limit entries and overrides; "sigil acme rate-limit help")
  (directory new and update also take --default-profile NAME: on new classic or a preset, on update one of the directory's profiles)
common options: --server host:port --json --tls --ca FILE --client-cert FILE --client-key FILE
`;

const KINDS: Record<string, AcmeCertificateKind> = { server: AcmeCertificateKind.SERVER, client: AcmeCertificateKind.CLIENT, dual: AcmeCertificateKind.DUAL };
const CHALLENGES: Record<string, ChallengeType> = {
  "http-01": ChallengeType.HTTP_01,
  "dns-01": ChallengeType.DNS_01,
  "tls-alpn-01": ChallengeType.TLS_ALPN_01,
  "dns-account-01": ChallengeType.DNS_ACCOUNT_01,
  "dns-persist-01": ChallengeType.DNS_PERSIST_01,
};
const ACCOUNT_STATUSES: Record<string, AcmeAccountStatus> = { valid: AcmeAccountStatus.VALID, deactivated: AcmeAccountStatus.DEACTIVATED, revoked: AcmeAccountStatus.REVOKED };
const ORDER_STATUSES: Record<string, AcmeOrderStatus> = {
  pending: AcmeOrderStatus.PENDING,
  ready: AcmeOrderStatus.READY,
  processing: AcmeOrderStatus.PROCESSING,
  valid: AcmeOrderStatus.VALID,
  invalid: AcmeOrderStatus.INVALID,
};

function pick<T>(table: Record<string, T>, v: string | undefined, what: string): T | undefined {
  if (v === undefined) return undefined;
  const hit = table[v];
  if (hit === undefined) throw new UsageError(`${what} must be one of ${Object.keys(table).join(", ")}`);
  return hit;
}

const nameOf = <T>(table: Record<string, T>, v: T): string => Object.entries(table).find(([, x]) => x === v)?.[0] ?? "-";

function directoryRow(d: AcmeDirectory): Record<string, string> {
  return {
    id: d.id,
    name: d.name,
    organization: d.organizationId,
    issuer: d.caId,
    eab: d.eabRequired ? "required" : "no",
    kind: nameOf(KINDS, d.certificateKind),
    "dns suffixes": d.allowedDnsSuffixes.join(",") || "-",
    "ip ranges": d.allowedIpRanges.join(",") || "-",
    challenges: d.challengeTypes.map((c) => nameOf(CHALLENGES, c)).join(","),
    "max validity days": String(d.maxValidityDays),
    "caa identities": d.caaIdentities.join(",") || "-",
    "caa check": d.caaEnabled ? "on" : "off",
    "default profile": d.defaultProfile || "-",
    profiles: d.profiles.map((p) => p.name).join(",") || "-",
    url: d.directoryUrl,
  };
}

function eabRow(k: EabKey): Record<string, string> {
  return { kid: k.kid, directory: k.directoryId, description: k.description || "-", created: when(k.createdAt), used: when(k.usedAt), account: k.boundAccountId || "-", revoked: when(k.revokedAt) };
}

function accountRow(a: AcmeAccount): Record<string, string> {
  return { id: a.id, directory: a.directoryId, status: nameOf(ACCOUNT_STATUSES, a.status), contacts: a.contacts.join(",") || "-", eab: a.eabKeyId || "-", created: when(a.createdAt) };
}

function orderRow(o: AcmeOrder): Record<string, string> {
  return { id: o.id, account: o.accountId, status: nameOf(ORDER_STATUSES, o.status), identifiers: o.identifiers.map((i) => i.value).join(","), certificate: o.certificateId || "-", created: when(o.createdAt) };
}

const more = (t: string): string => (t ? `next page: --page-token ${t}\n` : "");

const KNOWN: Record<string, string[]> = {
  directory: ["new", "get", "list", "update", "delete"],
  eab: ["new", "list", "revoke"],
  account: ["list", "deactivate"],
  order: ["list"],
};

/** `create` was the database-direct command's verb; it stays as a name for `new` */
const ALIASES: Record<string, string> = { "directory create": "new", "eab create": "new" };

/** `sigil acme NOUN VERB ...` */
export async function runAcme(argv: string[], io: CliIo): Promise<number> {
  const [noun, word, ...rest] = argv;
  // draft-ietf-acme-profiles-00 profiles: ./acme-profiles.ts
  if (noun === "profile") return runAcmeProfiles(argv.slice(1), io);
  // rate-limit entries and overrides (docs/rate-limits.md): ./acme-rate-limits.ts
  if (noun === "rate-limit") return runAcmeRateLimits(argv.slice(1), io);
  if (!noun || isHelpWord(noun) || (KNOWN[noun] && (!word || isHelpWord(word)))) {
    io.stdout.write(ACME_USAGE);
    return 0;
  }
  const verb = ALIASES[`${noun} ${word}`] ?? word;
  if (!verb || !KNOWN[noun]?.includes(verb)) {
    io.stderr.write(`sigil: unknown acme command "${argv.slice(0, 2).join(" ")}"\n${ACME_USAGE}`);
    return 2;
  }
  return runCli(ACME_USAGE, io, async () => {
    const { values, positionals } = parseCommand(rest, {
      name: { type: "string" },
      org: { type: "string" },
      issuer: { type: "string" },
      "eab-required": { type: "string" },
      kind: { type: "string" },
      "allow-dns": { type: "string", multiple: true },
      "allow-ip": { type: "string", multiple: true },
      challenges: { type: "string", multiple: true },
      "max-validity-days": { type: "string" },
      tos: { type: "string" },
      website: { type: "string" },
      caa: { type: "string", multiple: true },
      "validation-networks": { type: "string", multiple: true },
      "caa-check": { type: "string" },
      "default-profile": { type: "string" },
      "directory-id": { type: "string" },
      account: { type: "string" },
      description: { type: "string" },
      "include-revoked": { type: "boolean" },
      status: { type: "string" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
    });
    if (values.help) return void io.stdout.write(ACME_USAGE);
    const has = (k: string): boolean => values[k] !== undefined;
    const page = () => ({ pageSize: optionalInt(values, "page-size") ?? 0, pageToken: optionalString(values, "page-token") ?? "" });
    const challenges = () => list(values, "challenges").map((c) => pick(CHALLENGES, c, "--challenges")!);
    const cli = AdminCli.open(values, io);
    try {
      switch (`${noun} ${verb}`) {
        case "directory new": {
          const r = await cli.call(AcmeService, "createAcmeDirectory", {
            name: required(values, "name"),
            organizationId: required(values, "org"),
            caId: required(values, "issuer"),
            eabRequired: optionalBool(values, "eab-required") ?? false,
            certificateKind: pick(KINDS, optionalString(values, "kind"), "--kind"),
            allowedDnsSuffixes: list(values, "allow-dns"),
            allowedIpRanges: list(values, "allow-ip"),
            challengeTypes: challenges(),
            maxValidityDays: optionalInt(values, "max-validity-days") ?? 0,
            termsOfServiceUrl: optionalString(values, "tos") ?? "",
            websiteUrl: optionalString(values, "website") ?? "",
            caaIdentities: list(values, "caa"),
            validationAllowedNetworks: list(values, "validation-networks"),
            caaEnabled: optionalBool(values, "caa-check") ?? false,
            defaultProfile: optionalString(values, "default-profile") ?? "",
          });
          cli.print(CreateAcmeDirectoryResponseSchema, r, () => details(directoryRow(r.directory)));
          return;
        }
        case "directory get": {
          const r = await cli.call(AcmeService, "getAcmeDirectory", { id: arg(positionals, 0, "ID") });
          cli.print(GetAcmeDirectoryResponseSchema, r, () => details(directoryRow(r.directory)));
          return;
        }
        case "directory list": {
          const r = await cli.call(AcmeService, "listAcmeDirectories", { organizationId: optionalString(values, "org") ?? "", caId: optionalString(values, "issuer") ?? "", ...page() });
          cli.print(ListAcmeDirectoriesResponseSchema, r, () => table(r.directories.map(directoryRow), ["id", "name", "issuer", "eab", "kind", "url"]) + more(r.nextPageToken));
          return;
        }
        case "directory update": {
          const r = await cli.call(AcmeService, "updateAcmeDirectory", {
            id: arg(positionals, 0, "ID"),
            caId: optionalString(values, "issuer"),
            eabRequired: optionalBool(values, "eab-required"),
            certificateKind: pick(KINDS, optionalString(values, "kind"), "--kind"),
            allowedDnsSuffixes: has("allow-dns") ? { values: list(values, "allow-dns") } : undefined,
            allowedIpRanges: has("allow-ip") ? { values: list(values, "allow-ip") } : undefined,
            challengeTypes: has("challenges") ? { values: challenges() } : undefined,
            maxValidityDays: optionalInt(values, "max-validity-days"),
            termsOfServiceUrl: optionalString(values, "tos"),
            websiteUrl: optionalString(values, "website"),
            caaIdentities: has("caa") ? { values: list(values, "caa") } : undefined,
            validationAllowedNetworks: has("validation-networks") ? { values: list(values, "validation-networks") } : undefined,
            caaEnabled: optionalBool(values, "caa-check"),
            defaultProfile: optionalString(values, "default-profile"),
          });
          cli.print(UpdateAcmeDirectoryResponseSchema, r, () => details(directoryRow(r.directory)));
          return;
        }
        case "directory delete": {
          const r = await cli.call(AcmeService, "deleteAcmeDirectory", { id: arg(positionals, 0, "ID") });
          cli.print(DeleteAcmeDirectoryResponseSchema, r, () => "deleted\n");
          return;
        }
        case "eab new": {
          const r = await cli.call(AcmeService, "createEabKey", { directoryId: required(values, "directory-id"), description: optionalString(values, "description") ?? "" });
          cli.print(CreateEabKeyResponseSchema, r, () => `EAB key (the HMAC key is shown once):\n  kid:      ${r.eabKey.kid}\n  hmac key: ${r.hmacKey}\n`);
          return;
        }
        case "eab list": {
          const r = await cli.call(AcmeService, "listEabKeys", {
            directoryId: optionalString(values, "directory-id") ?? "",
            organizationId: optionalString(values, "org") ?? "",
            includeRevoked: values["include-revoked"] === true,
            ...page(),
          });
          cli.print(ListEabKeysResponseSchema, r, () => table(r.eabKeys.map(eabRow)) + more(r.nextPageToken));
          return;
        }
        case "eab revoke": {
          const r = await cli.call(AcmeService, "revokeEabKey", { id: arg(positionals, 0, "ID") });
          cli.print(RevokeEabKeyResponseSchema, r, () => details(eabRow(r.eabKey)));
          return;
        }
        case "account list": {
          const r = await cli.call(AcmeService, "listAcmeAccounts", {
            directoryId: optionalString(values, "directory-id") ?? "",
            organizationId: optionalString(values, "org") ?? "",
            status: pick(ACCOUNT_STATUSES, optionalString(values, "status"), "--status") ?? AcmeAccountStatus.UNSPECIFIED,
            ...page(),
          });
          cli.print(ListAcmeAccountsResponseSchema, r, () => table(r.accounts.map(accountRow)) + more(r.nextPageToken));
          return;
        }
        case "account deactivate": {
          const r = await cli.call(AcmeService, "deactivateAcmeAccount", { id: arg(positionals, 0, "ID") });
          cli.print(DeactivateAcmeAccountResponseSchema, r, () => details(accountRow(r.account)));
          return;
        }
        case "order list": {
          const r = await cli.call(AcmeService, "listAcmeOrders", {
            directoryId: optionalString(values, "directory-id") ?? "",
            accountId: optionalString(values, "account") ?? "",
            status: pick(ORDER_STATUSES, optionalString(values, "status"), "--status") ?? AcmeOrderStatus.UNSPECIFIED,
            ...page(),
          });
          cli.print(ListAcmeOrdersResponseSchema, r, () => table(r.orders.map(orderRow)) + more(r.nextPageToken));
          return;
        }
        default:
          throw new UsageError(`unknown acme command "${noun} ${verb}"`);
      }
    } finally {
      cli.close();
    }
  });
}
