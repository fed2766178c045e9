import { useEffect, useState } from "preact/hooks";
import type { User } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import type { ServiceAccount } from "../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { api, fmtDate } from "../api.js";
import { describeError } from "../errors.js";
import { useCatalog } from "../catalog.js";

const ROLE = ["", "superuser", "admin", "user"];

function caps(x: { createCa: boolean; createCert: boolean; revokeCert: boolean; exportPrivateKey: boolean; deleteCa: boolean }): string {
  const out: string[] = [];
  if (x.createCa) out.push("create_ca");
  if (x.createCert) out.push("create_cert");
  if (x.revokeCert) out.push("revoke_cert");
  if (x.exportPrivateKey) out.push("export_private_key");
  if (x.deleteCa) out.push("delete_ca");
  return out.join(", ") || "—";
}

export function People() {
  const { catalog } = useCatalog();
  const [users, setUsers] = useState<User[]>([]);
  const [accounts, setAccounts] = useState<ServiceAccount[]>([]);
  const [error, setError] = useState("");
  useEffect(() => {
    api.users.listUsers({ pageSize: 200, includeInactive: true }).then(
      (r) => setUsers(r.users),
      (e: unknown) => setError(describeError(e)),
    );
    api.serviceAccounts.listServiceAccounts({ pageSize: 200 }).then(
      (r) => setAccounts(r.serviceAccounts),
      (e: unknown) => setError(describeError(e)),
    );
  }, []);
  return (
    <section>
      <h2>Users</h2>
      {error && <p class="error">{error}</p>}
      <table class="grid" data-testid="users">
        <thead>
          <tr>
            <th>Username</th>
            <th>Role</th>
            <th>Organization</th>
            <th>Capabilities</th>
            <th>Active</th>
            <th>Last login</th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.id}>
              <td>{u.username}</td>
              <td>{ROLE[u.role]}</td>
              <td>{u.organizationId ? catalog?.orgName(u.organizationId) : "—"}</td>
              <td class="small">{u.role === 3 ? caps(u) : "all"}</td>
              <td>{u.isActive ? "yes" : "no"}</td>
              <td>{u.lastLoginAt ? fmtDate(u.lastLoginAt) : "never"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Service accounts</h2>
      <table class="grid">
        <thead>
          <tr>
            <th>Name</th>
            <th>Organization</th>
            <th>Capabilities</th>
            <th>Active</th>
          </tr>
        </thead>
        <tbody>
          {accounts.map((a) => (
            <tr key={a.id}>
              <td>{a.name}</td>
              <td>{catalog?.orgName(a.organizationId)}</td>
              <td class="small">{caps(a)}</td>
              <td>{a.isActive ? "yes" : "no"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
