import { useEffect, useState } from "preact/hooks";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RenewalCampaignScope, type RenewalCampaign } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import type { Certificate } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { api, currentSession, fmtDate, may } from "../api.js";
import { describeError } from "../errors.js";
import { useCatalog } from "../catalog.js";

/** What a campaign covers: certificates selected in the inventory, every leaf of a CA, or a directory's certificates. */
export type CampaignTarget =
  | { scope: RenewalCampaignScope.SERIALS; selected: Certificate[] }
  | { scope: RenewalCampaignScope.CA; caId: string; organizationId: string; label: string }
  | { scope: RenewalCampaignScope.DIRECTORY; directoryId: string; organizationId: string; label: string };

/**
 * A renewal campaign (RenewalService): ACME clients that poll ARI
 * (RFC 9773 §4.2) see the window and renew inside it. One organization per
 * campaign; an organization admin's (the API refuses others).
 */
export function CampaignForm({ target, onDone }: { target: CampaignTarget; onDone: (message: string) => void }) {
  const [reason, setReason] = useState("");
  const [now, setNow] = useState(true);
  const [end, setEnd] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const orgs = target.scope === RenewalCampaignScope.SERIALS ? [...new Set(target.selected.map((c) => c.organizationId))] : [target.organizationId];
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    if (orgs.length !== 1) {
      setError("select certificates of one organization: a campaign belongs to one");
      return;
    }
    setBusy(true);
    try {
      const r = await api.renewal.createRenewalCampaign({
        scope: target.scope,
        serials: target.scope === RenewalCampaignScope.SERIALS ? target.selected.map((c) => c.serial) : [],
        caId: target.scope === RenewalCampaignScope.CA ? target.caId : "",
        directoryId: target.scope === RenewalCampaignScope.DIRECTORY ? target.directoryId : "",
        organizationId: orgs[0],
        now,
        windowEnd: now || !end ? undefined : timestampFromDate(new Date(end)),
        reason: reason.trim(),
      });
      onDone(`Campaign ${r.campaign?.id ?? ""} created for ${r.campaign?.certificateCount ?? 0} certificate(s).`);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="campaign filters" aria-label="Renewal campaign" onSubmit={submit}>
      <strong>{target.scope === RenewalCampaignScope.SERIALS ? `${target.selected.length} selected:` : `${target.label}:`}</strong>
      <input name="reason" placeholder="Reason (required, audited)" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      <label class="toggle">
        <input type="checkbox" name="now" checked={now} onChange={(e) => setNow(e.currentTarget.checked)} /> renew now
      </label>
      {!now && (
        <label class="toggle">
          window ends <input type="datetime-local" name="windowEnd" value={end} onInput={(e) => setEnd(e.currentTarget.value)} required />
        </label>
      )}
      <button type="submit" disabled={busy}>
        Start renewal campaign
      </button>
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

const SCOPE: Record<number, string> = {
  [RenewalCampaignScope.CERTIFICATE]: "certificate",
  [RenewalCampaignScope.CA]: "CA",
  [RenewalCampaignScope.DIRECTORY]: "directory",
  [RenewalCampaignScope.SERIALS]: "serials",
  [RenewalCampaignScope.DRILL]: "drill",
};

/** ListRenewalCampaigns with progress (replaced / members), and CancelRenewalCampaign for admins. */
export function Campaigns() {
  const me = currentSession()?.user;
  const { catalog } = useCatalog();
  const [items, setItems] = useState<RenewalCampaign[] | undefined>();
  const [cancelled, setCancelled] = useState(false);
  const [error, setError] = useState("");
  const load = () =>
    api.renewal.listRenewalCampaigns({ includeCancelled: cancelled, pageSize: 100 }).then(
      (r) => setItems(r.campaigns),
      (e: unknown) => setError(describeError(e)),
    );
  useEffect(() => void load(), [cancelled]);
  const cancel = async (c: RenewalCampaign) => {
    setError("");
    try {
      await api.renewal.cancelRenewalCampaign({ id: c.id });
      void load();
    } catch (err) {
      setError(describeError(err));
    }
  };
  const target = (c: RenewalCampaign) =>
    c.scope === RenewalCampaignScope.CA ? c.targets.map((t) => catalog?.caName(t) ?? t).join(", ") : c.scope === RenewalCampaignScope.SERIALS ? `${c.targets.length} serial(s)` : c.targets.join(", ");
  return (
    <section>
      <h2>Renewal campaigns</h2>
      <p class="muted small">
        Members' ACME renewal information (RFC 9773) points into the window; a member counts as replaced once a certificate renews it. Start one from the
        inventory (a selection) or the CA tree (every leaf of a CA).
      </p>
      <div class="filters">
        <label class="toggle">
          <input type="checkbox" name="includeCancelled" checked={cancelled} onChange={(e) => setCancelled(e.currentTarget.checked)} /> show cancelled
        </label>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <table class="grid" data-testid="campaigns">
        <thead>
          <tr>
            <th>Reason</th>
            <th>Organization</th>
            <th>Scope</th>
            <th>Window</th>
            <th>Progress</th>
            <th>Created</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items?.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                No campaigns.
              </td>
            </tr>
          )}
          {items?.map((c) => (
            <tr key={c.id} data-campaign={c.id}>
              <td>{c.reason}</td>
              <td>{catalog?.orgName(c.organizationId)}</td>
              <td>
                {SCOPE[c.scope] ?? "?"} <span class="small muted">{target(c)}</span>
              </td>
              <td class="small">
                {fmtDate(c.windowStart)} → {fmtDate(c.windowEnd)}
              </td>
              <td>
                <progress max={100} value={c.replacedPercent} /> {c.replacedCount}/{c.certificateCount}
              </td>
              <td class="small">{fmtDate(c.createdAt)}</td>
              <td>
                {c.cancelledAt ? (
                  <span class="badge">cancelled</span>
                ) : (
                  may(me, "admin", c.organizationId) && (
                    <button type="button" class="link" aria-label={`Cancel campaign ${c.reason}`} onClick={() => void cancel(c)}>
                      Cancel
                    </button>
                  )
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
