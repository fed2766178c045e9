import type { CertificateAuthority } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { CertificateAuthorityStatus } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { fmtDate } from "../api.js";
import { describeError } from "../errors.js";
import { useCatalog } from "../catalog.js";
import { KEY } from "../format.js";

const CA_STATUS: Record<number, string> = {
  [CertificateAuthorityStatus.ACTIVE]: "valid",
  [CertificateAuthorityStatus.REVOKED]: "revoked",
  [CertificateAuthorityStatus.EXPIRED]: "expired",
};

function Node({ ca, children }: { ca: CertificateAuthority; children: Map<string, CertificateAuthority[]> }) {
  const kids = children.get(ca.id) ?? [];
  return (
    <li>
      <div class="ca">
        <strong>{ca.name}</strong> <span class={`badge ${CA_STATUS[ca.status] ?? ""}`}>{CA_STATUS[ca.status] === "valid" ? "active" : (CA_STATUS[ca.status] ?? "?")}</span>
        <span class="muted">
          {" "}
          {KEY[ca.keyAlgorithm] ?? "?"} · until {fmtDate(ca.notAfter)}
          {ca.pathLength !== undefined ? ` · pathlen ${ca.pathLength}` : ""}
          {ca.allowLeafCerts ? " · issues leaves" : ""}
        </span>
        <div class="mono small">{ca.subject}</div>
      </div>
      {kids.length > 0 && (
        <ul>
          {kids.map((k) => (
            <Node key={k.id} ca={k} children={children} />
          ))}
        </ul>
      )}
    </li>
  );
}

/** Every CA the caller sees, as one tree per organization (parent_id links; an issuer outside Sigil makes a root). */
export function CaTree() {
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
                <Node key={c.id} ca={c} children={children} />
              ))}
          </ul>
        </div>
      ))}
    </section>
  );
}
