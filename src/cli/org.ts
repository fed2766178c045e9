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
  LoginMethod,
  type Organization,
} from "../gen/sigil/admin/v1/organization_pb.js";
import { KeyAlgorithm } from "../gen/sigil/admin/v1/common_pb.js";
import { AdminCli, details, optionalBool, optionalInt, optionalString, parseCommand, required, runCli, table, UsageError, when } from "./admin-client.js";
import { isHelpWord, type CliIo } from "./io.js";
import { userRow } from "./user.js";

const USAGE = `usage: sigil org <command> [options]

commands:
  create --name NAME [--description TEXT] [--slug SLUG] [SETTINGS]
  get ID
  list [--page-size N] [--page-token T]
  update ID [--name NAME] [--description TEXT] [--slug SLUG] [SETTINGS]
  delete ID
  add-user ORG_ID USER_ID
  remove-user ORG_ID USER_ID
  users ORG_ID [--page-size N] [--page-token T]

settings (docs/tenancy.md):
  --default-validity-days N  --max-validity-days N
  --key-types p256,p384,rsa2048,rsa3072,rsa4096 (or "any")
  --revoke-on-deactivation true|false  --session-lifetime SECONDS
  --login-method password|sso

common options: --server host:port --json --tls --ca FILE --client-cert FILE --client-key FILE
`;

const KEY_TYPE_NAMES: Record<string, KeyAlgorithm> = {
  p256: KeyAlgorithm.P256,
  p384: KeyAlgorithm.P384,
  rsa2048: KeyAlgorithm.RSA2048,
  rsa3072: KeyAlgorithm.RSA3072,
  rsa4096: KeyAlgorithm.RSA4096,
};

export function orgRow(o: Organization): Record<string, string> {
  const st = o.settings;
  const keyNames = st?.allowedKeyTypes.map((k) => Object.keys(KEY_TYPE_NAMES).find((n) => KEY_TYPE_NAMES[n] === k) ?? String(k)) ?? [];
  return {
    id: o.id,
    name: o.name,
    slug: o.slug,
    description: o.description,
    created: when(o.createdAt),
    ...(st
      ? {
          default_validity_days: String(st.defaultValidityDays),
          max_validity_days: String(st.maxValidityDays),
          key_types: keyNames.length ? keyNames.join(",") : "any",
          revoke_on_deactivation: st.revokeCertificatesOnDeactivation ? "yes" : "no",
          session_lifetime_seconds: String(st.sessionLifetimeSeconds),
          login_method: st.requiredLoginMethod === LoginMethod.SSO ? "sso" : "password",
        }
      : {}),
  };
}

/** The settings options given, as an OrganizationSettingsUpdate (undefined when none). */
function settingsFrom(values: Record<string, unknown>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const dflt = optionalInt(values, "default-validity-days");
  if (dflt !== undefined) out.defaultValidityDays = dflt;
  const max = optionalInt(values, "max-validity-days");
  if (max !== undefined) out.maxValidityDays = max;
  const keys = optionalString(values, "key-types");
  if (keys !== undefined) {
    const names = keys === "any" ? [] : keys.split(",").map((k) => k.trim().toLowerCase()).filter(Boolean);
    out.allowedKeyTypes = {
      keyTypes: names.map((n) => {
        const k = KEY_TYPE_NAMES[n];
        if (k === undefined) throw new UsageError(`--key-types: unknown key type "${n}" (one of ${Object.keys(KEY_TYPE_NAMES).join(", ")}, or any)`);
        return k;
      }),
    };
  }
  const revoke = optionalBool(values, "revoke-on-deactivation");
  if (revoke !== undefined) out.revokeCertificatesOnDeactivation = revoke;
  const life = optionalInt(values, "session-lifetime");
  if (life !== undefined) out.sessionLifetimeSeconds = BigInt(life);
  const method = optionalString(values, "login-method");
  if (method !== undefined) {
    if (method !== "password" && method !== "sso") throw new UsageError(`--login-method must be password or sso (got "${method}")`);
    out.requiredLoginMethod = method === "sso" ? LoginMethod.SSO : LoginMethod.PASSWORD;
  }
  return Object.keys(out).length ? out : undefined;
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
      slug: { type: "string" },
      "default-validity-days": { type: "string" },
      "max-validity-days": { type: "string" },
      "key-types": { type: "string" },
      "revoke-on-deactivation": { type: "string" },
      "session-lifetime": { type: "string" },
      "login-method": { type: "string" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
    });
    if (!sub || values.help || isHelpWord(sub)) return void io.stdout.write(USAGE);
    const cli = AdminCli.open(values, io);
    try {
      switch (sub) {
        case "create": {
          const r = await cli.call(OrganizationService, "createOrganization", {
            name: required(values, "name"),
            description: optionalString(values, "description") ?? "",
            slug: optionalString(values, "slug") ?? "",
            settings: settingsFrom(values),
          });
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
          cli.print(ListOrganizationsResponseSchema, r, () => table(r.organizations.map(orgRow), ["id", "name", "slug", "description", "created"]) + (r.nextPageToken ? `next page: --page-token ${r.nextPageToken}\n` : ""));
          return;
        }
        case "update": {
          const r = await cli.call(OrganizationService, "updateOrganization", {
            id: arg(positionals, 0, "ID"),
            name: optionalString(values, "name"),
            description: optionalString(values, "description"),
            slug: optionalString(values, "slug"),
            settings: settingsFrom(values),
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
