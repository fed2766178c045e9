// Organizations and CAs the caller can see, loaded once per login: names for
// ids in every table, and the choices of the filter and issue forms.
import { useEffect, useState } from "preact/hooks";
import type { CertificateAuthority } from "../../src/gen/sigil/admin/v1/certificate_authority_pb.js";
import type { Organization } from "../../src/gen/sigil/admin/v1/organization_pb.js";
import { api, currentSession, isSuperuser, onSessionChange } from "./api.js";

export interface Catalog {
  organizations: Organization[];
  cas: CertificateAuthority[];
  orgName(id: string): string;
  caName(id: string): string;
}

let cached: Promise<Catalog> | undefined;
onSessionChange(() => (cached = undefined));

async function all<T>(page: (token: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const out: T[] = [];
  let token = "";
  for (let i = 0; i < 50; i++) {
    const r = await page(token);
    out.push(...r.items);
    if (!r.next) break;
    token = r.next;
  }
  return out;
}

async function load(): Promise<Catalog> {
  const user = currentSession()?.user;
  let organizations: Organization[];
  if (isSuperuser(user)) {
    organizations = await all(async (pageToken) => {
      const r = await api.organizations.listOrganizations({ pageSize: 200, pageToken });
      return { items: r.organizations, next: r.nextPageToken };
    });
  } else if (user?.organizationId) {
    const r = await api.organizations.getOrganization({ id: user.organizationId });
    organizations = r.organization ? [r.organization] : [];
  } else organizations = [];
  const cas = await all(async (pageToken) => {
    const r = await api.cas.listCertificateAuthorities({ pageSize: 200, pageToken });
    return { items: r.certificateAuthorities, next: r.nextPageToken };
  });
  const orgs = new Map(organizations.map((o) => [o.id, o.name]));
  const caNames = new Map(cas.map((c) => [c.id, c.name]));
  return {
    organizations,
    cas,
    orgName: (id) => orgs.get(id) ?? (id ? id.slice(0, 8) : "—"),
    caName: (id) => caNames.get(id) ?? (id ? id.slice(0, 8) : "—"),
  };
}

export function reloadCatalog(): void {
  cached = undefined;
}

export function useCatalog(): { catalog?: Catalog; error?: unknown } {
  const [state, setState] = useState<{ catalog?: Catalog; error?: unknown }>({});
  useEffect(() => {
    let live = true;
    cached ??= load();
    cached.then(
      (catalog) => live && setState({ catalog }),
      (error: unknown) => {
        cached = undefined;
        if (live) setState({ error });
      },
    );
    return () => {
      live = false;
    };
  }, []);
  return state;
}
