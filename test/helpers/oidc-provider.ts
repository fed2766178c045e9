/**
 * A real OpenID provider for tests: the certified `oidc-provider` package
 * on a loopback port, with one confidential client (PKCE required, S256),
 * accounts with email / email_verified / groups claims, and its interaction
 * (login and consent) completed by a small middleware for the account the
 * test chose (`provider.nextAccount`), so a test drives the whole flow with
 * plain HTTP requests (`drive`), as a browser would follow the redirects.
 */
import http from "node:http";
import { generateKeyPairSync } from "node:crypto";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

export interface TestAccount {
  email: string;
  email_verified: boolean;
  groups: string[];
  name?: string;
}

export interface TestOidcProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  accounts: Map<string, TestAccount>;
  /** the account the next interaction signs in as */
  nextAccount: string;
  /** how many token requests the provider answered */
  tokenRequests: number;
  /**
   * Follows the authorization URL like a browser (cookies kept, redirects
   * followed) through login and consent until the provider redirects to a
   * URL starting with `redirectPrefix`; returns that URL (with code and state).
   */
  drive(authorizationUrl: string, redirectPrefix: string): Promise<URL>;
  close(): Promise<void>;
}

export interface OidcProviderOptions {
  redirectUris?: string[];
  /** "web" for a browser client's https redirect on a loopback host (oidc-provider refuses those for native clients); default "native" */
  applicationType?: "native" | "web";
  /** show a real HTML login form (a "Subject" field, a "Sign in" button) instead of signing in as nextAccount by itself; consent stays automatic */
  loginForm?: boolean;
}

export async function startOidcProvider(opts: OidcProviderOptions = {}): Promise<TestOidcProvider> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = "sigil-test";
  const clientSecret = "test-client-secret-d41d8cd98f00b204e9800998ecf8427e";
  const accounts = new Map<string, TestAccount>();
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = { ...(privateKey.export({ format: "jwk" }) as Record<string, unknown>), kid: "test-rs256", use: "sig", alg: "RS256" };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        // native: http://127.0.0.1 with any port (RFC 8252 §7.3) for the CLI; the https one for console-style redirects
        application_type: opts.applicationType ?? "native",
        redirect_uris: opts.redirectUris ?? ["http://127.0.0.1/callback", "http://127.0.0.1/sigil/callback"],
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    // RFC 7636: every authorization request must carry an S256 code_challenge
    pkce: { required: () => true },
    jwks: { keys: [jwk as never] },
    cookies: { keys: ["test-cookie-key-1"] },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
    scopes: ["openid", "email", "profile", "groups", "offline_access"],
    features: { devInteractions: { enabled: false } },
    // the scope's claims also in the ID token (Sigil reads UserInfo as well; both paths stay covered)
    conformIdTokenClaims: false,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, id) {
      const a = accounts.get(id);
      if (!a) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, email: a.email, email_verified: a.email_verified, groups: a.groups, name: a.name ?? id }) };
    },
    renderError(ctx, out) {
      ctx.type = "json";
      ctx.body = out;
    },
  });

  const state = { nextAccount: "", tokenRequests: 0 };
  provider.on("grant.success", () => {
    state.tokenRequests++;
  });

  // the interaction: sign in as nextAccount, consent to everything asked
  provider.use(async (ctx, next) => {
    const m = /^\/interaction\/([^/]+)$/.exec(ctx.path);
    if (!m) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result: Record<string, unknown>;
    if (details.prompt.name === "login" && opts.loginForm) {
      if (ctx.method !== "POST") {
        ctx.type = "html";
        ctx.body = `<!doctype html><title>Test IdP sign-in</title><form method="post"><h1>Test IdP</h1><label>Subject <input name="subject" autofocus></label><button type="submit">Sign in</button></form>`;
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
      const subject = new URLSearchParams(Buffer.concat(chunks).toString("utf8")).get("subject") ?? "";
      result = { login: { accountId: subject } };
    } else if (details.prompt.name === "login") {
      result = { login: { accountId: state.nextAccount } };
    } else {
      const grant = new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      const missingClaims = (details.prompt.details as { missingOIDCClaims?: string[] }).missingOIDCClaims;
      if (missingClaims) grant.addOIDCClaims(missingClaims);
      result = { consent: { grantId: await grant.save() } };
    }
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  });
  server.on("request", provider.callback());

  const out: TestOidcProvider = {
    issuer,
    clientId,
    clientSecret,
    accounts,
    get nextAccount() {
      return state.nextAccount;
    },
    set nextAccount(v: string) {
      state.nextAccount = v;
    },
    get tokenRequests() {
      return state.tokenRequests;
    },
    async drive(authorizationUrl, redirectPrefix) {
      const jar = new Map<string, string>();
      let url = new URL(authorizationUrl);
      for (let hop = 0; hop < 12; hop++) {
        if (url.toString().startsWith(redirectPrefix)) return url;
        const res = await fetch(url, { redirect: "manual", headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") } });
        for (const c of res.headers.getSetCookie()) {
          const [pair] = c.split(";");
          const i = pair!.indexOf("=");
          jar.set(pair!.slice(0, i), pair!.slice(i + 1));
        }
        const location = res.headers.get("location");
        if (res.status < 300 || res.status >= 400 || !location) {
          throw new Error(`the provider answered ${res.status} at ${url.pathname} instead of redirecting: ${(await res.text()).slice(0, 500)}`);
        }
        await res.arrayBuffer().catch(() => undefined);
        url = new URL(location, url);
      }
      throw new Error("too many redirects");
    },
    async close() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return out;
}
