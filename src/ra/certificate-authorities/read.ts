/** Reading CAs: one, lists, children and chains (any member of the CA's organization may read). */
import type { CertificateAuthority } from "../../db/entities/index.js";
import { caChainPems, listCas as listCaRows } from "../../db/store/certificate-authorities.js";
import { authorize } from "../../policy/permissions.js";
import type { Actor } from "../actor.js";
import type { RaContext } from "../context.js";
import { requireId } from "../input.js";
import { nextPageToken, parsePage } from "../paging.js";
import { loadCa, visibleOrganization, type Page } from "./common.js";

/** One CA. */
export async function getCa(ctx: RaContext, actor: Actor, id: string): Promise<CertificateAuthority> {
  const ca = await loadCa(ctx.store, requireId(id, "id"));
  authorize(actor, ca.organization.id, "read");
  return ca;
}

/** CAs visible to the caller, oldest first. */
export async function listCas(
  ctx: RaContext,
  actor: Actor,
  req: { organizationId?: string; rootsOnly?: boolean; pageSize: number; pageToken: string },
): Promise<Page<CertificateAuthority>> {
  const page = parsePage(req.pageSize, req.pageToken);
  const org = visibleOrganization(actor, req.organizationId);
  if (org === "none") return { items: [], nextPageToken: "" };
  const { items, total } = await listCaRows(ctx.store, { organizationId: org, rootsOnly: req.rootsOnly, limit: page.limit, offset: page.offset });
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** Direct children of a CA. */
export async function listCaChildren(
  ctx: RaContext,
  actor: Actor,
  id: string,
  req: { pageSize: number; pageToken: string },
): Promise<Page<CertificateAuthority>> {
  const page = parsePage(req.pageSize, req.pageToken);
  const ca = await loadCa(ctx.store, requireId(id, "id"));
  authorize(actor, ca.organization.id, "read");
  const { items, total } = await listCaRows(ctx.store, { organizationId: null, parentId: ca.id, limit: page.limit, offset: page.offset });
  return { items, nextPageToken: nextPageToken(page, items.length, total) };
}

/** The chain of a CA (RFC 5280 §6.1: the path a relying party validates), the CA first and its root last. */
export async function getCaChain(ctx: RaContext, actor: Actor, id: string): Promise<string[]> {
  const ca = await loadCa(ctx.store, requireId(id, "id"));
  authorize(actor, ca.organization.id, "read");
  return caChainPems(ctx.store, ca.id);
}
