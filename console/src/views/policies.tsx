// Issuance policies of the admin plane (IssuancePolicyService,
// docs/issuance-policies.md): per organization, user or service account,
// which names, emails, IP ranges, CAs, kinds, key types and validity a
// principal may request through IssueCertificate / SignCsr / RenewCertificate.
// Members read them; organization admins create, change and delete them.
import { useEffect, useState } from "preact/hooks";
import { IssuancePolicySubjectType, type IssuancePolicy, type IssuancePolicyRules } from "../../../src/gen/sigil/admin/v1/issuance_policy_pb.js";
import { CertificateType } from "../../../src/gen/sigil/admin/v1/certificate_pb.js";
import type { User } from "../../../src/gen/sigil/admin/v1/user_pb.js";
import type { ServiceAccount } from "../../../src/gen/sigil/admin/v1/service_account_pb.js";
import { api, currentSession, isSuperuser, may } from "../api.js";
import { describeError } from "../errors.js";
import { useCatalog, type Catalog } from "../catalog.js";
import { KEY, splitList, TYPE } from "../format.js";

const SUBJECT: Record<number, string> = {
  [IssuancePolicySubjectType.ORGANIZATION]: "organization",
  [IssuancePolicySubjectType.USER]: "user",
  [IssuancePolicySubjectType.SERVICE_ACCOUNT]: "service account",
};
const KINDS = [CertificateType.SERVER, CertificateType.CLIENT, CertificateType.DUAL];
const lines = (xs: string[]) => xs.join("\n");

interface RulesForm {
  dns: string;
  emails: string;
  ips: string;
  cas: string[];
  types: CertificateType[];
  keys: number[];
  days: string;
}

function rulesForm(r?: IssuancePolicyRules): RulesForm {
  return {
    dns: lines(r?.dnsNames ?? []),
    emails: lines(r?.emails ?? []),
    ips: lines(r?.ipRanges ?? []),
    cas: r?.caIds ?? [],
    types: r?.certificateTypes ?? [],
    keys: r?.keyTypes ?? [],
    days: r?.maxValidityDays ? String(r.maxValidityDays) : "",
  };
}

const toRules = (f: RulesForm) => ({
  dnsNames: splitList(f.dns),
  emails: splitList(f.emails),
  ipRanges: splitList(f.ips),
  caIds: f.cas,
  certificateTypes: f.types,
  keyTypes: f.keys,
  maxValidityDays: Number(f.days || 0),
});

function toggled<T>(xs: T[], x: T, on: boolean): T[] {
  return on ? [...xs.filter((y) => y !== x), x] : xs.filter((y) => y !== x);
}

/** The rules, as inputs: lists one a line, CAs / kinds / key types as checkboxes (none checked: no restriction on that). */
function RulesInputs({ f, setF, catalog, organizationId }: { f: RulesForm; setF: (f: RulesForm) => void; catalog?: Catalog; organizationId: string }) {
  const cas = (catalog?.cas ?? []).filter((c) => c.organizationId === organizationId && c.allowLeafCerts);
  return (
    <>
      <label>
        DNS names (exact, *.one-label or .subtree; one a line)
        <textarea name="dnsNames" rows={3} value={f.dns} onInput={(e) => setF({ ...f, dns: e.currentTarget.value })} />
      </label>
      <label>
        Emails (patterns; one a line)
        <textarea name="emails" rows={2} value={f.emails} onInput={(e) => setF({ ...f, emails: e.currentTarget.value })} />
      </label>
      <label>
        IP ranges (CIDR; one a line)
        <textarea name="ipRanges" rows={2} value={f.ips} onInput={(e) => setF({ ...f, ips: e.currentTarget.value })} />
      </label>
      <label>
        Maximum validity (days; empty: no bound here)
        <input name="maxValidityDays" type="number" min="0" value={f.days} onInput={(e) => setF({ ...f, days: e.currentTarget.value })} />
      </label>
      <fieldset>
        <legend>CAs (none: any)</legend>
        {cas.map((c) => (
          <label key={c.id} class="toggle">
            <input type="checkbox" name={`ca-${c.name}`} checked={f.cas.includes(c.id)} onChange={(e) => setF({ ...f, cas: toggled(f.cas, c.id, e.currentTarget.checked) })} /> {c.name}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Kinds (none: any)</legend>
        {KINDS.map((t) => (
          <label key={t} class="toggle">
            <input type="checkbox" name={`kind-${TYPE[t]}`} checked={f.types.includes(t)} onChange={(e) => setF({ ...f, types: toggled(f.types, t, e.currentTarget.checked) })} /> {TYPE[t]}
          </label>
        ))}
      </fieldset>
      <fieldset>
        <legend>Key types (none: any)</legend>
        {Object.entries(KEY).map(([v, n]) => (
          <label key={v} class="toggle">
            <input type="checkbox" name={`key-${v}`} checked={f.keys.includes(Number(v))} onChange={(e) => setF({ ...f, keys: toggled(f.keys, Number(v), e.currentTarget.checked) })} /> {n}
          </label>
        ))}
      </fieldset>
    </>
  );
}

function NewPolicy({ catalog, users, accounts, onDone }: { catalog?: Catalog; users: User[]; accounts: ServiceAccount[]; onDone: (msg: string) => void }) {
  const me = currentSession()?.user;
  const orgs = (catalog?.organizations ?? []).filter((o) => may(me, "admin", o.id));
  const [type, setType] = useState(String(IssuancePolicySubjectType.ORGANIZATION));
  const [org, setOrg] = useState(me?.organizationId || orgs[0]?.id || "");
  const [subject, setSubject] = useState("");
  const [description, setDescription] = useState("");
  const [f, setF] = useState<RulesForm>(rulesForm());
  const [error, setError] = useState("");
  const t = Number(type) as IssuancePolicySubjectType;
  const subjects: [string, string][] =
    t === IssuancePolicySubjectType.USER
      ? users.filter((u) => u.organizationId === org).map((u) => [u.id, u.username])
      : t === IssuancePolicySubjectType.SERVICE_ACCOUNT
        ? accounts.filter((a) => a.organizationId === org).map((a) => [a.id, a.name])
        : [];
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      await api.policies.createIssuancePolicy({
        subjectType: t,
        subjectId: t === IssuancePolicySubjectType.ORGANIZATION ? org : subject || subjects[0]?.[0] || "",
        description: description.trim(),
        rules: toRules(f),
      });
      onDone("Created the policy.");
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form class="panel policy" aria-label="New issuance policy" onSubmit={submit}>
      <label>
        Applies to
        <select name="subjectType" value={type} onChange={(e) => (setType(e.currentTarget.value), setSubject(""))}>
          {Object.entries(SUBJECT).map(([v, n]) => (
            <option key={v} value={v}>
              {n}
            </option>
          ))}
        </select>
      </label>
      {isSuperuser(me) && (
        <label>
          Organization
          <select name="organization" value={org} onChange={(e) => (setOrg(e.currentTarget.value), setSubject(""))}>
            {orgs.map((o) => (
              <option key={o.id} value={o.id}>
                {o.name}
              </option>
            ))}
          </select>
        </label>
      )}
      {t !== IssuancePolicySubjectType.ORGANIZATION && (
        <label>
          {SUBJECT[t]}
          <select name="subject" value={subject || subjects[0]?.[0] || ""} onChange={(e) => setSubject(e.currentTarget.value)}>
            {subjects.map(([id, n]) => (
              <option key={id} value={id}>
                {n}
              </option>
            ))}
          </select>
        </label>
      )}
      <label>
        Description
        <input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <RulesInputs f={f} setF={setF} catalog={catalog} organizationId={org} />
      <div class="actions">
        <button type="submit">Create policy</button>
        {error && (
          <span class="error" role="alert">
            {error}
          </span>
        )}
      </div>
    </form>
  );
}

function EditPolicy({ policy, catalog, onDone }: { policy: IssuancePolicy; catalog?: Catalog; onDone: (msg: string) => void }) {
  const [f, setF] = useState<RulesForm>(rulesForm(policy.rules));
  const [description, setDescription] = useState(policy.description);
  const [error, setError] = useState("");
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    try {
      await api.policies.updateIssuancePolicy({ id: policy.id, description: description.trim(), rules: toRules(f) });
      onDone("Saved the policy.");
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form class="panel policy" aria-label="Edit issuance policy" onSubmit={submit}>
      <label>
        Description
        <input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </label>
      <RulesInputs f={f} setF={setF} catalog={catalog} organizationId={policy.organizationId} />
      <div class="actions">
        <button type="submit">Save policy</button>
        {error && (
          <span class="error" role="alert">
            {error}
          </span>
        )}
      </div>
    </form>
  );
}

function summary(r: IssuancePolicyRules | undefined, catalog?: Catalog): string {
  if (!r) return "—";
  const parts: string[] = [];
  if (r.dnsNames.length) parts.push(`DNS ${r.dnsNames.join(", ")}`);
  if (r.emails.length) parts.push(`email ${r.emails.join(", ")}`);
  if (r.ipRanges.length) parts.push(`IP ${r.ipRanges.join(", ")}`);
  if (r.caIds.length) parts.push(`CA ${r.caIds.map((id) => catalog?.caName(id) ?? id).join(", ")}`);
  if (r.certificateTypes.length) parts.push(`kind ${r.certificateTypes.map((t) => TYPE[t]).join(", ")}`);
  if (r.keyTypes.length) parts.push(`keys ${r.keyTypes.map((k) => KEY[k]).join(", ")}`);
  if (r.maxValidityDays) parts.push(`at most ${r.maxValidityDays} days`);
  return parts.join(" · ") || "no names allowed";
}

export function Policies() {
  const me = currentSession()?.user;
  const { catalog } = useCatalog();
  const [items, setItems] = useState<IssuancePolicy[] | undefined>();
  const [users, setUsers] = useState<User[]>([]);
  const [accounts, setAccounts] = useState<ServiceAccount[]>([]);
  const [open, setOpen] = useState("");
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const load = () =>
    api.policies.listIssuancePolicies({ pageSize: 200 }).then(
      (r) => setItems(r.issuancePolicies),
      (e: unknown) => setError(describeError(e)),
    );
  useEffect(() => {
    void load();
    // names for the subjects (read is any member's)
    api.users.listUsers({ pageSize: 200 }).then((r) => setUsers(r.users), () => undefined);
    api.serviceAccounts.listServiceAccounts({ pageSize: 200 }).then((r) => setAccounts(r.serviceAccounts), () => undefined);
  }, []);
  const done = (msg: string) => {
    setOpen("");
    setNotice(msg);
    void load();
  };
  const remove = async (p: IssuancePolicy) => {
    setError("");
    try {
      await api.policies.deleteIssuancePolicy({ id: p.id });
      done("Deleted the policy.");
    } catch (err) {
      setError(describeError(err));
    }
  };
  const subjectName = (p: IssuancePolicy) =>
    p.subjectType === IssuancePolicySubjectType.USER
      ? (users.find((u) => u.id === p.subjectId)?.username ?? p.subjectId)
      : p.subjectType === IssuancePolicySubjectType.SERVICE_ACCOUNT
        ? (accounts.find((a) => a.id === p.subjectId)?.name ?? p.subjectId)
        : (catalog?.orgName(p.subjectId) ?? p.subjectId);
  return (
    <section>
      <h2>Issuance policies</h2>
      <p class="muted small">
        What a principal may request through the admin API (IssueCertificate, SignCsr, RenewCertificate). Once a policy applies to a principal, anything it does
        not allow is refused; every policy that applies must allow the request.
      </p>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {notice && <p class="notice">{notice}</p>}
      {may(me, "admin", isSuperuser(me) ? undefined : me?.organizationId) && (
        <button type="button" class="link" onClick={() => setOpen(open === "new" ? "" : "new")}>
          New policy…
        </button>
      )}
      {open === "new" && <NewPolicy catalog={catalog} users={users} accounts={accounts} onDone={done} />}
      <table class="grid" data-testid="policies">
        <thead>
          <tr>
            <th>Applies to</th>
            <th>Organization</th>
            <th>Description</th>
            <th>Allows</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {items?.length === 0 && (
            <tr>
              <td colSpan={5} class="muted">
                No issuance policies: issuance is bounded by the CA, capabilities and organization settings only.
              </td>
            </tr>
          )}
          {items?.map((p) => [
            <tr key={p.id} data-policy={p.description}>
              <td>
                {SUBJECT[p.subjectType] ?? "?"} <strong>{subjectName(p)}</strong>
              </td>
              <td>{catalog?.orgName(p.organizationId)}</td>
              <td>{p.description}</td>
              <td class="small">{summary(p.rules, catalog)}</td>
              <td>
                {may(me, "admin", p.organizationId) && (
                  <>
                    <button type="button" class="link" aria-label={`Edit policy ${p.description}…`} onClick={() => setOpen(open === p.id ? "" : p.id)}>
                      Edit…
                    </button>
                    <button type="button" class="link" aria-label={`Delete policy ${p.description}`} onClick={() => void remove(p)}>
                      Delete
                    </button>
                  </>
                )}
              </td>
            </tr>,
            open === p.id && (
              <tr key={`${p.id}-edit`}>
                <td colSpan={5}>
                  <EditPolicy policy={p} catalog={catalog} onDone={done} />
                </td>
              </tr>
            ),
          ])}
        </tbody>
      </table>
    </section>
  );
}
