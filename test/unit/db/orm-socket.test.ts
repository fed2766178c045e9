import assert from "node:assert/strict";
import { ormOptions, unixSocketHost } from "../../../src/db/orm.js";

describe("DATABASE_URL with libpq's host=/socket/dir (issue 11: PostgreSQL over its Unix socket)", () => {
  it("passes the socket directory on as the host MikroORM connects to", () => {
    assert.deepEqual(unixSocketHost("postgresql://sigil@localhost/sigil?host=/var/run/postgresql"), { host: "/var/run/postgresql" });
    assert.equal(ormOptions("postgresql://sigil@localhost/sigil?host=%2Fvar%2Frun%2Fpostgresql", 2).host, "/var/run/postgresql");
  });

  it("leaves TCP URLs (and a host parameter that is not a path) to the URL's authority", () => {
    assert.deepEqual(unixSocketHost("postgresql://sigil@db.internal:5432/sigil"), {});
    assert.deepEqual(unixSocketHost("postgresql://sigil@localhost/sigil?host=db.internal"), {});
    assert.equal(ormOptions("postgresql://sigil@db.internal:5432/sigil", 2).host, undefined);
  });
});
