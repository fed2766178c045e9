import { useEffect, useState } from "preact/hooks";
import type { Certificate } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import { api, currentSession, fmtDate, may } from "../api.js";
import { describeError } from "../errors.js";
import { useCatalog } from "../catalog.js";
import { decodeCertificate, type DecodedCertificate } from "../x509.js";
import { KEY, REASON, SOURCE, STATUS, TYPE, reasonName } from "../format.js";
import { linkProps } from "../router.js";

function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "application/x-pem-file" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function CertificateDetails({ id }: { id: string }) {
  const { catalog } = useCatalog();
  const [cert, setCert] = useState<Certificate | undefined>();
  const [decoded, setDecoded] = useState<DecodedCertificate | undefined>();
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [reason, setReason] = useState("0");
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    api.certificates.getCertificate({ id }).then(
      async (r) => {
        if (!live || !r.certificate) return;
        setCert(r.certificate);
        setDecoded(await decodeCertificate(r.certificate.certificatePem).catch(() => undefined));
      },
      (e: unknown) => live && setError(describeError(e)),
    );
    return () => {
      live = false;
    };
  }, [id]);

  if (error && !cert)
    return (
      <p class="error" role="alert">
        {error}
      </p>
    );
  if (!cert) return <p class="muted">Loading…</p>;
  const user = currentSession()?.user;
  const name = cert.commonName || cert.dnsNames[0] || cert.serial;

  const chain = async () => {
    setError("");
    try {
      const r = await api.certificates.getCertificateChain({ id });
      download(`${name.replace(/[^A-Za-z0-9.-]/g, "_")}-chain.pem`, r.certificatePems.map((p) => p.trim() + "\n").join(""));
    } catch (e) {
      setError(describeError(e));
    }
  };
  const revoke = async () => {
    setBusy(true);
    setError("");
    try {
      const r = await api.certificates.revokeCertificate({ id, reason: Number(reason) });
      if (r.certificate) setCert(r.certificate);
      setNotice("Revoked.");
      setConfirming(false);
    } catch (e) {
      setError(describeError(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="details">
      <p>
        <a {...linkProps("certificates")}>← Certificates</a>
      </p>
      <h2>
        {name} <span class={`badge ${STATUS[cert.status] ?? ""}`} data-testid="status">{STATUS[cert.status] ?? "?"}</span>
      </h2>
      {notice && <p class="notice">{notice}</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="actions">
        <button type="button" onClick={() => void chain()}>
          Download chain (PEM)
        </button>
        <button type="button" onClick={() => download(`${name.replace(/[^A-Za-z0-9.-]/g, "_")}.pem`, cert.certificatePem)}>
          Download certificate
        </button>
        {cert.status === 1 && may(user, "revoke_cert", cert.organizationId) && !confirming && (
          <button type="button" class="danger" onClick={() => setConfirming(true)}>
            Revoke…
          </button>
        )}
      </div>
      {confirming && (
        <form
          class="revoke"
          aria-label="Revoke"
          onSubmit={(e) => {
            e.preventDefault();
            void revoke();
          }}
        >
          <label>
            Reason (RFC 5280 §5.3.1)
            <select name="reason" value={reason} onChange={(e) => setReason(e.currentTarget.value)}>
              {REASON.map(([v, n]) => (
                <option key={v} value={String(v)}>
                  {n}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" class="danger" disabled={busy}>
            Revoke {name}
          </button>
          <button type="button" class="link" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </form>
      )}
      <dl class="facts">
        <dt>Serial</dt>
        <dd class="mono">{cert.serial}</dd>
        <dt>Type</dt>
        <dd>{TYPE[cert.type] ?? "?"}</dd>
        <dt>Source</dt>
        <dd>{SOURCE[cert.source] ?? "?"}</dd>
        <dt>Issuer CA</dt>
        <dd>{catalog?.caName(cert.issuerCaId)}</dd>
        <dt>Organization</dt>
        <dd>{catalog?.orgName(cert.organizationId)}</dd>
        <dt>Names</dt>
        <dd>{[...cert.dnsNames, ...cert.ipAddresses, ...cert.emails].join(", ") || "—"}</dd>
        <dt>Validity</dt>
        <dd>
          {fmtDate(cert.notBefore)} → {fmtDate(cert.notAfter)}
        </dd>
        <dt>Key</dt>
        <dd>
          {KEY[cert.keyAlgorithm] ?? "?"}
          {cert.hasPrivateKey ? " (key held by Sigil)" : ""}
        </dd>
        {cert.revokedAt && (
          <>
            <dt>Revoked</dt>
            <dd data-testid="revoked">
              {fmtDate(cert.revokedAt)}, {reasonName(cert.revocationReason)}
            </dd>
          </>
        )}
        {cert.renewedFromId && (
          <>
            <dt>Renews</dt>
            <dd>
              <a {...linkProps(`certificates/${cert.renewedFromId}`)}>{cert.renewedFromId}</a>
            </dd>
          </>
        )}
      </dl>
      {decoded && (
        <>
          <h3>Decoded certificate</h3>
          <dl class="facts" data-testid="decoded">
            <dt>Version</dt>
            <dd>v{decoded.version}</dd>
            <dt>Subject</dt>
            <dd>{decoded.subject || "(empty)"}</dd>
            <dt>Issuer</dt>
            <dd>{decoded.issuer}</dd>
            <dt>Not before</dt>
            <dd>{decoded.notBefore}</dd>
            <dt>Not after</dt>
            <dd>{decoded.notAfter}</dd>
            <dt>Public key</dt>
            <dd>{decoded.publicKey}</dd>
            <dt>Signature</dt>
            <dd>{decoded.signatureAlgorithm}</dd>
            <dt>SHA-256</dt>
            <dd class="mono small">{decoded.sha256}</dd>
            {decoded.extensions.map((x) => (
              <>
                <dt>
                  {x.name}
                  {x.critical ? " (critical)" : ""}
                </dt>
                <dd class="mono small">{x.value}</dd>
              </>
            ))}
          </dl>
        </>
      )}
      <details>
        <summary>PEM</summary>
        <pre class="pem">{cert.certificatePem}</pre>
      </details>
    </section>
  );
}
