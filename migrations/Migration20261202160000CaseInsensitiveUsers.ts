import { Migration } from "@mikro-orm/migrations";

/**
 * Issue 13 item 8: usernames and emails unique in any case. Unique indexes
 * on lower(username) and lower(email) (the plain unique constraints stay;
 * they are implied). Existing rows that differ only by case would make the
 * index build fail with PostgreSQL's terse "could not create unique index";
 * instead the migration first looks for them and stops with a message that
 * names every group, so the operator can rename them (UpdateUser for emails;
 * usernames in SQL) and run `sigil migrate` again. Nothing is applied when
 * it stops (the migration runs in one transaction).
 */
export class Migration20261202160000CaseInsensitiveUsers extends Migration {
  override async up(): Promise<void> {
    this.addSql(`do $$
declare
  names text;
  mails text;
begin
  select string_agg(format('[%s]', held), ', ' order by k) into names
    from (select lower(username) as k, string_agg(username, ' / ' order by username) as held
            from users group by lower(username) having count(*) > 1) d;
  select string_agg(format('[%s]', held), ', ' order by k) into mails
    from (select lower(email) as k, string_agg(email, ' / ' order by email) as held
            from users where email is not null group by lower(email) having count(*) > 1) d;
  if names is not null or mails is not null then
    raise exception 'sigil migration 20261202160000: users differ only by letter case; rename them, then migrate again. usernames: %; emails: %',
      coalesce(names, 'none'), coalesce(mails, 'none');
  end if;
end $$;`);
    this.addSql(`create unique index "users_username_lower_unique" on "users" (lower("username"));`);
    this.addSql(`create unique index "users_email_lower_unique" on "users" (lower("email"));`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "users_email_lower_unique";`);
    this.addSql(`drop index "users_username_lower_unique";`);
  }
}
