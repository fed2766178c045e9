import { useEffect, useState } from "preact/hooks";
import { currentSession, logout, may, onSessionChange, type SessionState } from "./api.js";
import { linkProps, useRoute } from "./router.js";
import { Login } from "./views/login.js";
import { Inventory } from "./views/inventory.js";
import { CertificateDetails } from "./views/certificate.js";
import { IssueForm } from "./views/issue.js";
import { AuditLog } from "./views/audit.js";
import { CaTree } from "./views/cas.js";
import { AcmeDirectories } from "./views/acme.js";
import { People } from "./views/people.js";
import { Campaigns } from "./views/campaign.js";
import { Policies } from "./views/policies.js";
import { Organizations } from "./views/organizations.js";

const ROLE = ["", "superuser", "admin", "user"];

export function App() {
  const [session, setSession] = useState<SessionState | undefined>(currentSession());
  useEffect(() => onSessionChange(setSession), []);
  if (!session) return <Login />;
  return <Shell session={session} />;
}

function Shell({ session }: { session: SessionState }) {
  const route = useRoute();
  const u = session.user;
  const [section, id] = route.split("/");
  const nav: [string, string, boolean][] = [
    ["certificates", "Certificates", true],
    ["issue", "Issue", may(u, "create_cert", u.role === 1 ? undefined : u.organizationId)],
    ["audit", "Audit log", true],
    ["cas", "CAs", true],
    ["acme", "ACME", true],
    ["renewal", "Renewal", true],
    ["policies", "Policies", true],
    ["organizations", "Organizations", u.role === 1 || u.organizationId !== ""],
    // members may read users and service accounts (policy/permissions.ts "read"); creating and editing needs an admin
    ["people", "Users & service accounts", u.role === 1 || u.organizationId !== ""],
  ];
  const active = section || "certificates";
  let view;
  switch (active) {
    case "certificates":
      view = id ? <CertificateDetails id={id} /> : <Inventory />;
      break;
    case "issue":
      view = <IssueForm />;
      break;
    case "audit":
      view = <AuditLog />;
      break;
    case "cas":
      view = <CaTree />;
      break;
    case "acme":
      view = <AcmeDirectories />;
      break;
    case "organizations":
      view = <Organizations />;
      break;
    case "policies":
      view = <Policies />;
      break;
    case "renewal":
      view = <Campaigns />;
      break;
    case "people":
      view = <People />;
      break;
    default:
      view = <p class="error">No such page.</p>;
  }
  return (
    <div class="shell">
      <header>
        <a class="brand" {...linkProps("certificates")}>
          Sigil
        </a>
        <nav>
          {nav
            .filter(([, , shown]) => shown)
            .map(([r, label]) => (
              <a key={r} class={active === r ? "active" : ""} {...linkProps(r)}>
                {label}
              </a>
            ))}
        </nav>
        <span class="who" data-testid="whoami">
          {u.username} <small>({ROLE[u.role] ?? "?"})</small>
        </span>
        <button type="button" class="link" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      <main>{view}</main>
    </div>
  );
}
