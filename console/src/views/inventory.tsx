import { useEffect, useState } from "preact/hooks";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Certificate, ListCertificatesRequestSchema } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { api, currentSession, date, fmtDate, isAdmin, isSuperuser } from "../api.js";
import { describeError } from "../errors.js";
import { useCatalog, type Catalog } from "../catalog.js";
import { linkProps } from "../router.js";
import { SOURCE, STATUS } from "../format.js";
import { ExpiryTimeline } from "./timeline.js";
import { CampaignForm } from "./campaign.js";
import { RenewalCampaignScope } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";

type Query = MessageInitShape<typeof ListCertificatesRequestSchema>;

interface Filters {
  name: string;
  serial: string;
  caId: string;
  organizationId: string;
  status: string;
  source: string;
  expiringDays: string;
}

const EMPTY: Filters = { name: "", serial: "", caId: "", organizationId: "", status: "", source: "", expiringDays: "" };

function queryOf(f: Filters): Query {
  const q: Query = {
    nameContains: f.name.trim(),
    serial: f.serial.trim().toLowerCase().replace(/[:\s]/g, ""),
    caId: f.caId,
    organizationId: f.organizationId,
    status: Number(f.status || 0),
    pageSize: 50,
  };
  if (f.expiringDays) q.expiringBefore = timestampFromDate(new Date(Date.now() + Number(f.expiringDays) * 86_400_000));
  return q;
}

export function Inventory() {
  const { catalog, error: catalogError } = useCatalog();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [rows, setRows] = useState<Certificate[]>([]);
  const [next, setNext] = useState("");
  const [error, setError] = useState("");
  const [loading, setLoading] = useState(true);
  const [selected, setSelected] = useState<Map<string, Certificate>>(new Map());
  const [notice, setNotice] = useState("");

  const fetchPage = async (f: Filters, pageToken: string, append: boolean) => {
    setLoading(true);
    setError("");
    try {
      const r = await api.certificates.listCertificates({ ...queryOf(f), pageToken });
      // source is not a server-side filter of ListCertificates: applied to each page here
      const page = f.source ? r.certificates.filter((c) => String(c.source) === f.source) : r.certificates;
      setRows((old) => (append ? [...old, ...page] : page));
      setNext(r.nextPageToken);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => void fetchPage(filters, "", false), [filters]);

  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value });
  const superuser = isSuperuser(currentSession()?.user);
  return (
    <section>
      <h2>Certificates</h2>
      <ExpiryTimeline organizationId={filters.organizationId} caId={filters.caId} />
      <form
        class="filters"
        aria-label="Search certificates"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
        }}
      >
        <input name="name" placeholder="Name contains" value={draft.name} onInput={set("name")} />
        <input name="serial" placeholder="Serial (hex)" value={draft.serial} onInput={set("serial")} />
        {superuser && (
          <select name="organization" value={draft.organizationId} onChange={set("organizationId")} aria-label="Organization">
            <option value="">Any organization</option>
            {catalog?.organizations.map((o) => (
              <option key={o.id} value={o.id}>
                {o.name}
              </option>
            ))}
          </select>
        )}
        <select name="ca" value={draft.caId} onChange={set("caId")} aria-label="CA">
          <option value="">Any CA</option>
          {catalog?.cas
            .filter((c) => !draft.organizationId || c.organizationId === draft.organizationId)
            .map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
        </select>
        <select name="status" value={draft.status} onChange={set("status")} aria-label="Status">
          <option value="">Any status</option>
          {Object.entries(STATUS).map(([v, n]) => (
            <option key={v} value={v}>
              {n}
            </option>
          ))}
        </select>
        <select name="source" value={draft.source} onChange={set("source")} aria-label="Source">
          <option value="">Any source</option>
          {Object.entries(SOURCE).map(([v, n]) => (
            <option key={v} value={v}>
              {n}
            </option>
          ))}
        </select>
        <select name="expiring" value={draft.expiringDays} onChange={set("expiringDays")} aria-label="Expiry">
          <option value="">Any expiry</option>
          <option value="7">Expiring within 7 days</option>
          <option value="30">Expiring within 30 days</option>
          <option value="90">Expiring within 90 days</option>
        </select>
        <button type="submit">Search</button>
        <button
          type="button"
          class="link"
          onClick={() => {
            setDraft(EMPTY);
            setFilters(EMPTY);
          }}
        >
          Clear
        </button>
      </form>
      {(error || catalogError) && (
        <p class="error" role="alert">
          {error || describeError(catalogError)}
        </p>
      )}
      {notice && <p class="notice">{notice}</p>}
      {selected.size > 0 && (
        <CampaignForm
          target={{ scope: RenewalCampaignScope.SERIALS, selected: [...selected.values()] }}
          onDone={(message) => {
            setSelected(new Map());
            setNotice(message);
          }}
        />
      )}
      <CertificateTable
        rows={rows}
        catalog={catalog}
        selectable={isAdmin(currentSession()?.user)}
        selected={selected}
        onToggle={(c) =>
          setSelected((old) => {
            const m = new Map(old);
            if (m.has(c.id)) m.delete(c.id);
            else m.set(c.id, c);
            return m;
          })
        }
      />
      {!loading && rows.length === 0 && !error && <p class="muted">No certificates match.</p>}
      {next && (
        <button type="button" disabled={loading} onClick={() => void fetchPage(filters, next, true)}>
          Load more
        </button>
      )}
      {loading && <p class="muted">Loading…</p>}
    </section>
  );
}

interface TableProps {
  rows: Certificate[];
  catalog?: Catalog;
  /** renewal campaigns need an admin (RenewalService.CreateRenewalCampaign) */
  selectable: boolean;
  selected: Map<string, Certificate>;
  onToggle: (c: Certificate) => void;
}

function CertificateTable({ rows, catalog, selectable, selected, onToggle }: TableProps) {
  const now = Date.now();
  return (
    <table class="grid" data-testid="certificates">
      <thead>
        <tr>
          {selectable && <th aria-label="Select" />}
          <th>Name</th>
          <th>Serial</th>
          <th>CA</th>
          <th>Organization</th>
          <th>Status</th>
          <th>Source</th>
          <th>Expires</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((c) => {
          const left = (date(c.notAfter)?.getTime() ?? 0) - now;
          const soon = c.status === 1 && left < 30 * 86_400_000;
          return (
            <tr key={c.id} data-serial={c.serial}>
              {selectable && (
                <td>
                  <input type="checkbox" aria-label={`select ${c.serial}`} checked={selected.has(c.id)} disabled={c.status !== 1} onChange={() => onToggle(c)} />
                </td>
              )}
              <td>
                <a {...linkProps(`certificates/${c.id}`)}>{c.commonName || c.dnsNames[0] || c.emails[0] || c.ipAddresses[0] || "(no name)"}</a>
                {c.dnsNames.length > 1 && <small class="muted"> +{c.dnsNames.length - 1}</small>}
              </td>
              <td class="mono">{c.serial.slice(0, 16)}…</td>
              <td>{catalog?.caName(c.issuerCaId) ?? ""}</td>
              <td class="org">{catalog?.orgName(c.organizationId) ?? ""}</td>
              <td>
                <span class={`badge ${STATUS[c.status] ?? ""}`}>{STATUS[c.status] ?? "?"}</span>
              </td>
              <td>{SOURCE[c.source] ?? "?"}</td>
              <td class={soon ? "warn" : ""}>{fmtDate(c.notAfter)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
