import assert from "node:assert/strict";
import acme from "acme-client";
import { ServingStatus } from "../../../src/admin/health.js";
import { within } from "../../../src/health/drain.js";
import type { ValidationOutcome } from "../../../src/validation/types.js";
import { FakeValidator } from "../acme/harness.js";
import { startOpsServer, type OpsTestServer } from "./harness.js";

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("graceful drain (what SIGTERM/SIGINT run)", function () {
  this.timeout(60_000);
  let server: OpsTestServer | undefined;
  after(async () => server?.stop().catch(() => undefined));

  it("answers an ACME request in flight normally, refuses new connections, and reports draining meanwhile", async () => {
    let open!: (o: ValidationOutcome) => void;
    const gate = new Promise<ValidationOutcome>((resolve) => (open = resolve));
    const validator = new FakeValidator();
    validator.outcome = () => gate;
    // the challenge POST waits for its validation's outcome (answerWithinMs), so the gate holds the request in flight
    server = await startOpsServer({ validator, acme: { validation: { answerWithinMs: 30_000 } }, env: { SIGIL_SHUTDOWN_GRACE_SECONDS: "20" } });
    const s = server;
    const client = new acme.Client({ directoryUrl: s.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    await client.createAccount({ termsOfServiceAgreed: true });
    const order = await client.createOrder({ identifiers: [{ type: "dns", value: "drain.example.com" }] });
    const [authz] = await client.getAuthorizations(order);
    const challenge = authz!.challenges.find((c) => c.type === "http-01")!;

    const inFlight = client.completeChallenge(challenge);
    await until("the validation to start", () => validator.requests.length === 1);
    assert.equal(s.grpcHealth.get(""), ServingStatus.SERVING);

    const drained = s.drain();
    let drainDone = false;
    void drained.then(() => (drainDone = true));
    // readiness 503 "draining" and gRPC NOT_SERVING at once
    const report = await s.readiness.check();
    assert.equal(report.status, "unavailable");
    assert.ok(report.failing.includes("draining"));
    assert.equal(report.checks.draining.error, "the process is shutting down");
    assert.equal(s.grpcHealth.get(""), ServingStatus.NOT_SERVING);
    // the listener no longer accepts: a new connection is refused
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(fetch(`${s.baseUrl}/healthz`), (e: Error) => {
      assert.equal((e.cause as NodeJS.ErrnoException | undefined)?.code, "ECONNREFUSED");
      return true;
    });
    assert.equal(drainDone, false, "drain waits for the request in flight");

    // the held request completes with its normal answer
    open({ status: "valid" });
    const answered = await inFlight;
    assert.equal(answered.status, "valid");
    await drained;
    assert.equal(await within(s.acme.validations.idle(), 1000), true, "no validation left running");
    server = undefined;
    await s.stop();
  });

  it("closes connections still open when the grace period is over", async () => {
    // never answers, until aborted (as the real validators do on shutdown)
    const requests: unknown[] = [];
    const validator = {
      validate: (req: unknown, signal?: AbortSignal) => {
        requests.push(req);
        return new Promise<ValidationOutcome>((_, reject) => signal?.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
      },
    };
    server = await startOpsServer({ validator, acme: { validation: { answerWithinMs: 60_000 } }, env: { SIGIL_SHUTDOWN_GRACE_SECONDS: "1" } });
    const s = server;
    const client = new acme.Client({ directoryUrl: s.directoryUrl(), accountKey: await acme.crypto.createPrivateEcdsaKey() });
    await client.createAccount({ termsOfServiceAgreed: true });
    const order = await client.createOrder({ identifiers: [{ type: "dns", value: "stuck.example.com" }] });
    const [authz] = await client.getAuthorizations(order);
    const inFlight = client.completeChallenge(authz!.challenges.find((c) => c.type === "http-01")!);
    inFlight.catch(() => undefined);
    await until("the validation to start", () => requests.length === 1);
    const t0 = Date.now();
    await s.drain();
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 10_000, `drain took ${took} ms`);
    // the stuck validation was aborted and left processing for another instance's sweeper (RFC 8555 §7.5.1: still asynchronous)
    assert.equal(await within(s.acme.validations.idle(), 1000), true, "no validation left running");
    assert.ok(s.logs.some((l) => l.msg === "grace period over: closing the connections still open"));
    server = undefined;
    await s.stop();
  });
});
