import assert from "node:assert/strict";
import { adminServices } from "../../../src/admin/services/index.js";
import { UNAUTHENTICATED_METHODS } from "../../../src/admin/auth-hook.js";
import { SigilError } from "../../../src/core/errors.js";
import { authorizeRpc } from "../../../src/policy/permissions.js";
import {
  isValidScope,
  normalizeScopes,
  requireScope,
  RPC_SCOPES,
  SCOPE_DESCRIPTIONS,
  SCOPE_RESOURCES,
  SCOPES,
  scopeOfRpc,
  scopesAllow,
} from "../../../src/policy/scopes.js";
import type { Actor } from "../../../src/ra/actor.js";

/** Every method of every service the admin server registers ("/sigil.admin.v1.X/M"). */
function registeredRpcs(): string[] {
  // the bindings only describe the services here: no dependency is touched until a call
  return adminServices({} as never).flatMap((b) => b.service.methods.map((m) => `/${b.service.typeName}/${m.name}`));
}

function denied(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SigilError && e.kind === "permissionDenied", String(e));
    return e.message;
  }
  assert.fail("expected PERMISSION_DENIED");
}

const sa = (scopes?: string[]): Actor => ({
  kind: "serviceAccount",
  id: "0190aaaa-0000-7000-8000-000000000001",
  name: "ci",
  organizationId: "0190aaaa-0000-7000-8000-000000000002",
  capabilities: new Set(),
  ...(scopes ? { scopes } : {}),
});

describe("policy/scopes", () => {
  it("gives every RPC of every registered admin service a scope (a new RPC without one fails here)", () => {
    const rpcs = registeredRpcs();
    assert.ok(rpcs.length > 80, `found only ${rpcs.length} RPCs`);
    const missing = rpcs.filter((p) => scopeOfRpc(p) === undefined);
    assert.deepEqual(missing, [], `RPCs without an entry in RPC_SCOPES (src/policy/scopes.ts): ${missing.join(", ")}`);
  });

  it("names only existing RPCs and existing scopes in RPC_SCOPES", () => {
    const rpcs = new Set(registeredRpcs());
    for (const [rpc, scope] of Object.entries(RPC_SCOPES)) {
      assert.ok(rpcs.has(`/sigil.admin.v1.${rpc}`), `RPC_SCOPES names ${rpc}, which no registered service has`);
      assert.ok(scope === "none" || (SCOPES as string[]).includes(scope), `${rpc}: unknown scope ${scope}`);
    }
  });

  it("needs no scope exactly for the credential-less methods and the caller's own WhoAmI / Logout", () => {
    const none = Object.entries(RPC_SCOPES).filter(([, s]) => s === "none").map(([r]) => `/sigil.admin.v1.${r}`).sort();
    const allowed = new Set([...UNAUTHENTICATED_METHODS, "/sigil.admin.v1.AuthService/WhoAmI", "/sigil.admin.v1.AuthService/Logout"]);
    for (const r of none) assert.ok(allowed.has(r), `${r} needs no scope: only credential-less methods, WhoAmI and Logout may`);
    for (const r of UNAUTHENTICATED_METHODS) assert.equal(scopeOfRpc(r), "none", r);
  });

  it("uses every scope for at least one RPC (no dead scope in the documented list)", () => {
    const used = new Set(Object.values(RPC_SCOPES));
    for (const s of SCOPES) assert.ok(used.has(s), `${s} guards no RPC`);
    assert.equal(Object.keys(SCOPE_DESCRIPTIONS).length, SCOPES.length);
  });

  const table: Array<{ name: string; scopes: string[]; rpc: string; ok: boolean }> = [
    { name: "ok/exact", scopes: ["certificates:issue"], rpc: "CertificateService/IssueCertificate", ok: true },
    { name: "ok/exact-csr", scopes: ["certificates:issue"], rpc: "CertificateService/SignCsr", ok: true },
    { name: "ok/resource-wildcard", scopes: ["certificates:*"], rpc: "CertificateService/RevokeCertificate", ok: true },
    { name: "ok/star", scopes: ["*"], rpc: "CertificateAuthorityService/DeleteCertificateAuthority", ok: true },
    { name: "ok/one-of-several", scopes: ["audit:read", "cas:read"], rpc: "CertificateAuthorityService/GetCertificateAuthorityChain", ok: true },
    { name: "ok/no-scope-rpc", scopes: ["audit:read"], rpc: "AuthService/WhoAmI", ok: true },
    { name: "fail/read-not-issue", scopes: ["certificates:read"], rpc: "CertificateService/IssueCertificate", ok: false },
    { name: "fail/issue-not-revoke", scopes: ["certificates:issue"], rpc: "CertificateService/RevokeCertificate", ok: false },
    { name: "fail/issue-not-export", scopes: ["certificates:issue"], rpc: "CertificateService/ExportCertificatePrivateKey", ok: false },
    { name: "fail/other-resource-wildcard", scopes: ["cas:*"], rpc: "CertificateService/GetCertificate", ok: false },
    { name: "fail/cas-write-not-export", scopes: ["cas:write"], rpc: "CertificateAuthorityService/ExportCertificateAuthorityPrivateKey", ok: false },
    { name: "fail/acme-read-not-admin", scopes: ["acme:read"], rpc: "AcmeService/CreateEabKey", ok: false },
    { name: "fail/audit", scopes: ["users:read"], rpc: "AuditService/WatchAuditEvents", ok: false },
    { name: "fail/own-keys", scopes: ["service-accounts:read"], rpc: "ServiceAccountService/CreateApiKey", ok: false },
    { name: "fail/sessions", scopes: ["sessions:read"], rpc: "AuthService/RevokeSession", ok: false },
  ];
  for (const c of table) {
    it(`${c.name}: ${c.scopes.join(",")} -> ${c.rpc}`, () => {
      const path = `/sigil.admin.v1.${c.rpc}`;
      if (c.ok) {
        authorizeRpc(sa(c.scopes), path);
        return;
      }
      const msg = denied(() => authorizeRpc(sa(c.scopes), path));
      assert.match(msg, new RegExp(`lacks the scope "${RPC_SCOPES[c.rpc]}"`));
    });
  }

  it("leaves users and unscoped service accounts alone, and refuses an RPC missing from the table unless the key has *", () => {
    const user: Actor = { kind: "user", id: "u", name: "alice", role: "user", organizationId: "o", capabilities: new Set() };
    authorizeRpc(user, "/sigil.admin.v1.CertificateService/IssueCertificate");
    authorizeRpc(sa(), "/sigil.admin.v1.CertificateService/IssueCertificate");
    assert.match(denied(() => requireScope(["certificates:*"], "/sigil.admin.v1.FutureService/Thing")), /lacks the scope "\*"/);
    requireScope(["*"], "/sigil.admin.v1.FutureService/Thing");
  });

  it("validates scopes: *, <resource>:* and the listed ones; unknown ones are field violations", () => {
    for (const s of [...SCOPES, "*", ...SCOPE_RESOURCES.map((r) => `${r}:*`)]) assert.ok(isValidScope(s), s);
    for (const s of ["", "certificates", "certificates:", "certificates:write", "cert:*", "*:*", "*:read", " certificates:read", "CERTIFICATES:READ"]) assert.ok(!isValidScope(s), s);
    assert.deepEqual(normalizeScopes([]), ["*"]);
    assert.deepEqual(normalizeScopes(["cas:read", "cas:read", "audit:read"]), ["cas:read", "audit:read"]);
    try {
      normalizeScopes(["cas:read", "cas:write-ish", "nope"]);
      assert.fail("expected INVALID_ARGUMENT");
    } catch (e) {
      assert.ok(e instanceof SigilError && e.kind === "invalidArgument");
      assert.deepEqual(e.violations.map((v) => v.field), ["scopes[1]", "scopes[2]"]);
    }
    assert.ok(scopesAllow(["renewal:*"], "renewal:write"));
    assert.ok(!scopesAllow(["renewal:read"], "renewal:write"));
  });
});
