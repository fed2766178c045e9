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
import { bearer, createUser, PASSWORD, unique } from "../admin/helpers.js";
import { createIntermediate, createRoot, openssl, PkiClients } from "../admin/pki-helpers.js";
import { KeyAlgorithm, RevocationReason } from "../../../src/gen/sigil/admin/v1/common_pb.js";
import { randomUUID } from "node:crypto";
import { IssuancePolicyService } from "../../../src/gen/sigil/admin/v1/issuance_policy_pb.js";
import { calculateJwkThumbprint, exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { ChallengeType } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { launchChromium, screenshotDir } from "./browser.js";
import { RawAcme } from "../acme/raw-client.js";

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
  let orgAdmin: { username: string };
  let orgAId: string;
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
    orgAdmin = await createUser(c, su, { organizationId: orgA.id, role: Role.ADMIN });
    orgAId = orgA.id;
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
    await page.getByRole("link", { name: "seen.alpha.example.test" }).click();
    await page.getByTestId("status").waitFor(WAIT);
    assert.equal(await page.getByRole("button", { name: "Revoke…" }).count(), 0);
    // searching for the other organization's serial finds nothing
    await page.getByRole("link", { name: "Certificates" }).first().click();
    await page.getByPlaceholder("Serial (hex)").fill(orgBCertSerial);
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByText("No certificates match.").waitFor(WAIT);
    await shot(page, "org-user");
    // members may read their organization's users (policy "read"), never create or edit them
    await page.getByRole("link", { name: "Users & service accounts" }).click();
    await page.locator(`tr[data-user="${orgUser.username}"]`).waitFor(WAIT);
    assert.equal(await page.getByRole("button", { name: "New user…" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "New service account…" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: /^Edit / }).count(), 0);
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
    // an ACME account of the directory (RFC 8555 §7.3), deactivated by the operator (§7.3.6)
    const su = await c.superuser();
    const dflt = (await c.acme.listAcmeDirectories({ pageSize: 200 }, su)).directories.find((d) => d.name === "default")!;
    const acme = await RawAcme.create(dflt.directoryUrl);
    const reg = await acme.register({ contact: ["mailto:ops@alpha.example.test"] });
    assert.equal(reg.status, 201);
    const accountId = (await c.acme.listAcmeAccounts({ directoryId: dflt.id, pageSize: 200 }, su)).accounts.find((a) => a.contacts.includes("mailto:ops@alpha.example.test"))!.id;
    await card.getByRole("button", { name: "Accounts and recent orders" }).click();
    await card.getByRole("heading", { name: "Recent orders" }).waitFor(WAIT);
    const account = card.locator(`tr[data-account="${accountId}"]`);
    await account.getByRole("button", { name: `Deactivate account ${accountId}` }).click();
    await account.filter({ hasText: "deactivated" }).waitFor(WAIT);
    // the account's key can no longer act: a new order is refused (unauthorized, 403)
    const refused = await acme.post(acme.dir.newOrder!, { identifiers: [{ type: "dns", value: "after.alpha.example.test" }] });
    assert.equal(refused.status, 403, refused.text);
    await page.getByRole("link", { name: "Users & service accounts" }).click();
    await page.locator(`tr[data-user="${orgUser.username}"]`).waitFor(WAIT);
    await page.close();
  });

  it("creates a user with capabilities, changes them, deactivates the user; a service account's API key is shown once, works, and is revoked", async () => {
    const page = await context.newPage();
    await logIn(page, "admin", TEST_ADMIN_PASSWORD);
    await page.getByRole("link", { name: "Users & service accounts" }).click();
    await page.getByRole("button", { name: "New user…" }).click();
    const form = page.getByRole("form", { name: "New user" });
    const username = unique("web-user");
    await form.getByLabel("Username").fill(username);
    await form.getByLabel("Email").fill(`${username}@example.test`);
    await form.getByLabel("Initial password").fill(PASSWORD);
    await form.locator('select[name="organization"]').selectOption(orgAId);
    await form.getByLabel("create_cert").check();
    await form.getByRole("button", { name: "Create user" }).click();
    const row = page.locator(`tr[data-user="${username}"]`);
    await row.filter({ hasText: "create_cert" }).waitFor(WAIT);
    assert.equal(await row.locator("td").nth(3).textContent(), orgAName);
    // the new user can log in with what the form set
    await c.login(username, PASSWORD);

    await row.getByRole("button", { name: `Edit ${username}…` }).click();
    const edit = page.getByRole("form", { name: `Edit ${username}` });
    await edit.getByLabel("revoke_cert").check();
    await edit.getByRole("button", { name: "Save" }).click();
    await row.filter({ hasText: "create_cert, revoke_cert" }).waitFor(WAIT);
    const su = await c.superuser();
    const users = (await c.users.listUsers({ organizationId: orgAId, pageSize: 200 }, su)).users;
    const stored = users.find((u) => u.username === username)!;
    assert.equal(stored.createCert && stored.revokeCert && !stored.createCa, true);

    await row.getByRole("button", { name: `Edit ${username}…` }).click();
    await edit.getByRole("button", { name: "Deactivate" }).click();
    await page.getByTestId("users-notice").filter({ hasText: `Deactivated ${username}` }).waitFor(WAIT);
    await row.locator("td").nth(5).filter({ hasText: /^no$/ }).waitFor(WAIT);
    await assert.rejects(c.login(username, PASSWORD));

    // a service account and its API key
    await page.getByRole("button", { name: "New service account…" }).click();
    const saForm = page.getByRole("form", { name: "New service account" });
    const saName = unique("web-sa");
    await saForm.getByLabel("Name").fill(saName);
    await saForm.getByLabel("Description").fill("deploys from CI");
    await saForm.locator('select[name="organization"]').selectOption(orgAId);
    await saForm.getByLabel("create_cert").check();
    await saForm.getByRole("button", { name: "Create service account" }).click();
    const saRow = page.locator(`tr[data-service-account="${saName}"]`);
    await saRow.filter({ hasText: "create_cert" }).waitFor(WAIT);
    await saRow.getByRole("button", { name: `API keys of ${saName}` }).click();
    const keys = page.getByTestId(`api-keys-${saName}`);
    await keys.getByText("No API keys.").waitFor(WAIT);
    const keyForm = page.getByRole("form", { name: `New API key for ${saName}` });
    await keyForm.getByPlaceholder("Key name").fill("ci");
    await keyForm.getByPlaceholder("Expires in days (empty: never)").fill("30");
    // a scoped key (issue 13 item 3, docs/service-auth.md)
    await keyForm.locator('input[name="scopes"]').fill("certificates:read");
    await keyForm.getByRole("button", { name: "Create API key" }).click();
    const once = keys.getByTestId("api-key-once");
    await once.waitFor(WAIT);
    const key = ((await once.locator(".secret").textContent()) ?? "").trim();
    assert.match(key, /^sigil_/);
    await shot(page, "api-key-once");
    // the key is a working Bearer credential, acting as the service account in its organization
    const certs = await c.certs.listCertificates({ pageSize: 5 }, bearer(key));
    assert.ok(certs.certificates.every((x) => x.organizationId === orgAId));
    // shown once: after "Done" it is nowhere in the page, the list shows only the prefix
    await once.getByRole("button", { name: "Done" }).click();
    const keyRow = keys.locator('tr[data-key="ci"]');
    await keyRow.waitFor(WAIT);
    assert.equal(await page.getByText(key).count(), 0);
    assert.ok(key.startsWith(((await keyRow.locator("td").nth(1).textContent()) ?? "").replace("…", "")));
    assert.equal(await keyRow.locator("td").nth(2).textContent(), "certificates:read");
    // the scope narrows the service account's create_cert: issuing with this key is refused
    await assert.rejects(c.certs.issueCertificate({ caId: intA.id, type: CertificateType.SERVER, dnsNames: ["scoped.alpha.example.test"] }, bearer(key)));
    assert.notEqual(await keyRow.locator("td").nth(4).textContent(), "never");
    await keyRow.getByRole("button", { name: "Revoke" }).click();
    await keyRow.getByRole("button", { name: "Revoke" }).waitFor({ state: "detached", ...WAIT });
    assert.notEqual(await keyRow.locator("td").nth(6).textContent(), "—");
    await assert.rejects(c.certs.listCertificates({ pageSize: 5 }, bearer(key)));

    // a public key for JWT-bearer sign-in (RFC 7523): registered as PEM, used, revoked
    const pair = await generateKeyPair("ES256", { extractable: true });
    await saRow.getByRole("button", { name: `Public keys of ${saName}` }).click();
    const pks = page.getByTestId(`public-keys-${saName}`);
    await pks.getByText("No public keys.").waitFor(WAIT);
    const pkForm = page.getByRole("form", { name: `Register a public key for ${saName}` });
    await pkForm.getByPlaceholder("Key name").fill("deployer");
    await pkForm.getByLabel("Public key (PEM or JWK)").fill(await exportSPKI(pair.publicKey));
    await pkForm.getByRole("button", { name: "Register public key" }).click();
    const kid = await calculateJwkThumbprint(await exportJWK(pair.publicKey), "sha256");
    const pkRow = pks.locator(`tr[data-kid="${kid}"]`);
    await pkRow.filter({ hasText: "ES256" }).filter({ hasText: "deployer" }).waitFor(WAIT);
    const saId = (await c.sas.listServiceAccounts({ organizationId: orgAId, pageSize: 200 }, su)).serviceAccounts.find((a) => a.name === saName)!.id;
    const assertion = async () => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid, typ: "JWT" })
        .setIssuer(saId)
        .setSubject(saId)
        .setAudience(server.config.jwtAudience)
        .setIssuedAt(now)
        .setExpirationTime(now + 120)
        .setJti(randomUUID())
        .sign(pair.privateKey);
    };
    const exchanged = await c.auth.exchangeJwt({ assertion: await assertion() });
    await c.certs.listCertificates({ pageSize: 5 }, bearer(exchanged.accessToken));
    await pkRow.getByRole("button", { name: "Revoke public key deployer" }).click();
    await pkRow.getByRole("button", { name: "Revoke public key deployer" }).waitFor({ state: "detached", ...WAIT });
    await assert.rejects(c.auth.exchangeJwt({ assertion: await assertion() }));
    await shot(page, "people");
    await page.close();
  });

  it("creates an ACME directory, edits its policy and profiles, creates and revokes an EAB key", async () => {
    const page = await context.newPage();
    await logIn(page, "admin", TEST_ADMIN_PASSWORD);
    await page.getByRole("link", { name: "ACME" }).click();
    await page.getByRole("button", { name: "New directory…" }).click();
    const nd = page.getByRole("form", { name: "New ACME directory" });
    const dirName = unique("webdir");
    await nd.getByPlaceholder("Directory name (URL segment)").fill(dirName);
    await nd.getByLabel("Organization").selectOption(orgAId);
    await nd.getByLabel("Issuing CA").selectOption(intA.id);
    await nd.getByRole("button", { name: "Create directory" }).click();
    const card = page.locator(`article.card[data-directory="${dirName}"]`);
    await card.waitFor(WAIT);

    await card.getByRole("button", { name: "Edit policy…" }).click();
    const policy = page.getByRole("form", { name: `Policy of ${dirName}` });
    await policy.getByLabel("Allowed DNS suffixes (one a line; empty: any name)").fill("alpha.example.test\nshop.example.test");
    await policy.getByLabel("Allowed IP ranges (CIDR; empty: none)").fill("10.20.0.0/16");
    await policy.getByLabel("Maximum validity (days; empty: the server's)").fill("45");
    await policy.getByLabel("tls-alpn-01").uncheck();
    await policy.getByLabel("dns-account-01").check();
    await policy.getByLabel("EAB required (RFC 8555 §7.3.4)").uncheck();
    await shot(page, "acme-policy");
    await policy.getByRole("button", { name: "Save policy" }).click();
    await card.getByText("DNS suffixes: alpha.example.test, shop.example.test").waitFor(WAIT);
    await card.getByTestId("policy").filter({ hasText: "EAB optional" }).filter({ hasText: "max 45 days" }).waitFor(WAIT);
    const su = await c.superuser();
    const dir = (await c.acme.listAcmeDirectories({ organizationId: orgAId, pageSize: 200 }, su)).directories.find((d) => d.name === dirName)!;
    assert.deepEqual(dir.allowedDnsSuffixes, ["alpha.example.test", "shop.example.test"]);
    assert.deepEqual(dir.allowedIpRanges, ["10.20.0.0/16"]);
    assert.deepEqual(dir.challengeTypes, [ChallengeType.HTTP_01, ChallengeType.DNS_01, ChallengeType.DNS_ACCOUNT_01]);
    assert.equal(dir.maxValidityDays, 45);
    assert.equal(dir.eabRequired, false);

    // bad input answers the API's message, nothing changes
    await card.getByRole("button", { name: "Edit policy…" }).click();
    await policy.getByLabel("Allowed IP ranges (CIDR; empty: none)").fill("not-a-cidr");
    await policy.getByRole("button", { name: "Save policy" }).click();
    await policy.getByRole("alert").waitFor(WAIT);
    const unchanged = (await c.acme.getAcmeDirectory({ id: dir.id }, su)).directory!;
    assert.deepEqual(unchanged.allowedIpRanges, ["10.20.0.0/16"]);
    await card.getByRole("button", { name: "Close policy" }).click();

    // profiles: create from a preset, edit, make it the default, delete another
    await card.getByRole("button", { name: "Profiles", exact: true }).click();
    const profiles = card.getByTestId(`profiles-${dirName}`);
    await profiles.getByRole("button", { name: "New profile…" }).click();
    const np = page.getByRole("form", { name: `New profile for ${dirName}` });
    await np.getByPlaceholder("Profile name").fill("web7");
    await np.getByLabel("Preset").selectOption("tlsserver");
    await np.getByPlaceholder("Description").fill("seven-day server certificates");
    await np.getByLabel("Validity (days)").fill("7");
    await np.getByRole("button", { name: "Create profile" }).click();
    const web7 = profiles.locator('tr[data-profile="web7"]');
    await web7.filter({ hasText: "7 days" }).filter({ hasText: "seven-day server certificates" }).waitFor(WAIT);
    await web7.getByRole("button", { name: "Edit profile web7…" }).click();
    const ep = page.getByRole("form", { name: "Edit profile web7" });
    await ep.getByPlaceholder("Description").fill("weekly server certificates");
    await ep.getByLabel("Max identifiers").fill("5");
    await ep.getByRole("button", { name: "Save profile" }).click();
    await web7.filter({ hasText: "weekly server certificates" }).filter({ hasText: "at most 5" }).waitFor(WAIT);
    const stored = (await c.acme.listAcmeProfiles({ directoryId: dir.id }, su)).profiles.find((p) => p.name === "web7")!;
    assert.equal(stored.maxValiditySeconds, 7 * 86_400);
    assert.equal(stored.maxIdentifiers, 5);
    assert.equal(stored.description, "weekly server certificates");
    await card.getByRole("button", { name: "Edit policy…" }).click();
    await policy.getByLabel("Default profile").selectOption("web7");
    await policy.getByRole("button", { name: "Save policy" }).click();
    await card.getByText("web7 (default)").waitFor(WAIT);
    await card.getByRole("button", { name: "Profiles", exact: true }).click();
    await profiles.locator('tr[data-profile="classic"]').getByRole("button", { name: "Delete profile classic" }).click();
    await profiles.locator('tr[data-profile="classic"]').waitFor({ state: "detached", ...WAIT });
    assert.equal((await c.acme.listAcmeProfiles({ directoryId: dir.id }, su)).profiles.some((p) => p.name === "classic"), false);
    // the ACME directory object lists what the console set (draft-ietf-acme-profiles-00 meta.profiles)
    const acmeDir = (await (await page.request.get(dir.directoryUrl)).json()) as { meta: { profiles: Record<string, string> } };
    assert.equal(acmeDir.meta.profiles.web7, "weekly server certificates");
    assert.equal("classic" in acmeDir.meta.profiles, false);
    await shot(page, "acme-profiles");

    // EAB: created with a description, the HMAC shown once, then revoked
    await card.getByRole("button", { name: "EAB keys" }).click();
    const eabForm = page.getByRole("form", { name: `New EAB key for ${dirName}` });
    await eabForm.getByPlaceholder("Description (who gets it)").fill("team shop");
    await eabForm.getByRole("button", { name: "Create EAB key" }).click();
    const once = card.getByTestId("eab-once");
    await once.waitFor(WAIT);
    const hmac = ((await once.locator(".secret").textContent()) ?? "").trim();
    assert.match(hmac, /^[A-Za-z0-9_-]{43,}$/);
    const eabRow = card.locator("tbody tr").filter({ hasText: "team shop" });
    await eabRow.waitFor(WAIT);
    await once.getByRole("button", { name: "Done" }).click();
    assert.equal(await page.getByText(hmac).count(), 0);
    const kid = (await eabRow.getAttribute("data-kid"))!;
    await eabRow.getByRole("button", { name: `Revoke EAB key ${kid}` }).click();
    await eabRow.getByRole("button", { name: `Revoke EAB key ${kid}` }).waitFor({ state: "detached", ...WAIT });
    const eab = (await c.acme.listEabKeys({ directoryId: dir.id, includeRevoked: true, pageSize: 100 }, su)).eabKeys.find((k) => k.kid === kid)!;
    assert.ok(eab.revokedAt);
    await page.close();
  });

  it("shows each CA's CRL number and next update as openssl reads them, starts a campaign for a CA's leaves, lists and cancels it", async () => {
    const su = await c.superuser();
    const intC = await createIntermediate(c, su, rootA.id);
    const cert = (await c.certs.issueCertificate({ caId: intC.id, type: CertificateType.SERVER, dnsNames: ["crl.alpha.example.test"] }, su)).certificate!;
    await c.certs.issueCertificate({ caId: intC.id, type: CertificateType.SERVER, dnsNames: ["keep.alpha.example.test"] }, su);
    await c.certs.revokeCertificate({ id: cert.id, reason: RevocationReason.KEY_COMPROMISE }, su);
    const page = await context.newPage();
    await logIn(page, "admin", TEST_ADMIN_PASSWORD);
    const crlAnswer = page.waitForResponse((r) => r.url().endsWith(`/crl/${intC.id}.crl`), WAIT);
    await page.getByRole("link", { name: "CAs" }).click();
    const node = page.locator(`.ca[data-ca="${intC.name}"]`);
    const crlLine = node.getByTestId("crl");
    await crlLine.filter({ hasText: "next update" }).waitFor(WAIT);
    // the exact bytes the console decoded, read by openssl
    const der = await (await crlAnswer).body();
    const facts = openssl(["crl", "-inform", "DER", "-noout", "-crlnumber", "-nextupdate", "-lastupdate"], der);
    const number = BigInt(/crlNumber=(0x[0-9A-Fa-f]+|\d+)/.exec(facts)![1]).toString();
    const next = new Date(/nextUpdate=(.+)/.exec(facts)![1]).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    const text = (await crlLine.textContent()) ?? "";
    assert.ok(text.includes(`#${number}`), text);
    assert.ok(text.includes(`next update ${next}`), `${text} / ${next}`);
    assert.equal(Number(/(\d+) revoked/.exec(text)![1]), (openssl(["crl", "-inform", "DER", "-noout", "-text"], der).match(/Serial Number:/g) ?? []).length);
    await shot(page, "ca-tree-crl");

    await node.getByRole("button", { name: "Renewal campaign…" }).click();
    const form = node.getByRole("form", { name: "Renewal campaign" });
    const reason = unique("rotate intermediate");
    await form.getByPlaceholder("Reason (required, audited)").fill(reason);
    await form.getByRole("button", { name: "Start renewal campaign" }).click();
    await node.getByText(/Campaign .* created for 1 certificate/).waitFor(WAIT);
    await page.getByRole("link", { name: "Renewal" }).click();
    const row = page.getByTestId("campaigns").locator("tbody tr").filter({ hasText: reason });
    await row.filter({ hasText: intC.name }).filter({ hasText: "0/1" }).waitFor(WAIT);
    await shot(page, "campaigns");
    await row.getByRole("button", { name: `Cancel campaign ${reason}` }).click();
    await row.waitFor({ state: "detached", ...WAIT });
    await page.getByLabel("show cancelled").check();
    await row.filter({ hasText: "cancelled" }).waitFor(WAIT);
    await page.close();
  });

  it("offers an organization admin the admin controls in its own organization only", async () => {
    const page = await context.newPage();
    await logIn(page, orgAdmin.username, PASSWORD);
    await page.getByRole("link", { name: "ACME" }).click();
    await page.locator("article.card").first().waitFor(WAIT);
    // only its organization's directories are listed, each with the admin's controls
    const cards = page.locator("article.card");
    const n = await cards.count();
    assert.ok(n > 0);
    assert.equal(await cards.getByRole("button", { name: "Edit policy…" }).count(), n);
    assert.equal(await page.locator('article.card[data-directory="default"]').count(), 0);
    await page.getByRole("link", { name: "Users & service accounts" }).click();
    await page.locator(`tr[data-user="${orgUser.username}"]`).waitFor(WAIT);
    await page.getByRole("button", { name: "New user…" }).click();
    // no organization choice (its own) and no superuser role to grant
    const form = page.getByRole("form", { name: "New user" });
    assert.equal(await form.locator('select[name="organization"]').count(), 0);
    assert.deepEqual(await form.locator('select[name="role"] option').allTextContents(), ["user (read; writes need a capability)", "admin (everything in the organization)"]);
    // the bootstrap superuser is not listed for it, so nothing to edit there
    assert.equal(await page.locator('tr[data-user="admin"]').count(), 0);

    // sessions: its own (this one marked), and its organization's, one of which it revokes
    const leaver = await createUser(c, await c.superuser(), { organizationId: orgAId, role: Role.USER });
    const theirs = await c.login(leaver.username, PASSWORD);
    const sessions = page.getByTestId("sessions");
    await sessions.locator("tr.current").filter({ hasText: orgAdmin.username }).waitFor(WAIT);
    assert.equal(await sessions.locator("tbody tr").filter({ hasText: leaver.username }).count(), 0);
    await page.getByLabel("Sessions of").selectOption({ label: `everyone in ${orgAName}` });
    const row = sessions.locator("tbody tr").filter({ hasText: leaver.username });
    await row.waitFor(WAIT);
    const id = (await row.getAttribute("data-session"))!;
    await row.getByRole("button", { name: `Revoke session ${id}` }).click();
    await row.waitFor({ state: "detached", ...WAIT });
    // the revoked session's refresh token is spent
    await assert.rejects(c.auth.refresh({ refreshToken: theirs.refreshToken }));
    await shot(page, "people-admin");
    await page.close();
  });

  it("creates, edits and deletes an issuance policy for a user, and the API issues by it", async () => {
    const su = await c.superuser();
    const principal = await createUser(c, su, { organizationId: orgAId, role: Role.USER, flags: { createCert: true } });
    const theirs = await c.login(principal.username, PASSWORD);
    const issue = (name: string) => c.certs.issueCertificate({ caId: intA.id, type: CertificateType.SERVER, dnsNames: [name] }, theirs);
    const page = await context.newPage();
    await logIn(page, "admin", TEST_ADMIN_PASSWORD);
    await page.getByRole("link", { name: "Policies" }).click();
    await page.getByRole("button", { name: "New policy…" }).click();
    const form = page.getByRole("form", { name: "New issuance policy" });
    await form.locator('select[name="subjectType"]').selectOption({ label: "user" });
    await form.locator('select[name="organization"]').selectOption(orgAId);
    await form.locator('select[name="subject"]').selectOption({ label: principal.username });
    const description = unique("web servers only");
    await form.getByLabel("Description").fill(description);
    await form.getByLabel("DNS names (exact, *.one-label or .subtree; one a line)").fill("*.pol.alpha.example.test");
    await form.getByLabel("Maximum validity (days; empty: no bound here)").fill("30");
    await form.getByLabel("server", { exact: true }).check();
    await form.getByRole("button", { name: "Create policy" }).click();
    const row = page.locator(`tr[data-policy="${description}"]`);
    await row.filter({ hasText: principal.username }).filter({ hasText: "DNS *.pol.alpha.example.test" }).filter({ hasText: "at most 30 days" }).waitFor(WAIT);
    await shot(page, "policies");
    // the API follows it: inside allowed, outside refused
    await issue("a.pol.alpha.example.test");
    await assert.rejects(issue("b.other.alpha.example.test"), /issuance policy/);

    await row.getByRole("button", { name: `Edit policy ${description}…` }).click();
    const edit = page.getByRole("form", { name: "Edit issuance policy" });
    await edit.getByLabel("DNS names (exact, *.one-label or .subtree; one a line)").fill("*.pol.alpha.example.test\n.other.alpha.example.test");
    await edit.getByRole("button", { name: "Save policy" }).click();
    await row.filter({ hasText: ".other.alpha.example.test" }).waitFor(WAIT);
    await issue("b.other.alpha.example.test");

    await row.getByRole("button", { name: `Delete policy ${description}` }).click();
    await row.waitFor({ state: "detached", ...WAIT });
    assert.equal((await c.client(IssuancePolicyService).listIssuancePolicies({ organizationId: orgAId, pageSize: 200 }, su)).issuancePolicies.some((p) => p.description === description), false);
    await issue("c.anything.alpha.example.test");
    await page.close();
  });

  it("creates an organization with a slug and changes its settings (a contradiction is refused with the API's message)", async () => {
    const page = await context.newPage();
    await logIn(page, "admin", TEST_ADMIN_PASSWORD);
    await page.getByRole("link", { name: "Organizations" }).click();
    await page.getByRole("button", { name: "New organization…" }).click();
    const nf = page.getByRole("form", { name: "New organization" });
    const name = unique("gamma");
    await nf.getByPlaceholder("Name", { exact: true }).fill(name);
    await nf.getByPlaceholder("Slug (empty: from the name)").fill(`${name}-slug`);
    await nf.getByRole("button", { name: "Create organization" }).click();
    const row = page.locator(`tr[data-organization="${name}"]`);
    await row.filter({ hasText: `${name}-slug` }).waitFor(WAIT);
    await row.getByRole("button", { name: `Settings of ${name}…` }).click();
    const form = page.getByRole("form", { name: `Settings of ${name}` });
    await form.getByLabel("Default validity (days)").fill("30");
    await form.getByLabel("Maximum validity (days)").fill("90");
    await form.getByLabel("Session lifetime (hours)").fill("2");
    await form.getByLabel("ECDSA P-256").check();
    await form.getByLabel("revoke a deactivated user's").uncheck();
    await form.getByRole("button", { name: "Save settings" }).click();
    await row.filter({ hasText: "30 / 90 days" }).filter({ hasText: "kept" }).filter({ hasText: "2 h" }).waitFor(WAIT);
    const su = await c.superuser();
    const org = (await c.orgs.listOrganizations({ pageSize: 500 }, su)).organizations.find((o) => o.name === name)!;
    assert.equal(org.slug, `${name}-slug`);
    assert.equal(org.settings!.defaultValidityDays, 30);
    assert.equal(org.settings!.maxValidityDays, 90);
    assert.deepEqual(org.settings!.allowedKeyTypes, [KeyAlgorithm.P256]);
    assert.equal(org.settings!.revokeCertificatesOnDeactivation, false);
    assert.equal(Number(org.settings!.sessionLifetimeSeconds), 7200);
    // a default longer than the maximum: the API's refusal is shown, nothing changes
    await row.getByRole("button", { name: `Settings of ${name}…` }).click();
    await form.getByLabel("Default validity (days)").fill("120");
    await form.getByRole("button", { name: "Save settings" }).click();
    await form.getByRole("alert").waitFor(WAIT);
    assert.equal((await c.orgs.getOrganization({ id: org.id }, su)).organization!.settings!.defaultValidityDays, 30);
    await shot(page, "organizations");
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
