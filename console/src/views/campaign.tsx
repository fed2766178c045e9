import { useState } from "preact/hooks";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RenewalCampaignScope } from "../../../src/gen/sigil/admin/v1/renewal_pb.js";
import type { Certificate } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { api } from "../api.js";
import { describeError } from "../errors.js";

/**
 * A renewal campaign (RenewalService, scope SERIALS) for the certificates
 * selected in the inventory: ACME clients that poll ARI (RFC 9773 §4.2) see
 * the window and renew inside it. One organization per campaign.
 */
export function CampaignForm({ selected, onDone }: { selected: Certificate[]; onDone: (message: string) => void }) {
  const [reason, setReason] = useState("");
  const [now, setNow] = useState(true);
  const [end, setEnd] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const orgs = [...new Set(selected.map((c) => c.organizationId))];
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
        scope: RenewalCampaignScope.SERIALS,
        serials: selected.map((c) => c.serial),
        organizationId: orgs[0],
        now,
        windowEnd: now || !end ? undefined : timestampFromDate(new Date(end)),
        reason: reason.trim(),
      });
      onDone(`Campaign ${r.campaign?.id ?? ""} created for ${r.campaign?.certificateCount ?? selected.length} certificate(s).`);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="campaign filters" aria-label="Renewal campaign" onSubmit={submit}>
      <strong>{selected.length} selected:</strong>
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
