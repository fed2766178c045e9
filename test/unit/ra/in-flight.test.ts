import assert from "node:assert/strict";
import { InFlight } from "../../../src/ra/acme/in-flight.js";

describe("InFlight: one load per key at a time (issue 11 cache stampede)", () => {
  it("callers arriving while a load runs share it; the next miss loads again", async () => {
    const f = new InFlight<string, number>();
    let loads = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const load = async () => {
      loads++;
      await gate;
      return loads;
    };
    const all = Promise.all([f.run("a", load), f.run("a", load), f.run("a", load)]);
    const other = f.run("b", async () => 42);
    release();
    assert.deepEqual(await all, [1, 1, 1]);
    assert.equal(await other, 42);
    assert.equal(loads, 1);
    assert.equal(await f.run("a", load), 2, "a finished load is not kept: the caller's cache decides");
  });

  it("a failed load reaches every waiting caller and is not remembered", async () => {
    const f = new InFlight<string, string>();
    let calls = 0;
    const failing = async () => {
      calls++;
      await new Promise((r) => setImmediate(r));
      throw new Error("db down");
    };
    const results = await Promise.allSettled([f.run("k", failing), f.run("k", failing)]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    assert.equal(calls, 1);
    assert.equal(await f.run("k", async () => "ok"), "ok");
  });

  it("clear(): later callers start their own load", async () => {
    const f = new InFlight<string, number>();
    let n = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = f.run("k", async () => {
      await gate;
      return ++n;
    });
    f.clear();
    const second = f.run("k", async () => ++n);
    assert.equal(await second, 1);
    release();
    assert.equal(await first, 2);
  });
});
