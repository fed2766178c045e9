/** `sigil sa ...`: ServiceAccountService (service accounts and API keys). */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CreateApiKeyResponseSchema,
  CreateServiceAccountResponseSchema,
  DeleteServiceAccountResponseSchema,
  GetServiceAccountResponseSchema,
  ListApiKeysResponseSchema,
  ListServiceAccountPublicKeysResponseSchema,
  ListServiceAccountsResponseSchema,
  RegisterServiceAccountPublicKeyResponseSchema,
  RevokeServiceAccountPublicKeyResponseSchema,
  RevokeApiKeyResponseSchema,
  ServiceAccountService,
  UpdateServiceAccountResponseSchema,
  type ApiKey,
  type ServiceAccount,
  type ServiceAccountPublicKey,
} from "../gen/sigil/admin/v1/service_account_pb.js";
import { readFileSync } from "node:fs";
import { audienceOf, readPrivateKey, signServiceAccountJwt } from "./service-auth.js";
import { AdminCli, details, optionalBool, optionalInt, optionalString, parseCommand, required, runCli, table, UsageError, when } from "./admin-client.js";
import { isHelpWord, type CliIo } from "./io.js";
import { capabilitiesOf, capabilityFlags } from "./user.js";

const USAGE = `usage: sigil sa <command> [options]

commands:
  create --org ORG_ID --name NAME [--description TEXT] [--cap create_cert,revoke_cert,...]
  get ID
  list [--org ORG_ID] [--page-size N] [--page-token T]
  update ID [--name NAME] [--description TEXT] [--active true|false] [--cap NAME=true|false ...]
  delete ID
  key-create SA_ID --name LABEL [--expires ISO-TIME] [--scopes S1,S2 ...]
                                                      prints the key once: store it now
  keys SA_ID [--include-revoked]
  key-revoke KEY_ID
  public-key-register SA_ID --name LABEL --public-key FILE [--expires ISO-TIME] [--scopes S1,S2 ...]
                                                      FILE: PEM "PUBLIC KEY" or JWK (ES256, RS256, EdDSA)
  public-keys SA_ID [--include-revoked]
  public-key-revoke SA_ID KEY_ID
  jwt SA_ID --private-key FILE [--audience AUD]       prints a signed JWT (RFC 7523), valid 2 minutes, usable once

Scopes (docs/service-auth.md): e.g. certificates:issue, certificates:*, cas:read, acme:admin, audit:read, "*"
(default "*": everything the service account may do).
Use a key with SIGIL_API_KEY=sigil_... sigil <command>, or as "authorization: Bearer sigil_...".
A key pair: "sigil login --service-account SA_ID --private-key FILE --audience AUD", or
"authorization: Bearer $(sigil sa jwt SA_ID --private-key FILE --audience AUD)".
common options: --server host:port --json --tls --ca FILE --client-cert FILE --client-key FILE
`;

function saRow(s: ServiceAccount | undefined): Record<string, string> {
  if (!s) return {};
  return { id: s.id, name: s.name, organization: s.organizationId, active: s.isActive ? "yes" : "no", capabilities: capabilitiesOf(s), description: s.description };
}

function keyRow(k: ApiKey | undefined): Record<string, string> {
  if (!k) return {};
  return {
    id: k.id,
    name: k.name,
    prefix: k.keyPrefix,
    scopes: k.scopes.join(","),
    created: when(k.createdAt),
    expires: when(k.expiresAt),
    last_used: when(k.lastUsedAt),
    revoked: when(k.revokedAt),
  };
}

function publicKeyRow(k: ServiceAccountPublicKey | undefined): Record<string, string> {
  if (!k) return {};
  return {
    key_id: k.keyId,
    name: k.name,
    algorithm: k.algorithm,
    scopes: k.scopes.join(","),
    created: when(k.createdAt),
    expires: when(k.expiresAt),
    last_used: when(k.lastUsedAt),
    revoked: when(k.revokedAt),
  };
}

/** --scopes a,b --scopes c -> ["a", "b", "c"] */
function scopesOf(values: Record<string, unknown>): string[] {
  const v = values.scopes;
  const list = Array.isArray(v) ? (v as string[]) : typeof v === "string" ? [v] : [];
  return list.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean);
}

function expiresOf(values: Record<string, unknown>): ReturnType<typeof timestampFromDate> | undefined {
  const expires = optionalString(values, "expires");
  const d = expires === undefined ? undefined : new Date(expires);
  if (d && Number.isNaN(d.getTime())) throw new UsageError("--expires must be an ISO 8601 time");
  return d ? timestampFromDate(d) : undefined;
}

export async function runSa(argv: string[], io: CliIo): Promise<number> {
  return runCli(USAGE, io, async () => {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseCommand(rest, {
      org: { type: "string" },
      name: { type: "string" },
      description: { type: "string" },
      cap: { type: "string", multiple: true },
      active: { type: "string" },
      expires: { type: "string" },
      "include-revoked": { type: "boolean" },
      scopes: { type: "string", multiple: true },
      "public-key": { type: "string" },
      "private-key": { type: "string" },
      audience: { type: "string" },
      "page-size": { type: "string" },
      "page-token": { type: "string" },
    });
    if (!sub || values.help || isHelpWord(sub)) return void io.stdout.write(USAGE);
    const pos = (name: string) => {
      if (!positionals[0]) throw new UsageError(`${name} is required`);
      return positionals[0];
    };
    const cli = AdminCli.open(values, io);
    try {
      switch (sub) {
        case "create": {
          const r = await cli.call(ServiceAccountService, "createServiceAccount", {
            organizationId: required(values, "org"),
            name: required(values, "name"),
            description: optionalString(values, "description") ?? "",
            ...capabilityFlags(values),
          });
          cli.print(CreateServiceAccountResponseSchema, r, () => details(saRow(r.serviceAccount)));
          return;
        }
        case "get": {
          const r = await cli.call(ServiceAccountService, "getServiceAccount", { id: pos("ID") });
          cli.print(GetServiceAccountResponseSchema, r, () => details(saRow(r.serviceAccount)));
          return;
        }
        case "list": {
          const r = await cli.call(ServiceAccountService, "listServiceAccounts", {
            organizationId: optionalString(values, "org") ?? "",
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListServiceAccountsResponseSchema, r, () => table(r.serviceAccounts.map(saRow), ["id", "name", "organization", "active", "capabilities"]));
          return;
        }
        case "update": {
          const r = await cli.call(ServiceAccountService, "updateServiceAccount", {
            id: pos("ID"),
            name: optionalString(values, "name"),
            description: optionalString(values, "description"),
            isActive: optionalBool(values, "active"),
            ...capabilityFlags(values),
          });
          cli.print(UpdateServiceAccountResponseSchema, r, () => details(saRow(r.serviceAccount)));
          return;
        }
        case "delete": {
          const r = await cli.call(ServiceAccountService, "deleteServiceAccount", { id: pos("ID") });
          cli.print(DeleteServiceAccountResponseSchema, r, () => "deleted\n");
          return;
        }
        case "key-create": {
          const r = await cli.call(ServiceAccountService, "createApiKey", {
            serviceAccountId: pos("SA_ID"),
            name: required(values, "name"),
            expiresAt: expiresOf(values),
            scopes: scopesOf(values),
          });
          cli.print(CreateApiKeyResponseSchema, r, () => `${details(keyRow(r.apiKey))}key: ${r.key}\n(shown only now: store it securely)\n`);
          return;
        }
        case "keys": {
          const r = await cli.call(ServiceAccountService, "listApiKeys", {
            serviceAccountId: pos("SA_ID"),
            includeRevoked: values["include-revoked"] === true,
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListApiKeysResponseSchema, r, () => table(r.apiKeys.map(keyRow), ["id", "name", "prefix", "scopes", "created", "expires", "last_used", "revoked"]));
          return;
        }
        case "key-revoke": {
          const r = await cli.call(ServiceAccountService, "revokeApiKey", { id: pos("KEY_ID") });
          cli.print(RevokeApiKeyResponseSchema, r, () => details(keyRow(r.apiKey)));
          return;
        }
        case "public-key-register": {
          const file = required(values, "public-key");
          let publicKey: string;
          try {
            publicKey = readFileSync(file, "utf8");
          } catch (e) {
            throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
          }
          const r = await cli.call(ServiceAccountService, "registerServiceAccountPublicKey", {
            serviceAccountId: pos("SA_ID"),
            name: required(values, "name"),
            publicKey,
            expiresAt: expiresOf(values),
            scopes: scopesOf(values),
          });
          cli.print(RegisterServiceAccountPublicKeyResponseSchema, r, () => details(publicKeyRow(r.publicKey)));
          return;
        }
        case "public-keys": {
          const r = await cli.call(ServiceAccountService, "listServiceAccountPublicKeys", {
            serviceAccountId: pos("SA_ID"),
            includeRevoked: values["include-revoked"] === true,
            pageSize: optionalInt(values, "page-size") ?? 0,
            pageToken: optionalString(values, "page-token") ?? "",
          });
          cli.print(ListServiceAccountPublicKeysResponseSchema, r, () =>
            table(r.publicKeys.map(publicKeyRow), ["key_id", "name", "algorithm", "scopes", "created", "expires", "last_used", "revoked"]),
          );
          return;
        }
        case "public-key-revoke": {
          if (!positionals[1]) throw new UsageError("KEY_ID is required");
          const r = await cli.call(ServiceAccountService, "revokeServiceAccountPublicKey", { serviceAccountId: pos("SA_ID"), keyId: positionals[1] });
          cli.print(RevokeServiceAccountPublicKeyResponseSchema, r, () => details(publicKeyRow(r.publicKey)));
          return;
        }
        case "jwt": {
          const token = await signServiceAccountJwt(readPrivateKey(required(values, "private-key")), pos("SA_ID"), audienceOf(values, io.env));
          cli.write(`${token}\n`);
          return;
        }
        default:
          throw new UsageError(`unknown sa command "${sub}"`);
      }
    } finally {
      cli.close();
    }
  });
}
