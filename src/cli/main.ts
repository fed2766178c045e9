import path from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { isSigilError } from "../core/errors.js";
import { isHelpWord, processIo, type CliIo } from "./io.js";

export { processIo, type CliIo } from "./io.js";

/** A CLI command: argv after the command word, the process's io; resolves to the exit code. */
export type Command = (argv: string[], io: CliIo) => Promise<number>;

export const USAGE = `usage: sigil <command> [options]      (sigil <command> --help for its options)

commands:
  serve      start the ACME, relying-party and gRPC admin listeners
  migrate    apply pending database migrations and exit
  health     print a running server's readiness (GET /readyz) as JSON; exit 0 ready, 1 not (--server URL)
  login      log in to the admin server (--server host:port, $SIGIL_SERVER; default 127.0.0.1:9090)
  logout     end the stored session
  whoami     show the logged-in principal
  org        organizations: create, get, list, update, delete, add-user, remove-user, users
  user       users: create, get, list, update, deactivate
  sa         service accounts and API keys
  audit      audit log: list, watch
  acme       ACME directories, EAB keys, accounts and orders: directory new|create|get|list|update|delete,
             eab new|create|list|revoke, account list|deactivate, order list,
             profile new|get|list|update|delete, rate-limit directory|set|list|delete
  ca         certificate authorities: create-root, create-intermediate, import, get, list, chain,
             children, update, delete, revoke, export-key
  cert       certificates: issue, sign-csr, get, list, chain, revoke, renew, export-key
  renewal    renewal campaigns (RFC 9773 ARI): create, drill, get, list, cancel
  policy     issuance policies of the admin plane: create, get, list, update, delete
  admin      local break-glass, straight on the database with the master key:
             reset-password --username NAME
  rotate-master-key  re-encrypt every secret under a new master key (--new-key-file F), straight on the database

Every command but serve, migrate, admin and rotate-master-key goes through the running server's admin API.
sigil --version prints the version.
`;

/**
 * A command whose module is imported when it runs: `sigil --help` and a
 * single admin command load only what they use (gRPC client, ORM, signer
 * are each tens of milliseconds of start-up), which keeps --help under 300 ms.
 */
function lazy(load: () => Promise<Command>): Command {
  return async (argv, io) => (await load())(argv, io);
}

/** The command table. */
export const commands: Record<string, Command> = {
  serve: lazy(() => import("./serve.js").then((m) => m.runServe)),
  migrate: lazy(() => import("./migrate.js").then((m) => m.runMigrate)),
  health: lazy(() => import("./health.js").then((m) => m.runHealth)),
  login: lazy(() => import("./login.js").then((m) => m.runLogin)),
  logout: lazy(() => import("./login.js").then((m) => m.runLogout)),
  whoami: lazy(() => import("./login.js").then((m) => m.runWhoAmI)),
  org: lazy(() => import("./org.js").then((m) => m.runOrg)),
  user: lazy(() => import("./user.js").then((m) => m.runUser)),
  sa: lazy(() => import("./sa.js").then((m) => m.runSa)),
  audit: lazy(() => import("./audit.js").then((m) => m.runAudit)),
  acme: lazy(() => import("./acme-admin.js").then((m) => m.runAcme)),
  ca: lazy(() => import("./ca.js").then((m) => m.runCa)),
  cert: lazy(() => import("./cert.js").then((m) => m.runCert)),
  renewal: lazy(() => import("./renewal.js").then((m) => m.runRenewal)),
  policy: lazy(() => import("./policy.js").then((m) => m.runPolicy)),
  admin: lazy(() => import("./admin-local.js").then((m) => m.runAdminLocal)),
  "rotate-master-key": lazy(() => import("./rotate-master-key.js").then((m) => m.runRotateMasterKey)),
};

/** package.json's version: the nearest package.json named "sigil" above this file (src/cli/ or dist/src/cli/). */
export function sigilVersion(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "sigil" && pkg.version) return pkg.version;
    } catch {
      // no package.json here: look higher up
    }
    if (path.dirname(dir) === dir) return "unknown";
  }
}

/**
 * Runs `sigil ARGV...` in this process with `io` and resolves to the exit
 * code; it never exits the process nor touches process.stdout (bin/sigil.js
 * does that). Errors a command did not handle end here: a configuration or
 * argument error exits 2, everything else 1, with one "sigil: ..." line.
 */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || isHelpWord(name)) {
    (name ? io.stdout : io.stderr).write(USAGE);
    return name ? 0 : 2;
  }
  if (name === "--version" || name === "-V" || name === "version") {
    io.stdout.write(`sigil ${sigilVersion()}\n`);
    return 0;
  }
  const cmd = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!cmd) {
    io.stderr.write(`sigil: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  try {
    return await cmd(rest, io);
  } catch (e) {
    if (isSigilError(e) && (e.kind === "config" || e.kind === "invalidArgument")) {
      io.stderr.write(`sigil: ${e.message}\n`);
      return 2;
    }
    // the message only: a SigilError's is written for the operator; anything else may be a
    // driver error quoting a whole statement with its values, so only its sanitized text
    const { sanitizeText } = await import("../logger.js");
    io.stderr.write(`sigil: ${sanitizeText(e instanceof Error ? e.message : String(e)).message}\n`);
    if (!isSigilError(e) && /^(debug|trace)$/.test(io.env.SIGIL_LOG_LEVEL ?? "") && e instanceof Error) io.stderr.write(`${(e.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l)).join("\n")}\n`);
    return 1;
  }
}

// Run directly (`tsx src/cli/main.ts serve`: npm start, the benchmarks) it is the binary itself.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void run(process.argv.slice(2), processIo()).then((code) => process.exit(code));
}
