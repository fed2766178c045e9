/**
 * `sigil acme rate-limit ...` (docs/rate-limits.md), through the admin
 * plane (AcmeService): a directory's own rate-limit entries over the
 * server's SIGIL_RATE_LIMITS, and overrides per ACME account or EAB key.
 */
import {
  AcmeService,
  DeleteAcmeRateLimitOverrideResponseSchema,
  GetAcmeDirectoryResponseSchema,
  ListAcmeRateLimitOverridesResponseSchema,
  SetAcmeRateLimitOverrideResponseSchema,
  UpdateAcmeDirectoryResponseSchema,
  type AcmeRateLimitOverride,
  type AcmeRateLimits,
} from "../gen/sigil/admin/v1/acme_pb.js";
import { formatRateLimit, isRateLimitName, parseRateLimitValue, RATE_LIMIT_NAMES, RateLimitSpecError } from "../policy/rate-limits.js";
import { AdminCli, details, optionalString, parseCommand, runCli, table, UsageError, when } from "./admin-client.js";
import { isHelpWord, type CliIo } from "./io.js";
import { arg } from "./pki-args.js";

export const ACME_RATE_LIMIT_USAGE = `usage: sigil acme rate-limit <verb> [options]     (docs/rate-limits.md)

  sigil acme rate-limit directory ID                      show the directory's entries over SIGIL_RATE_LIMITS
  sigil acme rate-limit directory ID --limits SPEC        replace them: "new-orders-per-account=100/1h,new-accounts-per-ip=off"
                                                          (count/period, a count for pending-authorizations-per-account,
                                                          or off for this directory; --limits "" returns to the server's)
  sigil acme rate-limit set (--account-id ID | --eab-key-id ID) --limit NAME (--value 1000/3h | --unlimited) [--comment TEXT]
  sigil acme rate-limit list --directory-id ID [--account-id ID] [--eab-key-id ID]
  sigil acme rate-limit delete ID
limits: ${RATE_LIMIT_NAMES.join(", ")}
common options: --server host:port --json --tls --ca FILE --client-cert FILE --client-key FILE
`;

const VERBS = ["directory", "set", "list", "delete"];

/** "name=count/period,name=off,...": the directory entries of UpdateAcmeDirectory */
export function parseDirectoryLimits(spec: string): Array<{ name: string; disabled: boolean; count: number; periodSeconds: bigint }> {
  if (spec.trim() === "") return [];
  return spec.split(",").map((item) => {
    const eq = item.indexOf("=");
    const name = (eq < 0 ? item : item.slice(0, eq)).trim();
    if (eq < 0 || !isRateLimitName(name)) throw new UsageError(`--limits: "${item.trim()}" is not NAME=count/period or NAME=off (limits: ${RATE_LIMIT_NAMES.join(", ")})`);
    const value = item.slice(eq + 1).trim();
    if (value === "off") return { name, disabled: true, count: 0, periodSeconds: 0n };
    const v = limitValue(name, value, "limits");
    return { name, disabled: false, count: v.count, periodSeconds: BigInt(Math.floor(v.periodMs / 1000)) };
  });
}

function limitValue(name: string, value: string, option: string): { count: number; periodMs: number } {
  if (!isRateLimitName(name)) throw new UsageError(`--limit: "${name}" is not a rate limit (one of ${RATE_LIMIT_NAMES.join(", ")})`);
  try {
    return parseRateLimitValue(name, value);
  } catch (e) {
    if (e instanceof RateLimitSpecError) throw new UsageError(`--${option}: ${e.message}`);
    throw e;
  }
}

function entriesRows(r: AcmeRateLimits | undefined): Array<Record<string, string>> {
  return (r?.limits ?? []).map((l) => ({
    limit: l.name,
    value: l.disabled ? "off" : formatRateLimit({ count: l.count, periodMs: Number(l.periodSeconds) * 1000 }),
  }));
}

function overrideRow(o: AcmeRateLimitOverride): Record<string, string> {
  return {
    id: o.id,
    directory: o.directoryId,
    subject: o.subject.case === "accountId" ? `account ${o.subject.value}` : `eab key ${o.subject.value ?? ""}`,
    limit: o.limit,
    value: o.unlimited ? "unlimited" : formatRateLimit({ count: o.count, periodMs: Number(o.periodSeconds) * 1000 }),
    comment: o.comment || "-",
    updated: when(o.updatedAt),
  };
}

/** `sigil acme rate-limit VERB ...` */
export async function runAcmeRateLimits(argv: string[], io: CliIo): Promise<number> {
  const [verb, ...rest] = argv;
  if (!verb || isHelpWord(verb)) {
    io.stdout.write(ACME_RATE_LIMIT_USAGE);
    return 0;
  }
  if (!VERBS.includes(verb)) {
    io.stderr.write(`sigil: unknown acme command "rate-limit ${verb}"\n${ACME_RATE_LIMIT_USAGE}`);
    return 2;
  }
  return runCli(ACME_RATE_LIMIT_USAGE, io, async () => {
    const { values, positionals } = parseCommand(rest, {
      limits: { type: "string" },
      "account-id": { type: "string" },
      "eab-key-id": { type: "string" },
      "directory-id": { type: "string" },
      limit: { type: "string" },
      value: { type: "string" },
      unlimited: { type: "boolean" },
      comment: { type: "string" },
    });
    if (values.help) return void io.stdout.write(ACME_RATE_LIMIT_USAGE);
    const cli = AdminCli.open(values, io);
    try {
      switch (verb) {
        case "directory": {
          const id = arg(positionals, 0, "ID");
          const spec = optionalString(values, "limits");
          if (spec === undefined) {
            const r = await cli.call(AcmeService, "getAcmeDirectory", { id });
            cli.print(GetAcmeDirectoryResponseSchema, r, () => {
              const rows = entriesRows(r.directory!.rateLimits);
              return rows.length ? table(rows, ["limit", "value"]) : "no entries: the server's SIGIL_RATE_LIMITS apply\n";
            });
            return;
          }
          const r = await cli.call(AcmeService, "updateAcmeDirectory", { id, rateLimits: { limits: parseDirectoryLimits(spec) } });
          cli.print(UpdateAcmeDirectoryResponseSchema, r, () => {
            const rows = entriesRows(r.directory!.rateLimits);
            return rows.length ? table(rows, ["limit", "value"]) : "no entries: the server's SIGIL_RATE_LIMITS apply\n";
          });
          return;
        }
        case "set": {
          const accountId = optionalString(values, "account-id");
          const eabKeyId = optionalString(values, "eab-key-id");
          if (Boolean(accountId) === Boolean(eabKeyId)) throw new UsageError("give exactly one of --account-id and --eab-key-id");
          const limit = optionalString(values, "limit");
          if (!limit) throw new UsageError("--limit is required");
          const unlimited = values.unlimited === true;
          const value = optionalString(values, "value");
          if (unlimited === (value !== undefined)) throw new UsageError("give exactly one of --value and --unlimited");
          const v = value !== undefined ? limitValue(limit, value, "value") : { count: 0, periodMs: 0 };
          const r = await cli.call(AcmeService, "setAcmeRateLimitOverride", {
            subject: accountId ? { case: "accountId", value: accountId } : { case: "eabKeyId", value: eabKeyId! },
            limit,
            unlimited,
            count: v.count,
            periodSeconds: BigInt(Math.floor(v.periodMs / 1000)),
            comment: optionalString(values, "comment") ?? "",
          });
          cli.print(SetAcmeRateLimitOverrideResponseSchema, r, () => details(overrideRow(r.rateLimitOverride!)));
          return;
        }
        case "list": {
          const directoryId = optionalString(values, "directory-id");
          if (!directoryId) throw new UsageError("--directory-id is required");
          const r = await cli.call(AcmeService, "listAcmeRateLimitOverrides", {
            directoryId,
            accountId: optionalString(values, "account-id") ?? "",
            eabKeyId: optionalString(values, "eab-key-id") ?? "",
          });
          cli.print(ListAcmeRateLimitOverridesResponseSchema, r, () => table(r.rateLimitOverrides.map(overrideRow), ["id", "subject", "limit", "value", "comment"]));
          return;
        }
        case "delete": {
          const r = await cli.call(AcmeService, "deleteAcmeRateLimitOverride", { id: arg(positionals, 0, "ID") });
          cli.print(DeleteAcmeRateLimitOverrideResponseSchema, r, () => "deleted\n");
          return;
        }
        default:
          throw new UsageError(`unknown acme command "rate-limit ${verb}"`);
      }
    } finally {
      cli.close();
    }
  });
}
