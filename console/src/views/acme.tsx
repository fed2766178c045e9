import { useEffect, useState } from "preact/hooks";
import type { AcmeAccount, AcmeDirectory, AcmeOrder, EabKey } from "../../../src/gen/sigil/admin/v1/acme_pb.js";
import { api, currentSession, fmtDate, isAdmin } from "../api.js";
import { describeError } from "../errors.js";
import { useCatalog } from "../catalog.js";
import { linkProps } from "../router.js";

const ACCOUNT_STATUS = ["", "valid", "deactivated", "revoked"];
// RFC 8555 §7.1.6 order statuses
const ORDER_STATUS = ["", "pending", "ready", "processing", "valid", "invalid"];

/** The directory's accounts and its 25 most recent orders (ListAcmeAccounts, ListAcmeOrders). */
function AccountsAndOrders({ dir }: { dir: AcmeDirectory }) {
  const [accounts, setAccounts] = useState<AcmeAccount[] | undefined>();
  const [orders, setOrders] = useState<AcmeOrder[] | undefined>();
  const [error, setError] = useState("");
  useEffect(() => {
    api.acme.listAcmeAccounts({ directoryId: dir.id, pageSize: 50 }).then(
      (r) => setAccounts(r.accounts),
      (e: unknown) => setError(describeError(e)),
    );
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
          </tr>
        </thead>
        <tbody>
          {accounts?.map((a) => (
            <tr key={a.id}>
              <td class="mono small">{a.id}</td>
              <td>{ACCOUNT_STATUS[a.status] ?? "?"}</td>
              <td>{a.contacts.join(", ") || "—"}</td>
              <td class="mono small">{a.eabKeyId || "—"}</td>
              <td>{fmtDate(a.createdAt)}</td>
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
  const [keys, setKeys] = useState<EabKey[] | undefined>();
  const [created, setCreated] = useState<{ kid: string; hmac: string } | undefined>();
  const [error, setError] = useState("");
  const load = () =>
    api.acme.listEabKeys({ directoryId: dir.id, pageSize: 100 }).then(
      (r) => setKeys(r.eabKeys),
      (e: unknown) => setError(describeError(e)),
    );
  useEffect(() => void load(), [dir.id]);
  const create = async () => {
    setError("");
    try {
      const r = await api.acme.createEabKey({ directoryId: dir.id, description: "created in the console" });
      setCreated({ kid: r.eabKey?.kid ?? "", hmac: r.hmacKey });
      void load();
    } catch (e) {
      setError(describeError(e));
    }
  };
  return (
    <div>
      <h4>EAB keys</h4>
      {error && <p class="error">{error}</p>}
      {created && (
        <p class="notice">
          New key <span class="mono">{created.kid}</span>, HMAC (shown once): <span class="mono">{created.hmac}</span>
        </p>
      )}
      {isAdmin(currentSession()?.user) && (
        <button type="button" onClick={() => void create()}>
          Create EAB key
        </button>
      )}
      <table class="grid">
        <thead>
          <tr>
            <th>Key id</th>
            <th>Description</th>
            <th>Created</th>
            <th>Used</th>
            <th>Revoked</th>
          </tr>
        </thead>
        <tbody>
          {keys?.map((k) => (
            <tr key={k.id}>
              <td class="mono">{k.kid}</td>
              <td>{k.description}</td>
              <td>{fmtDate(k.createdAt)}</td>
              <td>{k.usedAt ? fmtDate(k.usedAt) : "—"}</td>
              <td>{k.revokedAt ? fmtDate(k.revokedAt) : "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function AcmeDirectories() {
  const { catalog } = useCatalog();
  const [dirs, setDirs] = useState<AcmeDirectory[] | undefined>();
  const [open, setOpen] = useState("");
  const [error, setError] = useState("");
  useEffect(() => {
    api.acme.listAcmeDirectories({ pageSize: 200 }).then(
      (r) => setDirs(r.directories),
      (e: unknown) => setError(describeError(e)),
    );
  }, []);
  return (
    <section>
      <h2>ACME directories</h2>
      {error && <p class="error">{error}</p>}
      {dirs?.length === 0 && <p class="muted">No ACME directory.</p>}
      {dirs?.map((d) => (
        <article key={d.id} class="card">
          <h3>
            {d.name} <small class="muted">{catalog?.orgName(d.organizationId)}</small>
          </h3>
          <p class="mono small">{d.directoryUrl}</p>
          <p>
            CA {catalog?.caName(d.caId)} · EAB {d.eabRequired ? "required" : "optional"} · max {d.maxValidityDays} days · CAA{" "}
            {d.caaEnabled ? "checked" : "off"}
          </p>
          {d.allowedDnsSuffixes.length > 0 && <p>DNS suffixes: {d.allowedDnsSuffixes.join(", ")}</p>}
          {d.allowedIpRanges.length > 0 && <p>IP ranges: {d.allowedIpRanges.join(", ")}</p>}
          <p>
            Profiles:{" "}
            {d.profiles.map((p) => (
              <span key={p.id} class="badge">
                {p.name}
                {p.isDefault || p.name === d.defaultProfile ? " (default)" : ""}
              </span>
            ))}
          </p>
          <button type="button" class="link" onClick={() => setOpen(open === d.id ? "" : d.id)}>
            {open === d.id ? "Hide EAB keys" : "EAB keys"}
          </button>
          <button type="button" class="link" onClick={() => setOpen(open === `ao:${d.id}` ? "" : `ao:${d.id}`)}>
            {open === `ao:${d.id}` ? "Hide accounts and orders" : "Accounts and recent orders"}
          </button>
          {open === d.id && <EabKeys dir={d} />}
          {open === `ao:${d.id}` && <AccountsAndOrders dir={d} />}
        </article>
      ))}
    </section>
  );
}
