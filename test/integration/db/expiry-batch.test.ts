/**
 * The expiry batch (src/db/store/certificates.ts expireCertificates) touches
 * at most its batch size per statement: the rows are chosen once, in a
 * materialized CTE (review 2: as `id in (select ... limit n for update skip
 * locked)` the planner may rescan the subquery and one statement then
 * expires the whole backlog). Real PostgreSQL, 60 expired certificates,
 * batches of 7.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { generateKeyPair } from "../../../src/ca/keys.js";
import { FixedClock } from "../../../src/core/clock.js";
import { systemActor } from "../../../src/ra/actor.js";
import { inTransaction } from "../../../src/ra/context.js";
import { issueLeafInTx } from "../../../src/ra/issuance.js";
import { findCa, EXPIRE_CAS_STATEMENT } from "../../../src/db/store/certificate-authorities.js";
import { expireCertificates, EXPIRE_CERTIFICATES_STATEMENT } from "../../../src/db/store/certificates.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";

const HOUR = 3_600_000;

describe("expiry batches are bounded (CTE, not an IN subquery)", function () {
  this.timeout(120_000);
  let server: TestServer;
  let clock: FixedClock;
  const sql = <T>(q: string, params: unknown[] = []) => server.db.orm.em.getConnection().execute<T[]>(q, params);

  before(async () => {
    clock = new FixedClock(new Date());
    server = await startTestServer({ clock, embedded: false });
    const kp = await generateKeyPair("p256");
    await inTransaction(server.ra, async (tx) => {
      const ca = await findCa(tx, server.bootstrap.intermediateCaId, { includeDeleted: true });
      if (!ca) throw new Error("no intermediate");
      await issueLeafInTx(server.ra, tx, systemActor("expiry-batch-test"), {
        ca,
        publicKey: kp.publicKey,
        type: "server",
        dnsNames: ["batch.example"],
        ipAddresses: [],
        emails: [],
        notAfter: new Date(clock.now().getTime() + 2 * HOUR),
        source: "admin",
      });
    });
    // 59 copies of that row (new id and serial): 60 certificates past notAfter once the clock moves
    const cols = (await sql<{ column_name: string }>(`select column_name from information_schema.columns where table_name = 'certificates' and table_schema = current_schema()`)).map((r) => r.column_name);
    const rest = cols.filter((c) => c !== "id" && c !== "serial");
    await sql(
      `insert into certificates (id, serial, ${rest.map((c) => `"${c}"`).join(", ")})
       select gen_random_uuid(), serial || lpad(to_hex(g), 4, '0'), ${rest.map((c) => `c."${c}"`).join(", ")}
         from certificates c, generate_series(1, 59) g where c.status = 'valid'`,
    );
    clock.advance(3 * HOUR);
  });
  after(async () => server?.stop());

  it("each statement expires at most its batch size, and the backlog takes ceil(60/7) statements", async () => {
    const expiredBefore = Number((await sql<{ n: string }>(`select count(*) as n from certificates where status = 'expired'`))[0]!.n);
    assert.equal(expiredBefore, 0);
    const sizes: number[] = [];
    for (let i = 0; i < 20; i++) {
      const rows = await inTransaction(server.ra, (tx) => expireCertificates(tx, clock.now(), 7));
      const total = Number((await sql<{ n: string }>(`select count(*) as n from certificates where status = 'expired'`))[0]!.n);
      assert.equal(total, sizes.reduce((a, b) => a + b, 0) + rows.length, "the rows returned are the rows changed");
      sizes.push(rows.length);
      if (rows.length < 7) break;
    }
    assert.ok(sizes.every((n) => n <= 7), `batch sizes ${sizes}`);
    assert.deepEqual(sizes, [7, 7, 7, 7, 7, 7, 7, 7, 4]);
  });

  it("both expiry statements choose their rows in a CTE scanned once", async () => {
    for (const [st, params] of [
      [EXPIRE_CERTIFICATES_STATEMENT, [clock.now(), 7]],
      [EXPIRE_CAS_STATEMENT, [clock.now()]],
    ] as const) {
      assert.match(st.text, /^\s*with b as materialized \(/);
      // generic plan: the statement prepared as the server prepares it, explained with literal arguments
      const name = `expiry_batch_${st.name}`;
      const args = params.map((p) => (p instanceof Date ? `'${p.toISOString()}'::timestamptz` : String(p)));
      const c = new pg.Client({ connectionString: server.config.databaseUrl });
      await c.connect();
      let plan: string;
      try {
        await c.query(`prepare ${name} as ${st.text}`);
        plan = (await c.query<{ "QUERY PLAN": string }>(`explain execute ${name}(${args.join(", ")})`)).rows.map((r) => r["QUERY PLAN"]).join("\n");
      } finally {
        await c.end();
      }
      assert.match(plan, /CTE b/, plan);
      assert.match(plan, /CTE Scan on b/, plan);
      assert.doesNotMatch(plan, /SubPlan|Semi Join/, plan);
    }
  });
});
