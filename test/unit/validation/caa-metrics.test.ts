/**
 * The metrics wrapper of the validator forwards the RFC 8659 CAA check and
 * counts each one as a validation of type "caa" (result valid, caa or dns).
 */
import assert from "node:assert/strict";
import { SigilMetrics } from "../../../src/metrics/registry.js";
import { instrumentValidator } from "../../../src/metrics/observe.js";
import type { CaaCheckRequest, CaaOutcome } from "../../../src/validation/caa.js";
import type { ChallengeValidator } from "../../../src/validation/types.js";

const REQ: CaaCheckRequest = { name: "example.test", wildcard: false, accountUri: "https://a.test/acct/1", method: "dns-01", issuerDomains: ["ca.test"] };

describe("CAA checks in the validation metrics", () => {
  it("counts valid, caa and dns results under type caa, and passes the outcome through", async () => {
    const outcomes: CaaOutcome[] = [
      { status: "valid" },
      { status: "invalid", error: { type: "caa", detail: "x" }, transient: false },
      { status: "invalid", error: { type: "dns", detail: "y" }, transient: true },
    ];
    let i = 0;
    const base: ChallengeValidator = { validate: async () => ({ status: "valid" }), checkCaa: async () => outcomes[i++]! };
    const metrics = new SigilMetrics({}, { defaultMetrics: false });
    const v = instrumentValidator(base, metrics);
    for (const expected of outcomes) assert.deepEqual(await v.checkCaa!(REQ), expected);
    const text = await metrics.registry.metrics();
    for (const result of ["valid", "caa", "dns"]) assert.match(text, new RegExp(`sigil_validations_total\\{type="caa",result="${result}"\\} 1`));
    assert.match(text, /sigil_validation_duration_seconds_count\{type="caa"\} 3/);
  });

  it("a validator without checkCaa stays without it (CAA directories then refuse rather than pass)", () => {
    const v = instrumentValidator({ validate: async () => ({ status: "valid" }) }, new SigilMetrics({}, { defaultMetrics: false }));
    assert.equal(v.checkCaa, undefined);
  });
});
