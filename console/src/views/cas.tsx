import { useEffect, useState } from "preact/hooks";
import { RenewalCampaignScope } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import type { CertificateAuthority } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateAuthorityStatus } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { api, currentSession, fmtDate, may } from "../api.js";
import { describeError } from "../errors.js";
import { reloadCatalog, useCatalog } from "../catalog.js";
import { KEY, REASON } from "../format.js";
import { decodeCrl, type DecodedCrl } from "../x509.js";
import { CampaignForm } from "./campaign.js";

/**
 * The CA's current CRL as relying parties get it: GET /crl/{id}.crl on this
 * same origin (the public routes are on the HTTPS listener too; no token is
 * sent, none is needed), decoded here (RFC 5280 §5.1: number, thisUpdate,
 * nextUpdate, entries).
 */
function CrlStatus({ ca }: { ca: CertificateAuthority }) {
  const [crl, setCrl] = useState<DecodedCrl | "none" | "unreadable" | undefined>();
  useEffect(() => {
    let live = true;
    fetch(`/crl/${encodeURIComponent(ca.id)}.crl`, { credentials: "omit", redirect: "error" })
      .then(async (r) => {
        if (!r.ok) return "none" as const;
        try {
          return decodeCrl(new Uint8Array(await r.arrayBuffer()));
        } catch {
          return "unreadable" as const;
        }
      })
      .catch(() => "unreadable" as const)
      .then((v) => live && setCrl(v));
    return () => {
      live = false;
    };
  }, [ca.id]);
  if (crl === undefined) return <div class="small muted">CRL …</div>;
  if (crl === "none") return <div class="small muted" data-testid="crl">CRL: none published yet</div>;
  if (crl === "unreadable") return <div class="small warn" data-testid="crl">CRL: could not be read</div>;
  const next = crl.nextUpdate ? new Date(crl.nextUpdate.replace(" UTC", "Z").replace(" ", "T")) : undefined;
  const overdue = next !== undefined && next.getTime() < Date.now();
  return (
    <div class="small" data-testid="crl">
      CRL <a href={`/crl/${ca.id}.crl`} download={`${ca.name}.crl`}>#{crl.number ?? "?"}</a> · {crl.revoked} revoked · issued {crl.thisUpdate} · next update{" "}
      <span class={overdue ? "warn" : ""}>{crl.nextUpdate ?? "—"}</span>
      {overdue ? " (overdue)" : ""}
    </div>
  );
}

const CA_STATUS: Record<number, string> = {
  [CertificateAuthorityStatus.ACTIVE]: "active",
  [CertificateAuthorityStatus.REVOKED]: "revoked",
  [CertificateAuthorityStatus.EXPIRED]: "expired",
};

/** CreateIntermediateCertificateAuthority under `parent` (needs create_ca). */
function NewIntermediate({ parent, onDone }: { parent: CertificateAuthority; onDone: () => void }) {
  const [f, setF] = useState({ name: "", cn: "", key: "1", days: "", leaves: true });
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await api.cas.createIntermediateCertificateAuthority({
        parentId: parent.id,
        name: f.name.trim(),
        subject: { commonName: f.cn.trim() || f.name.trim() },
        keyAlgorithm: Number(f.key),
        validityDays: Number(f.days || 0),
        allowLeafCerts: f.leaves,
      });
      onDone();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="filters inline" aria-label={`New intermediate under ${parent.name}`} onSubmit={submit}>
      <input name="name" placeholder="Name" required value={f.name} onInput={(e) => setF({ ...f, name: e.currentTarget.value })} />
      <input name="commonName" placeholder="Common name (default: the name)" value={f.cn} onInput={(e) => setF({ ...f, cn: e.currentTarget.value })} />
      <select name="key" aria-label="Key" value={f.key} onChange={(e) => setF({ ...f, key: e.currentTarget.value })}>
        {Object.entries(KEY).map(([v, n]) => (
          <option key={v} value={v}>
            {n}
          </option>
        ))}
      </select>
      <input name="validityDays" type="number" min="1" placeholder="Days" value={f.days} onInput={(e) => setF({ ...f, days: e.currentTarget.value })} />
      <label class="toggle">
        <input type="checkbox" name="allowLeafCerts" checked={f.leaves} onChange={(e) => setF({ ...f, leaves: e.currentTarget.checked })} /> issues leaves
      </label>
      <button type="submit" disabled={busy}>
        Create intermediate
      </button>
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

/** RevokeCertificateAuthority (an intermediate; needs revoke_cert): listed on its parent's CRL. */
function RevokeCa({ ca, onDone }: { ca: CertificateAuthority; onDone: () => void }) {
  const [reason, setReason] = useState("0");
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      await api.cas.revokeCertificateAuthority({ id: ca.id, reason: Number(reason) });
      onDone();
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form class="filters inline" aria-label={`Revoke ${ca.name}`} onSubmit={submit}>
      <select name="reason" aria-label="Reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)}>
        {REASON.map(([v, n]) => (
          <option key={v} value={String(v)}>
            {n}
          </option>
        ))}
      </select>
      <button type="submit" class="danger">
        Revoke {ca.name}
      </button>
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

function Node({ ca, children, refresh }: { ca: CertificateAuthority; children: Map<string, CertificateAuthority[]>; refresh: () => void }) {
  const [open, setOpen] = useState<"" | "new" | "revoke" | "campaign">("");
  const [notice, setNotice] = useState("");
  const user = currentSession()?.user;
  const kids = children.get(ca.id) ?? [];
  const active = ca.status === CertificateAuthorityStatus.ACTIVE;
  const done = () => {
    setOpen("");
    refresh();
  };
  return (
    <li>
      <div class="ca" data-ca={ca.name}>
        <strong>{ca.name}</strong> <span class={`badge ${ca.status === 1 ? "valid" : (CA_STATUS[ca.status] ?? "")}`}>{CA_STATUS[ca.status] ?? "?"}</span>
        <span class="muted">
          {" "}
          {ca.parentId ? "intermediate" : "root"} · {KEY[ca.keyAlgorithm] ?? "?"} · until {fmtDate(ca.notAfter)}
          {ca.pathLength !== undefined ? ` · pathlen ${ca.pathLength}` : ""}
          {ca.allowLeafCerts ? " · issues leaves" : ""}
        </span>
        <div class="mono small">{ca.subject}</div>
        <CrlStatus ca={ca} />
        {active && (
          <div class="ca-actions">
            {ca.pathLength !== 0 && may(user, "create_ca", ca.organizationId) && (
              <button type="button" class="link" onClick={() => setOpen(open === "new" ? "" : "new")}>
                New intermediate…
              </button>
            )}
            {ca.parentId && may(user, "revoke_cert", ca.organizationId) && (
              <button type="button" class="link" onClick={() => setOpen(open === "revoke" ? "" : "revoke")}>
                Revoke…
              </button>
            )}
            {ca.allowLeafCerts && may(user, "admin", ca.organizationId) && (
              <button type="button" class="link" onClick={() => setOpen(open === "campaign" ? "" : "campaign")}>
                Renewal campaign…
              </button>
            )}
          </div>
        )}
        {open === "new" && <NewIntermediate parent={ca} onDone={done} />}
        {open === "revoke" && <RevokeCa ca={ca} onDone={done} />}
        {open === "campaign" && (
          <CampaignForm
            target={{ scope: RenewalCampaignScope.CA, caId: ca.id, organizationId: ca.organizationId, label: `every valid leaf of ${ca.name}` }}
            onDone={(m) => {
              setOpen("");
              setNotice(m);
            }}
          />
        )}
        {notice && <p class="notice small">{notice}</p>}
      </div>
      {kids.length > 0 && (
        <ul>
          {kids.map((k) => (
            <Node key={k.id} ca={k} children={children} refresh={refresh} />
          ))}
        </ul>
      )}
    </li>
  );
}

/** Every CA the caller sees, as one tree per organization (parent_id links; an issuer outside Sigil makes a root). */
export function CaTree() {
  const [generation, setGeneration] = useState(0);
  return <Tree key={generation} refresh={() => (reloadCatalog(), setGeneration((g) => g + 1))} />;
}

function Tree({ refresh }: { refresh: () => void }) {
  const { catalog, error } = useCatalog();
  if (error) return <p class="error">{describeError(error)}</p>;
  if (!catalog) return <p class="muted">Loading…</p>;
  const ids = new Set(catalog.cas.map((c) => c.id));
  const children = new Map<string, CertificateAuthority[]>();
  for (const c of catalog.cas) if (c.parentId && ids.has(c.parentId)) children.set(c.parentId, [...(children.get(c.parentId) ?? []), c]);
  const orgIds = [...new Set(catalog.cas.map((c) => c.organizationId))];
  return (
    <section>
      <h2>Certificate authorities</h2>
      {orgIds.map((org) => (
        <div key={org} class="org">
          <h3>{catalog.orgName(org)}</h3>
          <ul class="tree">
            {catalog.cas
              .filter((c) => c.organizationId === org && !(c.parentId && ids.has(c.parentId)))
              .map((c) => (
                <Node key={c.id} ca={c} children={children} refresh={refresh} />
              ))}
          </ul>
        </div>
      ))}
    </section>
  );
}
