/**
 * The access-token check's prepared read (findAccessSession,
 * src/db/store/sessions.ts) against the ORM's view of the same rows, on
 * PostgreSQL and on embedded PGlite: the detached user carries every field
 * the ORM loads (the password hash is lazy in both), its organization as a
 * reference by id, timestamps as Dates; a revoked or unknown session reads
 * as such.
 */
import assert from "node:assert/strict";
import { uuidv7 } from "../../../src/core/ids.js";
import { migrate, type Database } from "../../../src/db/orm.js";
import { findAccessSession, touchLoginSession } from "../../../src/db/store/sessions.js";
import { Store } from "../../../src/db/store/session.js";
import { findUser } from "../../../src/db/store/users.js";
import { withEmbeddedDatabase, withPostgresDatabase } from "../../helpers/databases.js";

async function exercise(db: Database): Promise<void> {
  await migrate(db.orm);
  const store = new Store(db.orm);
  const conn = db.orm.em.fork().getConnection();
  const orgId = uuidv7();
  const userId = uuidv7();
  const superId = uuidv7();
  const live = uuidv7();
  const revoked = uuidv7();
  const t = (iso: string) => new Date(iso);
  await conn.execute(`insert into organizations (id, name, slug, created_at, updated_at) values (?, 'acme', 'acme', now(), now())`, [orgId]);
  await conn.execute(
    `insert into users (id, username, email, email_self_asserted, password_hash, role, organization_id, can_create_ca, can_create_cert, can_revoke_cert,
                        can_export_private_key, can_delete_ca, is_active, session_generation, failed_login_count, failed_login_window_start,
                        locked_until, last_login_at, created_at, updated_at)
     values (?, 'alice', 'alice@example.com', true, 'secret-hash', 'user', ?, false, true, true, false, true, true, 3, 2, ?, ?, ?, ?, ?)`,
    [userId, orgId, t("2026-12-01T10:00:00Z"), t("2026-12-01T10:30:00Z"), t("2026-12-01T09:00:00Z"), t("2026-11-01T00:00:00Z"), t("2026-11-02T00:00:00Z")],
  );
  await conn.execute(
    `insert into users (id, username, password_hash, role, created_at, updated_at) values (?, 'root', 'secret-hash', 'superuser', now(), now())`,
    [superId],
  );
  await conn.execute(
    `insert into sessions (id, user_id, generation, created_at, expires_at, revoked_at, last_used_at) values
       (?, ?, 3, ?, ?, null, ?), (?, ?, 0, ?, ?, ?, null)`,
    [
      live, userId, t("2026-12-01T09:00:00Z"), t("2026-12-08T09:00:00Z"), t("2026-12-01T09:05:00Z"),
      revoked, superId, t("2026-12-01T09:00:00Z"), t("2026-12-08T09:00:00Z"), t("2026-12-01T11:00:00Z"),
    ],
  );

  const got = await findAccessSession(store, live);
  assert.ok(got);
  assert.equal(got.id, live);
  assert.equal(got.generation, 3);
  assert.deepEqual(got.expiresAt, t("2026-12-08T09:00:00Z"));
  assert.equal(got.revokedAt, null);
  assert.deepEqual(got.lastUsedAt, t("2026-12-01T09:05:00Z"));
  const orm = await findUser(store, userId);
  assert.ok(orm);
  const fields = [
    "id", "username", "email", "emailSelfAsserted", "role", "canCreateCa", "canCreateCert", "canRevokeCert", "canExportPrivateKey", "canDeleteCa",
    "isActive", "sessionGeneration", "failedLoginCount", "failedLoginWindowStart", "lockedUntil", "lastLoginAt", "createdAt", "updatedAt",
  ] as const;
  for (const f of fields) assert.deepEqual(got.user[f], orm[f], `user.${f}`);
  assert.ok(got.user.createdAt instanceof Date && got.user.lockedUntil instanceof Date, "timestamps are Dates");
  assert.equal(got.user.organization?.id, orgId);
  assert.equal(got.user.passwordHash, undefined, "the password hash is not read");

  const gone = await findAccessSession(store, revoked);
  assert.ok(gone);
  assert.deepEqual(gone.revokedAt, t("2026-12-01T11:00:00Z"));
  assert.equal(gone.lastUsedAt, null);
  assert.equal(gone.user.organization, null, "a superuser has no organization");
  assert.equal(gone.user.role, "superuser");

  assert.equal(await findAccessSession(store, uuidv7()), null);

  const at = t("2026-12-01T12:00:00Z");
  await touchLoginSession(store, live, at);
  assert.deepEqual((await findAccessSession(store, live))?.lastUsedAt, at);
}

describe("findAccessSession (the access-token check's read)", function () {
  this.timeout(120_000);

  it("reads what the ORM reads, on PostgreSQL", () => withPostgresDatabase(exercise));

  it("reads what the ORM reads, on embedded PGlite", () => withEmbeddedDatabase("access-session", exercise));

});
