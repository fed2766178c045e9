/**
 * The console's "Sign in with SSO" end to end (issue 13 item 5): Debian's
 * chromium (playwright-core) on the console served by a real Sigil on
 * PostgreSQL, a real OpenID provider (oidc-provider, test/helpers/
 * oidc-provider.ts) with its HTML login form filled in the browser, the
 * authorization code flow with PKCE (OIDC Core §3.1, RFC 7636) completed by
 * the console on its return to /console/. Screenshots go to the console
 * tests' directory (printed).
 */
import assert from "node:assert/strict";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { IdentityProviderService } from "../../../src/gen/sigil/admin/v1/identity_provider_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { SSO_DOMAIN_NOT_ALLOWED, SSO_INVALID_STATE } from "../../../src/ra/oidc/login.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { startOidcProvider, type TestOidcProvider } from "../../helpers/oidc-provider.js";
import { AdminClients, unique } from "../admin/helpers.js";
import { launchChromium, screenshotDir } from "./browser.js";

// generous: two cores shared with the rest of the suite
const WAIT = { timeout: 60_000 };
const PENDING_KEY = "sigil.sso.pending";

describe("console: sign in with SSO in Chromium (real OpenID provider)", function () {
  this.timeout(300_000);
  let server: TestServer;
  let op: TestOidcProvider;
  let c: AdminClients;
  let browser: Browser;
  let context: BrowserContext;
  let base: string;
  let orgSlug: string;
  let orgId: string;

  before(async () => {
    server = await startTestServer({ embedded: false });
    base = `https://127.0.0.1:${server.httpsPort}`;
    // the console's redirect URI is its root, registered exactly (docs/sso.md §1); a "web" client (https on a loopback host)
    op = await startOidcProvider({ redirectUris: [`${base}/console/`], applicationType: "web", loginForm: true });
    op.accounts.set("alice-sub", { email: "alice@example.com", email_verified: true, groups: ["pki-admins"] });
    op.accounts.set("eve-sub", { email: "eve@evil.test", email_verified: true, groups: ["pki-admins"] });
    c = new AdminClients(server);
    const su = await c.superuser();
    const org = (await c.orgs.createOrganization({ name: unique("ssoweb") }, su)).organization!;
    orgId = org.id;
    orgSlug = org.slug;
    await c.client(IdentityProviderService).createIdentityProvider(
      {
        organizationId: org.id,
        name: "Test IdP",
        issuer: op.issuer,
        clientId: op.clientId,
        clientSecret: op.clientSecret,
        allowedEmailDomains: ["example.com"],
        roleMappings: [{ claim: "groups", value: "pki-admins", role: Role.ADMIN }],
        defaultRole: Role.UNSPECIFIED,
        jitProvisioning: true,
        scopes: ["openid", "email", "profile", "groups"],
      },
      su,
    );
    browser = await launchChromium();
    // the listener's certificate is self-issued by the test server's own CA
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    process.stdout.write(`      console screenshots: ${screenshotDir}\n`);
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    c?.close();
    await server?.stop();
    await op?.close();
  });

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
  }

  /**
   * Login page -> "Sign in with SSO" -> the provider's form as `subject`.
   * Returns the redirect back (with code and state) and what BeginSsoLogin
   * answered (read off the wire, for the replay check).
   */
  async function ssoSignIn(page: Page, subject: string): Promise<{ callback: string; begun: { state: string; binding: string } }> {
    let begun: { state: string; binding: string } | undefined;
    await page.route("**/sigil.admin.v1.AuthService/BeginSsoLogin", async (route) => {
      const res = await route.fetch();
      begun = (await res.json()) as { state: string; binding: string };
      await route.fulfill({ response: res });
    });
    let callback = "";
    page.on("request", (r) => {
      if (r.isNavigationRequest() && r.url().startsWith(`${base}/console/?`)) callback = r.url();
    });
    await page.goto(`${base}/console/`);
    await page.getByLabel("Organization").fill(orgSlug);
    await shot(page, "sso-login-page");
    await page.getByRole("button", { name: "Sign in with SSO" }).click();
    // the provider's own page, in the browser
    await page.waitForURL((u) => u.toString().startsWith(op.issuer), WAIT);
    await page.getByLabel("Subject").fill(subject);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.toString().startsWith(`${base}/console/`), WAIT);
    assert.ok(begun, "BeginSsoLogin was called");
    return { callback, begun: begun! };
  }

  it("ok/sso-login: the provider's form, back to /console/ logged in as the mapped user; the query and sessionStorage are cleared, no token stored", async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const { callback, begun } = await ssoSignIn(page, "alice-sub");
    const back = new URL(callback);
    assert.ok(back.searchParams.get("code"), "the provider redirected with a code");
    assert.equal(back.searchParams.get("state"), begun.state);
    assert.equal(back.searchParams.get("binding"), null, "the binding never travels in a URL");
    const who = page.getByTestId("whoami");
    await who.waitFor(WAIT);
    // JIT provisioned with the mapped role (groups pki-admins -> admin)
    assert.match((await who.textContent()) ?? "", /alice@example\.com\s*\(admin\)/);
    // history.replaceState removed code and state from the address bar
    await page.waitForURL(`${base}/console/`, WAIT);
    assert.equal(new URL(page.url()).search, "");
    const stored = await page.evaluate("JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie");
    assert.equal(stored, "{}{}");
    // the session is a working one: an admin view of its organization loads
    await page.getByRole("link", { name: "Users & service accounts" }).click();
    await page.getByText("alice@example.com").first().waitFor(WAIT);
    await shot(page, "sso-logged-in");
    const users = await c.users.listUsers({ organizationId: orgId }, await c.superuser());
    const alice = users.users.find((u) => u.email === "alice@example.com");
    assert.equal(alice?.role, Role.ADMIN);
    assert.deepEqual(errors, []);

    // replayed: the same redirect again, even with the pending state and binding put back, is refused by the server
    const replay = await context.newPage();
    await replay.goto(`${base}/console/`);
    await replay.getByRole("button", { name: "Sign in with SSO" }).waitFor(WAIT);
    await replay.evaluate(`sessionStorage.setItem(${JSON.stringify(PENDING_KEY)}, ${JSON.stringify(JSON.stringify(begun))})`);
    await replay.goto(callback);
    await replay.getByRole("alert").filter({ hasText: SSO_INVALID_STATE }).waitFor(WAIT);
    assert.equal(await replay.getByTestId("whoami").count(), 0);
    assert.equal(new URL(replay.url()).search, "");
    await shot(replay, "sso-replayed");

    // replayed in a tab that never began it: refused before any call
    const other = await context.newPage();
    await other.goto(callback);
    await other.getByRole("alert").filter({ hasText: "not started in this tab or was already used" }).waitFor(WAIT);
    assert.equal(await other.getByTestId("whoami").count(), 0);
    await Promise.all([page.close(), replay.close(), other.close()]);
  });

  it("fail/disallowed-domain: an email outside the allowed domains shows the refusal and stays on the login page", async () => {
    // a browser of its own: the provider's session cookie from alice's sign-in would skip its login form
    const fresh = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
    const page = await fresh.newPage();
    await ssoSignIn(page, "eve-sub");
    await page.getByRole("alert").filter({ hasText: SSO_DOMAIN_NOT_ALLOWED }).waitFor(WAIT);
    assert.equal(await page.getByTestId("whoami").count(), 0);
    assert.equal(new URL(page.url()).search, "");
    assert.equal(await page.evaluate("JSON.stringify({ ...sessionStorage })"), "{}");
    // the form is usable again
    assert.equal(await page.getByRole("button", { name: "Sign in with SSO" }).isEnabled(), true);
    await shot(page, "sso-domain-refused");
    const users = await c.users.listUsers({ organizationId: orgId, includeInactive: true }, await c.superuser());
    assert.ok(!users.users.some((u) => u.email === "eve@evil.test"));
    await fresh.close();
  });

  it("fail/unknown-organization: a slug without SSO shows the server's refusal and never leaves the console", async () => {
    const page = await context.newPage();
    await page.goto(`${base}/console/`);
    await page.getByLabel("Organization").fill(unique("nosuchorg"));
    await page.getByRole("button", { name: "Sign in with SSO" }).click();
    await page.getByRole("alert").waitFor(WAIT);
    assert.ok(page.url().startsWith(`${base}/console/`));
    assert.equal(await page.evaluate("JSON.stringify({ ...sessionStorage })"), "{}");
    await page.close();
  });
});
