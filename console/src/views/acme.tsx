import { useEffect, useState } from "preact/hooks";
import { AcmeCertificateKind, ChallengeType, type AcmeAccount, type AcmeDirectory, type AcmeOrder, type AcmeProfile, type EabKey } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { CertificateAuthorityStatus } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { api, currentSession, fmtDate, isSuperuser, may } from "../api.js";
import { describeError } from "../errors.js";
import { reloadCatalog, useCatalog, type Catalog } from "../catalog.js";
import { linkProps } from "../router.js";
import { splitList } from "../format.js";
import { RenewalCampaignScope } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import { CampaignForm } from "./campaign.js";

// RFC 8555 §8, RFC 8737, and the two opt-in drafts (proto/sigil/admin/v1/acme.proto ChallengeType)
const CHALLENGES: [ChallengeType, string][] = [
  [ChallengeType.HTTP_01, "http-01"],
  [ChallengeType.DNS_01, "dns-01"],
  [ChallengeType.TLS_ALPN_01, "tls-alpn-01"],
  [ChallengeType.DNS_ACCOUNT_01, "dns-account-01"],
  [ChallengeType.DNS_PERSIST_01, "dns-persist-01"],
];
const DEFAULT_CHALLENGES = [ChallengeType.HTTP_01, ChallengeType.DNS_01, ChallengeType.TLS_ALPN_01];
const KINDS: [AcmeCertificateKind, string][] = [
  [AcmeCertificateKind.SERVER, "server"],
  [AcmeCertificateKind.CLIENT, "client"],
  [AcmeCertificateKind.DUAL, "dual"],
];
const kindName = (k: AcmeCertificateKind) => KINDS.find(([v]) => v === k)?.[1] ?? "server";
// the shipped presets (src/policy/profiles.ts PROFILE_PRESETS)
const PRESETS = ["classic", "tlsserver", "tlsclient", "shortlived"];
const DAY = 86_400;

/** Issuing CAs a directory may use: active, allowed to sign leaves, in its organization. */
function issuingCas(catalog: Catalog | undefined, organizationId: string) {
  return (catalog?.cas ?? []).filter((c) => c.organizationId === organizationId && c.allowLeafCerts && c.status === CertificateAuthorityStatus.ACTIVE);
}

const lines = (xs: string[]) => xs.join("\n");

/** UpdateAcmeDirectory: the directory's policy (an organization admin's). Lists replace the directory's as a whole. */
function EditPolicy({ dir, catalog, onDone }: { dir: AcmeDirectory; catalog?: Catalog; onDone: () => void }) {
  const [f, setF] = useState({
    caId: dir.caId,
    eab: dir.eabRequired,
    dns: lines(dir.allowedDnsSuffixes),
    ips: lines(dir.allowedIpRanges),
    challenges: dir.challengeTypes.length ? dir.challengeTypes : DEFAULT_CHALLENGES,
    days: String(dir.maxValidityDays || ""),
    kind: String(dir.certificateKind || AcmeCertificateKind.SERVER),
    caa: dir.caaEnabled,
    caaIds: lines(dir.caaIdentities),
    networks: lines(dir.validationAllowedNetworks),
    tos: dir.termsOfServiceUrl,
    defaultProfile: dir.defaultProfile,
  });
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const toggle = (t: ChallengeType, on: boolean) => setF({ ...f, challenges: on ? [...f.challenges.filter((x) => x !== t), t].sort() : f.challenges.filter((x) => x !== t) });
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    setBusy(true);
    try {
      await api.acme.updateAcmeDirectory({
        id: dir.id,
        caId: f.caId,
        eabRequired: f.eab,
        allowedDnsSuffixes: { values: splitList(f.dns) },
        allowedIpRanges: { values: splitList(f.ips) },
        challengeTypes: { values: f.challenges },
        maxValidityDays: Number(f.days || 0),
        certificateKind: Number(f.kind),
        caaIdentities: { values: splitList(f.caaIds) },
        caaEnabled: f.caa,
        validationAllowedNetworks: { values: splitList(f.networks) },
        termsOfServiceUrl: f.tos.trim(),
        ...(f.defaultProfile !== dir.defaultProfile ? { defaultProfile: f.defaultProfile } : {}),
      });
      onDone();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel policy" aria-label={`Policy of ${dir.name}`} onSubmit={submit}>
      <label>
        Issuing CA
        <select name="caId" value={f.caId} onChange={(e) => setF({ ...f, caId: e.currentTarget.value })}>
          {issuingCas(catalog, dir.organizationId).map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Certificate kind
        <select name="kind" value={f.kind} onChange={(e) => setF({ ...f, kind: e.currentTarget.value })}>
          {KINDS.map(([v, n]) => (
            <option key={v} value={String(v)}>
              {n}
            </option>
          ))}
        </select>
      </label>
      <label>
        Maximum validity (days; empty: the server's)
        <input name="maxValidityDays" type="number" min="0" value={f.days} onInput={(e) => setF({ ...f, days: e.currentTarget.value })} />
      </label>
      <label>
        Default profile
        <select name="defaultProfile" value={f.defaultProfile} onChange={(e) => setF({ ...f, defaultProfile: e.currentTarget.value })}>
          {dir.profiles.map((p) => (
            <option key={p.id} value={p.name}>
              {p.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Allowed DNS suffixes (one a line; empty: any name)
        <textarea name="allowedDnsSuffixes" rows={3} value={f.dns} onInput={(e) => setF({ ...f, dns: e.currentTarget.value })} />
      </label>
      <label>
        Allowed IP ranges (CIDR; empty: none)
        <textarea name="allowedIpRanges" rows={3} value={f.ips} onInput={(e) => setF({ ...f, ips: e.currentTarget.value })} />
      </label>
      <label>
        CAA identities (issuer domain names, RFC 8659)
        <textarea name="caaIdentities" rows={2} value={f.caaIds} onInput={(e) => setF({ ...f, caaIds: e.currentTarget.value })} />
      </label>
      <label>
        Validation networks (CIDRs, "public", "private"; empty: the server's)
        <textarea name="validationAllowedNetworks" rows={2} value={f.networks} onInput={(e) => setF({ ...f, networks: e.currentTarget.value })} />
      </label>
      <label>
        Terms of service URL
        <input name="termsOfServiceUrl" value={f.tos} onInput={(e) => setF({ ...f, tos: e.currentTarget.value })} />
      </label>
      <fieldset>
        <legend>Challenge types</legend>
        {CHALLENGES.map(([t, n]) => (
          <label key={t} class="toggle">
            <input type="checkbox" name={n} checked={f.challenges.includes(t)} onChange={(e) => toggle(t, e.currentTarget.checked)} /> {n}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Checks</legend>
        <label class="toggle">
          <input type="checkbox" name="eabRequired" checked={f.eab} onChange={(e) => setF({ ...f, eab: e.currentTarget.checked })} /> EAB required (RFC 8555 §7.3.4)
        </label>
        <label class="toggle">
          <input type="checkbox" name="caaEnabled" checked={f.caa} onChange={(e) => setF({ ...f, caa: e.currentTarget.checked })} /> CAA checked (RFC 8659)
        </label>
      </fieldset>
      <div class="actions">
        <button type="submit" disabled={busy}>
          Save policy
        </button>
        {error && (
          <span class="error" role="alert">
            {error}
          </span>
        )}
      </div>
    </form>
  );
}

interface ProfileForm {
  name: string;
  preset: string;
  description: string;
  kind: string;
  days: string;
  maxIdentifiers: string;
  types: { dns: boolean; ip: boolean };
  cn: boolean;
}

function profileForm(p?: AcmeProfile): ProfileForm {
  return {
    name: p?.name ?? "",
    preset: "classic",
    description: p?.description ?? "",
    kind: String(p?.certificateKind || ""),
    days: p ? String(+(p.maxValiditySeconds / DAY).toFixed(3)) : "",
    maxIdentifiers: p ? String(p.maxIdentifiers) : "",
    types: { dns: p ? p.identifierTypes.includes("dns") : true, ip: p ? p.identifierTypes.includes("ip") : false },
    cn: p?.includeCommonName ?? true,
  };
}

/** CreateAcmeProfile (from a preset) or UpdateAcmeProfile (draft-ietf-acme-profiles-00); the directory's rules stay the outer bound. */
function ProfileEditor({ dir, profile, onDone }: { dir: AcmeDirectory; profile?: AcmeProfile; onDone: (msg: string) => void }) {
  const [f, setF] = useState<ProfileForm>(profileForm(profile));
  const [error, setError] = useState("");
  const types = () => [...(f.types.dns ? ["dns"] : []), ...(f.types.ip ? ["ip"] : [])];
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    const seconds = Math.round(Number(f.days || 0) * DAY);
    try {
      if (profile) {
        await api.acme.updateAcmeProfile({
          id: profile.id,
          description: f.description.trim(),
          ...(f.kind ? { certificateKind: Number(f.kind) } : {}),
          ...(seconds ? { maxValiditySeconds: seconds } : {}),
          ...(f.maxIdentifiers ? { maxIdentifiers: Number(f.maxIdentifiers) } : {}),
          identifierTypes: { values: types() },
          includeCommonName: f.cn,
        });
        onDone(`Saved profile ${profile.name}.`);
      } else {
        await api.acme.createAcmeProfile({
          directoryId: dir.id,
          name: f.name.trim(),
          preset: f.preset,
          description: f.description.trim(),
          certificateKind: Number(f.kind || 0),
          maxValiditySeconds: seconds,
          maxIdentifiers: Number(f.maxIdentifiers || 0),
          identifierTypes: types(),
          includeCommonName: f.cn,
        });
        onDone(`Created profile ${f.name.trim()}.`);
      }
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form class="filters inline" aria-label={profile ? `Edit profile ${profile.name}` : `New profile for ${dir.name}`} onSubmit={submit}>
      {!profile && <input name="name" placeholder="Profile name" required value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} />}
      {!profile && (
        <select name="preset" aria-label="Preset" value={f.preset} onChange={(e) => setF({ ...f, preset: e.currentTarget.value })}>
          {PRESETS.map((p) => (
            <option key={p} value={p}>
              preset {p}
            </option>
          ))}
        </select>
      )}
      <input name="description" placeholder="Description" value={f.description} onInput={(e) => setF({ ...f, description: e.currentTarget.value })} />
      <select name="kind" aria-label="Kind" value={f.kind} onChange={(e) => setF({ ...f, kind: e.currentTarget.value })}>
        {!profile && <option value="">kind of the preset</option>}
        {KINDS.map(([v, n]) => (
          <option key={v} value={String(v)}>
            {n}
          </option>
        ))}
      </select>
      <input name="validityDays" type="number" min="0" step="any" placeholder="Validity (days)" aria-label="Validity (days)" value={f.days} onInput={(e) => setF({ ...f, days: e.currentTarget.value })} />
      <input name="maxIdentifiers" type="number" min="0" placeholder="Max identifiers" aria-label="Max identifiers" value={f.maxIdentifiers} onInput={(e) => setF({ ...f, maxIdentifiers: e.currentTarget.value })} />
      <label class="toggle">
        <input type="checkbox" name="dns" checked={f.types.dns} onChange={(e) => setF({ ...f, types: { ...f.types, dns: e.currentTarget.checked } })} /> dns
      </label>
      <label class="toggle">
        <input type="checkbox" name="ip" checked={f.types.ip} onChange={(e) => setF({ ...f, types: { ...f.types, ip: e.currentTarget.checked } })} /> ip
      </label>
      <label class="toggle">
        <input type="checkbox" name="includeCommonName" checked={f.cn} onChange={(e) => setF({ ...f, cn: e.currentTarget.checked })} /> subject CN
      </label>
      <button type="submit">{profile ? "Save profile" : "Create profile"}</button>
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

function Profiles({ dir, onChange }: { dir: AcmeDirectory; onChange: () => void }) {
  const admin = may(currentSession()?.user, "admin", dir.organizationId);
  const [open, setOpen] = useState("");
  const [notice, setNotice] = useState("");
  const [error, setError] = useState("");
  const done = (msg: string) => {
    setOpen("");
    setNotice(msg);
    onChange();
  };
  const remove = async (p: AcmeProfile) => {
    setError("");
    try {
      await api.acme.deleteAcmeProfile({ id: p.id });
      done(`Deleted profile ${p.name}.`);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <div data-testid={`profiles-${dir.name}`}>
      <h4>Profiles</h4>
      {notice && <p class="notice">{notice}</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="grid">
        <thead>
          <tr>
            <th>Name</th>
            <th>Description</th>
            <th>Kind</th>
            <th>Validity</th>
            <th>Identifiers</th>
            <th>Subject CN</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {dir.profiles.map((p) => [
            <tr key={p.id} data-profile={p.name}>
              <td>
                {p.name} {p.isDefault || p.name === dir.defaultProfile ? <span class="badge">default</span> : null}
              </td>
              <td class="small">{p.description}</td>
              <td>{kindName(p.certificateKind)}</td>
              <td>{+(p.maxValiditySeconds / DAY).toFixed(2)} days</td>
              <td>
                {p.identifierTypes.join(", ")} · at most {p.maxIdentifiers}
              </td>
              <td>{p.includeCommonName ? "yes" : "no"}</td>
              <td>
                {admin && (
                  <button type="button" class="link" aria-label={`Edit profile ${p.name}…`} onClick={() => setOpen(open === p.id ? "" : p.id)}>
                    Edit…
                  </button>
                )}
                {admin && !(p.isDefault || p.name === dir.defaultProfile) && (
                  <button type="button" class="link" aria-label={`Delete profile ${p.name}`} onClick={() => void remove(p)}>
                    Delete
                  </button>
                )}
              </td>
            </tr>,
            open === p.id && (
              <tr key={`${p.id}-edit`}>
                <td colSpan={7}>
                  <ProfileEditor dir={dir} profile={p} onDone={done} />
                </td>
              </tr>
            ),
          ])}
        </tbody>
      </table>
      {admin && (
        <button type="button" class="link" onClick={() => setOpen(open === "new" ? "" : "new")}>
          New profile…
        </button>
      )}
      {open === "new" && <ProfileEditor dir={dir} onDone={done} />}
    </div>
  );
}

/** CreateAcmeDirectory: name, organization, issuing CA, EAB and the default profile. */
function NewDirectory({ catalog, onDone }: { catalog?: Catalog; onDone: (d: AcmeDirectory) => void }) {
  const me = currentSession()?.user;
  const [f, setF] = useState({ name: "", org: me?.organizationId ?? "", caId: "", eab: true, dns: "", preset: "classic" });
  const [error, setError] = useState("");
  const orgs = (catalog?.organizations ?? []).filter((o) => may(me, "admin", o.id));
  const cas = issuingCas(catalog, f.org);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      const r = await api.acme.createAcmeDirectory({
        name: f.name.trim(),
        organizationId: f.org,
        caId: f.caId || cas[0]?.id || "",
        eabRequired: f.eab,
        allowedDnsSuffixes: splitList(f.dns),
        defaultProfile: f.preset,
      });
      if (r.directory) onDone(r.directory);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form class="filters inline" aria-label="New ACME directory" onSubmit={submit}>
      <input name="name" placeholder="Directory name (URL segment)" required value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} />
      {isSuperuser(me) && (
        <select name="organization" aria-label="Organization" value={f.org} onChange={(e) => setF({ ...f, org: e.currentTarget.value, caId: "" })}>
          <option value="">organization…</option>
          {orgs.map((o) => (
            <option key={o.id} value={o.id}>
              {o.name}
            </option>
          ))}
        </select>
      )}
      <select name="caId" aria-label="Issuing CA" value={f.caId || cas[0]?.id || ""} onChange={(e) => setF({ ...f, caId: e.currentTarget.value })}>
        {cas.map((c) => (
          <option key={c.id} value={c.id}>
            {c.name}
          </option>
        ))}
      </select>
      <input name="allowedDnsSuffixes" placeholder="Allowed DNS suffixes" value={f.dns} onInput={(e) => setF({ ...f, dns: e.currentTarget.value })} />
      <select name="defaultProfile" aria-label="Default profile" value={f.preset} onChange={(e) => setF({ ...f, preset: e.currentTarget.value })}>
        {PRESETS.map((p) => (
          <option key={p} value={p}>
            default {p}
          </option>
        ))}
      </select>
      <label class="toggle">
        <input type="checkbox" name="eabRequired" checked={f.eab} onChange={(e) => setF({ ...f, eab: e.currentTarget.checked })} /> EAB required
      </label>
      <button type="submit">Create directory</button>
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

const ACCOUNT_STATUS = ["", "valid", "deactivated", "revoked"];
// RFC 8555 §7.1.6 order statuses
const ORDER_STATUS = ["", "pending", "ready", "processing", "valid", "invalid"];

/** The directory's accounts and its 25 most recent orders (ListAcmeAccounts, ListAcmeOrders). */
function AccountsAndOrders({ dir }: { dir: AcmeDirectory }) {
  const [accounts, setAccounts] = useState<AcmeAccount[] | undefined>();
  const [orders, setOrders] = useState<AcmeOrder[] | undefined>();
  const [error, setError] = useState("");
  const admin = may(currentSession()?.user, "admin", dir.organizationId);
  const loadAccounts = () =>
    api.acme.listAcmeAccounts({ directoryId: dir.id, pageSize: 50 }).then(
      (r) => setAccounts(r.accounts),
      (e: unknown) => setError(describeError(e)),
    );
  // RFC 8555 §7.3.6, by the operator: the account's key can no longer act
  const deactivate = async (a: AcmeAccount) => {
    setError("");
    try {
      await api.acme.deactivateAcmeAccount({ id: a.id });
      void loadAccounts();
    } catch (err) {
      setError(describeError(err));
    }
  };
  useEffect(() => {
    void loadAccounts();
    api.acme.listAcmeOrders({ directoryId: dir.id, pageSize: 25 }).then(
      (r) => setOrders(r.orders),
      (e: unknown) => setError(describeError(e)),
    );
  }, [dir.id]);
  return (
    <div>
      {error && <p class="error">{error}</p>}
      <h4>Accounts</h4>
      <table class="grid">
        <thead>
          <tr>
            <th>Account</th>
            <th>Status</th>
            <th>Contacts</th>
            <th>EAB key</th>
            <th>Created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {accounts?.map((a) => (
            <tr key={a.id} data-account={a.id}>
              <td class="mono small">{a.id}</td>
              <td>{ACCOUNT_STATUS[a.status] ?? "?"}</td>
              <td>{a.contacts.join(", ") || "—"}</td>
              <td class="mono small">{a.eabKeyId || "—"}</td>
              <td>{fmtDate(a.createdAt)}</td>
              <td>
                {admin && a.status === 1 && (
                  <button type="button" class="link" aria-label={`Deactivate account ${a.id}`} onClick={() => void deactivate(a)}>
                    Deactivate
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Recent orders</h4>
      <table class="grid">
        <thead>
          <tr>
            <th>Identifiers</th>
            <th>Status</th>
            <th>Profile</th>
            <th>Created</th>
            <th>Certificate</th>
          </tr>
        </thead>
        <tbody>
          {orders?.map((o) => (
            <tr key={o.id}>
              <td>{o.identifiers.map((i) => i.value).join(", ")}</td>
              <td>
                {ORDER_STATUS[o.status] ?? "?"}
                {o.error ? <span class="muted small"> {o.error}</span> : null}
              </td>
              <td>{o.profile || "—"}</td>
              <td>{fmtDate(o.createdAt)}</td>
              <td>{o.certificateId ? <a {...linkProps(`certificates/${o.certificateId}`)}>view</a> : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function EabKeys({ dir }: { dir: AcmeDirectory }) {
  const admin = may(currentSession()?.user, "admin", dir.organizationId);
  const [keys, setKeys] = useState<EabKey[] | undefined>();
  const [created, setCreated] = useState<{ kid: string; hmac: string } | undefined>();
  const [description, setDescription] = useState("");
  const [error, setError] = useState("");
  const load = () =>
    api.acme.listEabKeys({ directoryId: dir.id, includeRevoked: true, pageSize: 100 }).then(
      (r) => setKeys(r.eabKeys),
      (e: unknown) => setError(describeError(e)),
    );
  useEffect(() => void load(), [dir.id]);
  const create = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      const r = await api.acme.createEabKey({ directoryId: dir.id, description: description.trim() || "created in the console" });
      setCreated({ kid: r.eabKey?.kid ?? "", hmac: r.hmacKey });
      setDescription("");
      void load();
    } catch (err) {
      setError(describeError(err));
    }
  };
  const revoke = async (k: EabKey) => {
    setError("");
    try {
      await api.acme.revokeEabKey({ id: k.id });
      void load();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <div>
      <h4>EAB keys</h4>
      {error && <p class="error">{error}</p>}
      {created && (
        <div class="notice" data-testid="eab-once">
          New key <span class="mono">{created.kid}</span>, HMAC (shown once), base64url as RFC 8555 §7.3.4 clients take it: <div class="mono secret">{created.hmac}</div>
          <button type="button" class="link" onClick={() => setCreated(undefined)}>
            Done
          </button>
        </div>
      )}
      {admin && (
        <form class="filters inline" aria-label={`New EAB key for ${dir.name}`} onSubmit={create}>
          <input name="description" placeholder="Description (who gets it)" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
          <button type="submit">Create EAB key</button>
        </form>
      )}
      <table class="grid">
        <thead>
          <tr>
            <th>Key id</th>
            <th>Description</th>
            <th>Created</th>
            <th>Used</th>
            <th>Revoked</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {keys?.map((k) => (
            <tr key={k.id} data-kid={k.kid}>
              <td class="mono">{k.kid}</td>
              <td>{k.description}</td>
              <td>{fmtDate(k.createdAt)}</td>
              <td>{k.usedAt ? fmtDate(k.usedAt) : "—"}</td>
              <td>{k.revokedAt ? fmtDate(k.revokedAt) : "—"}</td>
              <td>
                {admin && !k.revokedAt && (
                  <button type="button" class="link" aria-label={`Revoke EAB key ${k.kid}`} onClick={() => void revoke(k)}>
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

export function AcmeDirectories() {
  const me = currentSession()?.user;
  const { catalog } = useCatalog();
  const [dirs, setDirs] = useState<AcmeDirectory[] | undefined>();
  const [open, setOpen] = useState("");
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const load = () =>
    api.acme.listAcmeDirectories({ pageSize: 200 }).then(
      (r) => setDirs(r.directories),
      (e: unknown) => setError(describeError(e)),
    );
  useEffect(() => void load(), []);
  const toggle = (key: string) => setOpen(open === key ? "" : key);
  const canCreate = may(me, "admin", isSuperuser(me) ? undefined : me?.organizationId);
  return (
    <section>
      <h2>ACME directories</h2>
      {error && <p class="error">{error}</p>}
      {notice && <p class="notice">{notice}</p>}
      {canCreate && (
        <button type="button" class="link" onClick={() => toggle("new")}>
          New directory…
        </button>
      )}
      {open === "new" && (
        <NewDirectory
          catalog={catalog}
          onDone={(d) => {
            setNotice(`Created directory ${d.name}: ${d.directoryUrl}`);
            setOpen("");
            reloadCatalog();
            void load();
          }}
        />
      )}
      {dirs?.length === 0 && <p class="muted">No ACME directory.</p>}
      {dirs?.map((d) => (
        <article key={d.id} class="card" data-directory={d.name}>
          <h3>
            {d.name} <small class="muted">{catalog?.orgName(d.organizationId)}</small>
          </h3>
          <p class="mono small">{d.directoryUrl}</p>
          <p data-testid="policy">
            CA {catalog?.caName(d.caId)} · {kindName(d.certificateKind)} · EAB {d.eabRequired ? "required" : "optional"} · max{" "}
            {d.maxValidityDays ? `${d.maxValidityDays} days` : "server default"} · CAA {d.caaEnabled ? "checked" : "off"} · challenges{" "}
            {(d.challengeTypes.length ? d.challengeTypes : DEFAULT_CHALLENGES).map((t) => CHALLENGES.find(([v]) => v === t)?.[1] ?? "?").join(", ")}
          </p>
          <p>DNS suffixes: {d.allowedDnsSuffixes.length > 0 ? d.allowedDnsSuffixes.join(", ") : "any name"}</p>
          <p>IP ranges: {d.allowedIpRanges.length > 0 ? d.allowedIpRanges.join(", ") : "none"}</p>
          {d.caaIdentities.length > 0 && <p>CAA identities: {d.caaIdentities.join(", ")}</p>}
          <p>
            Profiles:{" "}
            {d.profiles.map((p) => (
              <span key={p.id} class="badge">
                {p.name}
                {p.isDefault || p.name === d.defaultProfile ? " (default)" : ""}
              </span>
            ))}
          </p>
          {may(me, "admin", d.organizationId) && (
            <button type="button" class="link" onClick={() => toggle(`p:${d.id}`)}>
              {open === `p:${d.id}` ? "Close policy" : "Edit policy…"}
            </button>
          )}
          <button type="button" class="link" onClick={() => toggle(`pr:${d.id}`)}>
            {open === `pr:${d.id}` ? "Hide profiles" : "Profiles"}
          </button>
          <button type="button" class="link" onClick={() => toggle(d.id)}>
            {open === d.id ? "Hide EAB keys" : "EAB keys"}
          </button>
          <button type="button" class="link" onClick={() => toggle(`ao:${d.id}`)}>
            {open === `ao:${d.id}` ? "Hide accounts and orders" : "Accounts and recent orders"}
          </button>
          {may(me, "admin", d.organizationId) && (
            <button type="button" class="link" onClick={() => toggle(`c:${d.id}`)}>
              Renewal campaign…
            </button>
          )}
          {open === `c:${d.id}` && (
            <CampaignForm
              target={{ scope: RenewalCampaignScope.DIRECTORY, directoryId: d.id, organizationId: d.organizationId, label: `every valid certificate of ${d.name}` }}
              onDone={(m) => {
                setNotice(m);
                setOpen("");
              }}
            />
          )}
          {open === `p:${d.id}` && (
            <EditPolicy
              dir={d}
              catalog={catalog}
              onDone={() => {
                setNotice(`Saved the policy of ${d.name}.`);
                setOpen("");
                void load();
              }}
            />
          )}
          {open === `pr:${d.id}` && <Profiles dir={d} onChange={() => void load()} />}
          {open === d.id && <EabKeys dir={d} />}
          {open === `ao:${d.id}` && <AccountsAndOrders dir={d} />}
        </article>
      ))}
    </section>
  );
}
