import assert from "node:assert/strict";
import type { MikroORM } from "@mikro-orm/postgresql";
import { migrate, openDatabase, type Database } from "../../../src/db/orm.js";
import { STORE_COLUMN_LISTS, type StoreColumnList } from "../../../src/db/store/columns.js";
import { createTestDatabase } from "../../helpers/postgres.js";

/** A column of the migrated schema, as information_schema describes it. */
interface DbColumn {
  name: string;
  nullable: boolean;
  /** a column default, an identity or a generated column: an INSERT may leave it out */
  hasDefault: boolean;
}

/**
 * What is wrong with one store column list, given the table's columns in
 * the ORM metadata and in the database (undefined: no such table there).
 * Empty when the list is right.
 */
function columnListProblems(list: StoreColumnList, ormColumns: ReadonlySet<string> | undefined, dbColumns: readonly DbColumn[] | undefined): string[] {
  const where = `${list.module} (${list.table})`;
  if (!ormColumns) return [`${where}: no entity maps table ${list.table}`];
  if (!dbColumns) return [`${where}: the migrated database has no table ${list.table}`];
  const problems: string[] = [];
  const inDb = new Set(dbColumns.map((c) => c.name));
  const seen = new Set<string>();
  for (const c of [...list.columns, ...(list.literals ?? [])]) {
    if (seen.has(c)) problems.push(`${where}: column ${c} is listed twice`);
    seen.add(c);
    if (!ormColumns.has(c)) problems.push(`${where}: column ${c} is not in the ORM metadata of ${list.table}`);
    if (!inDb.has(c)) problems.push(`${where}: column ${c} is not in the migrated ${list.table}`);
  }
  if (list.insert) {
    for (const c of dbColumns) {
      if (!c.nullable && !c.hasDefault && !seen.has(c.name)) {
        problems.push(`${where}: ${list.table}.${c.name} is NOT NULL without a default, and the INSERT does not write it`);
      }
    }
  }
  return problems;
}

/** table -> the column names its entity's persisted properties map to */
function ormColumnsByTable(orm: MikroORM): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const meta of Object.values(orm.getMetadata().getAll())) {
    if (!meta.tableName || meta.embeddable || meta.virtual) continue;
    const cols = out.get(meta.tableName) ?? new Set<string>();
    for (const prop of meta.props) {
      if (prop.persist === false) continue;
      // collections (1:m, m:n) and the inverse side of a 1:1 have no column of this table
      if (prop.kind === "1:m" || prop.kind === "m:n" || (prop.kind === "1:1" && !prop.owner)) continue;
      for (const f of prop.fieldNames ?? []) cols.add(f);
    }
    out.set(meta.tableName, cols);
  }
  return out;
}

async function dbColumnsByTable(orm: MikroORM): Promise<Map<string, DbColumn[]>> {
  const rows = await orm.em.fork().getConnection().execute<
    Array<{ table_name: string; column_name: string; is_nullable: string; column_default: string | null; is_identity: string; is_generated: string }>
  >(
    `select table_name, column_name, is_nullable, column_default, is_identity, is_generated
       from information_schema.columns where table_schema = current_schema()`,
  );
  const out = new Map<string, DbColumn[]>();
  for (const r of rows) {
    const list = out.get(r.table_name) ?? [];
    list.push({
      name: r.column_name,
      nullable: r.is_nullable === "YES",
      hasDefault: r.column_default !== null || r.is_identity === "YES" || r.is_generated !== "NEVER",
    });
    out.set(r.table_name, list);
  }
  return out;
}

describe("store column lists", () => {
  describe("the comparison", () => {
    const orm = new Set(["id", "name", "created_at", "note"]);
    const db: DbColumn[] = [
      { name: "id", nullable: false, hasDefault: false },
      { name: "name", nullable: false, hasDefault: false },
      { name: "created_at", nullable: false, hasDefault: false },
      { name: "note", nullable: true, hasDefault: false },
    ];
    const list = (columns: string[], insert = true): StoreColumnList => ({ table: "t", columns, module: "m.ts", insert });

    it("accepts a list naming existing columns, every required one included", () => {
      assert.deepEqual(columnListProblems(list(["id", "name", "created_at"]), orm, db), []);
    });

    it("reports a misspelled column (not in the ORM metadata nor in the schema)", () => {
      const problems = columnListProblems(list(["id", "name", "creatd_at"]), orm, db);
      assert.ok(problems.some((p) => /creatd_at is not in the ORM metadata/.test(p)), problems.join("\n"));
      assert.ok(problems.some((p) => /creatd_at is not in the migrated t/.test(p)), problems.join("\n"));
      // and the column it meant is then missing from the insert
      assert.ok(problems.some((p) => /t\.created_at is NOT NULL without a default/.test(p)), problems.join("\n"));
    });

    it("reports a column the ORM maps but the migrated schema lacks, and the other way round", () => {
      assert.match(columnListProblems(list(["id"], false), orm, db.filter((c) => c.name !== "id")).join("\n"), /id is not in the migrated t/);
      assert.match(columnListProblems(list(["id"], false), new Set(["name"]), db).join("\n"), /id is not in the ORM metadata/);
    });

    it("reports an insert list that leaves out a NOT NULL column without default, but not a read list", () => {
      assert.match(columnListProblems(list(["id", "created_at"]), orm, db).join("\n"), /t\.name is NOT NULL without a default/);
      assert.deepEqual(columnListProblems(list(["id", "created_at"], false), orm, db), []);
    });

    it("counts literals written by the statement as written", () => {
      assert.deepEqual(columnListProblems({ ...list(["id", "created_at"]), literals: ["name"] }, orm, db), []);
    });

    it("reports a table the ORM or the schema does not know", () => {
      assert.match(columnListProblems(list(["id"]), undefined, db).join("\n"), /no entity maps table t/);
      assert.match(columnListProblems(list(["id"]), orm, undefined).join("\n"), /no table t/);
    });
  });

  describe("against the ORM metadata and a migrated database", function () {
    this.timeout(60_000);
    let tdb: { url: string; drop(): Promise<void> };
    let db: Database;
    let orm: Map<string, Set<string>>;
    let schema: Map<string, DbColumn[]>;

    before(async () => {
      tdb = await createTestDatabase();
      db = await openDatabase({ databaseUrl: tdb.url, dataDir: "/nonexistent" });
      await migrate(db.orm);
      orm = ormColumnsByTable(db.orm);
      schema = await dbColumnsByTable(db.orm);
    });
    after(async () => {
      await db?.close();
      await tdb?.drop();
    });

    it("registers lists of several store modules", () => {
      assert.ok(STORE_COLUMN_LISTS.length >= 4);
      for (const t of ["audit_log", "certificates", "system_settings"]) {
        assert.ok(STORE_COLUMN_LISTS.some((l) => l.table === t && l.insert), `an insert list for ${t}`);
      }
    });

    it("every registered list matches the ORM metadata and the migrated schema", () => {
      const problems = STORE_COLUMN_LISTS.flatMap((l) => columnListProblems(l, orm.get(l.table), schema.get(l.table)));
      assert.deepEqual(problems, []);
    });

    it("a misspelled column of a real list fails against the real metadata and schema", () => {
      const audit = STORE_COLUMN_LISTS.find((l) => l.table === "audit_log" && l.insert);
      assert.ok(audit);
      const wrong = { ...audit, columns: audit.columns.map((c) => (c === "resource_type" ? "resource_typ" : c)) };
      const problems = columnListProblems(wrong, orm.get("audit_log"), schema.get("audit_log"));
      assert.ok(problems.some((p) => p.includes("resource_typ is not in the ORM metadata")), problems.join("\n"));
      assert.ok(problems.some((p) => p.includes("resource_typ is not in the migrated audit_log")), problems.join("\n"));
      assert.ok(problems.some((p) => p.includes("audit_log.resource_type is NOT NULL without a default")), problems.join("\n"));
    });
  });
});
