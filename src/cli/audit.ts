/** `sigil audit list|watch`: AuditService. */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { toJsonString } from "@bufbuild/protobuf";
import { AuditService, ListAuditEventsResponseSchema, AuditEventSchema, type AuditEvent } from "../gen/sigil/admin/v1/audit_pb.js";
import { AdminCli, optionalInt, optionalString, parseCommand, runCli, table, UsageError, when } from "./admin-client.js";
import { isHelpWord, type CliIo } from "./io.js";

const USAGE = `usage: sigil audit <command> [filters]

commands:
  list  [--action A] [--user ID] [--org ID] [--resource-type T] [--resource ID]
        [--since ISO-TIME] [--until ISO-TIME] [--page-size N] [--page-token T]
  watch [--action A] [--user ID] [--org ID] [--resource-type T] [--resource ID]
        streams new events (one line each, or one JSON object per line with --json) until interrupted

common options: --server host:port --json --tls --ca FILE --client-cert FILE --client-key FILE
`;

function eventRow(e: AuditEvent): Record<string, string> {
  return {
    time: when(e.time),
    action: e.action,
    actor: e.username,
    organization: e.organizationId,
    resource: `${e.resourceType}${e.resourceId ? `/${e.resourceId}` : ""}`,
    detail: e.detail === "{}" ? "" : e.detail,
  };
}

function time(values: Record<string, unknown>, name: string) {
  const v = optionalString(values, name);
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--${name} must be an ISO 8601 time`);
  return timestampFromDate(d);
}

export async function runAudit(argv: string[], io: CliIo): Promise<number> {
  return runCli(USAGE, io, async () => {
    const [sub, ...rest] = argv;
    const { values } = parseCommand(rest, {
      action: { type: "string" },
      user: { type: "string" },
      org: { type: "string" },
      "resource-type": { type: "string" },
      resource: { type: "string" },
      since: { type: "string" },
      until: { type: "string" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
    });
    if (!sub || values.help || isHelpWord(sub)) return void io.stdout.write(USAGE);
    const filter = {
      action: optionalString(values, "action") ?? "",
      userId: optionalString(values, "user") ?? "",
      organizationId: optionalString(values, "org") ?? "",
      resourceType: optionalString(values, "resource-type") ?? "",
      resourceId: optionalString(values, "resource") ?? "",
    };
    const cli = AdminCli.open(values, io);
    try {
      switch (sub) {
        case "list": {
          const r = await cli.call(AuditService, "listAuditEvents", {
            ...filter,
            startTime: time(values, "since"),
            endTime: time(values, "until"),
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListAuditEventsResponseSchema, r, () => table(r.events.map(eventRow), ["time", "action", "actor", "organization", "resource", "detail"]) + (r.nextPageToken ? `next page: --page-token ${r.nextPageToken}\n` : ""));
          return;
        }
        case "watch": {
          // io.signal (SIGINT/SIGTERM in bin/sigil.js) ends the stream; the command then exits 0
          const controller = new AbortController();
          const stop = () => controller.abort();
          io.signal?.addEventListener("abort", stop, { once: true });
          if (io.signal?.aborted) return 0;
          try {
            const stream = cli.client(AuditService).watchAuditEvents(filter, await cli.callOptions({ signal: controller.signal }));
            for await (const msg of stream) {
              const e = msg.event!;
              if (cli.json) cli.write(`${toJsonString(AuditEventSchema, e)}\n`);
              else {
                const row = eventRow(e);
                cli.write(`${row.time}  ${row.action}  ${row.actor}  ${row.resource}${row.detail ? `  ${row.detail}` : ""}\n`);
              }
            }
          } catch (e) {
            if (controller.signal.aborted) return 0;
            throw e;
          } finally {
            io.signal?.removeEventListener("abort", stop);
          }
          return;
        }
        default:
          throw new UsageError(`unknown audit command "${sub}"`);
      }
    } finally {
      cli.close();
    }
  });
}
