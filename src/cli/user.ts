/** `sigil user ...`: UserService. */
import {
  CreateUserResponseSchema,
  DeactivateUserResponseSchema,
  GetUserResponseSchema,
  ListUsersResponseSchema,
  Role,
  UnlockUserResponseSchema,
  UpdateUserResponseSchema,
  UserService,
  type User,
} from "../gen/sigil/admin/v1/user_pb.js";
import { AuthService, ListSessionsResponseSchema, RevokeSessionResponseSchema, type ListSessionsResponse } from "../gen/sigil/admin/v1/auth_pb.js";
import { AdminCli, details, list, optionalBool, optionalInt, optionalString, parseCommand, required, runCli, table, UsageError, when } from "./admin-client.js";
import { isHelpWord, readStdin, type CliIo } from "./io.js";

const USAGE = `usage: sigil user <command> [options]

commands:
  create --username NAME --email EMAIL --role superuser|admin|user [--org ORG_ID]
         [--cap create_ca,create_cert,revoke_cert,export_private_key,delete_ca] [--password-stdin]
  get ID
  list [--org ORG_ID] [--include-inactive] [--page-size N] [--page-token T]
  update ID [--email EMAIL] [--role ROLE] [--active true|false] [--org ORG_ID|""]
            [--cap NAME=true|false ...] [--password-stdin]
  deactivate ID        (also revokes the user's certificates when its organization says so)
  unlock ID            lift a login lockout
  sessions [--user ID | --org ORG_ID] [--include-ended]
  revoke-session SESSION_ID

The password is read from $SIGIL_NEW_PASSWORD or, with --password-stdin, from stdin.
Changing your own password also needs your current one in $SIGIL_CURRENT_PASSWORD.
common options: --server host:port --json --tls --ca FILE --client-cert FILE --client-key FILE
`;

export const CAPABILITY_FIELDS = {
  create_ca: "createCa",
  create_cert: "createCert",
  revoke_cert: "revokeCert",
  export_private_key: "exportPrivateKey",
  delete_ca: "deleteCa",
} as const;

export function roleName(r: Role): string {
  switch (r) {
    case Role.SUPERUSER:
      return "superuser";
    case Role.ADMIN:
      return "admin";
    case Role.USER:
      return "user";
    default:
      return "unspecified";
  }
}

export function parseRole(v: string): Role {
  switch (v.toLowerCase()) {
    case "superuser":
      return Role.SUPERUSER;
    case "admin":
      return Role.ADMIN;
    case "user":
      return Role.USER;
    default:
      throw new UsageError(`--role must be superuser, admin or user (got "${v}")`);
  }
}

export function capabilitiesOf(u: { createCa: boolean; createCert: boolean; revokeCert: boolean; exportPrivateKey: boolean; deleteCa: boolean }): string {
  return (Object.entries(CAPABILITY_FIELDS) as Array<[string, keyof typeof u]>).filter(([, f]) => u[f]).map(([n]) => n).join(",");
}

export function userRow(u: User | undefined): Record<string, string> {
  if (!u) return {};
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    role: roleName(u.role),
    active: u.isActive ? "yes" : "no",
    organization: u.organizationId,
    capabilities: capabilitiesOf(u),
    last_login: when(u.lastLoginAt),
    ...(u.lockedUntil ? { locked_until: when(u.lockedUntil) } : {}),
  };
}

/** "--cap a,b" -> { a: true, b: true }; "--cap a=false" -> { a: false } */
export function capabilityFlags(values: Record<string, unknown>, name = "cap"): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const item of list(values, name)) {
    const [cap, raw] = item.split("=", 2) as [string, string | undefined];
    const field = CAPABILITY_FIELDS[cap as keyof typeof CAPABILITY_FIELDS];
    if (!field) throw new UsageError(`unknown capability "${cap}" (one of ${Object.keys(CAPABILITY_FIELDS).join(", ")})`);
    const v = raw === undefined ? true : optionalBool({ v: raw }, "v");
    out[field] = v!;
  }
  return out;
}

async function newPassword(values: Record<string, unknown>, requiredHere: boolean, io: CliIo): Promise<string | undefined> {
  if (values["password-stdin"]) return readStdin(io);
  const env = io.env.SIGIL_NEW_PASSWORD;
  if (env) return env;
  if (requiredHere) throw new UsageError("a password is required: --password-stdin or $SIGIL_NEW_PASSWORD");
  return undefined;
}

export async function runUser(argv: string[], io: CliIo): Promise<number> {
  return runCli(USAGE, io, async () => {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseCommand(rest, {
      username: { type: "string" },
      email: { type: "string" },
      role: { type: "string" },
      org: { type: "string" },
      cap: { type: "string", multiple: true },
      active: { type: "string" },
      "include-inactive": { type: "boolean" },
      "include-ended": { type: "boolean" },
      user: { type: "string" },
      "password-stdin": { type: "boolean" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
    });
    if (!sub || values.help || isHelpWord(sub)) return void io.stdout.write(USAGE);
    const id = () => {
      if (!positionals[0]) throw new UsageError("ID is required");
      return positionals[0];
    };
    const cli = AdminCli.open(values, io);
    try {
      switch (sub) {
        case "create": {
          const r = await cli.call(UserService, "createUser", {
            username: required(values, "username"),
            email: required(values, "email"),
            role: parseRole(required(values, "role")),
            organizationId: optionalString(values, "org") ?? "",
            password: await newPassword(values, true, io),
            ...capabilityFlags(values),
          });
          cli.print(CreateUserResponseSchema, r, () => details(userRow(r.user)));
          return;
        }
        case "get": {
          const r = await cli.call(UserService, "getUser", { id: id() });
          cli.print(GetUserResponseSchema, r, () => details(userRow(r.user)));
          return;
        }
        case "list": {
          const r = await cli.call(UserService, "listUsers", {
            organizationId: optionalString(values, "org") ?? "",
            includeInactive: values["include-inactive"] === true,
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListUsersResponseSchema, r, () => table(r.users.map(userRow), ["id", "username", "email", "role", "active", "organization", "capabilities"]) + (r.nextPageToken ? `next page: --page-token ${r.nextPageToken}\n` : ""));
          return;
        }
        case "update": {
          const role = optionalString(values, "role");
          const r = await cli.call(UserService, "updateUser", {
            id: id(),
            email: optionalString(values, "email"),
            role: role === undefined ? undefined : parseRole(role),
            isActive: optionalBool(values, "active"),
            organizationId: optionalString(values, "org"),
            password: await newPassword(values, false, io),
            currentPassword: io.env.SIGIL_CURRENT_PASSWORD || undefined,
            ...capabilityFlags(values),
          });
          cli.print(UpdateUserResponseSchema, r, () => details({ ...userRow(r.user), ...(r.revokedCertificates ? { revoked_certificates: String(r.revokedCertificates) } : {}) }));
          return;
        }
        case "deactivate": {
          const r = await cli.call(UserService, "deactivateUser", { id: id() });
          cli.print(DeactivateUserResponseSchema, r, () => details({ ...userRow(r.user), revoked_certificates: String(r.revokedCertificates) }));
          return;
        }
        case "unlock": {
          const r = await cli.call(UserService, "unlockUser", { id: id() });
          cli.print(UnlockUserResponseSchema, r, () => details(userRow(r.user)));
          return;
        }
        case "sessions": {
          const r: ListSessionsResponse = await cli.call(AuthService, "listSessions", {
            userId: optionalString(values, "user") ?? "",
            organizationId: optionalString(values, "org") ?? "",
            includeEnded: values["include-ended"] === true,
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          const rows = r.sessions.map((x) => ({
            id: x.id,
            username: x.username,
            client: x.client,
            address: x.clientAddress,
            created: when(x.createdAt),
            last_used: when(x.lastUsedAt),
            expires: when(x.expiresAt),
            ended: x.revokedAt ? `${when(x.revokedAt)} (${x.revokedReason})` : "",
            current: x.current ? "*" : "",
          }));
          cli.print(ListSessionsResponseSchema, r, () => table(rows, ["id", "username", "client", "address", "created", "last_used", "expires", "ended", "current"]) + (r.nextPageToken ? `next page: --page-token ${r.nextPageToken}\n` : ""));
          return;
        }
        case "revoke-session": {
          const r = await cli.call(AuthService, "revokeSession", { sessionId: id() });
          cli.print(RevokeSessionResponseSchema, r, () => "revoked\n");
          return;
        }
        default:
          throw new UsageError(`unknown user command "${sub}"`);
      }
    } finally {
      cli.close();
    }
  });
}
