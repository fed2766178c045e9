/**
 * The ACME state rules (src/ra/acme/transitions.ts), table-driven: pure
 * functions of statuses and the clock's time, no database.
 */
import assert from "node:assert/strict";
import type { AcmeAuthzStatus, AcmeOrderStatus } from "../../../src/core/types.js";
import {
  authzIsValid,
  canDeactivateAuthz,
  challengeCanStart,
  effectiveAuthzStatus,
  effectiveOrderStatus,
  finalizeBlocker,
  orderStatusAfterAuthzFailed,
  orderStatusAfterAuthzValid,
  pendingExpires,
  PENDING_LIFETIME_MS,
  reuseValidAfter,
  validAuthzExpires,
  VALID_AUTHZ_LIFETIME_MS,
} from "../../../src/ra/acme/transitions.js";

const now = new Date("2026-12-01T12:00:00Z");
const later = new Date(now.getTime() + 60_000);
const earlier = new Date(now.getTime() - 60_000);

describe("ACME state transitions (RFC 8555 §7.1.6)", () => {
  describe("effective order status with expiry", () => {
    const cases: Array<[string, AcmeOrderStatus, Date, AcmeOrderStatus]> = [
      ["ok/pending-unexpired", "pending", later, "pending"],
      ["ok/ready-unexpired", "ready", later, "ready"],
      ["expired/pending", "pending", earlier, "invalid"],
      ["expired/ready", "ready", earlier, "invalid"],
      ["expired/at-the-instant", "ready", now, "invalid"],
      ["kept/processing-expired", "processing", earlier, "processing"],
      ["kept/valid-expired", "valid", earlier, "valid"],
      ["kept/invalid", "invalid", later, "invalid"],
    ];
    for (const [name, status, expires, want] of cases) it(name, () => assert.equal(effectiveOrderStatus(status, expires, now), want));
  });

  describe("effective authorization status with expiry", () => {
    const cases: Array<[string, AcmeAuthzStatus, Date, AcmeAuthzStatus]> = [
      ["ok/pending", "pending", later, "pending"],
      ["ok/valid", "valid", later, "valid"],
      ["expired/pending", "pending", earlier, "expired"],
      ["expired/valid", "valid", now, "expired"],
      ["kept/invalid", "invalid", earlier, "invalid"],
      ["kept/deactivated", "deactivated", earlier, "deactivated"],
      ["kept/revoked", "revoked", later, "revoked"],
    ];
    for (const [name, status, expires, want] of cases) it(name, () => assert.equal(effectiveAuthzStatus(status, expires, now), want));
    it("authzIsValid: valid and unexpired only", () => {
      assert.equal(authzIsValid({ status: "valid", expires: later }, now), true);
      assert.equal(authzIsValid({ status: "valid", expires: earlier }, now), false);
      assert.equal(authzIsValid({ status: "pending", expires: later }, now), false);
    });
  });

  describe("all authorizations valid, so the order is ready", () => {
    const v = { status: "valid" as const, expires: later };
    const cases: Array<[string, AcmeOrderStatus, Array<{ status: AcmeAuthzStatus; expires: Date }>, AcmeOrderStatus]> = [
      ["ready/one-valid", "pending", [v], "ready"],
      ["ready/all-valid", "pending", [v, v, v], "ready"],
      ["pending/one-still-pending", "pending", [v, { status: "pending", expires: later }], "pending"],
      ["pending/one-expired", "pending", [v, { status: "valid", expires: earlier }], "pending"],
      ["pending/one-deactivated", "pending", [v, { status: "deactivated", expires: later }], "pending"],
      ["pending/no-authorizations", "pending", [], "pending"],
      ["kept/invalid", "invalid", [v], "invalid"],
      ["kept/valid", "valid", [v], "valid"],
    ];
    for (const [name, order, authzs, want] of cases) it(name, () => assert.equal(orderStatusAfterAuthzValid(order, authzs, now), want));
  });

  describe("an authorization became invalid, so its orders are invalid", () => {
    const cases: Array<[AcmeOrderStatus, AcmeOrderStatus]> = [
      ["pending", "invalid"],
      ["ready", "invalid"],
      ["processing", "processing"],
      ["valid", "valid"],
      ["invalid", "invalid"],
    ];
    for (const [from, want] of cases) it(`${from} -> ${want}`, () => assert.equal(orderStatusAfterAuthzFailed(from), want));
  });

  describe("finalize blockers (§7.4)", () => {
    it("ok/ready with every authorization valid", () => assert.equal(finalizeBlocker({ status: "ready", expires: later }, 0, now), undefined));
    it("fail/pending", () => assert.deepEqual(finalizeBlocker({ status: "pending", expires: later }, 0, now), { status: "pending" }));
    it("fail/valid (already finalized)", () => assert.deepEqual(finalizeBlocker({ status: "valid", expires: later }, 0, now), { status: "valid" }));
    it("fail/expired-order", () => assert.deepEqual(finalizeBlocker({ status: "ready", expires: earlier }, 0, now), { status: "invalid" }));
    it("fail/authorization-no-longer-valid", () => assert.equal(finalizeBlocker({ status: "ready", expires: later }, 1, now), "authzNotValid"));
  });

  describe("deactivation and challenge start", () => {
    it("only pending or valid authorizations can be deactivated (§7.5.2)", () => {
      const ok: AcmeAuthzStatus[] = ["pending", "valid"];
      for (const s of ["pending", "valid", "invalid", "deactivated", "expired", "revoked"] as AcmeAuthzStatus[]) assert.equal(canDeactivateAuthz(s), ok.includes(s), s);
    });
    it("a challenge starts only while it, its siblings and its unexpired authorization are pending (§8.2)", () => {
      const pending = { status: "pending" as const, expires: later };
      assert.equal(challengeCanStart("pending", pending, false, now), true);
      assert.equal(challengeCanStart("pending", pending, true, now), false);
      assert.equal(challengeCanStart("processing", pending, false, now), false);
      assert.equal(challengeCanStart("pending", { status: "pending", expires: earlier }, false, now), false);
      assert.equal(challengeCanStart("pending", { status: "valid", expires: later }, false, now), false);
    });
  });

  describe("lifetimes follow the given clock", () => {
    it("pending, valid and reuse horizons", () => {
      assert.equal(pendingExpires(now).getTime(), now.getTime() + PENDING_LIFETIME_MS);
      assert.equal(validAuthzExpires(now).getTime(), now.getTime() + VALID_AUTHZ_LIFETIME_MS);
      assert.ok(reuseValidAfter(now) > now);
    });
  });
});
