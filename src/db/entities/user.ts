import { EntitySchema, type Opt } from "@mikro-orm/core";
import type { UserRole } from "../../core/types.js";
import { createdAtProperty, idProperty, optionalTimestamp, updatedAtProperty } from "./common.js";
import { Organization } from "./organization.js";

/**
 * A person who signs in to the admin plane. Never hard-deleted: deactivated
 * with isActive=false so audit entries and certificates keep their actor.
 * Properties with a default are `Opt`, so `em.create(User, {...})` type-checks
 * with only what a new user must have (username, password hash).
 */
export class User {
  id!: string;
  username!: string;
  email?: string | null;
  /** the email was last set by the user themself (self-service, unverified), not by an administrator: SSO does not link by it */
  emailSelfAsserted: Opt<boolean> = false;
  passwordHash!: string;
  role: Opt<UserRole> = "user";
  /** null only for superusers, who stand above organizations */
  organization?: Organization | null;
  canCreateCa: Opt<boolean> = false;
  canCreateCert: Opt<boolean> = false;
  canRevokeCert: Opt<boolean> = false;
  canExportPrivateKey: Opt<boolean> = false;
  canDeleteCa: Opt<boolean> = false;
  isActive: Opt<boolean> = true;
  /** bumped on password change, deactivation and invalidate-all: tokens carry it */
  sessionGeneration: Opt<number> = 0;
  failedLoginCount: Opt<number> = 0;
  /** first failure of the current lockout window (5 failures within 15 minutes lock the account) */
  failedLoginWindowStart?: Date | null;
  lockedUntil?: Date | null;
  lastLoginAt?: Date | null;
  createdAt!: Opt<Date>;
  updatedAt!: Opt<Date>;
}

export const UserSchema = new EntitySchema<User>({
  class: User,
  tableName: "users",
  // issue 13 item 8: usernames and emails unique in any case (migration 20261202160000)
  uniques: [
    { name: "users_username_lower_unique", expression: `create unique index "users_username_lower_unique" on "users" (lower("username"))` },
    { name: "users_email_lower_unique", expression: `create unique index "users_email_lower_unique" on "users" (lower("email"))` },
  ],
  properties: {
    id: idProperty,
    username: { type: "string", length: 64, unique: true },
    email: { type: "string", length: 254, nullable: true, unique: true },
    emailSelfAsserted: { type: "boolean", default: false },
    passwordHash: { type: "string", length: 100, lazy: true },
    role: { type: "string", length: 16, default: "user" },
    organization: { kind: "m:1", entity: () => Organization, nullable: true, deleteRule: "restrict" },
    canCreateCa: { type: "boolean", default: false },
    canCreateCert: { type: "boolean", default: false },
    canRevokeCert: { type: "boolean", default: false },
    canExportPrivateKey: { type: "boolean", default: false },
    canDeleteCa: { type: "boolean", default: false },
    isActive: { type: "boolean", default: true },
    sessionGeneration: { type: "integer", default: 0 },
    failedLoginCount: { type: "integer", default: 0 },
    failedLoginWindowStart: optionalTimestamp,
    lockedUntil: optionalTimestamp,
    lastLoginAt: optionalTimestamp,
    createdAt: createdAtProperty,
    updatedAt: updatedAtProperty,
  },
});
