import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { AcmeService } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { AuditService } from "../../../src/gen/sigil/admin/v1/audit_pb.js";
import { AuthService } from "../../../src/gen/sigil/admin/v1/auth_pb.js";
import { CertificateAuthorityService } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateService } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { OrganizationService } from "../../../src/gen/sigil/admin/v1/organization_pb.js";
import { RenewalService } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import { IssuancePolicyService } from "../../../src/gen/sigil/admin/v1/issuance_policy_pb.js";
import { KeyManagementService } from "../../../src/gen/sigil/admin/v1/key_management_pb.js";
import { ServiceAccountService } from "../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { UserService } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import { startTestServer, TEST_ADMIN_PASSWORD, type TestServer } from "../../helpers/server.js";

const execFileP = promisify(execFile);
const BUF = path.resolve("node_modules/.bin/buf");

async function bufCurl(args: string[]): Promise<string> {
  assert.ok(existsSync(BUF), `buf CLI missing at ${BUF} (npm install)`);
  const { stdout } = await execFileP(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { timeout: 30_000 });
  return stdout;
}

describe("admin server reflection (buf curl)", function () {
  this.timeout(120_000);
  let server: TestServer;
  let base: string;

  before(async () => {
    server = await startTestServer();
    base = `http://127.0.0.1:${server.grpcPort}`;
  });
  after(async () => server?.stop());

  it("lists every method of every sigil.admin.v1 service and health, unauthenticated", async () => {
    const out = await bufCurl(["--reflect", "--list-methods", base]);
    const listed = new Set(out.split("\n").map((l) => l.trim()).filter(Boolean));
    for (const s of [AuthService, OrganizationService, UserService, CertificateAuthorityService, CertificateService, AcmeService, AuditService, ServiceAccountService, RenewalService, IssuancePolicyService, KeyManagementService]) {
      for (const m of s.methods) assert.ok(listed.has(`${s.typeName}/${m.name}`), `${s.typeName}/${m.name} listed`);
    }
    assert.ok(listed.has("grpc.health.v1.Health/Check"));
  });

  it("logs in and calls WhoAmI through reflection", async () => {
    const login = JSON.parse(
      await bufCurl(["--reflect", "-d", JSON.stringify({ username: "admin", password: TEST_ADMIN_PASSWORD }), `${base}/sigil.admin.v1.AuthService/Login`]),
    ) as { accessToken: string; user: { username: string; role: string } };
    assert.equal(login.user.username, "admin");
    assert.equal(login.user.role, "ROLE_SUPERUSER");
    assert.equal(JSON.stringify(login).toLowerCase().includes("password"), false);
    const me = JSON.parse(
      await bufCurl(["--reflect", "-H", `authorization: Bearer ${login.accessToken}`, "-d", "{}", `${base}/sigil.admin.v1.AuthService/WhoAmI`]),
    ) as { user: { username: string } };
    assert.equal(me.user.username, "admin");
  });
});
