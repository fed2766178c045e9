/**
 * The CAA tree climb (RFC 8659 §3) is bounded by time, not by a label
 * count: once the check's signal aborts (the validator's deadline, or
 * finalize's) no further lookup starts and the outcome is a dns refusal,
 * never a pass. Asserted by counting lookups, not by timing them.
 */
import assert from "node:assert/strict";
import { caaClimb, checkCaa, checkCaaWithRetry } from "../../../src/validation/caa.js";
import { DnsError, type CaaRecord, type DnsResolver } from "../../../src/validation/network.js";
import { createChallengeValidator } from "../../../src/validation/validator.js";

/** answers every CAA query NODATA, and runs `onQuery` with the query's number first */
function nodataResolver(onQuery: (n: number) => void = () => {}): DnsResolver & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    resolveTxt: async () => [],
    resolve4: async () => [],
    resolve6: async () => [],
    async resolveCaa(name): Promise<CaaRecord[]> {
      queries.push(name);
      onQuery(queries.length);
      throw new DnsError("ENODATA");
    },
  };
}

/** never answers */
function silentResolver(): DnsResolver & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    resolveTxt: async () => [],
    resolve4: async () => [],
    resolve6: async () => [],
    resolveCaa(name) {
      queries.push(name);
      return new Promise<CaaRecord[]>(() => {});
    },
  };
}

const LONG = `${Array.from({ length: 120 }, () => "a").join(".")}.attacker.test`;
const req = { name: LONG, wildcard: false, accountUri: "https://ca.test/acme/d/acct/1", method: "dns-01", issuerDomains: ["sigil.example"] };

describe("validation/CAA tree climb bounded by its signal (fail closed with dns)", () => {
  it("a 122-label name climbs all 122 levels to the TLD when nothing stops it", async () => {
    assert.ok(LONG.length <= 253);
    const r = nodataResolver();
    assert.deepEqual(await checkCaa(req, r), { status: "valid" });
    assert.equal(r.queries.length, 122);
    assert.deepEqual(r.queries, caaClimb(LONG));
  });

  it("aborted after the 5th lookup: exactly 5 lookups, and a dns refusal (not a pass)", async () => {
    const ctl = new AbortController();
    const r = nodataResolver((n) => n === 5 && ctl.abort());
    const out = await checkCaa(req, r, ctl.signal);
    assert.equal(r.queries.length, 5);
    assert.equal(out.status, "invalid");
    if (out.status === "invalid") {
      assert.equal(out.error.type, "dns");
      assert.match(out.error.detail, /TIMEOUT looking up CAA for a\.a\..*a failed CAA lookup does not permit issuance/);
    }
  });

  it("a lookup under way when the signal aborts is not waited for, and no retry follows", async () => {
    const ctl = new AbortController();
    const r = silentResolver();
    const p = checkCaaWithRetry(req, r, { attempts: 3, delayMs: 0, sleep: async () => {} }, ctl.signal);
    ctl.abort();
    const out = await p;
    assert.equal(out.status, "invalid");
    assert.equal(r.queries.length, 1);
  });

  it("the validator's checkCaa ends at its deadline with a dns refusal, one lookup made (the resolver never answers)", async () => {
    const r = silentResolver();
    const v = createChallengeValidator({
      resolver: r,
      fetcher: { get: async () => Promise.reject(new Error("unused")) },
      dialer: { dial: async () => Promise.reject(new Error("unused")) },
      httpPort: 80,
      tlsPort: 443,
      retry: { attempts: 3, delayMs: 1, deadlineMs: 50 },
    });
    const out = await v.checkCaa!(req);
    assert.equal(out.status, "invalid");
    if (out.status === "invalid") assert.equal(out.error.type, "dns");
    assert.equal(r.queries.length, 1, "no retry starts after the deadline");
  });
});
