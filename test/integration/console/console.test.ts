/**
 * The web console end to end in a real browser (issue 12 item 4): Debian's
 * chromium driven by playwright-core against a real Sigil on PostgreSQL,
 * the console loaded from the HTTPS listener and calling the admin API over
 * Connect. Screenshots go to a temporary directory (printed).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";
import { createUser, PASSWORD, unique } from "../admin/helpers.js";
import { createIntermediate, createRoot, PkiClients } from "../admin/pki-helpers.js";
import { launchChromium, screenshotDir } from "./browser.js";

// generous: two cores shared with the rest of the suite
const WAIT = { timeout: 60_000 };

describe("web console in Chromium (playwright-core, system chromium)", function () {
  this.timeout(300_000);
  let server: TestServer;
  let c: PkiClients;
  let browser: Browser;
  let context: BrowserContext;
  let base: string;
  let orgAName: string;
  let orgBCertSerial: string;
  let orgACertSerial: string;
  let orgUser: { username: string };
  let intA: { id: string; name: string };
  let rootA: { id: string; name: string };

  before(async function () {
    server = await startTestServer({ embedded: false });
    base = `https://127.0.0.1:${server.httpsPort}`;
    c = new PkiClients(server);
    const su = await c.superuser();
    orgAName = unique("alpha");
    const orgA = (await c.orgs.createOrganization({ name: orgAName }, su)).organization!;
    const orgB = (await c.orgs.createOrganization({ name: unique("bravo") }, su)).organization!;
    rootA = await createRoot(c, su, orgA.id, { pathLength: 2 });
    intA = await createIntermediate(c, su, rootA.id);
    const rootB = await createRoot(c, su, orgB.id);
    const intB = await createIntermediate(c, su, rootB.id);
    orgACertSerial = (await c.certs.issueCertificate({ caId: intA.id, type: CertificateType.SERVER, dnsNames: ["seen.alpha.example.test"] }, su)).certificate!.serial;
    orgBCertSerial = (await c.certs.issueCertificate({ caId: intB.id, type: CertificateType.SERVER, dnsNames: ["hidden.bravo.example.test"] }, su)).certificate!.serial;
    orgUser = await createUser(c, su, { organizationId: orgA.id, role: Role.USER, flags: { createCert: true } });
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
  });

  async function logIn(page: Page, username: string, password: string): Promise<void> {
    await page.goto(`${base}/console/`);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
  }

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
  }

  it("loads from the HTTPS listener with its CSP, renders the login form, keeps no token in web storage", async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    const res = await page.goto(`${base}/console/`);
    assert.equal(res!.status(), 200);
    assert.match(res!.headers()["content-security-policy"], /script-src 'self'/);
    await page.getByRole("button", { name: "Log in" }).waitFor(WAIT);
    // time to first render: navigation start -> the console's first render (main.tsx marks it)
    // (evaluated in the page: the DOM types are the browser's, not this file's)
    const t = (await page.evaluate(`(() => {
      const nav = performance.getEntriesByType("navigation")[0];
      const mark = performance.getEntriesByName("sigil-console-rendered")[0];
      return { rendered: Math.round(mark.startTime), domContentLoaded: Math.round(nav.domContentLoadedEventEnd), transfer: nav.transferSize };
    })()`)) as { rendered: number; domContentLoaded: number; transfer: number };
    writeFileSync(path.join(screenshotDir, "timing.json"), JSON.stringify(t));
    process.stdout.write(`      first render ${t.rendered} ms after navigation start (DOMContentLoaded ${t.domContentLoaded} ms)\n`);
    await logIn(page, "admin", TEST_ADMIN_PASSWORD);
    await page.getByTestId("whoami").waitFor(WAIT);
    const stored = await page.evaluate("JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie");
    assert.equal(stored, "{}{}");
    assert.deepEqual(errors, []);
    await page.close();
  });

  it("logs in, issues a certificate, finds it in the inventory, revokes it, sees it revoked and the audit entry arrive live", async () => {
    const name = `${unique("web")}.alpha.example.test`;
    // the live audit view, in its own tab with its own login (tokens are per page: memory only)
    const watcher = await context.newPage();
    await logIn(watcher, "admin", TEST_ADMIN_PASSWORD);
    await watcher.getByRole("link", { name: "Audit log" }).click();
    await watcher.getByLabel("Live").check();
    await watcher.getByTestId("live-state").filter({ hasText: "live" }).waitFor(WAIT);

    const page = await context.newPage();
    await logIn(page, "admin", TEST_ADMIN_PASSWORD);
    await page.getByRole("link", { name: "Issue" }).click();
    const form = page.getByRole("form", { name: "Issue a certificate" });
    await form.getByLabel("Issuing CA").selectOption(intA.id);
    await form.getByLabel("Common name").fill(name);
    await form.getByLabel("DNS names").fill(name);
    await form.getByRole("button", { name: "Issue" }).click();
    await page.getByTestId("status").filter({ hasText: "valid" }).waitFor(WAIT);
    await page.getByTestId("decoded").getByText(`DNS:${name}`).waitFor(WAIT);
    const certId = page.url().split("/").pop()!;

    // the inventory: search by name
    await page.getByRole("link", { name: "Certificates" }).first().click();
    await page.getByTestId("expiry-timeline").waitFor(WAIT);
    await page.getByPlaceholder("Name contains").fill(name);
    await page.getByRole("button", { name: "Search" }).click();
    const row = page.getByTestId("certificates").locator("tbody tr");
    // the unfiltered list goes, the one match stays
    await row.nth(1).waitFor({ state: "detached", ...WAIT });
    await row.filter({ hasText: name }).waitFor(WAIT);
    assert.equal(await row.count(), 1);
    await shot(page, "inventory");
    await row.getByRole("link", { name }).click();

    // revoke with a reason
    await page.getByRole("button", { name: "Revoke…" }).click();
    await page.getByLabel("Reason (RFC 5280 §5.3.1)").selectOption({ label: "keyCompromise" });
    await page.getByRole("button", { name: `Revoke ${name}` }).click();
    await page.getByTestId("status").filter({ hasText: "revoked" }).waitFor(WAIT);
    await page.getByTestId("revoked").filter({ hasText: "keyCompromise" }).waitFor(WAIT);
    await shot(page, "certificate-revoked");

    // the inventory says revoked too
    await page.getByRole("link", { name: "Certificates" }).first().click();
    await page.getByLabel("Status").selectOption({ label: "revoked" });
    await page.getByPlaceholder("Name contains").fill(name);
    await page.getByRole("button", { name: "Search" }).click();
    await row.filter({ hasText: name }).filter({ hasText: "revoked" }).waitFor(WAIT);

    // the revocation reached the live view without a reload
    await watcher.locator(`tr[data-action="cert_revoke"][data-resource-id="${certId}"]`).waitFor(WAIT);
    await shot(watcher, "audit-live");
    await watcher.close();

    // logout ends the session: the console is back at the login form
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("button", { name: "Log in" }).waitFor(WAIT);
    await page.close();
  });

  it("shows an organization's user only its organization's certificates, and no user administration", async () => {
    const page = await context.newPage();
    await logIn(page, orgUser.username, PASSWORD);
    const rows = page.getByTestId("certificates").locator("tbody tr");
    await rows.filter({ hasText: "seen.alpha.example.test" }).waitFor(WAIT);
    assert.equal(await page.locator(`tr[data-serial="${orgBCertSerial}"]`).count(), 0);
    assert.equal(await page.locator(`tr[data-serial="${orgACertSerial}"]`).count(), 1);
    // every row is the user's organization
    const orgs = await rows.locator("td.org").allTextContents();
    assert.ok(orgs.length > 0);
    assert.deepEqual([...new Set(orgs)], [orgAName]);
    // hidden: what the API would refuse (user administration, revoking without revoke_cert); shown: issuing (create_cert)
    assert.equal(await page.getByRole("link", { name: "Issue" }).count(), 1);
    // members may read their organization's users (policy "read"), never create or edit them
    await page.getByRole("link", { name: "Users & service accounts" }).click();
    await page.getByTestId("users").getByText(orgUser.username).waitFor(WAIT);
    assert.equal(await page.getByRole("button", { name: "New user…" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "New service account…" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: /^Edit / }).count(), 0);
    await page.getByRole("link", { name: "seen.alpha.example.test" }).click();
    await page.getByTestId("status").waitFor(WAIT);
    assert.equal(await page.getByRole("button", { name: "Revoke…" }).count(), 0);
    // searching for the other organization's serial finds nothing
    await page.getByRole("link", { name: "Certificates" }).first().click();
    await page.getByPlaceholder("Serial (hex)").fill(orgBCertSerial);
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByText("No certificates match.").waitFor(WAIT);
    await shot(page, "org-user");
    await page.close();
  });

  it("refreshes the access token before it expires (the refresh token is used once) and keeps working", async () => {
    const page = await context.newPage();
    // the browser's clock only: the server's tokens and checks keep real time
    await page.clock.install();
    await logIn(page, "admin", TEST_ADMIN_PASSWORD);
    await page.getByTestId("whoami").waitFor(WAIT);
    const refreshed = page.waitForResponse((r) => r.url().endsWith("/sigil.admin.v1.AuthService/Refresh"), WAIT);
    // 80 % of the 15-minute access token
    await page.clock.fastForward("12:30");
    const res = await refreshed;
    assert.equal(res.status(), 200);
    const pair = (await res.json()) as { accessToken: string; refreshToken: string };
    const sent = JSON.parse(res.request().postData() ?? "{}") as { refreshToken: string };
    assert.notEqual(pair.refreshToken, sent.refreshToken);
    // the next call carries the new access token
    const next = page.waitForRequest((r) => r.url().endsWith("/sigil.admin.v1.AuditService/ListAuditEvents"), WAIT);
    await page.getByRole("link", { name: "Audit log" }).click();
    assert.equal((await next).headers()["authorization"], `Bearer ${pair.accessToken}`);
    await page.getByTestId("audit").locator("tbody tr").first().waitFor(WAIT);
    // the used refresh token is spent: presenting it again fails (and revokes the family, RFC 6819 §5.2.2.3)
    await assert.rejects(c.auth.refresh({ refreshToken: sent.refreshToken }));
    await page.close();
  });

  it("creates and revokes an intermediate from the CA tree, and starts a renewal campaign for selected certificates", async () => {
    const page = await context.newPage();
    await logIn(page, "admin", TEST_ADMIN_PASSWORD);
    await page.getByRole("link", { name: "CAs" }).click();
    const root = page.locator(`.ca[data-ca="${rootA.name}"]`);
    await root.getByRole("button", { name: "New intermediate…" }).click();
    const name = unique("web-int");
    await root.getByPlaceholder("Name", { exact: true }).fill(name);
    await root.getByRole("button", { name: "Create intermediate" }).click();
    const created = page.locator(`.ca[data-ca="${name}"]`);
    await created.filter({ hasText: "intermediate" }).filter({ hasText: "active" }).waitFor(WAIT);
    await shot(page, "ca-tree");
    await created.getByRole("button", { name: "Revoke…" }).click();
    await created.getByLabel("Reason").selectOption({ label: "cessationOfOperation" });
    await created.getByRole("button", { name: `Revoke ${name}` }).click();
    await page.locator(`.ca[data-ca="${name}"]`).filter({ hasText: "revoked" }).waitFor(WAIT);
    const cas = (await c.cas.listCertificateAuthorities({ organizationId: "" }, await c.superuser())).certificateAuthorities;
    assert.equal(cas.find((x) => x.name === name)?.parentId, rootA.id);

    await page.getByRole("link", { name: "Certificates" }).first().click();
    await page.getByPlaceholder("Name contains").fill("seen.alpha.example.test");
    await page.getByRole("button", { name: "Search" }).click();
    await page.locator(`tr[data-serial="${orgACertSerial}"]`).waitFor(WAIT);
    await page.getByLabel(`select ${orgACertSerial}`).check();
    const campaign = page.getByRole("form", { name: "Renewal campaign" });
    await campaign.getByPlaceholder("Reason (required, audited)").fill("key rotation drill");
    await campaign.getByRole("button", { name: "Start renewal campaign" }).click();
    await page.getByText(/Campaign .* created for 1 certificate/).waitFor(WAIT);
    await page.close();
  });

  it("lists ACME directories with profiles, creates an EAB key (HMAC shown once), shows accounts, orders and the users", async () => {
    const page = await context.newPage();
    await logIn(page, "admin", TEST_ADMIN_PASSWORD);
    await page.getByRole("link", { name: "ACME" }).click();
    const card = page.locator("article.card").filter({ has: page.getByRole("heading", { name: /^default/ }) });
    await card.getByText("Profiles:").waitFor(WAIT);
    await card.getByRole("button", { name: "EAB keys" }).click();
    await card.getByRole("button", { name: "Create EAB key" }).click();
    await card.getByText("HMAC (shown once)").waitFor(WAIT);
    await card.locator("tbody tr").filter({ hasText: "created in the console" }).waitFor(WAIT);
    await card.getByRole("button", { name: "Accounts and recent orders" }).click();
    await card.getByRole("heading", { name: "Recent orders" }).waitFor(WAIT);
    await page.getByRole("link", { name: "Users & service accounts" }).click();
    await page.getByTestId("users").getByText(orgUser.username).waitFor(WAIT);
    await page.close();
  });

  // last: the address throttle it trips would refuse every later login from 127.0.0.1
  it("shows the lockout message after too many failed logins from this address", async () => {
    const page = await context.newPage();
    await logIn(page, orgUser.username, "wrong-password");
    await page.getByRole("alert").filter({ hasText: "invalid username or password" }).waitFor(WAIT);
    // 20 failures from one address (any accounts) within 15 minutes throttle it (proto/sigil/admin/v1/auth.proto)
    for (let i = 0; i < 19; i++) await c.auth.login({ username: unique("nobody"), password: "x" }).catch(() => undefined);
    await page.getByLabel("Password").fill("still-wrong");
    await page.getByRole("button", { name: "Log in" }).click();
    const alert = page.getByRole("alert");
    await alert.filter({ hasText: "too many failed logins from this address" }).waitFor(WAIT);
    // the google.rpc.RetryInfo detail of the answer, read by the console
    assert.match((await alert.textContent()) ?? "", /\(retry in (about \d+ min|\d+ s)\)$/);
    await shot(page, "lockout");
    assert.equal(await page.getByTestId("whoami").count(), 0);
    await page.close();
  });
});
