import { loadConfig } from "../config.js";
import { isSigilError } from "../core/errors.js";
import { createLogger } from "../logger.js";
import { runAcme } from "./acme.js";
import { runMigrate } from "./migrate.js";
import { runServe } from "./serve.js";

/** A CLI command: argv after the command words; resolves to the exit code. */
export type Command = (argv: string[]) => Promise<number>;

const USAGE = `usage: sigil <command>

commands:
  serve      start the ACME, relying-party and gRPC admin listeners
  migrate    apply pending database migrations and exit
  acme       ACME directories and EAB keys (sigil acme directory create, sigil acme eab create)
`;

/** Command table; later subcommands (acme, org, user, ca, cert, ...) register here. */
export const commands: Record<string, Command> = {
  serve: runServe,
  migrate: runMigrate,
  acme: runAcme,
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
