/**
 * The clean-up job's SQL names the statuses it expires as literals (partial
 * indexes need them); they must be exactly the statuses RFC 8555 §7.1.6, as
 * ra/acme/transitions.ts applies it on reads, turns into invalid (orders) or
 * expired (authorizations) once `expires` has passed, and the job must
 * write the status reads report.
 */
import assert from "node:assert/strict";
import type { AcmeAuthzStatus, AcmeOrderStatus } from "../../../src/core/types.js";
import { EXPIRE_AUTHORIZATIONS_SQL, EXPIRE_ORDERS_SQL } from "../../../src/db/store/cleanup.js";
import { CLEANUP_EXPIRING_STATUSES } from "../../../src/ra/acme/cleanup.js";
import { effectiveAuthzStatus, effectiveOrderStatus } from "../../../src/ra/acme/transitions.js";

const ORDER_STATUSES: AcmeOrderStatus[] = ["pending", "ready", "processing", "valid", "invalid"];
const AUTHZ_STATUSES: AcmeAuthzStatus[] = ["pending", "valid", "invalid", "deactivated", "expired", "revoked"];
const now = new Date("2030-01-01T00:00:00Z");
const past = new Date(now.getTime() - 1);

describe("ACME clean-up statuses follow the read rules (RFC 8555 §7.1.6)", () => {
  it("expires exactly the order statuses that read as invalid past expires, and stores invalid", () => {
    const changing = ORDER_STATUSES.filter((s) => effectiveOrderStatus(s, past, now) !== s);
    assert.deepEqual([...CLEANUP_EXPIRING_STATUSES.orders].sort(), changing.sort());
    for (const s of changing) assert.equal(effectiveOrderStatus(s, past, now), "invalid");
    assert.match(EXPIRE_ORDERS_SQL, /set status = 'invalid'/);
    assert.match(EXPIRE_ORDERS_SQL, /status in \('pending', 'ready'\)/);
  });

  it("expires exactly the authorization statuses that read as expired past expires, and stores expired", () => {
    const changing = AUTHZ_STATUSES.filter((s) => effectiveAuthzStatus(s, past, now) !== s);
    assert.deepEqual([...CLEANUP_EXPIRING_STATUSES.authorizations].sort(), changing.sort());
    for (const s of changing) assert.equal(effectiveAuthzStatus(s, past, now), "expired");
    assert.match(EXPIRE_AUTHORIZATIONS_SQL, /set status = 'expired'/);
    assert.match(EXPIRE_AUTHORIZATIONS_SQL, /status in \('pending', 'valid'\)/);
  });

  it("leaves every status alone before expires", () => {
    const future = new Date(now.getTime() + 1);
    for (const s of ORDER_STATUSES) assert.equal(effectiveOrderStatus(s, future, now), s);
    for (const s of AUTHZ_STATUSES) assert.equal(effectiveAuthzStatus(s, future, now), s);
  });
});
