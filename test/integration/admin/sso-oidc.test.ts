/**
 * Issue 13 item 5: operator sign-in with OpenID Connect against a REAL
 * OpenID provider (the certified oidc-provider package on loopback,
 * test/helpers/oidc-provider.ts): the authorization code flow with PKCE
 * (RFC 7636 S256) end to end, ID token checks (OIDC Core §3.1.3.7), the
 * claim-to-role mapping, allowed domains, verified email, single-use state,
 * JIT provisioning, the organization's required login method, and the
 * client secret never shown (responses, audit, logs).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { run } from "../../../src/cli/main.js";
import { cliEnv, Collector, runSigil } from "../../helpers/sigil-cli.js";
import { toJsonString } from "@bufbuild/protobuf";
import pg from "pg";
import { loadConfig } from "../../../src/config.js";
import { createLogger } from "../../../src/logger.js";
import { startSigil, type SigilServer } from "../../../src/server.js";
import { AuditService } from "../../../src/gen/sigil/admin/v1/audit_pb.js";
import { IdentityProviderService, ListIdentityProvidersResponseSchema, GetIdentityProviderResponseSchema } from "../../../src/gen/sigil/admin/v1/identity_provider_pb.js";
import { LoginMethod } from "../../../src/gen/sigil/admin/v1/organization_pb.js";
import { Role } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import {
  SSO_DOMAIN_NOT_ALLOWED,
  SSO_EMAIL_NOT_CONFIRMED,
  SSO_EMAIL_UNVERIFIED,
  SSO_INVALID_ID_TOKEN,
  SSO_INVALID_STATE,
  SSO_NO_ROLE,
  SSO_TOO_MANY,
  SSO_UNKNOWN_USER,
  MAX_LIVE_SSO_LOGINS,
} from "../../../src/ra/oidc/login.js";
import { INVALID_CREDENTIALS } from "../../../src/ra/auth.js";
import { createTestDatabase } from "../../helpers/postgres.js";
import { freePort, startTestServer, testServerEnv, type TestServer } from "../../helpers/server.js";
import { DISCOVERY_FAILED } from "../../../src/ra/oidc/providers.js";
import { startOidcProvider, type TestOidcProvider } from "../../helpers/oidc-provider.js";
import { AdminClients, bearer, createOrg, PASSWORD, rejectsWith, unique } from "./helpers.js";

/** Keeps every log line the server writes. */
class LogSink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const REDIRECT = "http://127.0.0.1:5555/callback";

describe("operator sign-in with OpenID Connect (real provider)", function () {
  this.timeout(120_000);
  let op: TestOidcProvider;
  let server: SigilServer;
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let dataDir: string;
  const logs = new LogSink();
  let c: AdminClients;
  let su: Awaited<ReturnType<AdminClients["superuser"]>>;
  let idp: ReturnType<AdminClients["client"]>;
  let orgId: string;
  let orgSlug: string;
  let providerId: string;

  before(async () => {
    op = await startOidcProvider();
    op.accounts.set("alice-sub", { email: "alice@example.com", email_verified: true, groups: ["pki-admins"] });
    op.accounts.set("bob-sub", { email: "Bob@Example.com", email_verified: true, groups: ["staff", "pki-issuers"] });
    op.accounts.set("eve-sub", { email: "eve@evil.test", email_verified: true, groups: ["pki-admins"] });
    op.accounts.set("carol-sub", { email: "carol@example.com", email_verified: false, groups: ["pki-admins"] });
    op.accounts.set("dave-sub", { email: "dave@example.com", email_verified: true, groups: ["nobody"] });

    db = await createTestDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), "sigil-sso-"));
    const config = loadConfig({ ...testServerEnv({ dataDir, httpPort: await freePort(), databaseUrl: db.url }), SIGIL_LOG_LEVEL: "trace" });
    server = await startSigil({ config, logger: createLogger("trace", logs) });
    c = new AdminClients(server);
    su = await c.superuser();
    idp = c.client(IdentityProviderService);
    orgId = await createOrg(c, su);
    orgSlug = (await c.orgs.getOrganization({ id: orgId }, su)).organization!.slug;
    const { identityProvider } = await idp.createIdentityProvider(
      {
        organizationId: orgId,
        name: "Test IdP",
        issuer: op.issuer,
        clientId: op.clientId,
        clientSecret: op.clientSecret,
        allowedEmailDomains: ["example.com"],
        roleMappings: [
          { claim: "groups", value: "pki-admins", role: Role.ADMIN },
          { claim: "groups", value: "pki-issuers", role: Role.USER, createCert: true, revokeCert: true },
        ],
        defaultRole: Role.UNSPECIFIED,
        jitProvisioning: true,
        scopes: ["openid", "email", "profile", "groups"],
      },
      su,
    );
    providerId = identityProvider!.id;
  });

  after(async () => {
    c?.close();
    await server?.close();
    await db?.drop();
    await op?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** BeginSsoLogin -> the provider's login as `account` -> the redirect's code and state. */
  async function authorize(account: string, tweak?: (u: URL) => void): Promise<{ code: string; state: string; binding: string; authorizationUrl: string }> {
    const begun = await c.auth.beginSsoLogin({ organization: orgSlug, redirectUri: REDIRECT });
    const url = new URL(begun.authorizationUrl);
    tweak?.(url);
    op.nextAccount = account;
    const back = await op.drive(url.toString(), REDIRECT);
    assert.equal(back.searchParams.get("error"), null, `provider error: ${back.searchParams.get("error_description")}`);
    assert.equal(back.searchParams.get("state"), begun.state);
    return { code: back.searchParams.get("code")!, state: begun.state, binding: begun.binding, authorizationUrl: begun.authorizationUrl };
  }

  async function signIn(account: string) {
    const a = await authorize(account);
    return c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding });
  }

  it("ok/code-flow-pkce: signs in end to end and the Sigil token works; the first login creates the user with the mapped role", async () => {
    const a = await authorize("alice-sub");
    const u = new URL(a.authorizationUrl);
    // RFC 7636 §4.3: S256 challenge of a 43-character verifier; OIDC Core §3.1.2.1 parameters
    assert.equal(u.searchParams.get("code_challenge_method"), "S256");
    assert.match(u.searchParams.get("code_challenge") ?? "", /^[A-Za-z0-9_-]{43}$/);
    assert.equal(u.searchParams.get("response_type"), "code");
    assert.equal(u.searchParams.get("client_id"), op.clientId);
    assert.ok(u.searchParams.get("nonce"));
    assert.equal(u.searchParams.get("scope"), "openid email profile groups");
    assert.equal(u.searchParams.get("code_verifier"), null, "the verifier never leaves the server");
    const r = await c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding });
    assert.ok(r.accessToken && r.refreshToken);
    assert.equal(r.userCreated, true);
    assert.equal(r.user!.email, "alice@example.com");
    assert.equal(r.user!.role, Role.ADMIN);
    assert.equal(r.user!.organizationId, orgId);
    assert.deepEqual([r.user!.createCa, r.user!.createCert, r.user!.revokeCert, r.user!.exportPrivateKey, r.user!.deleteCa], [false, false, false, false, false]);
    const me = await c.auth.whoAmI({}, bearer(r.accessToken));
    assert.equal(me.principal.case, "user");
    assert.equal(me.principal.value!.id, r.user!.id);
    // an admin of the organization: it may read its users
    await c.users.listUsers({ organizationId: orgId }, bearer(r.accessToken));
    // the refresh token is a normal one
    const refreshed = await c.auth.refresh({ refreshToken: r.refreshToken });
    assert.ok(refreshed.accessToken);
    // the session is listed like a password login's
    const sessions = await c.auth.listSessions({}, bearer(r.accessToken));
    assert.equal(sessions.sessions.length, 1);
    // a second login links to the same user
    const again = await signIn("alice-sub");
    assert.equal(again.userCreated, false);
    assert.equal(again.user!.id, r.user!.id);
    const audit = await c.client(AuditService).listAuditEvents({ organizationId: orgId, action: "login_success", pageSize: 50 }, su);
    assert.ok(audit.events.some((e) => e.resourceId === r.user!.id && JSON.stringify(e, (_k, v) => (typeof v === "bigint" ? String(v) : v)).includes("sso")));
  });

  it("ok/mapped-role: a user gets the role and flags of the rules its claims match, and the mapping follows the claims at every sign-in", async () => {
    const r = await signIn("bob-sub");
    assert.equal(r.user!.role, Role.USER);
    assert.equal(r.user!.email, "bob@example.com");
    assert.deepEqual([r.user!.createCa, r.user!.createCert, r.user!.revokeCert, r.user!.exportPrivateKey, r.user!.deleteCa], [false, true, true, false, false]);
    // promoted at the provider: admin at the next sign-in
    op.accounts.get("bob-sub")!.groups.push("pki-admins");
    const promoted = await signIn("bob-sub");
    assert.equal(promoted.user!.id, r.user!.id);
    assert.equal(promoted.user!.role, Role.ADMIN);
    // removed from every mapped group, with no default role: refused
    op.accounts.get("bob-sub")!.groups = ["staff"];
    const a = await authorize("bob-sub");
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding }), "PERMISSION_DENIED", SSO_NO_ROLE);
  });

  it("fail/disallowed-domain: an email outside the allowed domains is PERMISSION_DENIED and creates no user", async () => {
    const a = await authorize("eve-sub");
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding }), "PERMISSION_DENIED", SSO_DOMAIN_NOT_ALLOWED);
    const users = await c.users.listUsers({ organizationId: orgId, includeInactive: true }, su);
    assert.ok(!users.users.some((u) => u.email === "eve@evil.test"));
    const failures = await c.client(AuditService).listAuditEvents({ organizationId: orgId, action: "login_failure", pageSize: 50 }, su);
    assert.ok(failures.events.some((e) => JSON.stringify(e, (_k, v) => (typeof v === "bigint" ? String(v) : v)).includes("sso_domain_not_allowed")));
  });

  it("fail/unverified-email: an email the provider has not verified is PERMISSION_DENIED", async () => {
    const a = await authorize("carol-sub");
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding }), "PERMISSION_DENIED", SSO_EMAIL_UNVERIFIED);
  });

  it("fail/unmapped: claims no rule matches, without a default role, are PERMISSION_DENIED", async () => {
    const a = await authorize("dave-sub");
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding }), "PERMISSION_DENIED", SSO_NO_ROLE);
  });

  it("fail/replayed-state: a state is used once; completing again (even with the same code) is UNAUTHENTICATED", async () => {
    const a = await authorize("alice-sub");
    await c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding });
    const before = op.tokenRequests;
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding }), "UNAUTHENTICATED", SSO_INVALID_STATE);
    assert.equal(op.tokenRequests, before, "a replayed state never reaches the provider");
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: "made-up-state", binding: a.binding }), "UNAUTHENTICATED", SSO_INVALID_STATE);
  });

  it("fail/wrong-binding: a code and state completed without the binding of the client that began the sign-in are refused (login CSRF)", async () => {
    const a = await authorize("alice-sub");
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: "someone-elses-binding" }), "UNAUTHENTICATED", SSO_INVALID_STATE);
    // and the state is used up by the attempt
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding }), "UNAUTHENTICATED", SSO_INVALID_STATE);
  });

  it("fail/wrong-nonce: an ID token carrying another nonce than the sign-in's is UNAUTHENTICATED (OIDC Core §3.1.3.7 item 11)", async () => {
    const a = await authorize("alice-sub", (u) => u.searchParams.set("nonce", "a-nonce-sigil-did-not-issue"));
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding }), "UNAUTHENTICATED", SSO_INVALID_ID_TOKEN);
    const failures = await c.client(AuditService).listAuditEvents({ organizationId: orgId, action: "login_failure", pageSize: 100 }, su);
    assert.ok(failures.events.some((e) => JSON.stringify(e, (_k, v) => (typeof v === "bigint" ? String(v) : v)).includes("nonce")));
  });

  it("fail/pkce-verifier: the provider refuses a code whose challenge is not the sign-in's (the verifier Sigil holds does not match)", async () => {
    const a = await authorize("alice-sub", (u) => u.searchParams.set("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding }), "UNAUTHENTICATED", /refused the sign-in \(invalid_grant\)/);
  });

  it("fail/jit-disabled: without JIT provisioning an unknown subject is PERMISSION_DENIED; a linked one still signs in", async () => {
    await idp.updateIdentityProvider({ id: providerId, jitProvisioning: false }, su);
    try {
      op.accounts.set("frank-sub", { email: "frank@example.com", email_verified: true, groups: ["pki-admins"] });
      const a = await authorize("frank-sub");
      await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding }), "PERMISSION_DENIED", SSO_UNKNOWN_USER);
      const users = await c.users.listUsers({ organizationId: orgId, includeInactive: true }, su);
      assert.ok(!users.users.some((u) => u.email === "frank@example.com"));
      const alice = await signIn("alice-sub");
      assert.equal(alice.userCreated, false);
    } finally {
      await idp.updateIdentityProvider({ id: providerId, jitProvisioning: true }, su);
    }
  });

  it("fail/self-asserted-email: a member who puts a colleague's email on their own account does not receive the colleague's first SSO sign-in (review R1 HIGH-1)", async () => {
    const username = unique("mallory");
    const mallory = (await c.users.createUser({ username, email: `${username}@example.com`, password: PASSWORD, role: Role.USER, organizationId: orgId }, su)).user!;
    const own = bearer((await c.auth.login({ username, password: PASSWORD })).accessToken);
    await c.users.updateUser({ id: mallory.id, email: "heidi@example.com", currentPassword: PASSWORD }, own);
    op.accounts.set("heidi-sub", { email: "heidi@example.com", email_verified: true, groups: ["pki-admins"] });
    const a = await authorize("heidi-sub");
    await rejectsWith(c.auth.completeSsoLogin({ code: a.code, state: a.state, binding: a.binding }), "PERMISSION_DENIED", SSO_EMAIL_NOT_CONFIRMED);
    const after = (await c.users.getUser({ id: mallory.id }, su)).user!;
    assert.equal(after.role, Role.USER, "the squatter's role is unchanged");
    // once an organization admin confirms the email (giving the same one), the account links
    await c.users.updateUser({ id: mallory.id, email: "heidi@example.com" }, su);
    const linked = await signIn("heidi-sub");
    assert.equal(linked.userCreated, false);
    assert.equal(linked.user!.id, mallory.id);
  });

  it("ok/required-sso: an organization requiring SSO refuses password login; its user signs in by SSO (linked by verified email)", async () => {
    const username = unique("pw");
    await c.users.createUser({ username, email: "grace@example.com", password: PASSWORD, role: Role.USER, organizationId: orgId }, su);
    await c.auth.login({ username, password: PASSWORD });
    await c.orgs.updateOrganization({ id: orgId, settings: { requiredLoginMethod: LoginMethod.SSO } }, su);
    try {
      await rejectsWith(c.auth.login({ username, password: PASSWORD }), "UNAUTHENTICATED", INVALID_CREDENTIALS);
      op.accounts.set("grace-sub", { email: "grace@example.com", email_verified: true, groups: ["pki-issuers"] });
      const r = await signIn("grace-sub");
      assert.equal(r.userCreated, false);
      assert.equal(r.user!.username, username);
      assert.equal(r.user!.createCert, true);
      // its last provider cannot go while the organization requires SSO
      await rejectsWith(idp.updateIdentityProvider({ id: providerId, enabled: false }, su), "FAILED_PRECONDITION", /requires SSO/);
      await rejectsWith(idp.deleteIdentityProvider({ id: providerId }, su), "FAILED_PRECONDITION", /requires SSO/);
      // a user JIT-created by SSO has no password at all
      const alice = await signIn("alice-sub");
      await c.orgs.updateOrganization({ id: orgId, settings: { requiredLoginMethod: LoginMethod.PASSWORD } }, su);
      await rejectsWith(c.auth.login({ username: alice.user!.username, password: "!sso" }), "UNAUTHENTICATED", INVALID_CREDENTIALS);
    } finally {
      await c.orgs.updateOrganization({ id: orgId, settings: { requiredLoginMethod: LoginMethod.PASSWORD } }, su);
    }
  });

  it("fail/provider-config: bad issuers, domains, roles and scopes are INVALID_ARGUMENT; an unreachable issuer FAILED_PRECONDITION", async () => {
    const base = { organizationId: orgId, name: unique("idp"), issuer: op.issuer, clientId: "x", allowedEmailDomains: ["example.com"], scopes: [] as string[] };
    await rejectsWith(idp.createIdentityProvider({ ...base, issuer: "http://idp.example.com" }, su), "INVALID_ARGUMENT");
    await rejectsWith(idp.createIdentityProvider({ ...base, allowedEmailDomains: [] }, su), "INVALID_ARGUMENT");
    await rejectsWith(idp.createIdentityProvider({ ...base, allowedEmailDomains: ["*.example.com"] }, su), "INVALID_ARGUMENT");
    await rejectsWith(idp.createIdentityProvider({ ...base, defaultRole: Role.SUPERUSER }, su), "INVALID_ARGUMENT");
    await rejectsWith(idp.createIdentityProvider({ ...base, roleMappings: [{ claim: "groups", value: "x", role: Role.SUPERUSER }] }, su), "INVALID_ARGUMENT");
    await rejectsWith(idp.createIdentityProvider({ ...base, scopes: ["email"] }, su), "INVALID_ARGUMENT");
    await rejectsWith(idp.createIdentityProvider({ ...base, issuer: `http://127.0.0.1:${await freePort()}` }, su), "FAILED_PRECONDITION", `issuer: ${DISCOVERY_FAILED}`);
    // review R1 (1): neither the status a discovery answered nor reachability reaches the caller
    await rejectsWith(idp.createIdentityProvider({ ...base, issuer: `${op.issuer}/no-such-path` }, su), "FAILED_PRECONDITION", `issuer: ${DISCOVERY_FAILED}`);
    await rejectsWith(idp.createIdentityProvider({ ...base, issuer: `https://127.0.0.1:${await freePort()}` }, su), "FAILED_PRECONDITION", `issuer: ${DISCOVERY_FAILED}`);
    assert.match(logs.text, /identity provider discovery failed/, "the reason is in the server log");
    await rejectsWith(c.auth.beginSsoLogin({ organization: orgSlug, redirectUri: "http://attacker.example/cb" }), "INVALID_ARGUMENT");
    await rejectsWith(c.auth.beginSsoLogin({ organization: "no-such-org", redirectUri: REDIRECT }), "NOT_FOUND");
  });

  it("ok/cli-loopback: `sigil login --sso --organization SLUG` signs in through a loopback redirect (RFC 8252 §7.3) and stores working tokens", async () => {
    const home = mkdtempSync(path.join(tmpdir(), "sigil-sso-cli-"));
    try {
      const env = { XDG_CONFIG_HOME: home, SIGIL_SERVER: `127.0.0.1:${server.grpcPort}`, SIGIL_API_KEY: "", SIGIL_PASSWORD: "" };
      const stdout = new Collector();
      const stderr = new Collector();
      const running = run(["login", "--sso", "--organization", orgSlug], { stdout, stderr, env: cliEnv(env), stdin: Readable.from([]) });
      // the CLI prints where it waits and the URL to open
      let m: RegExpExecArray | null = null;
      for (let i = 0; i < 200 && !(m = /waiting on (http:\/\/127\.0\.0\.1:\d+\/callback)\):\n\n {2}(\S+)/.exec(stderr.text)); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(m, `no URL printed: ${stderr.text}`);
      const [, redirectUri, authorizationUrl] = m;
      assert.equal(new URL(authorizationUrl!).searchParams.get("redirect_uri"), redirectUri);
      op.nextAccount = "alice-sub";
      // the browser: the provider's login, then the redirect to the CLI's loopback listener
      const back = await op.drive(authorizationUrl!, redirectUri!);
      const page = await fetch(back);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /Signed in/);
      assert.equal(await running, 0, stderr.text);
      assert.match(stdout.text, /logged in to .* as alice@example\.com \(admin\)/);
      assert.ok(!stdout.text.includes(op.clientSecret));
      const stored = JSON.parse(readFileSync(path.join(home, "sigil", "credentials.json"), "utf8")) as { accessToken: string; username: string };
      assert.equal(stored.username, "alice@example.com");
      const who = await runSigil(["whoami", "--json"], env);
      assert.equal(who.code, 0, who.stderr);
      assert.equal(JSON.parse(who.stdout).user.email, "alice@example.com");
      // a provider's error redirect ends the CLI with the error, not a hang
      const stderr2 = new Collector();
      const failing = run(["login", "--sso", "--organization", orgSlug], { stdout: new Collector(), stderr: stderr2, env: cliEnv(env), stdin: Readable.from([]) });
      let m2: RegExpExecArray | null = null;
      for (let i = 0; i < 200 && !(m2 = /waiting on (http:\/\/127\.0\.0\.1:\d+\/callback)/.exec(stderr2.text)); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(m2);
      const denied = await fetch(`${m2[1]}?error=access_denied&error_description=user+cancelled`);
      assert.equal(denied.status, 400);
      assert.notEqual(await failing, 0);
      assert.match(stderr2.text, /access_denied/);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it("fail/too-many-in-progress: past MAX_LIVE_SSO_LOGINS unfinished sign-ins of a provider, BeginSsoLogin is RESOURCE_EXHAUSTED", async () => {
    const sql = new pg.Client({ connectionString: db!.url });
    await sql.connect();
    try {
      await sql.query(
        `insert into oidc_logins (id, provider_id, state_hash, binding_hash, nonce, code_verifier_encrypted, redirect_uri, created_at, expires_at)
         select gen_random_uuid(), $1, md5(random()::text) || md5(random()::text), 'x', 'n', 'v', 'http://127.0.0.1/callback', now(), now() + interval '10 minutes'
           from generate_series(1, $2::int)`,
        [providerId, MAX_LIVE_SSO_LOGINS],
      );
      await rejectsWith(c.auth.beginSsoLogin({ organization: orgSlug, redirectUri: REDIRECT }), "RESOURCE_EXHAUSTED", SSO_TOO_MANY);
    } finally {
      await sql.query(`delete from oidc_logins where binding_hash = 'x'`);
      await sql.end();
    }
    await c.auth.beginSsoLogin({ organization: orgSlug, redirectUri: REDIRECT });
  });

  it("ok/secret-write-only: the client secret is never in Get/List answers, the audit log or the server's log", async () => {
    const got = await idp.getIdentityProvider({ id: providerId }, su);
    assert.equal(got.identityProvider!.hasClientSecret, true);
    const listed = await idp.listIdentityProviders({ organizationId: orgId }, su);
    assert.equal(listed.identityProviders.length, 1);
    assert.equal(listed.identityProviders[0]!.hasClientSecret, true);
    for (const text of [toJsonString(GetIdentityProviderResponseSchema, got), toJsonString(ListIdentityProvidersResponseSchema, listed)]) {
      assert.ok(!text.includes(op.clientSecret), "no secret in the answer");
    }
    // rotating the secret is audited by name only
    await idp.updateIdentityProvider({ id: providerId, clientSecret: op.clientSecret }, su);
    const audit = await c.client(AuditService).listAuditEvents({ organizationId: orgId, pageSize: 500 }, su);
    const auditText = JSON.stringify(audit.events, (_k, v) => (typeof v === "bigint" ? String(v) : v));
    assert.ok(auditText.includes("identity_provider_update"));
    assert.ok(!auditText.includes(op.clientSecret), "no secret in the audit log");
    // the sign-ins above logged at trace level: neither the secret nor codes' verifiers appear
    assert.ok(logs.text.length > 1000, "the server logged");
    assert.ok(!logs.text.includes(op.clientSecret), "no secret in the log");
    // a member reads the provider too (without the secret), another organization's admin does not see it
    const alice = await signIn("alice-sub");
    const asMember = await idp.getIdentityProvider({ id: providerId }, bearer(alice.accessToken));
    assert.equal(asMember.identityProvider!.clientId, op.clientId);
  });

  // last: it moves the shared provider to another issuer
  it("ok/issuer-change-unlinks: changing a provider's issuer deletes its (provider, sub) links, audited with their count (review R1 (2))", async () => {
    const op2 = await startOidcProvider();
    const sql = new pg.Client({ connectionString: db!.url });
    await sql.connect();
    try {
      const links = async () => Number((await sql.query(`select count(*) as n from user_identities where provider_id = $1`, [providerId])).rows[0].n);
      const aliceLinked = async () => Number((await sql.query(`select count(*) as n from user_identities where provider_id = $1 and subject = 'alice-sub'`, [providerId])).rows[0].n);
      const before = await links();
      assert.ok(before >= 1 && (await aliceLinked()) === 1, "alice signed in earlier and is linked");
      // an update that leaves the issuer as it is keeps the links
      await idp.updateIdentityProvider({ id: providerId, issuer: op.issuer, name: "Test IdP" }, su);
      assert.equal(await links(), before);
      await idp.updateIdentityProvider({ id: providerId, issuer: op2.issuer }, su);
      assert.equal(await aliceLinked(), 0, "the subject of the old issuer is not linked anymore");
      assert.equal(await links(), 0);
      const audit = await c.client(AuditService).listAuditEvents({ organizationId: orgId, pageSize: 500 }, su);
      const update = audit.events.find((e) => e.action === "identity_provider_update" && (JSON.parse(e.detail) as { changed: string[] }).changed.includes("issuer"));
      assert.ok(update, "the issuer change is audited");
      assert.equal((JSON.parse(update.detail) as { unlinkedUsers?: number }).unlinkedUsers, before, "the update's audit detail counts the links deleted");
    } finally {
      await sql.end();
      await op2.close();
    }
  });
});

describe("identity provider issuers without SIGIL_OIDC_ALLOW_HTTP_LOOPBACK (review R1 (1))", function () {
  this.timeout(60_000);
  let server: TestServer | undefined;
  let c: AdminClients;

  before(async () => {
    server = await startTestServer({ env: { SIGIL_OIDC_ALLOW_HTTP_LOOPBACK: "false" } });
    c = new AdminClients(server);
  });

  after(async () => {
    c?.close();
    await server?.stop();
  });

  it("fail/http-loopback-issuer: an http issuer on loopback is INVALID_ARGUMENT on issuer; an unreachable https issuer is refused without a status", async () => {
    const su = await c.superuser();
    const idp = c.client(IdentityProviderService);
    const orgId = await createOrg(c, su);
    const base = { organizationId: orgId, name: unique("idp"), clientId: "x", allowedEmailDomains: ["example.com"], scopes: [] as string[] };
    for (const issuer of [`http://127.0.0.1:${await freePort()}`, "http://localhost:9090", "http://[::1]:8080"]) {
      await rejectsWith(idp.createIdentityProvider({ ...base, issuer }, su), "INVALID_ARGUMENT", /must be https/);
    }
    const refusal = await idp.createIdentityProvider({ ...base, issuer: `https://127.0.0.1:${await freePort()}` }, su).then(
      () => assert.fail("expected a refusal"),
      (e: { code?: number; details?: string }) => e,
    );
    assert.equal(refusal.details, `issuer: ${DISCOVERY_FAILED}`);
    assert.doesNotMatch(refusal.details ?? "", /\b\d{3}\b|answered|ECONNREFUSED/);
  });
});
