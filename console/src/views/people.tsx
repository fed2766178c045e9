// Users, service accounts and their API keys (UserService,
// ServiceAccountService). Creating and changing them needs an organization
// admin (policy/permissions.ts "admin"); the console hides those controls
// from others, the API refuses them anyway.
import { useEffect, useState } from "preact/hooks";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Role, type User } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import type { LoginSession } from "../../../src/gen/sigil/admin/v1/auth_pb.js";
import type { ApiKey, ServiceAccount, ServiceAccountPublicKey } from "../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { api, currentSession, date, fmtDate, isSuperuser, may } from "../api.js";
import { describeError } from "../errors.js";
import { useCatalog, type Catalog } from "../catalog.js";
import { splitList } from "../format.js";

/** Scopes (docs/service-auth.md) as typed by an operator; empty means "*". */
const SCOPES_HINT = "Scopes, e.g. certificates:issue certificates:read (empty: *)";

const ROLE = ["", "superuser", "admin", "user"];

export interface Caps {
  createCa: boolean;
  createCert: boolean;
  revokeCert: boolean;
  exportPrivateKey: boolean;
  deleteCa: boolean;
}
const CAP_FIELDS: [keyof Caps, string][] = [
  ["createCert", "create_cert"],
  ["revokeCert", "revoke_cert"],
  ["createCa", "create_ca"],
  ["deleteCa", "delete_ca"],
  ["exportPrivateKey", "export_private_key"],
];
const NO_CAPS: Caps = { createCa: false, createCert: false, revokeCert: false, exportPrivateKey: false, deleteCa: false };
const pickCaps = (x: Caps): Caps => ({ createCa: x.createCa, createCert: x.createCert, revokeCert: x.revokeCert, exportPrivateKey: x.exportPrivateKey, deleteCa: x.deleteCa });

function capsText(x: Caps): string {
  return CAP_FIELDS.filter(([k]) => x[k])
    .map(([, n]) => n)
    .join(", ") || "—";
}

/** The five capability flags as checkboxes (labelled with their API names). */
function CapsChecks({ value, onChange }: { value: Caps; onChange: (c: Caps) => void }) {
  return (
    <span class="caps">
      {CAP_FIELDS.map(([k, n]) => (
        <label key={k} class="toggle">
          <input type="checkbox" name={n} checked={value[k]} onChange={(e) => onChange({ ...value, [k]: e.currentTarget.checked })} /> {n}
        </label>
      ))}
    </span>
  );
}

/** The organization a new user or service account goes into: superusers choose, admins use their own. */
function OrgSelect({ catalog, value, onChange }: { catalog?: Catalog; value: string; onChange: (v: string) => void }) {
  if (!isSuperuser(currentSession()?.user)) return null;
  return (
    <label>
      Organization
      <select name="organization" value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        <option value="">—</option>
        {catalog?.organizations.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name}
          </option>
        ))}
      </select>
    </label>
  );
}

function NewUser({ catalog, onDone }: { catalog?: Catalog; onDone: (u: User) => void }) {
  const me = currentSession()?.user;
  const [f, setF] = useState({ username: "", email: "", password: "", role: String(Role.USER), org: me?.organizationId ?? "" });
  const [caps, setCaps] = useState<Caps>(NO_CAPS);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const role = Number(f.role) as Role;
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    setBusy(true);
    try {
      const r = await api.users.createUser({
        username: f.username.trim(),
        email: f.email.trim(),
        password: f.password,
        role,
        organizationId: role === Role.SUPERUSER ? "" : f.org,
        ...(role === Role.USER ? caps : NO_CAPS),
      });
      if (r.user) onDone(r.user);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel stack" aria-label="New user" onSubmit={submit}>
      <label>
        Username
        <input name="username" required autocomplete="off" value={f.username} onInput={(e) => setF({ ...f, username: e.currentTarget.value })} />
      </label>
      <label>
        Email
        <input name="email" type="email" required value={f.email} onInput={(e) => setF({ ...f, email: e.currentTarget.value })} />
      </label>
      <label>
        Initial password
        <input name="password" type="password" required autocomplete="new-password" value={f.password} onInput={(e) => setF({ ...f, password: e.currentTarget.value })} />
      </label>
      <label>
        Role
        <select name="role" value={f.role} onChange={(e) => setF({ ...f, role: e.currentTarget.value })}>
          <option value={String(Role.USER)}>user (read; writes need a capability)</option>
          <option value={String(Role.ADMIN)}>admin (everything in the organization)</option>
          {isSuperuser(me) && <option value={String(Role.SUPERUSER)}>superuser</option>}
        </select>
      </label>
      {role !== Role.SUPERUSER && <OrgSelect catalog={catalog} value={f.org} onChange={(org) => setF({ ...f, org })} />}
      {role === Role.USER && <CapsChecks value={caps} onChange={setCaps} />}
      <div>
        <button type="submit" disabled={busy}>
          Create user
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

/** Role, capabilities, deactivate / reactivate and unlock of one user (UpdateUser, DeactivateUser, UnlockUser). */
function EditUser({ user, onDone }: { user: User; onDone: (u: User, message: string) => void }) {
  const me = currentSession()?.user;
  const [role, setRole] = useState(String(user.role));
  const [caps, setCaps] = useState<Caps>(pickCaps(user));
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const run = async (fn: () => Promise<[User | undefined, string]>) => {
    setError("");
    setBusy(true);
    try {
      const [u, msg] = await fn();
      if (u) onDone(u, msg);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  const save = (e: Event) => {
    e.preventDefault();
    const r = Number(role) as Role;
    void run(async () => {
      // only what changed: the API leaves absent fields as they are
      const changed: Partial<Caps> = {};
      for (const [k] of CAP_FIELDS) if (r === Role.USER && caps[k] !== user[k]) changed[k] = caps[k];
      const res = await api.users.updateUser({ id: user.id, ...(r !== user.role ? { role: r } : {}), ...changed });
      return [res.user, `Saved ${user.username}.`];
    });
  };
  const lockedUntil = date(user.lockedUntil);
  const locked = lockedUntil !== undefined && lockedUntil.getTime() > Date.now();
  return (
    <form class="filters inline" aria-label={`Edit ${user.username}`} onSubmit={save}>
      <select name="role" aria-label="Role" value={role} onChange={(e) => setRole(e.currentTarget.value)}>
        <option value={String(Role.USER)}>user</option>
        <option value={String(Role.ADMIN)}>admin</option>
        {isSuperuser(me) && <option value={String(Role.SUPERUSER)}>superuser</option>}
      </select>
      {Number(role) === Role.USER && <CapsChecks value={caps} onChange={setCaps} />}
      <button type="submit" disabled={busy}>
        Save
      </button>
      {user.isActive ? (
        <button
          type="button"
          class="danger"
          disabled={busy || user.id === me?.id}
          onClick={() =>
            void run(async () => {
              const res = await api.users.deactivateUser({ id: user.id });
              return [res.user, `Deactivated ${user.username}; ${res.revokedCertificates} certificate(s) revoked (affiliationChanged).`];
            })
          }
        >
          Deactivate
        </button>
      ) : (
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            void run(async () => {
              const res = await api.users.updateUser({ id: user.id, isActive: true });
              return [res.user, `Reactivated ${user.username}.`];
            })
          }
        >
          Reactivate
        </button>
      )}
      {locked && (
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            void run(async () => {
              const res = await api.users.unlockUser({ id: user.id });
              return [res.user, `Unlocked ${user.username}.`];
            })
          }
        >
          Unlock
        </button>
      )}
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

function Users({ catalog }: { catalog?: Catalog }) {
  const me = currentSession()?.user;
  const [users, setUsers] = useState<User[]>([]);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [open, setOpen] = useState("");
  const load = () =>
    api.users.listUsers({ pageSize: 200, includeInactive: true }).then(
      (r) => setUsers(r.users),
      (e: unknown) => setError(describeError(e)),
    );
  useEffect(() => void load(), []);
  const canCreate = may(me, "admin", isSuperuser(me) ? undefined : me?.organizationId);
  return (
    <div>
      <h2>Users</h2>
      {error && <p class="error">{error}</p>}
      {notice && (
        <p class="notice" data-testid="users-notice">
          {notice}
        </p>
      )}
      {canCreate && (
        <button type="button" class="link" onClick={() => setOpen(open === "new" ? "" : "new")}>
          New user…
        </button>
      )}
      {open === "new" && (
        <NewUser
          catalog={catalog}
          onDone={(u) => {
            setOpen("");
            setNotice(`Created ${u.username}.`);
            void load();
          }}
        />
      )}
      <table class="grid" data-testid="users">
        <thead>
          <tr>
            <th>Username</th>
            <th>Email</th>
            <th>Role</th>
            <th>Organization</th>
            <th>Capabilities</th>
            <th>Active</th>
            <th>Last login</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {users.map((u) => [
            <tr key={u.id} data-user={u.username}>
              <td>{u.username}</td>
              <td class="small">{u.email}</td>
              <td>{ROLE[u.role]}</td>
              <td>{u.organizationId ? catalog?.orgName(u.organizationId) : "—"}</td>
              <td class="small">{u.role === Role.USER ? capsText(u) : "all"}</td>
              <td>{u.isActive ? "yes" : "no"}</td>
              <td>{u.lastLoginAt ? fmtDate(u.lastLoginAt) : "never"}</td>
              <td>
                {may(me, "admin", u.organizationId || undefined) && (u.role !== Role.SUPERUSER || isSuperuser(me)) && (
                  <button type="button" class="link" aria-label={`Edit ${u.username}…`} onClick={() => setOpen(open === u.id ? "" : u.id)}>
                    Edit…
                  </button>
                )}
              </td>
            </tr>,
            open === u.id && (
              <tr key={`${u.id}-edit`}>
                <td colSpan={8}>
                  <EditUser
                    user={u}
                    onDone={(_, msg) => {
                      setOpen("");
                      setNotice(msg);
                      void load();
                    }}
                  />
                </td>
              </tr>
            ),
          ])}
        </tbody>
      </table>
    </div>
  );
}

function NewServiceAccount({ catalog, onDone }: { catalog?: Catalog; onDone: (a: ServiceAccount) => void }) {
  const me = currentSession()?.user;
  const [f, setF] = useState({ name: "", description: "", org: me?.organizationId ?? "" });
  const [caps, setCaps] = useState<Caps>(NO_CAPS);
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      const r = await api.serviceAccounts.createServiceAccount({ organizationId: f.org, name: f.name.trim(), description: f.description.trim(), ...caps });
      if (r.serviceAccount) onDone(r.serviceAccount);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form class="panel stack" aria-label="New service account" onSubmit={submit}>
      <label>
        Name
        <input name="name" required value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} />
      </label>
      <label>
        Description
        <input name="description" value={f.description} onInput={(e) => setF({ ...f, description: e.currentTarget.value })} />
      </label>
      <OrgSelect catalog={catalog} value={f.org} onChange={(org) => setF({ ...f, org })} />
      <CapsChecks value={caps} onChange={setCaps} />
      <div>
        <button type="submit">Create service account</button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

/**
 * A service account's API keys: list (with revoked ones), create (the key
 * is in the answer once and is stored hashed; the console shows it once and
 * keeps it nowhere), revoke.
 */
function ApiKeys({ account }: { account: ServiceAccount }) {
  const me = currentSession()?.user;
  const admin = may(me, "admin", account.organizationId);
  const [keys, setKeys] = useState<ApiKey[] | undefined>();
  const [name, setName] = useState("");
  const [days, setDays] = useState("");
  const [scopes, setScopes] = useState("");
  const [created, setCreated] = useState<{ name: string; key: string } | undefined>();
  const [error, setError] = useState("");
  const load = () =>
    api.serviceAccounts.listApiKeys({ serviceAccountId: account.id, includeRevoked: true, pageSize: 100 }).then(
      (r) => setKeys(r.apiKeys),
      (e: unknown) => setError(describeError(e)),
    );
  useEffect(() => void load(), [account.id]);
  const create = async (e: Event) => {
    e.preventDefault();
    setError("");
    setCreated(undefined);
    try {
      const n = Number(days);
      const r = await api.serviceAccounts.createApiKey({
        serviceAccountId: account.id,
        name: name.trim(),
        expiresAt: n > 0 ? timestampFromDate(new Date(Date.now() + n * 86_400_000)) : undefined,
        scopes: splitList(scopes),
      });
      setCreated({ name: r.apiKey?.name ?? name, key: r.key });
      setName("");
      setDays("");
      setScopes("");
      void load();
    } catch (err) {
      setError(describeError(err));
    }
  };
  const revoke = async (k: ApiKey) => {
    setError("");
    try {
      await api.serviceAccounts.revokeApiKey({ id: k.id });
      void load();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <div class="panel" data-testid={`api-keys-${account.name}`}>
      <h4>API keys of {account.name}</h4>
      {created && (
        <div class="notice" data-testid="api-key-once">
          API key <strong>{created.name}</strong> (shown once, copy it now; Sigil keeps only its hash):
          <div class="mono secret">{created.key}</div>
          <button type="button" class="link" onClick={() => void navigator.clipboard?.writeText(created.key)}>
            Copy
          </button>
          <button type="button" class="link" onClick={() => setCreated(undefined)}>
            Done
          </button>
        </div>
      )}
      {admin && (
        <form class="filters inline" aria-label={`New API key for ${account.name}`} onSubmit={create}>
          <input name="name" placeholder="Key name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <input name="expiresInDays" type="number" min="1" placeholder="Expires in days (empty: never)" value={days} onInput={(e) => setDays(e.currentTarget.value)} />
          <input name="scopes" class="wide" placeholder={SCOPES_HINT} value={scopes} onInput={(e) => setScopes(e.currentTarget.value)} />
          <button type="submit">Create API key</button>
        </form>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="grid">
        <thead>
          <tr>
            <th>Name</th>
            <th>Prefix</th>
            <th>Scopes</th>
            <th>Created</th>
            <th>Expires</th>
            <th>Last used</th>
            <th>Revoked</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys?.length === 0 && (
            <tr>
              <td colSpan={8} class="muted">
                No API keys.
              </td>
            </tr>
          )}
          {keys?.map((k) => (
            <tr key={k.id} data-key={k.name}>
              <td>{k.name}</td>
              <td class="mono">{k.keyPrefix}…</td>
              <td class="small mono">{k.scopes.join(" ") || "*"}</td>
              <td>{fmtDate(k.createdAt)}</td>
              <td>{k.expiresAt ? fmtDate(k.expiresAt) : "never"}</td>
              <td>{k.lastUsedAt ? fmtDate(k.lastUsedAt) : "never"}</td>
              <td>{k.revokedAt ? fmtDate(k.revokedAt) : "—"}</td>
              <td>
                {admin && !k.revokedAt && (
                  <button type="button" class="link danger-text" onClick={() => void revoke(k)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * A service account's public keys for JWT-bearer sign-in (RFC 7523 §2.1,
 * docs/service-auth.md): register a PEM "PUBLIC KEY" or a JWK (no secret
 * ever leaves the client that holds the private key), list, revoke.
 */
function PublicKeys({ account }: { account: ServiceAccount }) {
  const admin = may(currentSession()?.user, "admin", account.organizationId);
  const [keys, setKeys] = useState<ServiceAccountPublicKey[] | undefined>();
  const [f, setF] = useState({ name: "", key: "", scopes: "", days: "" });
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const load = () =>
    api.serviceAccounts.listServiceAccountPublicKeys({ serviceAccountId: account.id, includeRevoked: true, pageSize: 100 }).then(
      (r) => setKeys(r.publicKeys),
      (e: unknown) => setError(describeError(e)),
    );
  useEffect(() => void load(), [account.id]);
  const register = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      const n = Number(f.days);
      const r = await api.serviceAccounts.registerServiceAccountPublicKey({
        serviceAccountId: account.id,
        name: f.name.trim(),
        publicKey: f.key.trim(),
        scopes: splitList(f.scopes),
        expiresAt: n > 0 ? timestampFromDate(new Date(Date.now() + n * 86_400_000)) : undefined,
      });
      setNotice(`Registered ${r.publicKey?.algorithm ?? ""} key ${r.publicKey?.keyId ?? ""}: name it as "kid" in the JWT header.`);
      setF({ name: "", key: "", scopes: "", days: "" });
      void load();
    } catch (err) {
      setError(describeError(err));
    }
  };
  const revoke = async (k: ServiceAccountPublicKey) => {
    setError("");
    try {
      await api.serviceAccounts.revokeServiceAccountPublicKey({ serviceAccountId: account.id, keyId: k.keyId });
      void load();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <div class="panel" data-testid={`public-keys-${account.name}`}>
      <h4>Public keys of {account.name} (JWT bearer, RFC 7523)</h4>
      {notice && <p class="notice">{notice}</p>}
      {admin && (
        <form class="stack wide-form" aria-label={`Register a public key for ${account.name}`} onSubmit={register}>
          <input name="name" placeholder="Key name" required value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} />
          <textarea
            name="publicKey"
            rows={4}
            required
            aria-label="Public key (PEM or JWK)"
            placeholder={"-----BEGIN PUBLIC KEY-----  or  {\"kty\": ...}  (ES256, RS256 >= 2048 bits, EdDSA)"}
            value={f.key}
            onInput={(e) => setF({ ...f, key: e.currentTarget.value })}
          />
          <input name="scopes" placeholder={SCOPES_HINT} value={f.scopes} onInput={(e) => setF({ ...f, scopes: e.currentTarget.value })} />
          <input name="expiresInDays" type="number" min="1" placeholder="Expires in days (empty: never)" value={f.days} onInput={(e) => setF({ ...f, days: e.currentTarget.value })} />
          <div>
            <button type="submit">Register public key</button>
          </div>
        </form>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="grid">
        <thead>
          <tr>
            <th>Name</th>
            <th>Key id (kid)</th>
            <th>Algorithm</th>
            <th>Scopes</th>
            <th>Expires</th>
            <th>Last used</th>
            <th>Revoked</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys?.length === 0 && (
            <tr>
              <td colSpan={8} class="muted">
                No public keys.
              </td>
            </tr>
          )}
          {keys?.map((k) => (
            <tr key={k.keyId} data-kid={k.keyId}>
              <td>{k.name}</td>
              <td class="mono small">{k.keyId}</td>
              <td>{k.algorithm}</td>
              <td class="small mono">{k.scopes.join(" ") || "*"}</td>
              <td>{k.expiresAt ? fmtDate(k.expiresAt) : "never"}</td>
              <td>{k.lastUsedAt ? fmtDate(k.lastUsedAt) : "never"}</td>
              <td>{k.revokedAt ? fmtDate(k.revokedAt) : "—"}</td>
              <td>
                {admin && !k.revokedAt && (
                  <button type="button" class="link" aria-label={`Revoke public key ${k.name}`} onClick={() => void revoke(k)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Capabilities, enable/disable and delete of a service account (UpdateServiceAccount, DeleteServiceAccount). */
function EditServiceAccount({ account, onDone }: { account: ServiceAccount; onDone: (message: string) => void }) {
  const [caps, setCaps] = useState<Caps>(pickCaps(account));
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState("");
  const run = async (fn: () => Promise<string>) => {
    setError("");
    try {
      onDone(await fn());
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form
      class="filters inline"
      aria-label={`Edit ${account.name}`}
      onSubmit={(e) => {
        e.preventDefault();
        void run(async () => {
          await api.serviceAccounts.updateServiceAccount({ id: account.id, ...caps });
          return `Saved ${account.name}.`;
        });
      }}
    >
      <CapsChecks value={caps} onChange={setCaps} />
      <button type="submit">Save</button>
      <button
        type="button"
        onClick={() =>
          void run(async () => {
            await api.serviceAccounts.updateServiceAccount({ id: account.id, isActive: !account.isActive });
            return `${account.isActive ? "Disabled" : "Enabled"} ${account.name}.`;
          })
        }
      >
        {account.isActive ? "Disable" : "Enable"}
      </button>
      {confirm ? (
        <button
          type="button"
          class="danger"
          onClick={() =>
            void run(async () => {
              await api.serviceAccounts.deleteServiceAccount({ id: account.id });
              return `Deleted ${account.name}; its API keys are revoked.`;
            })
          }
        >
          Delete {account.name} and revoke its keys
        </button>
      ) : (
        <button type="button" class="link" onClick={() => setConfirm(true)}>
          Delete…
        </button>
      )}
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

function ServiceAccounts({ catalog }: { catalog?: Catalog }) {
  const me = currentSession()?.user;
  const [accounts, setAccounts] = useState<ServiceAccount[]>([]);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [open, setOpen] = useState("");
  const load = () =>
    api.serviceAccounts.listServiceAccounts({ pageSize: 200 }).then(
      (r) => setAccounts(r.serviceAccounts),
      (e: unknown) => setError(describeError(e)),
    );
  useEffect(() => void load(), []);
  const done = (msg: string) => {
    setOpen("");
    setNotice(msg);
    void load();
  };
  return (
    <div>
      <h2>Service accounts</h2>
      {error && <p class="error">{error}</p>}
      {notice && <p class="notice">{notice}</p>}
      {may(me, "admin", isSuperuser(me) ? undefined : me?.organizationId) && (
        <button type="button" class="link" onClick={() => setOpen(open === "new" ? "" : "new")}>
          New service account…
        </button>
      )}
      {open === "new" && <NewServiceAccount catalog={catalog} onDone={(a) => done(`Created ${a.name}.`)} />}
      <table class="grid" data-testid="service-accounts">
        <thead>
          <tr>
            <th>Name</th>
            <th>Description</th>
            <th>Organization</th>
            <th>Capabilities</th>
            <th>Active</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {accounts.map((a) => [
            <tr key={a.id} data-service-account={a.name}>
              <td>{a.name}</td>
              <td class="small">{a.description}</td>
              <td>{catalog?.orgName(a.organizationId)}</td>
              <td class="small">{capsText(a)}</td>
              <td>{a.isActive ? "yes" : "no"}</td>
              <td>
                <button type="button" class="link" aria-label={`API keys of ${a.name}`} onClick={() => setOpen(open === `k:${a.id}` ? "" : `k:${a.id}`)}>
                  API keys
                </button>
                <button type="button" class="link" aria-label={`Public keys of ${a.name}`} onClick={() => setOpen(open === `p:${a.id}` ? "" : `p:${a.id}`)}>
                  Public keys
                </button>
                {may(me, "admin", a.organizationId) && (
                  <button type="button" class="link" aria-label={`Edit ${a.name}…`} onClick={() => setOpen(open === `e:${a.id}` ? "" : `e:${a.id}`)}>
                    Edit…
                  </button>
                )}
              </td>
            </tr>,
            open === `k:${a.id}` && (
              <tr key={`${a.id}-keys`}>
                <td colSpan={6}>
                  <ApiKeys account={a} />
                </td>
              </tr>
            ),
            open === `p:${a.id}` && (
              <tr key={`${a.id}-public-keys`}>
                <td colSpan={6}>
                  <PublicKeys account={a} />
                </td>
              </tr>
            ),
            open === `e:${a.id}` && (
              <tr key={`${a.id}-edit`}>
                <td colSpan={6}>
                  <EditServiceAccount account={a} onDone={done} />
                </td>
              </tr>
            ),
          ])}
        </tbody>
      </table>
    </div>
  );
}

/**
 * Login sessions (AuthService.ListSessions, RevokeSession): your own, and an
 * organization's for its admins. Revoking one ends its refresh-token family
 * and access tokens; revoking your current one logs you out.
 */
function Sessions({ catalog }: { catalog?: Catalog }) {
  const me = currentSession()?.user;
  const orgs = (catalog?.organizations ?? []).filter((o) => may(me, "admin", o.id));
  const [org, setOrg] = useState("");
  const [items, setItems] = useState<LoginSession[] | undefined>();
  const [error, setError] = useState("");
  const load = () =>
    api.auth.listSessions({ organizationId: org, pageSize: 200 }).then(
      (r) => setItems(r.sessions),
      (e: unknown) => setError(describeError(e)),
    );
  useEffect(() => void load(), [org]);
  const revoke = async (s: LoginSession) => {
    setError("");
    try {
      await api.auth.revokeSession({ sessionId: s.id });
      void load();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <div>
      <h2>Sessions</h2>
      {orgs.length > 0 && (
        <div class="filters">
          <select name="sessionsOf" aria-label="Sessions of" value={org} onChange={(e) => setOrg(e.currentTarget.value)}>
            <option value="">your own</option>
            {orgs.map((o) => (
              <option key={o.id} value={o.id}>
                everyone in {o.name}
              </option>
            ))}
          </select>
        </div>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="grid" data-testid="sessions">
        <thead>
          <tr>
            <th>User</th>
            <th>Client</th>
            <th>Address</th>
            <th>Started</th>
            <th>Last used</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items?.map((x) => (
            <tr key={x.id} data-session={x.id} class={x.current ? "current" : ""}>
              <td>
                {x.username}
                {x.current && <span class="badge valid">this session</span>}
              </td>
              <td class="small">{x.client || "—"}</td>
              <td class="mono small">{x.clientAddress || "—"}</td>
              <td class="small">{fmtDate(x.createdAt)}</td>
              <td class="small">{fmtDate(x.lastUsedAt)}</td>
              <td class="small">{fmtDate(x.expiresAt)}</td>
              <td>
                {!x.current && (
                  <button type="button" class="link" aria-label={`Revoke session ${x.id}`} onClick={() => void revoke(x)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function People() {
  const { catalog } = useCatalog();
  return (
    <section>
      <Users catalog={catalog} />
      <ServiceAccounts catalog={catalog} />
      <Sessions catalog={catalog} />
    </section>
  );
}
