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
