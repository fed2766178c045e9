import { Migration } from "@mikro-orm/migrations";

/**
 * Issue 13 item 6: sessions you can see, and lockout in sliding windows.
 *
 * - sessions.client (the user-agent that logged in) and
 *   sessions.last_used_at (login, refresh, or a call with its access token;
 *   at most once a minute), for ListSessions.
 * - login_failures: one row per failed password login that counts (unknown
 *   user, wrong password), with its address; the per-address throttle, the
 *   per-account-and-address lockout and the per-account lockout count these
 *   rows in sliding windows (src/ra/auth.ts). locks_until is set on the row
 *   that reached the per-address threshold. Rows older than the window are
 *   pruned as failures arrive; shared by every instance (the in-memory
 *   per-instance throttle is gone).
 */
export class Migration20261202171000SessionsLockout extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "sessions" add column "client" varchar(255) null, add column "last_used_at" timestamptz null;`);
    this.addSql(
      `create table "login_failures" ("id" uuid not null, "user_id" uuid null, "address" varchar(64) not null, "failed_at" timestamptz not null, "locks_until" timestamptz null, constraint "login_failures_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "login_failures_address_failed_at_index" on "login_failures" ("address", "failed_at");`);
    this.addSql(`create index "login_failures_user_id_failed_at_index" on "login_failures" ("user_id", "failed_at");`);
    this.addSql(
      `alter table "login_failures" add constraint "login_failures_user_id_foreign" foreign key ("user_id") references "users" ("id") on update cascade on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "login_failures" cascade;`);
    this.addSql(`alter table "sessions" drop column "client", drop column "last_used_at";`);
  }
}
