import { Migration } from "@mikro-orm/migrations";

/**
 * Whether a user's email was last set by the user (self-service, never
 * verified by Sigil) rather than by an administrator. SSO sign-in links a
 * provider subject to an existing account by email only when an
 * administrator set that email (src/ra/oidc/login.ts): otherwise a member
 * could put a colleague's address on their own account and receive the
 * colleague's first SSO sign-in, with the colleague's mapped role.
 */
export class Migration20261203170000UserEmailSelfAsserted extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "users" add column "email_self_asserted" boolean not null default false;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "users" drop column "email_self_asserted";`);
  }
}
