import { useEffect, useState } from "preact/hooks";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CertificateStatus } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { api, date } from "../api.js";
import { describeError } from "../errors.js";

const DAYS = 91;
const WEEKS = 13;
const MAX_PAGES = 20;

/**
 * Valid certificates expiring in the next 13 weeks, one bar per week: a
 * hand-drawn SVG (no chart library). Counts come from ListCertificates with
 * status VALID and expiring_before now + 91 days (at most 20 pages of 500).
 */
export function ExpiryTimeline({ organizationId, caId }: { organizationId: string; caId: string }) {
  const [counts, setCounts] = useState<number[] | undefined>();
  const [partial, setPartial] = useState(false);
  const [error, setError] = useState("");
  useEffect(() => {
    let live = true;
    const start = Date.now();
    (async () => {
      const buckets = new Array<number>(WEEKS).fill(0);
      let token = "";
      let pages = 0;
      do {
        const r = await api.certificates.listCertificates({
          organizationId,
          caId,
          status: CertificateStatus.VALID,
          expiringBefore: timestampFromDate(new Date(start + DAYS * 86_400_000)),
          pageSize: 500,
          pageToken: token,
        });
        for (const c of r.certificates) {
          const t = date(c.notAfter)?.getTime() ?? 0;
          const w = Math.floor((t - start) / (7 * 86_400_000));
          if (w >= 0 && w < WEEKS) buckets[w]++;
        }
        token = r.nextPageToken;
      } while (token && ++pages < MAX_PAGES);
      if (live) {
        setCounts(buckets);
        setPartial(Boolean(token));
      }
    })().catch((e: unknown) => live && setError(describeError(e)));
    return () => {
      live = false;
    };
  }, [organizationId, caId]);

  if (error) return <p class="error">Expiry timeline: {error}</p>;
  if (!counts) return <div class="timeline muted">Loading the expiry timeline…</div>;
  const max = Math.max(1, ...counts);
  const total = counts.reduce((a, b) => a + b, 0);
  const W = 640;
  const H = 140;
  const pad = { l: 30, r: 8, t: 14, b: 26 };
  const bw = (W - pad.l - pad.r) / WEEKS;
  const y = (v: number) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const day0 = new Date();
  return (
    <figure class="timeline" data-testid="expiry-timeline">
      <figcaption>
        Expiring in the next 90 days: <strong>{total}</strong> valid certificate{total === 1 ? "" : "s"}
        {partial && " (first 10 000 counted)"}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`expiry per week: ${counts.join(", ")}`}>
        <line class="axis" x1={pad.l} y1={H - pad.b} x2={W - pad.r} y2={H - pad.b} />
        <text class="tick" x={pad.l - 4} y={y(max) + 4} text-anchor="end">
          {max}
        </text>
        <text class="tick" x={pad.l - 4} y={H - pad.b} text-anchor="end">
          0
        </text>
        {counts.map((n, i) => {
          const x = pad.l + i * bw + 2;
          const d = new Date(day0.getTime() + i * 7 * 86_400_000);
          return (
            <g key={i}>
              <rect class={i < 1 ? "bar urgent" : i < 4 ? "bar soon" : "bar"} x={x} y={y(n)} width={bw - 4} height={H - pad.b - y(n)}>
                <title>{`week of ${d.toISOString().slice(0, 10)}: ${n}`}</title>
              </rect>
              {n > 0 && (
                <text class="count" x={x + (bw - 4) / 2} y={y(n) - 3} text-anchor="middle">
                  {n}
                </text>
              )}
              {i % 2 === 0 && (
                <text class="tick" x={x + (bw - 4) / 2} y={H - pad.b + 14} text-anchor="middle">
                  {d.toISOString().slice(5, 10)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
