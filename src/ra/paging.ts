import { SigilError } from "../core/errors.js";

/** Default and maximum page sizes of List RPCs. */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export interface PageRequest {
  /** rows to skip */
  offset: number;
  /** rows to return */
  limit: number;
}

/**
 * page_size / page_token -> offset and limit. Page tokens are opaque to
 * clients (base64url of {"o": offset}); a token that does not parse is
 * INVALID_ARGUMENT naming page_token.
 */
export function parsePage(pageSize: number, pageToken: string): PageRequest {
  if (!Number.isInteger(pageSize) || pageSize < 0) throw SigilError.invalidArgument("must not be negative", "page_size");
  const limit = pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(pageSize, MAX_PAGE_SIZE);
  if (!pageToken) return { offset: 0, limit };
  let offset: unknown;
  try {
    offset = (JSON.parse(Buffer.from(pageToken, "base64url").toString("utf8")) as { o?: unknown }).o;
  } catch {
    offset = undefined;
  }
  if (typeof offset !== "number" || !Number.isInteger(offset) || offset < 0) {
    throw SigilError.invalidArgument("not a page token from this server", "page_token");
  }
  return { offset, limit };
}

/** The next_page_token after a page of `returned` rows out of `total` (empty on the last page). */
export function nextPageToken(page: PageRequest, returned: number, total: number): string {
  const next = page.offset + returned;
  if (returned === 0 || next >= total) return "";
  return Buffer.from(JSON.stringify({ o: next }), "utf8").toString("base64url");
}
