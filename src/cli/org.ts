/** `sigil org ...`: OrganizationService. */
import {
  AddOrganizationUserResponseSchema,
  CreateOrganizationResponseSchema,
  GetOrganizationResponseSchema,
  ListOrganizationsResponseSchema,
  ListOrganizationUsersResponseSchema,
  OrganizationService,
  RemoveOrganizationUserResponseSchema,
  UpdateOrganizationResponseSchema,
  DeleteOrganizationResponseSchema,
  type Organization,
} from "../gen/sigil/admin/v1/organization_pb.js";
import { AdminCli, details, optionalInt, optionalString, parseCommand, required, runCli, table, UsageError, when } from "./admin-client.js";
import { isHelpWord, type CliIo } from "./io.js";
import { userRow } from "./user.js";

const USAGE = `usage: sigil org <command> [options]

commands:
  create --name NAME [--description TEXT]
  get ID
  list [--page-size N] [--page-token T]
  update ID [--name NAME] [--description TEXT]
  delete ID
  add-user ORG_ID USER_ID
  remove-user ORG_ID USER_ID
  users ORG_ID [--page-size N] [--page-token T]

common options: --server host:port --json --tls --ca FILE --client-cert FILE --client-key FILE
`;

export function orgRow(o: Organization): Record<string, string> {
  return { id: o.id, name: o.name, description: o.description, created: when(o.createdAt) };
}

function arg(positionals: string[], i: number, name: string): string {
  const v = positionals[i];
  if (!v) throw new UsageError(`${name} is required`);
  return v;
}

export async function runOrg(argv: string[], io: CliIo): Promise<number> {
  return runCli(USAGE, io, async () => {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseCommand(rest, {
      name: { type: "string" },
      description: { type: "string" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
    });
    if (!sub || values.help || isHelpWord(sub)) return void io.stdout.write(USAGE);
    const cli = AdminCli.open(values, io);
    try {
      switch (sub) {
        case "create": {
          const r = await cli.call(OrganizationService, "createOrganization", { name: required(values, "name"), description: optionalString(values, "description") ?? "" });
          cli.print(CreateOrganizationResponseSchema, r, () => details(orgRow(r.organization)));
          return;
        }
        case "get": {
          const r = await cli.call(OrganizationService, "getOrganization", { id: arg(positionals, 0, "ID") });
          cli.print(GetOrganizationResponseSchema, r, () => details(orgRow(r.organization)));
          return;
        }
        case "list": {
          const r = await cli.call(OrganizationService, "listOrganizations", {
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListOrganizationsResponseSchema, r, () => table(r.organizations.map(orgRow), ["id", "name", "description", "created"]) + (r.nextPageToken ? `next page: --page-token ${r.nextPageToken}\n` : ""));
          return;
        }
        case "update": {
          const r = await cli.call(OrganizationService, "updateOrganization", {
            id: arg(positionals, 0, "ID"),
            name: optionalString(values, "name"),
            description: optionalString(values, "description"),
          });
          cli.print(UpdateOrganizationResponseSchema, r, () => details(orgRow(r.organization)));
          return;
        }
        case "delete": {
          const r = await cli.call(OrganizationService, "deleteOrganization", { id: arg(positionals, 0, "ID") });
          cli.print(DeleteOrganizationResponseSchema, r, () => "deleted\n");
          return;
        }
        case "add-user": {
          const r = await cli.call(OrganizationService, "addOrganizationUser", { organizationId: arg(positionals, 0, "ORG_ID"), userId: arg(positionals, 1, "USER_ID") });
          cli.print(AddOrganizationUserResponseSchema, r, () => details(userRow(r.user)));
          return;
        }
        case "remove-user": {
          const r = await cli.call(OrganizationService, "removeOrganizationUser", { organizationId: arg(positionals, 0, "ORG_ID"), userId: arg(positionals, 1, "USER_ID") });
          cli.print(RemoveOrganizationUserResponseSchema, r, () => details(userRow(r.user)));
          return;
        }
        case "users": {
          const r = await cli.call(OrganizationService, "listOrganizationUsers", {
            organizationId: arg(positionals, 0, "ORG_ID"),
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListOrganizationUsersResponseSchema, r, () => table(r.users.map(userRow), ["id", "username", "role", "active", "capabilities"]));
          return;
        }
        default:
          throw new UsageError(`unknown org command "${sub}"`);
      }
    } finally {
      cli.close();
    }
  });
}
