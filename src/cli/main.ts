import path from "node:path";
import { fileURLToPath } from "node:url";
import { isSigilError } from "../core/errors.js";
import { runAcme } from "./acme-admin.js";
import { runAudit } from "./audit.js";
import { runCa } from "./ca.js";
import { runCert } from "./cert.js";
import { isHelpWord, processIo, type CliIo } from "./io.js";
import { runLogin, runLogout, runWhoAmI } from "./login.js";
import { runMigrate } from "./migrate.js";
import { runOrg } from "./org.js";
import { runSa } from "./sa.js";
import { runServe } from "./serve.js";
import { runUser } from "./user.js";

export { processIo, type CliIo } from "./io.js";

/** A CLI command: argv after the command word, the process's io; resolves to the exit code. */
export type Command = (argv: string[], io: CliIo) => Promise<number>;

export const USAGE = `usage: sigil <command> [options]      (sigil <command> --help for its options)

commands:
  serve      start the ACME, relying-party and gRPC admin listeners
  migrate    apply pending database migrations and exit
  login      log in to the admin server (--server host:port, $SIGIL_SERVER; default 127.0.0.1:9090)
  logout     end the stored session
  whoami     show the logged-in principal
  org        organizations: create, get, list, update, delete, add-user, remove-user, users
  user       users: create, get, list, update, deactivate
  sa         service accounts and API keys
  audit      audit log: list, watch
  acme       ACME directories, EAB keys, accounts and orders: directory new|create|get|list|update|delete,
             eab new|create|list|revoke, account list|deactivate, order list
  ca         certificate authorities: create-root, create-intermediate, import, get, list, chain,
             children, update, delete, revoke, export-key
  cert       certificates: issue, sign-csr, get, list, chain, revoke, renew, export-key

Every command but serve and migrate goes through the running server's admin API.
`;

/** The command table. */
export const commands: Record<string, Command> = {
  serve: runServe,
  migrate: runMigrate,
  login: runLogin,
  logout: runLogout,
  whoami: runWhoAmI,
  org: runOrg,
  user: runUser,
  sa: runSa,
  audit: runAudit,
  acme: runAcme,
  ca: runCa,
  cert: runCert,
};

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
    // the message only: a SigilError's is written for the operator; a stack on request
    io.stderr.write(`sigil: ${e instanceof Error ? e.message : String(e)}\n`);
    if (!isSigilError(e) && /^(debug|trace)$/.test(io.env.SIGIL_LOG_LEVEL ?? "") && e instanceof Error) io.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

// Run directly (`tsx src/cli/main.ts serve`: npm start, the benchmarks) it is the binary itself.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void run(process.argv.slice(2), processIo()).then((code) => process.exit(code));
}
