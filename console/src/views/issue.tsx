import { useState } from "preact/hooks";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { CertificateAuthorityStatus } from "../../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import { api, currentSession, may } from "../api.js";
import { describeError } from "../errors.js";
import { useCatalog } from "../catalog.js";
import { KEY, splitList } from "../format.js";
import { navigate } from "../router.js";

export function IssueForm() {
  const { catalog } = useCatalog();
  const user = currentSession()?.user;
  const [f, setF] = useState({ caId: "", type: String(CertificateType.SERVER), commonName: "", dns: "", ips: "", emails: "", key: "1", days: "" });
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  // CAs the caller may issue from: active, allowed to sign leaves, in an organization where it has create_cert
  const cas = (catalog?.cas ?? []).filter(
    (c) => c.status === CertificateAuthorityStatus.ACTIVE && c.allowLeafCerts && may(user, "create_cert", c.organizationId),
  );
  const set = (k: keyof typeof f) => (e: Event) => setF({ ...f, [k]: (e.currentTarget as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const r = await api.certificates.issueCertificate({
        caId: f.caId || cas[0]?.id || "",
        type: Number(f.type),
        commonName: f.commonName.trim(),
        dnsNames: splitList(f.dns),
        ipAddresses: splitList(f.ips),
        emails: splitList(f.emails),
        keyAlgorithm: Number(f.key),
        validityDays: Number(f.days || 0),
      });
      if (r.certificate) navigate(`certificates/${r.certificate.id}`);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h2>Issue a certificate</h2>
      <p class="muted">The server generates the key; it can be exported later by a user with export_private_key.</p>
      <form class="stack" onSubmit={submit} aria-label="Issue a certificate">
        <label>
          Issuing CA
          <select name="ca" value={f.caId} onChange={set("caId")} required>
            {cas.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name} ({catalog?.orgName(c.organizationId)})
              </option>
            ))}
          </select>
        </label>
        <label>
          Type
          <select name="type" value={f.type} onChange={set("type")}>
            <option value={String(CertificateType.SERVER)}>server (serverAuth)</option>
            <option value={String(CertificateType.CLIENT)}>client (clientAuth)</option>
            <option value={String(CertificateType.DUAL)}>dual</option>
          </select>
        </label>
        <label>
          Common name
          <input name="commonName" value={f.commonName} onInput={set("commonName")} />
        </label>
        <label>
          DNS names
          <input name="dnsNames" placeholder="www.example.internal, api.example.internal" value={f.dns} onInput={set("dns")} />
        </label>
        <label>
          IP addresses
          <input name="ipAddresses" value={f.ips} onInput={set("ips")} />
        </label>
        <label>
          Emails
          <input name="emails" value={f.emails} onInput={set("emails")} />
        </label>
        <label>
          Key
          <select name="key" value={f.key} onChange={set("key")}>
            {Object.entries(KEY).map(([v, n]) => (
              <option key={v} value={v}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <label>
          Validity (days; empty for the server default)
          <input name="validityDays" type="number" min="1" value={f.days} onInput={set("days")} />
        </label>
        <button type="submit" disabled={busy || cas.length === 0}>
          {busy ? "Issuing…" : "Issue"}
        </button>
        {cas.length === 0 && catalog && <p class="muted">No CA you may issue from.</p>}
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
