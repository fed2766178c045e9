/**
 * Operator renewal campaigns (RFC 9773 §4.2 renewalInfo driven by the CA):
 * the campaign row, its members filled by ONE insert ... select per scope
 * (a CA with a million certificates is one statement, not a million round
 * trips), the window a certificate's renewalInfo answers, the replaced
 * count, the list and the cancel.
 *
 * Members are the certificates of the campaign's organization that are
 * valid (not revoked, not expired) when it is created. Index use: a CA's by
 * the (issuer_id, serial) unique index, a directory's through its accounts
 * and certificates(acme_account_id), serials by (issuer_id, serial) over
 * the organization's CAs, one certificate by its key; a certificate's
 * campaigns by renewal_campaign_certificates(certificate_id).
 */
import type { RenewalCampaignScope } from "../entities/index.js";
import { statement } from "../sql.js";
import { sqlOf, type Session } from "./session.js";

/** the columns the campaign insert writes and the reads select (table renewal_campaigns) */
export const RENEWAL_CAMPAIGN_COLUMNS = [
  "id",
  "organization_id",
  "scope",
  "targets",
  "window_start",
  "window_end",
  "explanation_url",
  "reason",
  "drill_percent",
  "member_count",
  "replaced_count",
  "created_by_name",
  "created_at",
  "cancelled_at",
] as const;

/** the columns the member insert writes (table renewal_campaign_certificates) */
export const RENEWAL_CAMPAIGN_MEMBER_COLUMNS = ["campaign_id", "certificate_id", "acme_account_id", "names_key"] as const;

/** A campaign as stored. */
export interface RenewalCampaignRow {
  id: string;
  organizationId: string;
  scope: RenewalCampaignScope;
  /** certificate / CA / directory ids, or serials (stored hex) */
  targets: string[];
  windowStart: Date;
  windowEnd: Date;
  explanationUrl: string | null;
  reason: string;
  drillPercent: number | null;
  memberCount: number;
  /** members replaced so far: kept by the certificates insert trigger (migration CampaignProgress) */
  replacedCount: number;
  createdByName: string;
  createdAt: Date;
  cancelledAt: Date | null;
}

interface CampaignSqlRow {
  id: string;
  organization_id: string;
  scope: RenewalCampaignScope;
  targets: string[];
  window_start: Date | string;
  window_end: Date | string;
  explanation_url: string | null;
  reason: string;
  drill_percent: number | null;
  member_count: number;
  replaced_count: number;
  created_by_name: string;
  created_at: Date | string;
  cancelled_at: Date | string | null;
}

function campaignFromSql(r: CampaignSqlRow): RenewalCampaignRow {
  return {
    id: r.id,
    organizationId: r.organization_id,
    scope: r.scope,
    targets: r.targets,
    windowStart: new Date(r.window_start),
    windowEnd: new Date(r.window_end),
    explanationUrl: r.explanation_url,
    reason: r.reason,
    drillPercent: r.drill_percent,
    memberCount: r.member_count,
    replacedCount: r.replaced_count,
    createdByName: r.created_by_name,
    createdAt: new Date(r.created_at),
    cancelledAt: r.cancelled_at === null ? null : new Date(r.cancelled_at),
  };
}

const COLS = RENEWAL_CAMPAIGN_COLUMNS.join(", ");

const INSERT_CAMPAIGN = statement(
  "sigil_renewal_campaign_insert",
  `insert into renewal_campaigns (${COLS}) values ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
);

/** Writes the campaign row (member_count as given; fillCampaignMembers sets it). */
export async function insertCampaign(s: Session, c: RenewalCampaignRow): Promise<void> {
  await sqlOf(s).query(INSERT_CAMPAIGN, [
    c.id,
    c.organizationId,
    c.scope,
    JSON.stringify(c.targets),
    c.windowStart,
    c.windowEnd,
    c.explanationUrl,
    c.reason,
    c.drillPercent,
    c.memberCount,
    c.replacedCount,
    c.createdByName,
    c.createdAt,
    c.cancelledAt,
  ]);
}

/**
 * valid at $4: not revoked, not expired; and a leaf (review 2 LOW): a CA's
 * intermediates (type ca) and delegated OCSP signing certificates (type
 * ocsp) are no ACME subscriber's to renew, and RFC 9773 renewalInfo is for
 * end-entity certificates
 */
const VALID = `c.status = 'valid' and c.not_after > $4 and c.type in ('server', 'client', 'dual')`;
const MEMBERS = RENEWAL_CAMPAIGN_MEMBER_COLUMNS.join(", ");
/** the member's account and names key, which the certificates insert trigger looks members up by */
const KEYS = `c.acme_account_id, sigil_certificate_names_key(c.dns_names, c.ip_addresses)`;

/** wraps the member select: insert, set member_count, answer the count ($1 the campaign) */
function fill(name: string, select: string, pool = ""): ReturnType<typeof statement> {
  return statement(
    name,
    // a new campaign has no members yet and each select names a certificate once: no conflict handling
    `with ${pool}ins as (insert into renewal_campaign_certificates (${MEMBERS}) ${select} returning 1),
          up as (update renewal_campaigns set member_count = (select count(*) from ins) where id = $1)
     select count(*)::int n from ins`,
  );
}

// $1 campaign, $2 targets, $3 organization, $4 now (, $5 drill percent)
const FILL = {
  certificate: fill(
    "sigil_renewal_campaign_fill_certificate",
    `select $1::uuid, c.id, ${KEYS} from certificates c where c.id = any($2::uuid[]) and c.organization_id = $3 and ${VALID}`,
  ),
  ca: fill("sigil_renewal_campaign_fill_ca", `select $1::uuid, c.id, ${KEYS} from certificates c where c.issuer_id = ($2::uuid[])[1] and c.organization_id = $3 and ${VALID}`),
  directory: fill(
    "sigil_renewal_campaign_fill_directory",
    `select $1::uuid, c.id, ${KEYS} from acme_accounts a join certificates c on c.acme_account_id = a.id
      where a.directory_id = ($2::uuid[])[1] and c.organization_id = $3 and ${VALID}`,
  ),
  serials: fill(
    "sigil_renewal_campaign_fill_serials",
    `select $1::uuid, c.id, ${KEYS} from certificates c
      where c.issuer_id in (select id from certificate_authorities where organization_id = $3) and c.serial = any($2::varchar[]) and ${VALID}`,
  ),
  // a uniform random sample of the directory's valid certificates, ceil(percent of them)
  drill: fill(
    "sigil_renewal_campaign_fill_drill",
    `select $1::uuid, id, acme_account_id, names_key from pool order by random() limit (select ceil(count(*) * $5::numeric / 100) from pool)`,
    `pool as (select c.id, ${KEYS} names_key from acme_accounts a join certificates c on c.acme_account_id = a.id
               where a.directory_id = ($2::uuid[])[1] and c.organization_id = $3 and ${VALID}),
          `,
  ),
} as const satisfies Record<RenewalCampaignScope, unknown>;

/**
 * Fills the campaign's members in one statement (and its member_count):
 * the certificates of `targets` (per scope) in the organization valid at
 * `now`. Answers how many.
 */
export async function fillCampaignMembers(
  s: Session,
  q: { campaignId: string; scope: RenewalCampaignScope; targets: string[]; organizationId: string; now: Date; drillPercent: number | null },
): Promise<number> {
  const params: unknown[] = [q.campaignId, q.targets, q.organizationId, q.now];
  if (q.scope === "drill") params.push(q.drillPercent);
  const [r] = await sqlOf(s).query<{ n: number }>(FILL[q.scope], params);
  return r?.n ?? 0;
}

const GET_CAMPAIGN = statement("sigil_renewal_campaign_get", `select ${COLS} from renewal_campaigns where id = $1`);

export async function findCampaign(s: Session, id: string): Promise<RenewalCampaignRow | null> {
  const [r] = await sqlOf(s).query<CampaignSqlRow>(GET_CAMPAIGN, [id]);
  return r ? campaignFromSql(r) : null;
}

const LIST_CAMPAIGNS = statement(
  "sigil_renewal_campaign_list",
  `select ${COLS}, count(*) over ()::int total from renewal_campaigns
    where ($1::uuid is null or organization_id = $1) and ($2::boolean or cancelled_at is null)
    order by created_at desc, id desc limit $3 offset $4`,
);

/** Campaigns of an organization (null: all), newest first. */
export async function listCampaigns(
  s: Session,
  q: { organizationId: string | null; includeCancelled: boolean; limit: number; offset: number },
): Promise<{ items: RenewalCampaignRow[]; total: number }> {
  const rows = await sqlOf(s).query<CampaignSqlRow & { total: number }>(LIST_CAMPAIGNS, [q.organizationId, q.includeCancelled, q.limit, q.offset]);
  return { items: rows.map(campaignFromSql), total: rows[0]?.total ?? 0 };
}

const CANCEL_CAMPAIGN = statement(
  "sigil_renewal_campaign_cancel",
  `update renewal_campaigns set cancelled_at = $2 where id = $1 and cancelled_at is null returning ${COLS}`,
);

/** Cancels the campaign unless it already was (then null). */
export async function cancelCampaign(s: Session, id: string, now: Date): Promise<RenewalCampaignRow | null> {
  const [r] = await sqlOf(s).query<CampaignSqlRow>(CANCEL_CAMPAIGN, [id, now]);
  return r ? campaignFromSql(r) : null;
}

const PROGRESS = statement(
  "sigil_renewal_campaign_progress",
  // the campaign row alone: member_count written by the fill, replaced_count by the certificates insert trigger
  // (migration CampaignProgress): a member is replaced by a certificate renewed from it (RFC 9773 §5 replaces, or an
  // admin renewal), or by a certificate of the same ACME account for the same names (as sets) since the campaign began
  `select member_count total, replaced_count replaced from renewal_campaigns where id = $1`,
);

/** How many members the campaign has, and how many of them have been replaced (one primary-key read). */
export async function campaignProgress(s: Session, campaignId: string): Promise<{ total: number; replaced: number }> {
  const [r] = await sqlOf(s).query<{ total: number; replaced: number }>(PROGRESS, [campaignId]);
  return { total: r?.total ?? 0, replaced: r?.replaced ?? 0 };
}

/** The campaign window a certificate's renewalInfo answers. */
export interface CampaignWindow {
  campaignId: string;
  start: Date;
  end: Date;
  explanationUrl: string | null;
}

const CERTIFICATE_WINDOW = statement(
  "sigil_renewal_campaign_window",
  // over the campaigns (not cancelled) the certificate is a member of: the earliest start and the earliest end (RFC 9773
  // §4.2: no campaign delays another's), the id and explanationURL of the one starting first
  `select (array_agg(c.id order by c.window_start, c.window_end))[1] id, min(c.window_start) window_start, min(c.window_end) window_end,
          (array_agg(c.explanation_url order by c.window_start, c.window_end))[1] explanation_url
     from renewal_campaign_certificates m join renewal_campaigns c on c.id = m.campaign_id
    where m.certificate_id = $1 and c.cancelled_at is null
   having count(*) > 0`,
);

/** The active campaign windows of the certificate combined (earliest start, earliest end), or null. */
export async function findCertificateCampaignWindow(s: Session, certificateId: string): Promise<CampaignWindow | null> {
  const [r] = await sqlOf(s).query<{ id: string; window_start: Date | string; window_end: Date | string; explanation_url: string | null }>(CERTIFICATE_WINDOW, [
    certificateId,
  ]);
  return r ? { campaignId: r.id, start: new Date(r.window_start), end: new Date(r.window_end), explanationUrl: r.explanation_url } : null;
}

/** What a campaign's target resolves to: its organization (null when there is no such target). */
const TARGET_ORG = {
  certificate: statement("sigil_renewal_target_certificate", `select organization_id from certificates where id = $1`),
  ca: statement("sigil_renewal_target_ca", `select organization_id from certificate_authorities where id = $1 and deleted_at is null`),
  directory: statement("sigil_renewal_target_directory", `select organization_id from acme_directories where id = $1`),
} as const;

/** The organization of a certificate, (live) CA or ACME directory; null when unknown. */
export async function targetOrganization(s: Session, kind: keyof typeof TARGET_ORG, id: string): Promise<string | null> {
  const [r] = await sqlOf(s).query<{ organization_id: string }>(TARGET_ORG[kind], [id]);
  return r?.organization_id ?? null;
}
