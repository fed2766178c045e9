/**
 * Issue 13 items 3 and 4 on PostgreSQL through the real gRPC port: scoped
 * API keys (a table of RPCs per scope list, wildcards, scopes never grant,
 * unknown scopes refused, scopes listed) and JWT-bearer authentication of
 * service accounts (RFC 7523 §2.1, §3): key registration (ES256 PEM, RS256
 * JWK, EdDSA; RFC 7638 thumbprint), ExchangeJwt and direct bearer, every
 * refusal (replayed jti, wrong aud, expired, too long-lived, nbf/iat in the
 * future, bad signature, unknown/revoked/expired key, inactive account),
 * audit entries.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { calculateJwkThumbprint, exportJWK, exportSPKI, exportPKCS8, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { FixedClock } from "../../../src/core/clock.js";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";
import { bearer, createOrg, outcomeOf, rejectsWith, unique } from "./helpers.js";
import { createRoot, PkiClients } from "./pki-helpers.js";

describe("service-account auth: scoped API keys and JWT bearer (issue 13 items 3, 4)", function () {
  this.timeout(300_000);
  const clock = new FixedClock(new Date());
  let server: TestServer;
  let c: PkiClients;
  let su: Awaited<ReturnType<PkiClients["superuser"]>>;
  let orgId: string;
  let saId: string;
  let caId: string;
  let audience: string;

  before(async () => {
    server = await startTestServer({ clock });
    c = new PkiClients(server);
    su = await c.superuser();
    audience = server.config.jwtAudience;
    orgId = await createOrg(c, su);
    saId = (await c.sas.createServiceAccount({ organizationId: orgId, name: unique("ci"), createCert: true, revokeCert: true }, su)).serviceAccount!.id;
    caId = (await createRoot(c, su, orgId, { allowLeafCerts: true })).id;
  });
  after(async () => {
    c?.close();
    await server?.stop();
  });

  async function apiKey(scopes: string[], sa = saId): Promise<string> {
    return (await c.sas.createApiKey({ serviceAccountId: sa, name: unique("k"), scopes }, su)).key;
  }

  describe("scoped API keys", () => {
    const issue = (o: object) => c.certs.issueCertificate({ caId, type: CertificateType.SERVER, dnsNames: [`${unique("h")}.example.test`], validityDays: 5 }, o);
    const calls: Record<string, (o: object) => Promise<unknown>> = {
      "CertificateService.IssueCertificate": issue,
      "CertificateService.ListCertificates": (o) => c.certs.listCertificates({ organizationId: orgId }, o),
      "CertificateAuthorityService.ListCertificateAuthorities": (o) => c.cas.listCertificateAuthorities({ organizationId: orgId }, o),
      "CertificateAuthorityService.GetCertificateAuthority": (o) => c.cas.getCertificateAuthority({ id: caId }, o),
      "ServiceAccountService.ListApiKeys": (o) => c.sas.listApiKeys({ serviceAccountId: saId }, o),
      "AuthService.WhoAmI": (o) => c.auth.whoAmI({}, o),
    };
    const table: Array<{ scopes: string[]; want: Record<string, string> }> = [
      {
        scopes: ["certificates:issue"],
        want: {
          "CertificateService.IssueCertificate": "ok",
          "CertificateService.ListCertificates": "PERMISSION_DENIED certificates:read",
          "CertificateAuthorityService.ListCertificateAuthorities": "PERMISSION_DENIED cas:read",
          "CertificateAuthorityService.GetCertificateAuthority": "PERMISSION_DENIED cas:read",
          "ServiceAccountService.ListApiKeys": "PERMISSION_DENIED service-accounts:read",
          "AuthService.WhoAmI": "ok",
        },
      },
      {
        scopes: ["certificates:*"],
        want: {
          "CertificateService.IssueCertificate": "ok",
          "CertificateService.ListCertificates": "ok",
          "CertificateAuthorityService.ListCertificateAuthorities": "PERMISSION_DENIED cas:read",
          "CertificateAuthorityService.GetCertificateAuthority": "PERMISSION_DENIED cas:read",
          "ServiceAccountService.ListApiKeys": "PERMISSION_DENIED service-accounts:read",
          "AuthService.WhoAmI": "ok",
        },
      },
      {
        scopes: ["cas:read", "service-accounts:read"],
        want: {
          "CertificateService.IssueCertificate": "PERMISSION_DENIED certificates:issue",
          "CertificateService.ListCertificates": "PERMISSION_DENIED certificates:read",
          "CertificateAuthorityService.ListCertificateAuthorities": "ok",
          "CertificateAuthorityService.GetCertificateAuthority": "ok",
          "ServiceAccountService.ListApiKeys": "ok",
          "AuthService.WhoAmI": "ok",
        },
      },
      {
        scopes: ["*"],
        want: Object.fromEntries(Object.keys(calls).map((k) => [k, "ok"])),
      },
      {
        // no scopes: "*", the service account's full power
        scopes: [],
        want: Object.fromEntries(Object.keys(calls).map((k) => [k, "ok"])),
      },
    ];
    for (const row of table) {
      it(`refuses what [${row.scopes.join(", ") || "none given"}] does not cover, naming the missing scope`, async () => {
        const key = bearer(await apiKey(row.scopes));
        const got: Record<string, string> = {};
        for (const [name, call] of Object.entries(calls)) {
          try {
            await call(key);
            got[name] = "ok";
          } catch (e) {
            const err = e as { code: number; details: string };
            const scope = /lacks the scope "([^"]+)"/.exec(err.details)?.[1];
            got[name] = `${(await outcomeOf(Promise.reject(e))) as string}${scope ? ` ${scope}` : ` (${err.details})`}`;
          }
        }
        assert.deepEqual(got, row.want);
      });
    }

    it("never grants: a cas:* key of a service account without create_ca cannot create a CA", async () => {
      const key = bearer(await apiKey(["cas:*"]));
      await rejectsWith(
        c.cas.createRootCertificateAuthority({ organizationId: orgId, name: unique("r"), subject: { commonName: "No" } }, key),
        "PERMISSION_DENIED",
        /create_ca capability/,
      );
    });

    it("refuses unknown scopes at creation with one field violation each, and writes nothing", async () => {
      const before = (await c.sas.listApiKeys({ serviceAccountId: saId, includeRevoked: true }, su)).apiKeys.length;
      await rejectsWith(c.sas.createApiKey({ serviceAccountId: saId, name: "bad", scopes: ["cas:read", "certificates:write", "root"] }, su), "INVALID_ARGUMENT", /^scopes\[1\]: unknown scope "certificates:write".*\(and 1 more\)$/);
      await rejectsWith(c.sas.createApiKey({ serviceAccountId: saId, name: "bad", scopes: ["*:read"] }, su), "INVALID_ARGUMENT", /scopes\[0\]/);
      assert.equal((await c.sas.listApiKeys({ serviceAccountId: saId, includeRevoked: true }, su)).apiKeys.length, before);
    });

    it("lists scopes, last use and expiry, and audits the scopes of a new key", async () => {
      const expires = new Date(clock.now().getTime() + 86_400_000);
      const r = await c.sas.createApiKey({ serviceAccountId: saId, name: unique("listed"), scopes: ["audit:read", "certificates:read"], expiresAt: timestampFromDate(expires) }, su);
      await c.certs.listCertificates({ organizationId: orgId }, bearer(r.key));
      const listed = (await c.sas.listApiKeys({ serviceAccountId: saId }, su)).apiKeys.find((k) => k.id === r.apiKey!.id)!;
      assert.deepEqual(listed.scopes, ["audit:read", "certificates:read"]);
      assert.ok(listed.lastUsedAt, "last use recorded");
      assert.equal(Number(listed.expiresAt!.seconds), Math.floor(expires.getTime() / 1000));
      const { events } = await c.audit.listAuditEvents({ action: "api_key_create", resourceId: r.apiKey!.id }, su);
      assert.equal(events.length, 1);
      assert.deepEqual(JSON.parse(events[0]!.detail).scopes, ["audit:read", "certificates:read"]);
      assert.ok(!events[0]!.detail.includes(r.key), "the key is never audited");
    });
  });

  describe("JWT bearer (RFC 7523)", () => {
    interface Key {
      kid: string;
      privateKey: CryptoKey;
      alg: "ES256" | "RS256" | "EdDSA";
    }

    async function register(opts: { alg?: Key["alg"]; scopes?: string[]; sa?: string; expiresAt?: Date; asJwk?: boolean } = {}): Promise<Key> {
      const alg = opts.alg ?? "ES256";
      const { publicKey, privateKey } = await generateKeyPair(alg, alg === "EdDSA" ? { crv: "Ed25519" } : alg === "RS256" ? { modulusLength: 2048 } : {});
      const text = opts.asJwk ? JSON.stringify(await exportJWK(publicKey)) : await exportSPKI(publicKey);
      const r = await c.sas.registerServiceAccountPublicKey(
        { serviceAccountId: opts.sa ?? saId, name: unique("pk"), publicKey: text, scopes: opts.scopes ?? [], expiresAt: opts.expiresAt ? timestampFromDate(opts.expiresAt) : undefined },
        su,
      );
      assert.equal(r.publicKey!.keyId, await calculateJwkThumbprint(await exportJWK(publicKey), "sha256"), "the key id is the RFC 7638 thumbprint");
      assert.equal(r.publicKey!.algorithm, alg);
      return { kid: r.publicKey!.keyId, privateKey, alg };
    }

    /** A JWT as a client signs it, times from the server's clock; `edit` changes claims or header. */
    async function jwt(key: Key, edit: { claims?: Record<string, unknown>; iat?: number; exp?: number; aud?: string; iss?: string; sub?: string; kid?: string; jti?: string | null } = {}, sa = saId): Promise<string> {
      const now = Math.floor(clock.now().getTime() / 1000);
      const t = new SignJWT(edit.claims ?? {})
        .setProtectedHeader({ alg: key.alg, kid: edit.kid ?? key.kid, typ: "JWT" })
        .setIssuer(edit.iss ?? sa)
        .setSubject(edit.sub ?? sa)
        .setAudience(edit.aud ?? audience)
        .setIssuedAt(edit.iat ?? now)
        .setExpirationTime(edit.exp ?? now + 120);
      if (edit.jti !== null) t.setJti(edit.jti ?? randomUUID());
      return t.sign(key.privateKey);
    }

    it("registers ES256 (PEM), RS256 (JWK) and EdDSA keys; refuses weak, unsupported, private and repeated keys", async () => {
      await register({ alg: "ES256" });
      await register({ alg: "RS256", asJwk: true });
      const ed = await register({ alg: "EdDSA" });
      const small = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey.export({ type: "spki", format: "pem" }).toString();
      await rejectsWith(c.sas.registerServiceAccountPublicKey({ serviceAccountId: saId, name: "x", publicKey: small }, su), "INVALID_ARGUMENT", /at least 2048 bits/);
      const p384 = await generateKeyPair("ES384");
      await rejectsWith(c.sas.registerServiceAccountPublicKey({ serviceAccountId: saId, name: "x", publicKey: await exportSPKI(p384.publicKey) }, su), "INVALID_ARGUMENT", /unsupported key type/);
      const es = await generateKeyPair("ES256", { extractable: true });
      await rejectsWith(c.sas.registerServiceAccountPublicKey({ serviceAccountId: saId, name: "x", publicKey: await exportPKCS8(es.privateKey) }, su), "INVALID_ARGUMENT", /private key material/);
      await rejectsWith(c.sas.registerServiceAccountPublicKey({ serviceAccountId: saId, name: "x", publicKey: JSON.stringify(await exportJWK(es.privateKey)) }, su), "INVALID_ARGUMENT", /private key material/);
      await rejectsWith(c.sas.registerServiceAccountPublicKey({ serviceAccountId: saId, name: "x", publicKey: "hello" }, su), "INVALID_ARGUMENT", /public_key/);
      await rejectsWith(c.sas.registerServiceAccountPublicKey({ serviceAccountId: saId, name: "x", publicKey: await exportSPKI(es.publicKey), scopes: ["nope"] }, su), "INVALID_ARGUMENT", /scopes\[0\]/);
      // the same key again (a revoked key cannot come back either)
      const listed = (await c.sas.listServiceAccountPublicKeys({ serviceAccountId: saId }, su)).publicKeys.find((k) => k.keyId === ed.kid)!;
      await rejectsWith(c.sas.registerServiceAccountPublicKey({ serviceAccountId: saId, name: "again", publicKey: listed.publicKeyJwk }, su), "ALREADY_EXISTS");
      assert.ok(!listed.publicKeyJwk.includes('"d"'));
    });

    it("exchanges a JWT for an access token acting as the service account with the key's scopes, audited", async () => {
      const key = await register({ scopes: ["certificates:read"] });
      const assertion = await jwt(key);
      const r = await c.auth.exchangeJwt({ assertion });
      assert.equal(r.serviceAccount!.id, saId);
      assert.ok(Number(r.accessTokenExpiresAt!.seconds) <= Math.floor(clock.now().getTime() / 1000) + 15 * 60);
      const who = await c.auth.whoAmI({}, bearer(r.accessToken));
      assert.equal(who.principal.case, "serviceAccount");
      assert.equal(who.principal.value!.id, saId);
      await c.certs.listCertificates({ organizationId: orgId }, bearer(r.accessToken));
      await rejectsWith(c.cas.listCertificateAuthorities({ organizationId: orgId }, bearer(r.accessToken)), "PERMISSION_DENIED", /lacks the scope "cas:read"/);
      const { events } = await c.audit.listAuditEvents({ action: "service_account_token_exchange", organizationId: orgId }, su);
      const ev = events.find((e) => JSON.parse(e.detail).kid === key.kid);
      assert.ok(ev, "the exchange is audited");
      assert.ok(!ev.detail.includes(r.accessToken) && !ev.detail.includes(assertion));
      const listed = (await c.sas.listServiceAccountPublicKeys({ serviceAccountId: saId }, su)).publicKeys.find((k) => k.keyId === key.kid)!;
      assert.ok(listed.lastUsedAt);
      assert.deepEqual(listed.scopes, ["certificates:read"]);
    });

    it("accepts a JWT directly as the bearer of any RPC, once", async () => {
      const key = await register({ alg: "EdDSA" });
      const direct = await jwt(key);
      const who = await c.auth.whoAmI({}, bearer(direct));
      assert.equal(who.principal.value!.id, saId);
      await c.certs.issueCertificate({ caId, type: CertificateType.SERVER, dnsNames: [`${unique("jwt")}.example.test`], validityDays: 5 }, bearer(await jwt(key)));
      await rejectsWith(c.auth.whoAmI({}, bearer(direct)), "UNAUTHENTICATED", /jti was already used/);
    });

    it("accepts a jti once under concurrency (one statement, ON CONFLICT DO NOTHING)", async () => {
      const key = await register();
      const assertion = await jwt(key);
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => outcomeOf(c.auth.exchangeJwt({ assertion }))));
      assert.equal(outcomes.filter((o) => o === "ok").length, 1, outcomes.join(","));
      assert.equal(outcomes.filter((o) => o === "UNAUTHENTICATED").length, 7);
    });

    it("refuses every bad JWT with UNAUTHENTICATED, on ExchangeJwt and as a bearer", async () => {
      const key = await register();
      const other = await register();
      const now = Math.floor(clock.now().getTime() / 1000);
      const stranger = await generateKeyPair("ES256");
      const otherSa = (await c.sas.createServiceAccount({ organizationId: orgId, name: unique("other") }, su)).serviceAccount!.id;
      const cases: Array<{ name: string; token: () => Promise<string>; message: RegExp }> = [
        { name: "fail/wrong-aud", token: () => jwt(key, { aud: "https://elsewhere.example" }), message: /aud must be this server's audience/ },
        { name: "fail/expired", token: () => jwt(key, { iat: now - 400, exp: now - 100 }), message: /expired/ },
        { name: "fail/too-long-lived", token: () => jwt(key, { exp: now + 301 }), message: /lives too long/ },
        { name: "fail/nbf-future", token: () => jwt(key, { claims: { nbf: now + 120 } }), message: /not valid yet/ },
        { name: "fail/iat-future", token: () => jwt(key, { iat: now + 120, exp: now + 200 }), message: /iat is in the future/ },
        { name: "fail/no-jti", token: () => jwt(key, { jti: null }), message: /jti/ },
        { name: "fail/iss-not-sub", token: () => jwt(key, { iss: otherSa }), message: /"iss" and "sub"/ },
        { name: "fail/bad-signature", token: () => jwt({ ...key, privateKey: stranger.privateKey }), message: /invalid JWT: unknown, revoked/ },
        { name: "fail/other-key-kid", token: () => jwt({ ...other, kid: key.kid }), message: /invalid JWT: unknown, revoked/ },
        { name: "fail/unknown-kid", token: () => jwt(key, { kid: "A".repeat(43) }), message: /invalid JWT: unknown, revoked/ },
        { name: "fail/other-account", token: () => jwt(key, {}, otherSa), message: /invalid JWT: unknown, revoked/ },
      ];
      for (const k of cases) {
        await rejectsWith(c.auth.exchangeJwt({ assertion: await k.token() }), "UNAUTHENTICATED", k.message).catch((e: Error) => assert.fail(`${k.name} (exchange): ${e.message}`));
        await rejectsWith(c.auth.whoAmI({}, bearer(await k.token())), "UNAUTHENTICATED", k.message).catch((e: Error) => assert.fail(`${k.name} (bearer): ${e.message}`));
      }
      // skew: nbf and iat up to 60 s ahead are accepted
      await c.auth.exchangeJwt({ assertion: await jwt(key, { iat: now + 30, exp: now + 200, claims: { nbf: now + 30 } }) });
      // replayed
      const once = await jwt(key);
      await c.auth.exchangeJwt({ assertion: once });
      await rejectsWith(c.auth.exchangeJwt({ assertion: once }), "UNAUTHENTICATED", /jti was already used/);
      await rejectsWith(c.auth.whoAmI({}, bearer(once)), "UNAUTHENTICATED", /jti was already used/);
      // a refused JWT wrote no audit entry of an exchange
      const { events } = await c.audit.listAuditEvents({ action: "service_account_token_exchange", organizationId: orgId }, su);
      assert.ok(events.every((e) => JSON.parse(e.detail).kid !== other.kid));
    });

    it("refuses a revoked key at once, even its exchanged tokens; revocation is audited", async () => {
      const key = await register();
      const token = (await c.auth.exchangeJwt({ assertion: await jwt(key) })).accessToken;
      const pending = await jwt(key);
      const r = await c.sas.revokeServiceAccountPublicKey({ serviceAccountId: saId, keyId: key.kid }, su);
      assert.ok(r.publicKey!.revokedAt);
      await rejectsWith(c.auth.exchangeJwt({ assertion: pending }), "UNAUTHENTICATED", /invalid JWT: unknown, revoked/);
      await rejectsWith(c.auth.whoAmI({}, bearer(await jwt(key))), "UNAUTHENTICATED");
      await rejectsWith(c.auth.whoAmI({}, bearer(token)), "UNAUTHENTICATED");
      await rejectsWith(c.sas.revokeServiceAccountPublicKey({ serviceAccountId: saId, keyId: key.kid }, su), "FAILED_PRECONDITION");
      const { events } = await c.audit.listAuditEvents({ action: "service_account_public_key_revoke", organizationId: orgId }, su);
      assert.ok(events.some((e) => JSON.parse(e.detail).kid === key.kid));
      const listed = await c.sas.listServiceAccountPublicKeys({ serviceAccountId: saId }, su);
      assert.ok(!listed.publicKeys.some((k) => k.keyId === key.kid), "revoked keys are listed only when asked");
      const all = await c.sas.listServiceAccountPublicKeys({ serviceAccountId: saId, includeRevoked: true }, su);
      assert.ok(all.publicKeys.some((k) => k.keyId === key.kid));
    });

    it("refuses an expired key and an inactive service account; an exchanged token never outlives its key", async () => {
      const key = await register({ expiresAt: new Date(clock.now().getTime() + 5 * 60_000) });
      const r = await c.auth.exchangeJwt({ assertion: await jwt(key) });
      assert.equal(Number(r.accessTokenExpiresAt!.seconds), Math.floor((clock.now().getTime() + 5 * 60_000) / 1000), "capped at the key's expiry");
      clock.advance(6 * 60_000);
      await rejectsWith(c.auth.exchangeJwt({ assertion: await jwt(key) }), "UNAUTHENTICATED", /invalid JWT: unknown, revoked/);

      const sa2 = (await c.sas.createServiceAccount({ organizationId: orgId, name: unique("off") }, su)).serviceAccount!.id;
      const k2 = await register({ sa: sa2 });
      const token = (await c.auth.exchangeJwt({ assertion: await jwt(k2, {}, sa2) })).accessToken;
      await c.sas.updateServiceAccount({ id: sa2, isActive: false }, su);
      await rejectsWith(c.auth.exchangeJwt({ assertion: await jwt(k2, {}, sa2) }), "UNAUTHENTICATED", /invalid JWT: unknown, revoked/);
      await rejectsWith(c.auth.whoAmI({}, bearer(token)), "UNAUTHENTICATED");
    });

    it("keeps an audit Watch opened with a JWT bearer going (its re-checks are no replay) until the key is revoked", async () => {
      const key = await register({ scopes: ["audit:read"] });
      const controller = new AbortController();
      const it = c.audit.watchAuditEvents({ action: "org_update", organizationId: orgId }, { ...bearer(await jwt(key)), signal: controller.signal })[Symbol.asyncIterator]();
      try {
        const first = it.next();
        await new Promise((r) => setTimeout(r, 300));
        await c.orgs.updateOrganization({ id: orgId, name: unique("renamed") }, su);
        const got = (await first) as IteratorResult<{ event?: { resourceId: string } }>;
        assert.equal(got.value.event?.resourceId, orgId);
        const again = it.next();
        await c.orgs.updateOrganization({ id: orgId, name: unique("renamed") }, su);
        assert.equal(((await again) as IteratorResult<{ event?: { resourceId: string } }>).value.event?.resourceId, orgId, "the same JWT is re-checked, not replayed");
        await c.sas.revokeServiceAccountPublicKey({ serviceAccountId: saId, keyId: key.kid }, su);
        const third = it.next();
        await c.orgs.updateOrganization({ id: orgId, name: unique("renamed") }, su);
        await assert.rejects(third, { code: 16 /* UNAUTHENTICATED */ });
      } finally {
        controller.abort();
      }
    });

    it("audits registration with the key id, algorithm and scopes", async () => {
      const key = await register({ alg: "RS256", scopes: ["certificates:issue", "cas:read"] });
      const { events } = await c.audit.listAuditEvents({ action: "service_account_public_key_register", organizationId: orgId }, su);
      const ev = events.find((e) => JSON.parse(e.detail).kid === key.kid);
      assert.ok(ev);
      const d = JSON.parse(ev.detail);
      assert.equal(d.algorithm, "RS256");
      assert.deepEqual(d.scopes, ["certificates:issue", "cas:read"]);
    });
  });
});
