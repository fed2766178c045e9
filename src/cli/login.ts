/** `sigil login`, `sigil logout`, `sigil whoami`. */
import { createInterface } from "node:readline";
import { AuthService, LoginResponseSchema, WhoAmIResponseSchema } from "../gen/sigil/admin/v1/auth_pb.js";
import { AdminCli, details, loadCredentials, optionalString, parseCommand, removeCredentials, runCli, saveCredentials, UsageError, when } from "./admin-client.js";
import { readStdin, type CliIo } from "./io.js";
import { roleName } from "./user.js";

const LOGIN_USAGE = `usage: sigil login [--server host:port] [--username NAME] [--password-stdin] [--json]

Logs in to the admin server and stores the tokens in $XDG_CONFIG_HOME/sigil/credentials.json
(default ~/.config/sigil, mode 0600). The password is read from $SIGIL_PASSWORD, from stdin
with --password-stdin, or asked for on the terminal.
`;

async function prompt(io: CliIo, question: string, hidden: boolean): Promise<string> {
  if (!io.stdin?.isTTY) throw new UsageError("no terminal to ask on: use --password-stdin or $SIGIL_PASSWORD");
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  const out = rl as unknown as { _writeToOutput?: (s: string) => void; output: NodeJS.WritableStream };
  if (hidden) out._writeToOutput = (s: string) => (s.includes(question) ? out.output.write(s) : undefined);
  try {
    return await new Promise((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    if (hidden) io.stderr.write("\n");
  }
}

export async function runLogin(argv: string[], io: CliIo): Promise<number> {
  return runCli(LOGIN_USAGE, io, async () => {
    const { values } = parseCommand(argv, { username: { type: "string", short: "u" }, "password-stdin": { type: "boolean" } });
    if (values.help) return void io.stdout.write(LOGIN_USAGE);
    const username = optionalString(values, "username") ?? io.env.SIGIL_USERNAME ?? (await prompt(io, "username: ", false));
    const password = values["password-stdin"] ? await readStdin(io) : (io.env.SIGIL_PASSWORD ?? (await prompt(io, "password: ", true)));
    // a login is a user's, whatever $SIGIL_API_KEY says
    const cli = AdminCli.open(values, { ...io, env: { ...io.env, SIGIL_API_KEY: "" } });
    try {
      const r = await cli.client(AuthService).login({ username, password });
      saveCredentials(
        {
          server: cli.server,
          username,
          accessToken: r.accessToken,
          accessTokenExpiresAt: when(r.accessTokenExpiresAt),
          refreshToken: r.refreshToken,
          refreshTokenExpiresAt: when(r.refreshTokenExpiresAt),
        },
        io.env,
      );
      // never print the tokens themselves
      const shown = { ...r, accessToken: "(stored)", refreshToken: "(stored)" };
      cli.print(LoginResponseSchema, shown as typeof r, () => `logged in to ${cli.server} as ${r.user?.username} (${roleName(r.user?.role ?? 0)})\n`);
    } finally {
      cli.close();
    }
  });
}

const LOGOUT_USAGE = "usage: sigil logout [--server host:port]\n\nEnds the stored session on the server and deletes the stored tokens.\n";

export async function runLogout(argv: string[], io: CliIo): Promise<number> {
  return runCli(LOGOUT_USAGE, io, async () => {
    const { values } = parseCommand(argv, {});
    if (values.help) return void io.stdout.write(LOGOUT_USAGE);
    const stored = loadCredentials(io.env);
    const cli = AdminCli.open(values, { ...io, env: { ...io.env, SIGIL_API_KEY: "" } });
    try {
      if (stored && stored.server === cli.server) {
        await cli.call(AuthService, "logout", { refreshToken: stored.refreshToken }).catch(() => undefined);
      }
      removeCredentials(io.env);
      cli.write("logged out\n");
    } finally {
      cli.close();
    }
  });
}

const WHOAMI_USAGE = "usage: sigil whoami [--server host:port] [--json]\n";

export async function runWhoAmI(argv: string[], io: CliIo): Promise<number> {
  return runCli(WHOAMI_USAGE, io, async () => {
    const { values } = parseCommand(argv, {});
    if (values.help) return void io.stdout.write(WHOAMI_USAGE);
    const cli = AdminCli.open(values, io);
    try {
      const r = await cli.call(AuthService, "whoAmI", {});
      cli.print(WhoAmIResponseSchema, r, () => {
        const p = r.principal;
        if (p.case === "user") {
          return details({ user: p.value.username, id: p.value.id, role: roleName(p.value.role), organization: p.value.organizationId, expires: when(r.expiresAt) });
        }
        return details({ service_account: p.value?.name, id: p.value?.id, organization: p.value?.organizationId, expires: when(r.expiresAt) });
      });
    } finally {
      cli.close();
    }
  });
}
