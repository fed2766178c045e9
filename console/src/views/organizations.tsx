// Organizations with their slug and typed settings (OrganizationService,
// docs/tenancy.md). Superusers create organizations and change slugs;
// organization admins change their organization's name, description and
// settings (audited with the old and new value by the server).
import { useState } from "preact/hooks";
import { LoginMethod, type Organization } from "../../../src/gen/sigil/admin/v1/organization_pb.js";
import { api, currentSession, isSuperuser, may } from "../api.js";
import { describeError } from "../errors.js";
import { reloadCatalog, useCatalog } from "../catalog.js";
import { KEY } from "../format.js";

const METHOD: Record<number, string> = { [LoginMethod.PASSWORD]: "password", [LoginMethod.SSO]: "SSO" };
const HOUR = 3600;

function EditOrganization({ org, onDone }: { org: Organization; onDone: (msg: string) => void }) {
  const me = currentSession()?.user;
  const st = org.settings;
  const [f, setF] = useState({
    name: org.name,
    description: org.description,
    slug: org.slug,
    defaultDays: String(st?.defaultValidityDays ?? ""),
    maxDays: String(st?.maxValidityDays ?? ""),
    keys: st?.allowedKeyTypes ?? [],
    revoke: st?.revokeCertificatesOnDeactivation ?? true,
    sessionHours: st ? String(Number(st.sessionLifetimeSeconds) / HOUR) : "",
    method: String(st?.requiredLoginMethod || LoginMethod.PASSWORD),
  });
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      await api.organizations.updateOrganization({
        id: org.id,
        ...(f.name.trim() !== org.name ? { name: f.name.trim() } : {}),
        ...(f.description !== org.description ? { description: f.description } : {}),
        ...(isSuperuser(me) && f.slug.trim() !== org.slug ? { slug: f.slug.trim() } : {}),
        settings: {
          defaultValidityDays: Number(f.defaultDays),
          maxValidityDays: Number(f.maxDays),
          allowedKeyTypes: { keyTypes: f.keys },
          revokeCertificatesOnDeactivation: f.revoke,
          sessionLifetimeSeconds: BigInt(Math.round(Number(f.sessionHours) * HOUR)),
          requiredLoginMethod: Number(f.method),
        },
      });
      onDone(`Saved ${f.name.trim()}.`);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form class="panel policy" aria-label={`Settings of ${org.name}`} onSubmit={submit}>
      <label>
        Name
        <input name="name" required value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} />
      </label>
      <label>
        Description
        <input name="description" value={f.description} onInput={(e) => setF({ ...f, description: e.currentTarget.value })} />
      </label>
      {isSuperuser(me) && (
        <label>
          Slug (URL-safe; /acme/{"{slug}"}/{"{directory}"}/directory)
          <input name="slug" value={f.slug} onInput={(e) => setF({ ...f, slug: e.currentTarget.value })} />
        </label>
      )}
      <label>
        Default validity (days)
        <input name="defaultValidityDays" type="number" min="1" value={f.defaultDays} onInput={(e) => setF({ ...f, defaultDays: e.currentTarget.value })} />
      </label>
      <label>
        Maximum validity (days)
        <input name="maxValidityDays" type="number" min="1" value={f.maxDays} onInput={(e) => setF({ ...f, maxDays: e.currentTarget.value })} />
      </label>
      <label>
        Session lifetime (hours)
        <input name="sessionLifetimeHours" type="number" min="0.1" step="any" value={f.sessionHours} onInput={(e) => setF({ ...f, sessionHours: e.currentTarget.value })} />
      </label>
      <label>
        Login method
        <select name="requiredLoginMethod" value={f.method} onChange={(e) => setF({ ...f, method: e.currentTarget.value })}>
          {Object.entries(METHOD).map(([v, n]) => (
            <option key={v} value={v}>
              {n}
            </option>
          ))}
        </select>
      </label>
      <fieldset>
        <legend>Allowed key types (none: any)</legend>
        {Object.entries(KEY).map(([v, n]) => (
          <label key={v} class="toggle">
            <input
              type="checkbox"
              name={`key-${v}`}
              checked={f.keys.includes(Number(v))}
              onChange={(e) => setF({ ...f, keys: e.currentTarget.checked ? [...f.keys, Number(v)] : f.keys.filter((k) => k !== Number(v)) })}
            />{" "}
            {n}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Leavers</legend>
        <label class="toggle">
          <input type="checkbox" name="revokeOnDeactivation" checked={f.revoke} onChange={(e) => setF({ ...f, revoke: e.currentTarget.checked })} /> revoke a deactivated user's
          certificates (affiliationChanged)
        </label>
      </fieldset>
      <div class="actions">
        <button type="submit">Save settings</button>
        {error && (
          <span class="error" role="alert">
            {error}
          </span>
        )}
      </div>
    </form>
  );
}

function NewOrganization({ onDone }: { onDone: (msg: string) => void }) {
  const [f, setF] = useState({ name: "", slug: "", description: "" });
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      const r = await api.organizations.createOrganization({ name: f.name.trim(), slug: f.slug.trim(), description: f.description.trim() });
      onDone(`Created ${r.organization?.name ?? f.name} (slug ${r.organization?.slug ?? ""}).`);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form class="filters inline" aria-label="New organization" onSubmit={submit}>
      <input name="name" placeholder="Name" required value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} />
      <input name="slug" placeholder="Slug (empty: from the name)" value={f.slug} onInput={(e) => setF({ ...f, slug: e.currentTarget.value })} />
      <input name="description" placeholder="Description" value={f.description} onInput={(e) => setF({ ...f, description: e.currentTarget.value })} />
      <button type="submit">Create organization</button>
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

export function Organizations() {
  const [generation, setGeneration] = useState(0);
  return <List key={generation} reload={() => (reloadCatalog(), setGeneration((g) => g + 1))} />;
}

function List({ reload }: { reload: () => void }) {
  const me = currentSession()?.user;
  const { catalog, error } = useCatalog();
  const [open, setOpen] = useState("");
  const [notice, setNotice] = useState("");
  const done = (msg: string) => {
    setNotice(msg);
    setOpen("");
    reload();
  };
  if (error) return <p class="error">{describeError(error)}</p>;
  return (
    <section>
      <h2>Organizations</h2>
      {notice && <p class="notice">{notice}</p>}
      {isSuperuser(me) && (
        <button type="button" class="link" onClick={() => setOpen(open === "new" ? "" : "new")}>
          New organization…
        </button>
      )}
      {open === "new" && <NewOrganization onDone={done} />}
      <table class="grid" data-testid="organizations">
        <thead>
          <tr>
            <th>Name</th>
            <th>Slug</th>
            <th>Validity (default / max)</th>
            <th>Key types</th>
            <th>Leavers' certificates</th>
            <th>Session</th>
            <th>Login</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {catalog?.organizations.map((o) => [
            <tr key={o.id} data-organization={o.name}>
              <td>
                {o.name}
                {o.description && <div class="small muted">{o.description}</div>}
              </td>
              <td class="mono">{o.slug}</td>
              <td>
                {o.settings?.defaultValidityDays} / {o.settings?.maxValidityDays} days
              </td>
              <td class="small">{o.settings?.allowedKeyTypes.map((k) => KEY[k]).join(", ") || "any"}</td>
              <td>{o.settings?.revokeCertificatesOnDeactivation ? "revoked" : "kept"}</td>
              <td>{o.settings ? `${+(Number(o.settings.sessionLifetimeSeconds) / HOUR).toFixed(2)} h` : "—"}</td>
              <td>{METHOD[o.settings?.requiredLoginMethod ?? 0] ?? "password"}</td>
              <td>
                {may(me, "admin", o.id) && (
                  <button type="button" class="link" aria-label={`Settings of ${o.name}…`} onClick={() => setOpen(open === o.id ? "" : o.id)}>
                    Settings…
                  </button>
                )}
              </td>
            </tr>,
            open === o.id && (
              <tr key={`${o.id}-edit`}>
                <td colSpan={8}>
                  <EditOrganization org={o} onDone={done} />
                </td>
              </tr>
            ),
          ])}
        </tbody>
      </table>
    </section>
  );
}
