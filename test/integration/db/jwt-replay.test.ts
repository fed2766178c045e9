/**
 * The jti record of JWT-bearer authentication (src/db/store/jwt-replay.ts,
 * RFC 7523 §3 item 7) on PostgreSQL and on embedded PGlite: a jti is
 * accepted once per service account, another account's same jti is its
 * own, and the recording statement prunes expired rows.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { migrate, type Database } from "../../../src/db/orm.js";
import { recordJwtId } from "../../../src/db/store/jwt-replay.js";
import { Store } from "../../../src/db/store/session.js";
import { withEmbeddedDatabase, withPostgresDatabase } from "../../helpers/databases.js";

async function exercise(db: Database): Promise<void> {
  await migrate(db.orm);
  const store = new Store(db.orm);
  const now = new Date("2026-12-01T12:00:00Z");
  const a = randomUUID();
  const b = randomUUID();
  const live = new Date(now.getTime() + 120_000);
  assert.equal(await recordJwtId(store, { serviceAccountId: a, jti: "j1", expiresAt: live }, now), true);
  assert.equal(await recordJwtId(store, { serviceAccountId: a, jti: "j1", expiresAt: live }, now), false, "a replay is refused");
  assert.equal(await recordJwtId(store, { serviceAccountId: b, jti: "j1", expiresAt: live }, now), true, "the same jti of another account is its own");
  // once j1 has expired, a later recording prunes it
  const later = new Date(live.getTime() + 1000);
  assert.equal(await recordJwtId(store, { serviceAccountId: a, jti: "j2", expiresAt: new Date(later.getTime() + 60_000) }, later), true);
  const rows = (await db.orm.em.getConnection().execute(`select service_account_id, jti from jwt_bearer_jtis order by jti`)) as Array<{ jti: string }>;
  assert.deepEqual(rows.map((r) => r.jti), ["j2"]);
}

describe("jwt_bearer_jtis", function () {
  this.timeout(120_000);

  it("records a jti once on PostgreSQL", () => withPostgresDatabase(exercise));

  it("records a jti once on embedded PGlite", () => withEmbeddedDatabase("jti", exercise));

});
