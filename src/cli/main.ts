import { loadConfig } from "../config.js";
import { isSigilError } from "../core/errors.js";
import { createLogger } from "../logger.js";
import { runAcme } from "./acme.js";
import { runMigrate } from "./migrate.js";
import { runServe } from "./serve.js";
import { runAudit } from "./audit.js";
import { runCa } from "./ca.js";
import { runCert } from "./cert.js";
import { runLogin, runLogout, runWhoAmI } from "./login.js";
import { runOrg } from "./org.js";
import { runSa } from "./sa.js";
import { runUser } from "./user.js";

/** A CLI command: argv after the command words; resolves to the exit code. */
export type Command = (argv: string[]) => Promise<number>;

const USAGE = `usage: sigil <command>

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
  acme       ACME directories and EAB keys (sigil acme directory create, sigil acme eab create),
             and through the admin API: directory get|list|update|delete|new, eab new|list|revoke,
             account list|deactivate, order list
  ca         certificate authorities: create-root, create-intermediate, import, get, list, chain,
             children, update, delete, revoke, export-key
  cert       certificates: issue, sign-csr, get, list, chain, revoke, renew, export-key
`;

/** Command table; later subcommands (acme, org, user, ca, cert, ...) register here. */
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

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(USAGE);
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`sigil: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  return cmd(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || process.argv[2] !== "serve") process.exit(code);
  },
  (e: unknown) => {
    if (isSigilError(e) && (e.kind === "config" || e.kind === "invalidArgument")) {
      process.stderr.write(`sigil: ${e.message}\n`);
      process.exit(2);
    }
    const logger = createLogger("error");
    logger.error({ err: e }, "fatal");
    process.stderr.write(`sigil: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);

export { loadConfig };
