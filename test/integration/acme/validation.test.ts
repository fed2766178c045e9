import assert from "node:assert/strict";
import pg from "pg";
import { FakeValidator, startAcmeTestServer, type AcmeTestServer } from "./harness.js";
import { RawAcme, type RawResponse } from "./raw-client.js";

/**
 * Challenge validation timing (RFC 8555 §7.5.1, §8.2): the challenge POST
 * answers with the outcome of a quick validation, a slow one goes on in the
 * background (processing, Retry-After), and the sweeper picks up challenges a
 * stopped instance left in processing.
 */
describe("ACME challenge validation: answer, Retry-After, sweeper", () => {
  let server: AcmeTestServer;
  const validator = new FakeValidator();
  let c: RawAcme;

  before(async () => {
    server = await startAcmeTestServer({
      validator,
      acme: { validation: { answerWithinMs: 300, sweepIntervalMs: 100, staleAfterMs: 60_000 } },
    });
    c = await RawAcme.create(server.directoryUrl());
    await c.register();
  });
  after(async () => server?.stop());
  afterEach(() => {
    validator.outcome = () => ({ status: "valid" });
  });

  async function pendingChallenge(name: string, type = "http-01"): Promise<{ order: RawResponse; authzUrl: string; challengeUrl: string }> {
    const order = await c.post(c.dir.newOrder!, { identifiers: [{ type: "dns", value: name }] });
    const authzUrl = order.body.authorizations[0] as string;
    const authz = await c.post(authzUrl, undefined);
    assert.equal(authz.body.status, "pending");
    assert.equal(authz.headers.get("retry-after"), "1", "Retry-After on a pending authorization");
    return { order, authzUrl, challengeUrl: authz.body.challenges.find((x: { type: string }) => x.type === type).url };
  }

  it("answers the challenge POST with the outcome of a quick validation (valid, no Retry-After)", async () => {
    const { order, challengeUrl } = await pendingChallenge("quick.example.com");
    const r = await c.post(challengeUrl, {});
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.status, "valid");
    assert.ok(r.body.validated);
    assert.equal(r.headers.get("retry-after"), null);
    assert.match(r.headers.get("link") ?? "", /rel="up"/);
    assert.equal((await c.post(order.headers.get("location")!, undefined)).body.status, "ready");
  });

  it("answers the challenge POST with a quick failure (invalid with its error)", async () => {
    validator.outcome = () => ({ status: "invalid", error: { type: "incorrectResponse", detail: "wrong body" } });
    const { challengeUrl } = await pendingChallenge("quickfail.example.com");
    const r = await c.post(challengeUrl, {});
    assert.equal(r.body.status, "invalid");
    assert.equal(r.body.error.type, "urn:ietf:params:acme:error:incorrectResponse");
  });

  it("answers processing with Retry-After: 1 when the validation is slower, and records its outcome later", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    validator.outcome = async () => {
      await gate;
      return { status: "valid" };
    };
    const { order, authzUrl, challengeUrl } = await pendingChallenge("slow.example.com");
    const t0 = Date.now();
    const r = await c.post(challengeUrl, {});
    assert.ok(Date.now() - t0 >= 250, "waited about answerWithinMs");
    assert.equal(r.body.status, "processing");
    assert.equal(r.headers.get("retry-after"), "1");
    const again = await c.post(challengeUrl, undefined);
    assert.equal(again.body.status, "processing");
    assert.equal(again.headers.get("retry-after"), "1");
    const authz = await c.post(authzUrl, undefined);
    assert.equal(authz.body.status, "pending");
    assert.equal(authz.headers.get("retry-after"), "1");
    release();
    await server.acme.validations.idle();
    assert.equal((await c.post(challengeUrl, undefined)).body.status, "valid");
    assert.equal((await c.post(authzUrl, undefined)).headers.get("retry-after"), null, "no Retry-After once valid");
    assert.equal((await c.post(order.headers.get("location")!, undefined)).body.status, "ready");
  });

  it("the sweeper restarts a challenge a stopped instance left in processing, and leaves recent ones alone", async () => {
    const stuck = await pendingChallenge("stuck.example.com");
    const recent = await pendingChallenge("recent.example.com");
    /** the database written and read directly, not through Sigil */
    const sql = async <R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> => {
      const conn = new pg.Client({ connectionString: server.config.databaseUrl });
      await conn.connect();
      try {
        return (await conn.query<R>(text, values)).rows;
      } finally {
        await conn.end();
      }
    };
    const leave = (url: string, ago: string) =>
      sql(`update acme_challenges set status = 'processing', processing_since = now() - interval '${ago}', attempts = 1 where id = $1`, [url.split("/").pop()]);
    const asked = () => validator.requests.filter((q) => q.identifier.value === "stuck.example.com" || q.identifier.value === "recent.example.com");
    // counted before the rows are left behind: the sweeper (every 100 ms) may pick them up at once
    const before = asked().length;
    // what an instance that stopped mid-validation leaves behind: processing, no validation running anywhere
    await leave(stuck.challengeUrl, "10 minutes");
    await leave(recent.challengeUrl, "1 second");
    let status = "";
    for (let i = 0; i < 50 && status !== "valid"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await c.post(stuck.challengeUrl, undefined)).body.status;
    }
    assert.equal(status, "valid", "the sweeper validated the stuck challenge");
    await new Promise((r) => setTimeout(r, 300)); // a few more sweeps
    await server.acme.validations.idle();
    assert.deepEqual(asked().slice(before).map((q) => q.identifier.value), ["stuck.example.com"]);
    const rows = await sql<{ attempts: number }>(`select attempts from acme_challenges where id = $1`, [stuck.challengeUrl.split("/").pop()]);
    assert.equal(rows[0]!.attempts, 2, "the restart counts as an attempt");
    assert.equal((await c.post(stuck.order.headers.get("location")!, undefined)).body.status, "ready");
    assert.equal((await c.post(recent.challengeUrl, undefined)).body.status, "processing");
  });
});
