/**
 * Organization slugs (issue 13 item 1): URL-safe short names used in URLs
 * such as `/acme/{org}/{directory}/directory`. Lower-case a-z, 0-9 and '-',
 * 1 to 63 characters (a DNS label's length), starting and ending with a
 * letter or digit. The same derivation as the migration's SQL function
 * sigil_organization_slug (migration 20261202170000).
 */
export const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const SLUG_RULE = "1 to 63 lower-case letters, digits or '-', starting and ending with a letter or digit";

/** Whether `s` is a well-formed slug. */
export function isSlug(s: string): boolean {
  return SLUG_PATTERN.test(s);
}

/** A slug derived from a name: lower case, runs of anything else become '-', at most 54 characters, "org" when nothing is left. */
export function slugFromName(name: string): string {
  const base = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 54)
    .replace(/^-+|-+$/g, "");
  return base || "org";
}

/** The slug made unique by the last 8 (or `digits`) hex digits of the id (8: as the migration's backfill does). */
export function slugWithIdSuffix(base: string, id: string, digits = 8): string {
  // at most 63 characters in all (SLUG_PATTERN)
  return `${base.slice(0, 62 - digits).replace(/-+$/, "") || "org"}-${id.replace(/-/g, "").slice(-digits)}`;
}
