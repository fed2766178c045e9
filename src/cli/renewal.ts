/** `sigil renewal ...`: RenewalService (operator renewal campaigns, RFC 9773 renewalInfo). */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CancelRenewalCampaignResponseSchema,
  CreateRenewalCampaignResponseSchema,
  GetRenewalCampaignResponseSchema,
  ListRenewalCampaignsResponseSchema,
  RenewalCampaignScope,
  RenewalService,
  type RenewalCampaign,
} from "../gen/sigil/admin/v1/renewal_pb.js";
import { AdminCli, details, list, optionalInt, optionalString, parseCommand, required, runCli, table, UsageError, when } from "./admin-client.js";
import { isHelpWord, type CliIo } from "./io.js";
import { arg } from "./pki-args.js";

const USAGE = `usage: sigil renewal <command> [options]

Renewal campaigns: the RFC 9773 renewalInfo of every certificate reached
answers the campaign's window (and explanation URL), so ARI clients renew.

commands:
  create (--certificate ID | --ca CA_ID | --directory DIRECTORY_ID | --serials HEX,.. [--org ORG_ID])
         (--now | [--start ISO-8601] --end ISO-8601) --reason TEXT [--explanation-url URL]
  drill --directory DIRECTORY_ID --percent 1-100 (--now | [--start ISO-8601] --end ISO-8601)
        --reason TEXT [--explanation-url URL]     a random sample of the directory's certificates
  get ID                         the campaign and how many certificates were replaced so far
  list [--org ORG_ID] [--all] [--page-size N] [--page-token T]   (--all: cancelled ones too)
  cancel ID

common options: --server host:port --json --tls --tls-ca FILE --client-cert FILE --client-key FILE
(--ca names the CA whose certificates are renewed; the TLS CA file is --tls-ca or $SIGIL_CA)
`;

const SCOPE_NAMES: Record<number, string> = {
  [RenewalCampaignScope.CERTIFICATE]: "certificate",
  [RenewalCampaignScope.CA]: "ca",
  [RenewalCampaignScope.DIRECTORY]: "directory",
  [RenewalCampaignScope.SERIALS]: "serials",
  [RenewalCampaignScope.DRILL]: "drill",
};

export function campaignRow(c: RenewalCampaign): Record<string, string> {
  return {
    id: c.id,
    scope: (SCOPE_NAMES[c.scope] ?? "-") + (c.drillPercent ? ` ${c.drillPercent}%` : ""),
    targets: c.targets.length > 3 ? `${c.targets.slice(0, 3).join(",")},... (${c.targets.length})` : c.targets.join(",") || "-",
    window: `${when(c.windowStart)} .. ${when(c.windowEnd)}`,
    certificates: String(c.certificateCount),
    replaced: `${c.replacedCount} (${c.replacedPercent.toFixed(1)}%)`,
    reason: c.reason,
    ...(c.explanationUrl ? { "explanation url": c.explanationUrl } : {}),
    "created by": c.createdBy,
    created: when(c.createdAt),
    status: c.cancelledAt ? `cancelled ${when(c.cancelledAt)}` : "active",
  };
}

const COLUMNS = ["id", "scope", "window", "certificates", "replaced", "status", "reason"];

function timeArg(values: Record<string, unknown>, name: string): Date | undefined {
  const v = optionalString(values, name);
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--${name} must be an ISO 8601 time`);
  return d;
}

/** the window options: --now, or [--start] --end */
function windowArgs(values: Record<string, unknown>) {
  const start = timeArg(values, "start");
  const end = timeArg(values, "end");
  if (values.now && (start || end)) throw new UsageError("give either --now or --start/--end");
  if (!values.now && !end) throw new UsageError("--now or --end is required");
  return { now: values.now === true, windowStart: start ? timestampFromDate(start) : undefined, windowEnd: end ? timestampFromDate(end) : undefined };
}

export async function runRenewal(argv: string[], io: CliIo): Promise<number> {
  return runCli(USAGE, io, async () => {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseCommand(rest, {
      certificate: { type: "string" },
      ca: { type: "string" },
      "tls-ca": { type: "string" },
      directory: { type: "string" },
      serials: { type: "string", multiple: true },
      org: { type: "string" },
      now: { type: "boolean" },
      start: { type: "string" },
      end: { type: "string" },
      reason: { type: "string" },
      "explanation-url": { type: "string" },
      percent: { type: "string" },
      all: { type: "boolean" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
    });
    if (!sub || values.help || isHelpWord(sub)) return void io.stdout.write(USAGE);
    const cli = AdminCli.open({ ...values, ca: values["tls-ca"] }, io);
    try {
      switch (sub) {
        case "create":
        case "drill": {
          let target: Record<string, unknown>;
          if (sub === "drill") {
            const percent = optionalInt(values, "percent");
            if (percent === undefined) throw new UsageError("--percent is required");
            target = { scope: RenewalCampaignScope.DRILL, directoryId: required(values, "directory"), drillPercent: percent };
          } else {
            const given = (["certificate", "ca", "directory", "serials"] as const).filter((k) => values[k] !== undefined);
            if (given.length !== 1) throw new UsageError("give exactly one of --certificate, --ca, --directory, --serials");
            target =
              given[0] === "certificate"
                ? { scope: RenewalCampaignScope.CERTIFICATE, certificateId: required(values, "certificate") }
                : given[0] === "ca"
                  ? { scope: RenewalCampaignScope.CA, caId: required(values, "ca") }
                  : given[0] === "directory"
                    ? { scope: RenewalCampaignScope.DIRECTORY, directoryId: required(values, "directory") }
                    : { scope: RenewalCampaignScope.SERIALS, serials: list(values, "serials"), organizationId: optionalString(values, "org") ?? "" };
          }
          const r = await cli.call(RenewalService, "createRenewalCampaign", {
            ...target,
            ...windowArgs(values),
            reason: required(values, "reason"),
            explanationUrl: optionalString(values, "explanation-url") ?? "",
          });
          cli.print(CreateRenewalCampaignResponseSchema, r, () => details(campaignRow(r.campaign!)));
          return;
        }
        case "get": {
          const r = await cli.call(RenewalService, "getRenewalCampaign", { id: arg(positionals, 0, "ID") });
          cli.print(GetRenewalCampaignResponseSchema, r, () => details(campaignRow(r.campaign!)));
          return;
        }
        case "list": {
          const r = await cli.call(RenewalService, "listRenewalCampaigns", {
            organizationId: optionalString(values, "org") ?? "",
            includeCancelled: values.all === true,
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListRenewalCampaignsResponseSchema, r, () => table(r.campaigns.map(campaignRow), COLUMNS) + (r.nextPageToken ? `next page: --page-token ${r.nextPageToken}\n` : ""));
          return;
        }
        case "cancel": {
          const r = await cli.call(RenewalService, "cancelRenewalCampaign", { id: arg(positionals, 0, "ID") });
          cli.print(CancelRenewalCampaignResponseSchema, r, () => details(campaignRow(r.campaign!)));
          return;
        }
        default:
          throw new UsageError(`unknown renewal command "${sub}"`);
      }
    } finally {
      cli.close();
    }
  });
}
