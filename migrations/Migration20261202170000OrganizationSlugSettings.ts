import { Migration } from "@mikro-orm/migrations";

/**
 * Issue 13 item 1: organizations get a unique URL-safe slug and typed
 * settings.
 *
 * - slug: backfilled from the name (lower case, runs of anything but a-z0-9
 *   become '-', at most 54 characters, "org" when nothing is left); a slug
 *   already taken gets '-' and the last 8 hex digits of the id appended
 *   (oldest organization first keeps the plain one). Unique in any case
 *   (organizations_slug_lower_unique). A row inserted without a slug (raw
 *   SQL, old tooling) gets one the same way from a trigger; the RA always
 *   writes one.
 * - settings: jsonb, '{}' = every default (src/ra/organization-settings.ts
 *   types and validates it).
 */
export class Migration20261202170000OrganizationSlugSettings extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "organizations" add column "slug" varchar(63) null, add column "settings" jsonb not null default '{}';`);
    this.addSql(`create function sigil_organization_slug(p_name text, p_id uuid) returns text language plpgsql as $$
declare
  base text;
begin
  base := trim(both '-' from left(trim(both '-' from regexp_replace(lower(p_name), '[^a-z0-9]+', '-', 'g')), 54));
  if base = '' then
    base := 'org';
  end if;
  if exists (select 1 from organizations where lower(slug) = base and id <> p_id) then
    return base || '-' || right(replace(p_id::text, '-', ''), 8);
  end if;
  return base;
end $$;`);
    this.addSql(`do $$
declare
  r record;
begin
  for r in select id, name from organizations order by created_at, id loop
    update organizations set slug = sigil_organization_slug(r.name, r.id) where id = r.id;
  end loop;
end $$;`);
    this.addSql(`alter table "organizations" alter column "slug" set not null;`);
    this.addSql(`create unique index "organizations_slug_lower_unique" on "organizations" (lower("slug"));`);
    this.addSql(
      `create function sigil_organization_slug_default() returns trigger language plpgsql as $$ begin new.slug := sigil_organization_slug(new.name, new.id); return new; end $$;`,
    );
    this.addSql(
      `create trigger organizations_slug_default before insert on "organizations" for each row when (new.slug is null) execute function sigil_organization_slug_default();`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger organizations_slug_default on "organizations";`);
    this.addSql(`drop function sigil_organization_slug_default();`);
    this.addSql(`drop index "organizations_slug_lower_unique";`);
    this.addSql(`drop function sigil_organization_slug(text, uuid);`);
    this.addSql(`alter table "organizations" drop column "slug", drop column "settings";`);
  }
}
