import { EntitySchema, type Opt } from "@mikro-orm/core";
import { createdAtProperty, idProperty, optionalTimestamp, timestamp } from "./common.js";
import { User } from "./user.js";

/**
 * A login session: one refresh-token family. Access tokens (JWT) carry its
 * id (`sid`) and are refused once it is revoked or expired; its refresh
 * tokens rotate on every use and a reused one revokes the whole family.
 */
export class Session {
  id!: string;
  user!: User;
  /** the user's sessionGeneration at login; a bump (password change, deactivation, invalidate-all) ends the session */
  generation!: number;
  createdAt!: Opt<Date>;
  /** absolute end of the family: no refresh after this */
  expiresAt!: Date;
  lastRefreshedAt?: Date | null;
  revokedAt?: Date | null;
  /** logout, invalidate_all, refresh_reuse, password_change, deactivation */
  revokedReason?: string | null;
  /** the peer address that logged in (no port) */
  clientAddress?: string | null;
  /** the client that logged in (user-agent, at most 255 characters) */
  client?: string | null;
  /** last login, refresh or call with its access token (at most once a minute) */
  lastUsedAt?: Date | null;
}

export const SessionSchema = new EntitySchema<Session>({
  class: Session,
  tableName: "sessions",
  properties: {
    id: idProperty,
    user: { kind: "m:1", entity: () => User, deleteRule: "restrict", index: true },
    generation: { type: "integer" },
    createdAt: createdAtProperty,
    expiresAt: timestamp,
    lastRefreshedAt: optionalTimestamp,
    revokedAt: optionalTimestamp,
    revokedReason: { type: "string", length: 32, nullable: true },
    clientAddress: { type: "string", length: 64, nullable: true },
    client: { type: "string", length: 255, nullable: true },
    lastUsedAt: optionalTimestamp,
  },
});

/**
 * A failed password login that counts toward the lockout rules (unknown
 * user, wrong password), by address; src/ra/auth.ts counts them in sliding
 * windows. `locksUntil` is set on the failure that reached the
 * per-account-and-address threshold.
 */
export class LoginFailure {
  id!: string;
  /** null for an unknown username */
  user?: User | null;
  address!: string;
  failedAt!: Date;
  locksUntil?: Date | null;
}

export const LoginFailureSchema = new EntitySchema<LoginFailure>({
  class: LoginFailure,
  tableName: "login_failures",
  indexes: [
    { name: "login_failures_address_failed_at_index", properties: ["address", "failedAt"] },
    { name: "login_failures_user_id_failed_at_index", properties: ["user", "failedAt"] },
  ],
  properties: {
    id: idProperty,
    user: { kind: "m:1", entity: () => User, nullable: true, deleteRule: "cascade" },
    address: { type: "string", length: 64 },
    failedAt: timestamp,
    locksUntil: optionalTimestamp,
  },
});

/**
 * One opaque refresh token of a session, stored as its SHA-256 hash only.
 * Single use: `usedAt` is set when it is exchanged.
 */
export class RefreshToken {
  id!: string;
  session!: Session;
  /** hex SHA-256 of the token */
  tokenHash!: string;
  createdAt!: Opt<Date>;
  expiresAt!: Date;
  usedAt?: Date | null;
}

export const RefreshTokenSchema = new EntitySchema<RefreshToken>({
  class: RefreshToken,
  tableName: "refresh_tokens",
  properties: {
    id: idProperty,
    session: { kind: "m:1", entity: () => Session, deleteRule: "cascade", index: true },
    tokenHash: { type: "string", length: 64, unique: true },
    createdAt: createdAtProperty,
    expiresAt: timestamp,
    usedAt: optionalTimestamp,
  },
});
