/**
 * Operator-driven renewal campaigns: an operator asks that a set of
 * certificates be renewed in a window (CA rotation, key compromise, a
 * directory's clients to be exercised), and RFC 9773 §4.2 renewalInfo of
 * each member answers that window with the campaign's explanationURL. The
 * members are fixed at creation (one insert ... select,
 * src/db/store/renewal-campaigns.ts): the certificates of the target that
 * are valid then.
 *
 * Scopes: one certificate; every certificate a CA issued; every certificate
 * issued through an ACME directory; a list of serials (among the
 * organization's CAs); a drill: a random sample (a percentage) of a
 * directory's valid certificates, so an operator can practise a mass
 * renewal and measure how many clients follow ARI.
 *
 * Progress: a member counts as replaced when a certificate was renewed from
 * it (certificates.renewed_from: RFC 9773 §5 `replaces`, or an admin
 * renewal) or a newer certificate for the same names came from the same
 * ACME account since the campaign started. The certificates insert trigger
 * (migration CampaignProgress) marks such members and counts them on the
 * campaign row, so a Get or a List page reads campaign rows only (review 2 H1:
 * the count used to be members x the account's certificates per read).
 *
 * Permissions: creating and cancelling need an organization admin (or a
 * superuser); reading needs membership of the organization (policy/permissions.ts).
 * The reason and window go into the audit entry.
 */
import { serialFromHex, serialToHex } from "../ca/serial.js";
import { uuidv7 } from "../core/ids.js";
import { SigilError } from "../core/errors.js";
import type { RenewalCampaignScope } from "../db/entities/index.js";
import {
  cancelCampaign as cancelCampaignRow,
  fillCampaignMembers,
  findCampaign,
  insertCampaign,
  listCampaigns,
  targetOrganization,
  type RenewalCampaignRow,
} from "../db/store/renewal-campaigns.js";
import { authorize, NOT_FOUND_OUTSIDE_ORGANIZATION } from "../policy/permissions.js";
import { actorAuditFields, type Actor } from "./actor.js";
import { visibleOrganization } from "./certificate-authorities.js";
import { inTransaction, type RaContext } from "./context.js";
import { requireId, requireName } from "./input.js";
import { nextPageToken, parsePage } from "./paging.js";

/** RFC 9773 §4.2: a window "now" spans this long from the moment the campaign is created */
export const NOW_WINDOW_MS = 60_000;
/** the most serials one campaign may list */
export const MAX_CAMPAIGN_SERIALS = 10_000;
/**
 * the longest campaign window (review 2 M2): a campaign asks for a renewal
 * soon; a window reaching months out would only be capped at each member's
 * notAfter by renewalInfo (withCampaign). 90 days after its start, from now at most 90 days ahead.
 */
export const MAX_CAMPAIGN_WINDOW_MS = 90 * 86_400_000;
/** the longest reason kept (it is shown in the audit log) */
export const MAX_CAMPAIGN_REASON = 1024;
/** the longest explanationURL (RFC 9773 §4.2) */
export const MAX_EXPLANATION_URL = 2048;

export interface CreateRenewalCampaignInput {
  scope: RenewalCampaignScope;
  /** scope certificate */
  certificateId?: string;
  /** scope ca */
  caId?: string;
  /** scopes directory and drill */
  directoryId?: string;
  /** scope serials: hex, colons allowed */
  serials?: string[];
  /** scope serials: whose CAs the serials are looked up among (default: the caller's organization) */
  organizationId?: string;
  /** the window: now, or from start (default now) to end */
  now?: boolean;
  windowStart?: Date;
  windowEnd?: Date;
  /** RFC 9773 §4.2 explanationURL shown to the subscriber */
  explanationUrl?: string;
  /** why (required; shown in the audit log) */
  reason: string;
  /** scope drill: percentage of the directory's valid certificates, 1..100 */
  drillPercent?: number;
}

/** A campaign with its progress. */
export interface RenewalCampaignView extends RenewalCampaignRow {
  /** members replaced so far */
  replacedCount: number;
}

function checkExplanationUrl(v: string | undefined): string | null {
  if (!v) return null;
  if (v.length > MAX_EXPLANATION_URL) throw SigilError.invalidArgument(`at most ${MAX_EXPLANATION_URL} characters`, "explanation_url");
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw SigilError.invalidArgument("must be an absolute http or https URL", "explanation_url");
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw SigilError.invalidArgument("must be an absolute http or https URL", "explanation_url");
  return u.toString();
}

/** the campaign window: "now" (a minute from now, RFC 9773 §4.2 clients then renew at once) or start..end */
function campaignWindow(input: CreateRenewalCampaignInput, now: Date): { start: Date; end: Date } {
  if (input.now) {
    if (input.windowStart || input.windowEnd) throw SigilError.invalidArgument("a window is either now or start/end, not both", "window");
    return { start: now, end: new Date(now.getTime() + NOW_WINDOW_MS) };
  }
  if (!input.windowEnd) throw SigilError.invalidArgument("required unless the window is now", "window_end");
  const start = input.windowStart ?? now;
  const end = input.windowEnd;
  // RFC 9773 §4.2: a window whose end does not follow its start is invalid
  if (end.getTime() <= start.getTime()) throw SigilError.invalidArgument("must be after window_start", "window_end");
  if (end.getTime() <= now.getTime()) throw SigilError.invalidArgument("must be in the future", "window_end");
  if (start.getTime() > now.getTime() + MAX_CAMPAIGN_WINDOW_MS) throw SigilError.invalidArgument("at most 90 days from now", "window_start");
  if (end.getTime() - start.getTime() > MAX_CAMPAIGN_WINDOW_MS) throw SigilError.invalidArgument("at most 90 days after window_start", "window_end");
  return { start, end };
}

/** the targets of a scope, checked, with the organization they belong to */
async function resolveTargets(ctx: RaContext, actor: Actor, input: CreateRenewalCampaignInput): Promise<{ organizationId: string; targets: string[] }> {
  const one = async (kind: "certificate" | "ca" | "directory", value: string | undefined, field: string) => {
    const id = requireId(value ?? "", field);
    const org = await targetOrganization(ctx.store, kind, id);
    // the same answer as another organization's target (authorize): no existence oracle (review 2 LOW)
    if (!org) throw SigilError.notFound(NOT_FOUND_OUTSIDE_ORGANIZATION);
    return { organizationId: org, targets: [id] };
  };
  switch (input.scope) {
    case "certificate":
      return one("certificate", input.certificateId, "certificate_id");
    case "ca":
      return one("ca", input.caId, "ca_id");
    case "directory":
    case "drill":
      return one("directory", input.directoryId, "directory_id");
    case "serials": {
      const serials = input.serials ?? [];
      if (!serials.length) throw SigilError.invalidArgument("at least one serial", "serials");
      if (serials.length > MAX_CAMPAIGN_SERIALS) throw SigilError.invalidArgument(`at most ${MAX_CAMPAIGN_SERIALS} serials`, "serials");
      const targets = [...new Set(serials.map((s) => serialToHex(serialFromHex(s))))];
      let organizationId: string;
      if (input.organizationId) organizationId = requireId(input.organizationId, "organization_id");
      else if ((actor.kind === "user" || actor.kind === "serviceAccount") && actor.organizationId) organizationId = actor.organizationId;
      else throw SigilError.invalidArgument("required for a caller without an organization", "organization_id");
      return { organizationId, targets };
    }
    default: {
      const never: never = input.scope;
      throw SigilError.invalidArgument(`unknown scope ${String(never)}`, "scope");
    }
  }
}

/**
 * Creates a campaign and its members (one statement), with a
 * renewal_campaign_create audit entry carrying the reason, the window and
 * the number of members. Needs an organization admin.
 */
export async function createRenewalCampaign(ctx: RaContext, actor: Actor, input: CreateRenewalCampaignInput): Promise<RenewalCampaignView> {
  const reason = requireName(input.reason ?? "", "reason", MAX_CAMPAIGN_REASON);
  const explanationUrl = checkExplanationUrl(input.explanationUrl);
  let drillPercent: number | null = null;
  if (input.scope === "drill") {
    const p = input.drillPercent ?? 0;
    if (!Number.isInteger(p) || p < 1 || p > 100) throw SigilError.invalidArgument("an integer percentage from 1 to 100", "drill_percent");
    drillPercent = p;
  } else if (input.drillPercent) {
    throw SigilError.invalidArgument("only for a drill", "drill_percent");
  }
  const now = ctx.clock.now();
  const window = campaignWindow(input, now);
  const { organizationId, targets } = await resolveTargets(ctx, actor, input);
  authorize(actor, organizationId, "admin");
  const row: RenewalCampaignRow = {
    id: uuidv7(),
    organizationId,
    scope: input.scope,
    targets,
    windowStart: window.start,
    windowEnd: window.end,
    explanationUrl,
    reason,
    drillPercent,
    memberCount: 0,
    replacedCount: 0,
    createdByName: actorAuditFields(actor).username,
    createdAt: now,
    cancelledAt: null,
  };
  const memberCount = await inTransaction(ctx, async (tx) => {
    await insertCampaign(tx, row);
    const n = await fillCampaignMembers(tx, { campaignId: row.id, scope: row.scope, targets, organizationId, now, drillPercent });
    tx.audit(actor, {
      action: "renewal_campaign_create",
      organizationId,
      resourceType: "renewal_campaign",
      resourceId: row.id,
      detail: {
        scope: row.scope,
        targets: targets.length > 20 ? [...targets.slice(0, 20), `... ${targets.length - 20} more`] : targets,
        reason,
        windowStart: window.start.toISOString(),
        windowEnd: window.end.toISOString(),
        ...(explanationUrl ? { explanationUrl } : {}),
        ...(drillPercent !== null ? { drillPercent } : {}),
        members: n,
      },
    });
    return n;
  });
  return { ...row, memberCount, replacedCount: 0 };
}

async function loadCampaign(ctx: RaContext, actor: Actor, id: string, need: "read" | "admin"): Promise<RenewalCampaignRow> {
  const row = await findCampaign(ctx.store, requireId(id, "id"));
  if (!row) throw SigilError.notFound(NOT_FOUND_OUTSIDE_ORGANIZATION);
  authorize(actor, row.organizationId, need);
  return row;
}

/** The row carries its progress: member_count from the fill, replaced_count kept by the certificates trigger. */
function withProgress(row: RenewalCampaignRow): RenewalCampaignView {
  return row;
}

/** One campaign with how many of its members have been replaced so far. */
export async function getRenewalCampaign(ctx: RaContext, actor: Actor, id: string): Promise<RenewalCampaignView> {
  return withProgress(await loadCampaign(ctx, actor, id, "read"));
}

/** Campaigns visible to the caller, newest first (progress counted per campaign). */
export async function listRenewalCampaigns(
  ctx: RaContext,
  actor: Actor,
  input: { organizationId?: string; includeCancelled?: boolean; pageSize: number; pageToken: string },
): Promise<{ items: RenewalCampaignView[]; nextPageToken: string }> {
  const page = parsePage(input.pageSize, input.pageToken);
  const org = visibleOrganization(actor, input.organizationId);
  if (org === "none") return { items: [], nextPageToken: "" };
  const { items, total } = await listCampaigns(ctx.store, { organizationId: org, includeCancelled: input.includeCancelled ?? false, ...page });
  return { items: items.map(withProgress), nextPageToken: nextPageToken(page, items.length, total) };
}

/** Cancels a campaign: its members' renewalInfo no longer answers its window. Needs an organization admin. */
export async function cancelRenewalCampaign(ctx: RaContext, actor: Actor, id: string): Promise<RenewalCampaignView> {
  const existing = await loadCampaign(ctx, actor, id, "admin");
  if (existing.cancelledAt) throw SigilError.failedPrecondition("the renewal campaign is already cancelled");
  const row = await inTransaction(ctx, async (tx) => {
    const r = await cancelCampaignRow(tx, existing.id, ctx.clock.now());
    if (!r) throw SigilError.failedPrecondition("the renewal campaign is already cancelled");
    tx.audit(actor, {
      action: "renewal_campaign_cancel",
      organizationId: r.organizationId,
      resourceType: "renewal_campaign",
      resourceId: r.id,
      detail: { scope: r.scope, reason: r.reason },
    });
    return r;
  });
  return withProgress(row);
}
