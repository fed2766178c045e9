/** `sigil login`, `sigil logout`, `sigil whoami`. */
import { createInterface } from "node:readline";
import { AuthService, ExchangeJwtResponseSchema, LoginResponseSchema, WhoAmIResponseSchema } from "../gen/sigil/admin/v1/auth_pb.js";
import { audienceOf, readPrivateKey, signServiceAccountJwt } from "./service-auth.js";
import { AdminCli, details, loadCredentials, optionalString, parseCommand, removeCredentials, runCli, saveCredentials, UsageError, when } from "./admin-client.js";
import { readStdin, type CliIo } from "./io.js";
import { roleName } from "./user.js";

const LOGIN_USAGE = `usage: sigil login [--server host:port] [--username NAME] [--password-stdin] [--json]
       sigil login --service-account SA_ID --private-key FILE [--audience AUD] [--server host:port] [--json]
       sigil login --sso --organization SLUG [--identity-provider ID] [--open] [--server host:port] [--json]

Logs in to the admin server and stores the tokens in $XDG_CONFIG_HOME/sigil/credentials.json
(default ~/.config/sigil, mode 0600). The password is read from $SIGIL_PASSWORD, from stdin
with --password-stdin, or asked for on the terminal.

With --service-account, signs a JWT with the service account's private key (PEM; its public
key registered with "sigil sa public-key-register") and exchanges it (AuthService.ExchangeJwt,
RFC 7523) for an access token of at most 15 minutes; log in again when it expires. --audience
(or $SIGIL_JWT_AUDIENCE) is the server's SIGIL_JWT_AUDIENCE, by default its SIGIL_PUBLIC_URL.

With --sso, signs in with the organization's OpenID Connect provider (docs/sso.md): the URL to
open in a browser is printed (--open also starts the desktop's browser), and the provider
redirects back to http://127.0.0.1:<random port>/callback (RFC 8252 §7.3).
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
    const { values } = parseCommand(argv, {
      username: { type: "string", short: "u" },
      "password-stdin": { type: "boolean" },
      "service-account": { type: "string" },
      "private-key": { type: "string" },
      audience: { type: "string" },
      sso: { type: "boolean" },
      organization: { type: "string", short: "o" },
      "identity-provider": { type: "string" },
      open: { type: "boolean" },
    });
    if (values.help) return void io.stdout.write(LOGIN_USAGE);
    // OpenID Connect sign-in by the loopback redirect (src/cli/login-sso.ts)
    if (values.sso) return (await import("./login-sso.js")).runSsoLogin(values, io);
    const serviceAccount = optionalString(values, "service-account");
    if (serviceAccount !== undefined) return loginServiceAccount(values, serviceAccount, io);
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

/** `sigil login --service-account`: a signed JWT exchanged for an access token (no refresh token: sign again). */
async function loginServiceAccount(values: Record<string, unknown>, serviceAccountId: string, io: CliIo): Promise<void> {
  const file = optionalString(values, "private-key");
  if (!file) throw new UsageError("--private-key is required with --service-account");
  const key = readPrivateKey(file);
  const assertion = await signServiceAccountJwt(key, serviceAccountId, audienceOf(values, io.env));
  const cli = AdminCli.open(values, { ...io, env: { ...io.env, SIGIL_API_KEY: "" } });
  try {
    const r = await cli.client(AuthService).exchangeJwt({ assertion });
    saveCredentials(
      {
        server: cli.server,
        username: `service-account:${r.serviceAccount?.name ?? serviceAccountId}`,
        accessToken: r.accessToken,
        accessTokenExpiresAt: when(r.accessTokenExpiresAt),
        refreshToken: "",
        refreshTokenExpiresAt: when(r.accessTokenExpiresAt),
      },
      io.env,
    );
    const shown = { ...r, accessToken: "(stored)" };
    cli.print(ExchangeJwtResponseSchema, shown as typeof r, () => `logged in to ${cli.server} as service account ${r.serviceAccount?.name} until ${when(r.accessTokenExpiresAt)}\n`);
  } finally {
    cli.close();
  }
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
