/**
 * `sigil login --sso --organization SLUG`: operator sign-in with the
 * organization's OpenID Connect provider from a terminal, by the loopback
 * redirect of RFC 8252 §7.3: the CLI listens on 127.0.0.1 on a random port,
 * asks the server for the authorization URL with
 * http://127.0.0.1:PORT/callback as redirect URI (BeginSsoLogin: PKCE,
 * state and nonce are the server's), prints it (and opens it with --open),
 * receives the browser's redirect with the code, and completes the sign-in
 * (CompleteSsoLogin with the binding it kept). The tokens are stored as by
 * a password login.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { AuthService, CompleteSsoLoginResponseSchema } from "../gen/sigil/admin/v1/auth_pb.js";
import { AdminCli, optionalString, saveCredentials, UsageError, when } from "./admin-client.js";
import type { CliIo } from "./io.js";
import { roleName } from "./user.js";

/** How long the CLI waits for the browser to come back (the server's sign-in lifetime). */
export const SSO_CALLBACK_TIMEOUT_MS = 10 * 60 * 1000;
/** The loopback path the provider redirects to; register http://127.0.0.1/callback (any port) at the provider. */
export const SSO_CALLBACK_PATH = "/callback";

const PAGE = (title: string, text: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body style="font-family:sans-serif;margin:3em"><h1>${title}</h1><p>${text}</p></body></html>`;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Listens on 127.0.0.1:0 and resolves with the first callback's code and state (or rejects with the provider's error). */
async function loopbackListener(signal: AbortSignal | undefined): Promise<{ redirectUri: string; result: Promise<{ code: string; state: string }>; close(): void }> {
  let settle: { resolve(v: { code: string; state: string }): void; reject(e: Error): void } | undefined;
  const result = new Promise<{ code: string; state: string }>((resolve, reject) => (settle = { resolve, reject }));
  // a browser redirect carries nothing secret but the one-time code; anything but the callback path is 404
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method !== "GET" || url.pathname !== SSO_CALLBACK_PATH) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    const error = url.searchParams.get("error");
    const code = url.searchParams.get("code");
    const state = url.searchParams.get("state");
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.setHeader("cache-control", "no-store");
    if (error) {
      // RFC 6749 §4.1.2.1
      const description = url.searchParams.get("error_description") ?? "";
      res.writeHead(400).end(PAGE("Sign-in failed", escapeHtml(`${error}${description ? `: ${description}` : ""}`)));
      settle?.reject(new UsageError(`the identity provider refused the sign-in: ${error}${description ? ` (${description.slice(0, 200)})` : ""}`));
    } else if (!code || !state) {
      res.writeHead(400).end(PAGE("Sign-in failed", "The redirect carried no code."));
      settle?.reject(new UsageError("the identity provider's redirect carried no code"));
    } else {
      res.writeHead(200).end(PAGE("Signed in", "You can close this window and return to the terminal."));
      settle?.resolve({ code, state });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const timer = setTimeout(() => settle?.reject(new UsageError("no sign-in arrived within 10 minutes")), SSO_CALLBACK_TIMEOUT_MS);
  const onAbort = () => settle?.reject(new UsageError("interrupted"));
  signal?.addEventListener("abort", onAbort, { once: true });
  return {
    redirectUri: `http://127.0.0.1:${port}${SSO_CALLBACK_PATH}`,
    result,
    close() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      server.closeAllConnections?.();
      server.close();
    },
  };
}

/** Opens `url` in the desktop's browser (xdg-open / open / start); failures only print. */
function openBrowser(url: string, io: CliIo): void {
  const cmd = process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  try {
    const child = spawn(cmd, [url], { stdio: "ignore", detached: true });
    child.on("error", () => io.stderr.write(`(could not run ${cmd}; open the URL yourself)\n`));
    child.unref();
  } catch {
    io.stderr.write(`(could not run ${cmd}; open the URL yourself)\n`);
  }
}

/** `sigil login --sso`: values are the parsed options of `sigil login`. */
export async function runSsoLogin(values: Record<string, string | boolean | string[] | undefined>, io: CliIo): Promise<void> {
  const organization = optionalString(values, "organization") ?? io.env.SIGIL_ORGANIZATION ?? "";
  const identityProviderId = optionalString(values, "identity-provider") ?? "";
  if (!organization && !identityProviderId) throw new UsageError("--sso needs --organization SLUG (or --identity-provider ID)");
  const cli = AdminCli.open(values, { ...io, env: { ...io.env, SIGIL_API_KEY: "" } });
  const listener = await loopbackListener(io.signal);
  try {
    const auth = cli.client(AuthService);
    const begun = await auth.beginSsoLogin({ organization, identityProviderId, redirectUri: listener.redirectUri });
    io.stderr.write(`Open this URL in a browser to sign in (waiting on ${listener.redirectUri}):\n\n  ${begun.authorizationUrl}\n\n`);
    if (values.open) openBrowser(begun.authorizationUrl, io);
    const { code, state } = await listener.result;
    // the redirect must answer the sign-in this process began (RFC 6749 §10.12)
    if (state !== begun.state) throw new UsageError("the redirect's state is not this sign-in's; start again");
    const r = await auth.completeSsoLogin({ code, state, binding: begun.binding });
    saveCredentials(
      {
        server: cli.server,
        username: r.user?.username ?? "",
        accessToken: r.accessToken,
        accessTokenExpiresAt: when(r.accessTokenExpiresAt),
        refreshToken: r.refreshToken,
        refreshTokenExpiresAt: when(r.refreshTokenExpiresAt),
      },
      io.env,
    );
    // never print the tokens themselves
    const shown = { ...r, accessToken: "(stored)", refreshToken: "(stored)" };
    cli.print(CompleteSsoLoginResponseSchema, shown as typeof r, () =>
      `logged in to ${cli.server} as ${r.user?.username} (${roleName(r.user?.role ?? 0)})${r.userCreated ? ", user created" : ""}\n`,
    );
  } finally {
    listener.close();
    cli.close();
  }
}
