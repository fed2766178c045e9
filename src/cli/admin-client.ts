/**
 * What every `sigil <admin command>` shares: the server address, stored
 * credentials, typed gRPC clients that refresh the access token when it
 * expired, argument parsing, and output as a table (default) or JSON
 * (`--json`, protobuf JSON of the response).
 *
 * Server: `--server host:port`, else $SIGIL_SERVER, else the server of the
 * last `sigil login`, else 127.0.0.1:9090. TLS: `--tls` (or SIGIL_TLS=1),
 * with `--ca FILE` (SIGIL_CA) for a private CA and `--client-cert/--client-key`
 * (SIGIL_CLIENT_CERT / SIGIL_CLIENT_KEY) when the server requires client
 * certificates. Credentials: $SIGIL_API_KEY (a service account key) if set,
 * else the tokens `sigil login` stored in $XDG_CONFIG_HOME/sigil/credentials.json
 * (default ~/.config/sigil; directory 0700, file 0600).
 *
 * Reuse from another command module:
 *   const cli = AdminCli.open(flags, io);              // flags from parseCommand(), io from run()
 *   const res = await cli.call(CertificateService, "issueCertificate", { ... });
 *   cli.print(IssueCertificateResponseSchema, res, () => table([...]));
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { toJsonString, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { makeClient, type Client, type ClientCallOptions } from "../admin/grpc-adapter.js";
import { SigilError } from "../core/errors.js";
import { renderRpcErrorJson, renderRpcErrorText } from "./rpc-errors.js";
import { AuthService } from "../gen/sigil/admin/v1/auth_pb.js";
import type { CliIo } from "./io.js";

export const DEFAULT_SERVER = "127.0.0.1:9090";

/** Options every admin command accepts. */
export const COMMON_OPTIONS = {
  server: { type: "string" },
  json: { type: "boolean" },
  tls: { type: "boolean" },
  ca: { type: "string" },
  "client-cert": { type: "string" },
  "client-key": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies ParseArgsConfig["options"];

/** What `sigil login` stores. */
export interface StoredCredentials {
  server: string;
  username: string;
  accessToken: string;
  accessTokenExpiresAt: string;
  refreshToken: string;
  refreshTokenExpiresAt: string;
}

/** $XDG_CONFIG_HOME/sigil, or ~/.config/sigil. */
export function configDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(homedir(), ".config");
  return path.join(base, "sigil");
}

export function credentialsPath(env: NodeJS.ProcessEnv): string {
  return path.join(configDir(env), "credentials.json");
}

export function loadCredentials(env: NodeJS.ProcessEnv): StoredCredentials | undefined {
  const file = credentialsPath(env);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as StoredCredentials;
  } catch {
    return undefined;
  }
}

/** Writes the credentials file with mode 0600 (directory 0700). */
export function saveCredentials(c: StoredCredentials, env: NodeJS.ProcessEnv): void {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = credentialsPath(env);
  writeFileSync(file, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // also when the file existed with other bits
}

export function removeCredentials(env: NodeJS.ProcessEnv): void {
  rmSync(credentialsPath(env), { force: true });
}

/** A usage error: printed with the command's usage, exit code 2. */
export class UsageError extends Error {}

/**
 * Parses `argv` of one subcommand with the common options plus `options`.
 * Unknown options are usage errors.
 */
export function parseCommand<O extends NonNullable<ParseArgsConfig["options"]>>(
  argv: string[],
  options: O,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
    return { values: values as Record<string, string | boolean | string[] | undefined>, positionals };
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** A required string option. */
export function required(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

export function optionalString(values: Record<string, unknown>, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

export function optionalInt(values: Record<string, unknown>, name: string): number | undefined {
  const v = optionalString(values, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer`);
  return n;
}

/** "true"/"false"/"yes"/"no"/"1"/"0" -> boolean; undefined when absent. */
export function optionalBool(values: Record<string, unknown>, name: string): boolean | undefined {
  const v = optionalString(values, name);
  if (v === undefined) return undefined;
  if (/^(true|yes|1|on)$/i.test(v)) return true;
  if (/^(false|no|0|off)$/i.test(v)) return false;
  throw new UsageError(`--${name} must be true or false`);
}

/** A timestamp for a table cell (ISO 8601, or "-"). */
export function when(t: Timestamp | undefined): string {
  return t ? timestampDate(t).toISOString() : "-";
}

/** Renders rows as an aligned text table. */
export function table(rows: Array<Record<string, string | number | boolean>>, columns?: string[]): string {
  const cols = columns ?? (rows[0] ? Object.keys(rows[0]) : []);
  if (!rows.length) return "(none)\n";
  const cell = (v: unknown) => (v === undefined || v === null || v === "" ? "-" : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join("  ").trimEnd();
  return `${[line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join("\n")}\n`;
}

/** Key/value lines for one object. */
export function details(obj: Record<string, string | number | boolean | undefined>): string {
  const keys = Object.keys(obj);
  const width = Math.max(...keys.map((k) => k.length));
  return `${keys.map((k) => `${`${k}:`.padEnd(width + 1)} ${obj[k] === undefined || obj[k] === "" ? "-" : String(obj[k])}`).join("\n")}\n`;
}

function readOptionalFile(file: string | undefined, what: string): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

/** A connection to the admin server for one CLI invocation. */
export class AdminCli {
  readonly #clients = new Map<string, unknown>();
  #stored: StoredCredentials | undefined;

  private constructor(
    readonly server: string,
    readonly json: boolean,
    private readonly credentials: grpc.ChannelCredentials,
    private readonly apiKey: string | undefined,
    stored: StoredCredentials | undefined,
    private readonly out: NodeJS.WritableStream,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.#stored = stored;
  }

  /** Opens a connection from the parsed common options and the command's environment; prints to io.stdout. */
  static open(values: Record<string, unknown>, io: Pick<CliIo, "env" | "stdout">): AdminCli {
    const env = io.env;
    const stored = loadCredentials(env);
    const server = optionalString(values, "server") ?? env.SIGIL_SERVER ?? stored?.server ?? DEFAULT_SERVER;
    const useTls = values.tls === true || /^(1|true|yes)$/i.test(env.SIGIL_TLS ?? "") || Boolean(optionalString(values, "ca") ?? env.SIGIL_CA);
    let creds = grpc.credentials.createInsecure();
    if (useTls) {
      const ca = readOptionalFile(optionalString(values, "ca") ?? env.SIGIL_CA, "CA file");
      const cert = readOptionalFile(optionalString(values, "client-cert") ?? env.SIGIL_CLIENT_CERT, "client certificate");
      const key = readOptionalFile(optionalString(values, "client-key") ?? env.SIGIL_CLIENT_KEY, "client key");
      creds = grpc.credentials.createSsl(ca ?? null, key ?? null, cert ?? null);
    }
    // stored tokens belong to the server they came from
    const usable = stored && stored.server === server ? stored : undefined;
    // --json: errors are JSON too (runCli, same io)
    if (values.json === true) jsonErrorIo.add(io);
    return new AdminCli(server, values.json === true, creds, env.SIGIL_API_KEY || undefined, usable, io.stdout, env);
  }

  client<S extends DescService>(service: S): Client<S> {
    let c = this.#clients.get(service.typeName) as Client<S> | undefined;
    if (!c) {
      c = makeClient(service, this.server, this.credentials);
      this.#clients.set(service.typeName, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.#clients.values()) (c as { close(): void }).close();
  }

  /** Call options with the current credential; refreshes a stored access token that is about to expire. */
  async callOptions(extra: ClientCallOptions = {}): Promise<ClientCallOptions> {
    if (this.apiKey) return { ...extra, metadata: { authorization: `Bearer ${this.apiKey}` } };
    const stored = this.#stored;
    if (!stored) throw new SigilError("unauthenticated", `not logged in to ${this.server}: run "sigil login --server ${this.server}"`);
    if (Date.parse(stored.accessTokenExpiresAt) - Date.now() < 30_000) await this.refresh();
    return { ...extra, metadata: { authorization: `Bearer ${this.#stored!.accessToken}` } };
  }

  /** Exchanges the stored refresh token for a new pair and stores it. */
  async refresh(): Promise<void> {
    const stored = this.#stored;
    if (!stored) throw new SigilError("unauthenticated", "not logged in");
    try {
      const r = await this.client(AuthService).refresh({ refreshToken: stored.refreshToken });
      this.#stored = {
        ...stored,
        accessToken: r.accessToken,
        accessTokenExpiresAt: when(r.accessTokenExpiresAt),
        refreshToken: r.refreshToken,
        refreshTokenExpiresAt: when(r.refreshTokenExpiresAt),
      };
      saveCredentials(this.#stored, this.env);
    } catch (e) {
      if ((e as { code?: number }).code === grpc.status.UNAUTHENTICATED) {
        throw new SigilError("unauthenticated", `the session expired: run "sigil login --server ${this.server}"`);
      }
      throw e;
    }
  }

  /** Calls a unary RPC by localName with the stored credential; retries once after a refresh on UNAUTHENTICATED. */
  async call<S extends DescService>(service: S, method: keyof S["method"] & string, request: object): Promise<any> {
    const fn = (this.client(service) as unknown as Record<string, (req: object, o: ClientCallOptions) => Promise<unknown>>)[method]!;
    try {
      return await fn(request, await this.callOptions());
    } catch (e) {
      if ((e as { code?: number }).code !== grpc.status.UNAUTHENTICATED || this.apiKey || !this.#stored) throw e;
      await this.refresh();
      return fn(request, await this.callOptions());
    }
  }

  /** Prints a response: protobuf JSON with --json, else the text `render` returns. */
  print<D extends DescMessage>(schema: D, message: MessageShape<D>, render: () => string): void {
    this.out.write(this.json ? `${toJsonString(schema, message, { prettySpaces: 2 })}\n` : render());
  }

  write(text: string): void {
    this.out.write(text);
  }
}

/** The io objects of commands run with --json (set by AdminCli.open). */
const jsonErrorIo = new WeakSet<object>();

/**
 * Runs a subcommand body: usage errors exit 2 with `usage`, gRPC errors
 * print "sigil: CODE: details" and every google.rpc detail (./rpc-errors.ts;
 * with --json the google.rpc.Status as JSON) and exit 1.
 */
export async function runCli(usage: string, io: Pick<CliIo, "stderr">, body: () => Promise<number | void>): Promise<number> {
  try {
    return (await body()) ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`sigil: ${e.message}\n${usage}`);
      return 2;
    }
    if (e instanceof SigilError && e.kind === "unauthenticated") {
      io.stderr.write(`sigil: ${e.message}\n`);
      return 1;
    }
    const code = (e as { code?: unknown }).code;
    if (typeof code === "number" && grpc.status[code] !== undefined) {
      const err = e as { code: number; details?: string; metadata?: grpc.Metadata };
      io.stderr.write(jsonErrorIo.has(io) ? renderRpcErrorJson(err) : renderRpcErrorText(err));
      return 1;
    }
    throw e;
  }
}

/** Splits "a,b,c" option values (repeated options are concatenated). */
export function list(values: Record<string, unknown>, name: string): string[] {
  const v = values[name];
  const raw = Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
  return raw.flatMap((s) => String(s).split(",")).map((s) => s.trim()).filter(Boolean);
}
