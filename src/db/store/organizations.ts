/**
 * The organizations table (tenants), and the one question about the
 * organization aggregate as a whole: what still belongs to it.
 */
import { LockMode, raw } from "@mikro-orm/core";
import { uuidv7 } from "../../core/ids.js";
import { slugFromName } from "../../core/slug.js";
import { Organization } from "../entities/index.js";
import { statement } from "../sql.js";
import { emOf, sqlOf, type Session, type TxSession } from "./session.js";

/** An organization by id; `lock` takes a row lock (FOR UPDATE) for a change in the session's transaction. */
export async function findOrganization(s: Session, id: string, opts: { lock?: boolean } = {}): Promise<Organization | null> {
  return emOf(s).findOne(Organization, { id }, opts.lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
}

/** An organization by its (unique) name. */
export async function findOrganizationByName(s: Session, name: string): Promise<Organization | null> {
  return emOf(s).findOne(Organization, { name });
}

/** Whether an organization exists. */
export async function organizationExists(s: Session, id: string): Promise<boolean> {
  return (await emOf(s).count(Organization, { id })) > 0;
}

/** Whether an organization other than `exceptId` has this name. */
export async function organizationNameTaken(s: Session, name: string, exceptId?: string): Promise<boolean> {
  return (await emOf(s).count(Organization, exceptId ? { name, id: { $ne: exceptId } } : { name })) > 0;
}

/** slugs are unique in any case: organizations_slug_lower_unique is on lower(slug) */
const LOWER_SLUG = raw((alias) => `lower(${alias}.slug)`);

/** An organization by slug (any case). */
export async function findOrganizationBySlug(s: Session, slug: string): Promise<Organization | null> {
  return emOf(s).findOne(Organization, { [LOWER_SLUG]: slug.toLowerCase() });
}

/** Whether an organization other than `exceptId` has this slug (any case). */
export async function organizationSlugTaken(s: Session, slug: string, exceptId?: string): Promise<boolean> {
  const where = exceptId ? { [LOWER_SLUG]: slug.toLowerCase(), id: { $ne: exceptId } } : { [LOWER_SLUG]: slug.toLowerCase() };
  return (await emOf(s).count(Organization, where)) > 0;
}

/**
 * A new organization (written at the transaction's flush); the id is known
 * at once. Without a slug, one is derived from the name (the caller checks
 * uniqueness when it matters; the unique index has the last word).
 */
export function insertOrganization(
  tx: TxSession,
  row: { id?: string; name: string; description: string; slug?: string; settings?: Record<string, unknown> },
): Organization {
  return emOf(tx).create(Organization, {
    id: row.id ?? uuidv7(),
    name: row.name,
    description: row.description,
    slug: row.slug ?? slugFromName(row.name),
    settings: row.settings ?? {},
  });
}

/** A page of organizations (all, or the one with `id`), by name, and how many match in all. */
export async function listOrganizations(
  s: Session,
  filter: { id?: string },
  window: { offset: number; limit: number },
): Promise<{ items: Organization[]; total: number }> {
  const where = filter.id ? { id: filter.id } : {};
  const [items, total] = await emOf(s).findAndCount(Organization, where, { orderBy: { name: "asc", id: "asc" }, offset: window.offset, limit: window.limit });
  return { items, total };
}

/** How many rows of each kind belong to an organization. */
export interface OrganizationHoldings {
  users: number;
  certificateAuthorities: number;
  certificates: number;
  acmeDirectories: number;
  acmeAccounts: number;
  acmeEabKeys: number;
  serviceAccounts: number;
}

/**
 * The tables whose rows belong to an organization through their
 * organization_id column, keyed as OrganizationHoldings names them.
 */
export const ORGANIZATION_HOLDING_TABLES = {
  users: "users",
  certificateAuthorities: "certificate_authorities",
  certificates: "certificates",
  acmeDirectories: "acme_directories",
  acmeAccounts: "acme_accounts",
  acmeEabKeys: "acme_eab_keys",
  serviceAccounts: "service_accounts",
} as const satisfies Record<keyof OrganizationHoldings, string>;

const HOLDING_KEYS: ReadonlyArray<keyof OrganizationHoldings> = [
  "users",
  "certificateAuthorities",
  "certificates",
  "acmeDirectories",
  "acmeAccounts",
  "acmeEabKeys",
  "serviceAccounts",
];

// one round trip for all seven counts (each an index lookup on organization_id)
const HOLDINGS = statement(
  "sigil_organizations_holdings",
  `select ${HOLDING_KEYS.map((k, i) => `(select count(*) from ${ORGANIZATION_HOLDING_TABLES[k]} where organization_id = $1) as c${i}`).join(",\n          ")}`,
);

/** What still belongs to the organization (also deactivated users), counted in the session. */
export async function organizationHoldings(s: Session, organizationId: string): Promise<OrganizationHoldings> {
  const [r] = await sqlOf(s).query<Record<string, string>>(HOLDINGS, [organizationId]);
  const out: OrganizationHoldings = { users: 0, certificateAuthorities: 0, certificates: 0, acmeDirectories: 0, acmeAccounts: 0, acmeEabKeys: 0, serviceAccounts: 0 };
  HOLDING_KEYS.forEach((k, i) => {
    out[k] = Number(r?.[`c${i}`] ?? 0);
  });
  return out;
}

/** Deletes an organization in the transaction (at its flush). */
export function deleteOrganization(tx: TxSession, org: Organization): void {
  emOf(tx).remove(org);
}
