import { useEffect, useRef, useState } from "preact/hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import type { AuditEvent } from "../../../src/gen/sigil/admin/v1/audit_pb.js";
import { api, currentSession, fmtDate, isSuperuser } from "../api.js";
import { describeError } from "../errors.js";
import { useCatalog } from "../catalog.js";

interface Filters {
  action: string;
  organizationId: string;
  resourceType: string;
  resourceId: string;
  userId: string;
}
const EMPTY: Filters = { action: "", organizationId: "", resourceType: "", resourceId: "", userId: "" };

export function AuditLog() {
  const { catalog } = useCatalog();
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [next, setNext] = useState("");
  const [live, setLive] = useState(false);
  const [liveState, setLiveState] = useState("");
  const [error, setError] = useState("");
  const seen = useRef(new Set<string>());

  const load = async (f: Filters, pageToken: string) => {
    setError("");
    try {
      const r = await api.audit.listAuditEvents({ ...f, pageSize: 50, pageToken });
      for (const e of r.events) seen.current.add(e.id);
      setEvents((old) => (pageToken ? [...old, ...r.events] : r.events));
      setNext(r.nextPageToken);
    } catch (e) {
      setError(describeError(e));
    }
  };
  useEffect(() => void load(filters, ""), [filters]);

  // the live view: AuditService.WatchAuditEvents over Connect (a server stream on fetch), cancelled on leave
  useEffect(() => {
    if (!live) return;
    const abort = new AbortController();
    setLiveState("connecting");
    (async () => {
      for (let attempt = 0; !abort.signal.aborted; attempt++) {
        try {
          const stream = api.audit.watchAuditEvents(filters, { signal: abort.signal });
          setLiveState("live");
          for await (const m of stream) {
            const ev = m.event;
            if (!ev || seen.current.has(ev.id)) continue;
            seen.current.add(ev.id);
            setEvents((old) => [ev, ...old]);
            setFresh((old) => new Set(old).add(ev.id));
          }
        } catch (e) {
          if (abort.signal.aborted || (e instanceof ConnectError && e.code === Code.Canceled)) return;
          setLiveState(`reconnecting (${describeError(e)})`);
          // a bounded back-off before the next attempt (the stream ends when the server restarts or a token expires)
          await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
        }
      }
    })();
    return () => {
      abort.abort();
      setLiveState("");
    };
  }, [live, filters]);

  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <section>
      <h2>Audit log</h2>
      <form
        class="filters"
        aria-label="Filter audit events"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
        }}
      >
        <input name="action" placeholder="Action (e.g. cert_revoke)" value={draft.action} onInput={set("action")} />
        <input name="resourceType" placeholder="Resource type" value={draft.resourceType} onInput={set("resourceType")} />
        <input name="resourceId" placeholder="Resource id" value={draft.resourceId} onInput={set("resourceId")} />
        <input name="userId" placeholder="User id" value={draft.userId} onInput={set("userId")} />
        {isSuperuser(currentSession()?.user) && (
          <select name="organization" aria-label="Organization" value={draft.organizationId} onChange={set("organizationId")}>
            <option value="">Any organization</option>
            {catalog?.organizations.map((o) => (
              <option key={o.id} value={o.id}>
                {o.name}
              </option>
            ))}
          </select>
        )}
        <button type="submit">Filter</button>
        <label class="toggle">
          <input type="checkbox" name="live" checked={live} onChange={(e) => setLive(e.currentTarget.checked)} /> Live
        </label>
        {liveState && (
          <span class="muted" data-testid="live-state">
            {liveState}
          </span>
        )}
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="grid" data-testid="audit">
        <thead>
          <tr>
            <th>Time</th>
            <th>Action</th>
            <th>Actor</th>
            <th>Organization</th>
            <th>Resource</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id} class={fresh.has(e.id) ? "fresh" : ""} data-action={e.action} data-resource-id={e.resourceId}>
              <td>{fmtDate(e.time)}</td>
              <td class="mono">{e.action}</td>
              <td>{e.username || (e.serviceAccountId ? `service account ${e.serviceAccountId.slice(0, 8)}` : "—")}</td>
              <td>{e.organizationId ? (catalog?.orgName(e.organizationId) ?? "") : "global"}</td>
              <td class="mono small">
                {e.resourceType}
                {e.resourceId ? ` ${e.resourceId}` : ""}
              </td>
              <td class="mono small detail">{e.detail && e.detail !== "{}" ? e.detail : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {next && (
        <button type="button" onClick={() => void load(filters, next)}>
          Load more
        </button>
      )}
    </section>
  );
}
