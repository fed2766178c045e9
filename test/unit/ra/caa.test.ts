/**
 * src/ra/acme/caa.ts rules without a database: which authorizations
 * finalize checks again, the 8-hour line of the signing transaction, the
 * refusal it answers with, and the time a check is recorded at (when its
 * lookups started).
 */
import assert from "node:assert/strict";
import { FixedClock } from "../../../src/core/clock.js";
import type { AuthorizationCaaState, ValidationJobRow } from "../../../src/db/store/acme-authorizations.js";
import type { RaContext } from "../../../src/ra/context.js";
import {
  CAA_RECHECK_AFTER_MS,
  CAA_REUSE_MS,
  caaAfterValidation,
  caaFreshSince,
  caaStaleRefusal,
  staleForFinalize,
} from "../../../src/ra/acme/caa.js";
import { AcmeError } from "../../../src/ra/acme/errors.js";
import type { CaaChecker } from "../../../src/validation/caa.js";

const NOW = new Date("2026-12-01T12:00:00Z");
const ago = (ms: number): Date => new Date(NOW.getTime() - ms);
const state = (over: Partial<AuthorizationCaaState>): AuthorizationCaaState => ({
  id: over.id ?? "a",
  identifierType: "dns",
  identifierValue: "example.test",
  wildcard: false,
  status: "valid",
  caaCheckedAt: ago(60_000),
  method: "dns-01",
  ...over,
});

describe("ra/CAA at finalize: which checks are made again (BR §3.2.2.8)", () => {
  it("the recheck line is 10 minutes short of 8 hours", () => {
    assert.equal(CAA_REUSE_MS, 8 * 3_600_000);
    assert.equal(CAA_RECHECK_AFTER_MS, CAA_REUSE_MS - 10 * 60_000);
  });

  it("stale filter: never checked and older than the line are rechecked; at the line exactly and younger are not", () => {
    const picked = staleForFinalize(
      [
        state({ id: "never", caaCheckedAt: null }),
        state({ id: "older", caaCheckedAt: ago(CAA_RECHECK_AFTER_MS + 1) }),
        state({ id: "at-line", caaCheckedAt: ago(CAA_RECHECK_AFTER_MS) }),
        state({ id: "young", caaCheckedAt: ago(1000) }),
        state({ id: "over-8h", caaCheckedAt: ago(CAA_REUSE_MS + 1) }),
      ],
      NOW,
    );
    assert.deepEqual(
      picked.map((a) => a.id),
      ["never", "older", "over-8h"],
    );
  });

  it("pending, invalid, deactivated and ip authorizations are skipped (finalize refuses those orders without a lookup; ip has no CAA)", () => {
    const picked = staleForFinalize(
      [
        state({ id: "pending", status: "pending", caaCheckedAt: null }),
        state({ id: "invalid", status: "invalid", caaCheckedAt: null }),
        state({ id: "deactivated", status: "deactivated", caaCheckedAt: null }),
        state({ id: "ip", identifierType: "ip", identifierValue: "192.0.2.1", caaCheckedAt: null }),
      ],
      NOW,
    );
    assert.deepEqual(picked, []);
  });
});

describe("ra/CAA in the signing transaction: the 8-hour line", () => {
  it("fresh since exactly 8 hours before now (a check of exactly 8 hours still counts); none with CAA off", () => {
    assert.deepEqual(caaFreshSince({ caaEnabled: true }, NOW), ago(CAA_REUSE_MS));
    assert.equal(caaFreshSince({ caaEnabled: false }, NOW), null);
  });

  it("the refusal is caa 403 naming every stale identifier as a subproblem and telling the client to finalize again", () => {
    const e = caaStaleRefusal(["a.test", "*.b.test", "c.test", "d.test"]);
    assert.ok(e instanceof AcmeError);
    assert.equal(e.kind, "permissionDenied");
    assert.equal(e.acmeType, "caa");
    assert.match(e.message, /a\.test, \*\.b\.test, c\.test and 1 more is older than 8 hours .*finalize again/);
    assert.deepEqual(
      e.subproblems?.map((p) => p.identifier?.value),
      ["a.test", "*.b.test", "c.test", "d.test"],
    );
  });
});

describe("ra/CAA after a validation: the check's time is when its lookups started", () => {
  const job: ValidationJobRow = {
    type: "dns-01",
    token: "t",
    authorizationId: "z",
    attempts: 1,
    identifierType: "dns",
    identifierValue: "example.test",
    accountId: "acc",
    organizationId: "org",
    directoryId: "dir",
    keyThumbprint: "k",
    wildcard: false,
  };
  const settings = { name: "d", caaEnabled: true, caaIdentities: ["sigil.example"] };
  const logger = { error: () => {}, warn: () => {}, info: () => {} } as unknown as Parameters<typeof caaAfterValidation>[4];

  it("a check that takes 5 minutes is recorded at its start", async () => {
    const clock = new FixedClock(NOW);
    const ctx = { clock, publicUrl: "https://ca.test" } as unknown as RaContext;
    const asked: string[] = [];
    const checker: CaaChecker = {
      async checkCaa(req) {
        asked.push(`${req.name} ${req.method} ${req.accountUri}`);
        clock.advance(5 * 60_000);
        return { status: "valid" };
      },
    };
    const r = await caaAfterValidation(ctx, checker, settings, job, logger);
    assert.deepEqual(r, { checkedAt: NOW });
    assert.deepEqual(asked, ["example.test dns-01 https://ca.test/acme/d/acct/acc"]);
  });

  it("CAA off or an ip identifier: nothing is looked up", async () => {
    const ctx = { clock: new FixedClock(NOW), publicUrl: "https://ca.test" } as unknown as RaContext;
    let n = 0;
    const checker: CaaChecker = { checkCaa: async () => (n++, { status: "valid" }) };
    assert.equal(await caaAfterValidation(ctx, checker, { ...settings, caaEnabled: false }, job, logger), undefined);
    assert.equal(await caaAfterValidation(ctx, checker, settings, { ...job, identifierType: "ip", identifierValue: "192.0.2.1" }, logger), undefined);
    assert.equal(n, 0);
  });
});
