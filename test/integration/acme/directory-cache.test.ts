/**
 * The ACME directory cache (src/ra/acme/directories.ts DirectoryCache):
 * least-recently-used eviction past its bound (not a full clear), and
 * short-lived negative entries kept apart from the directories, so a flood
 * of made-up names neither reads the database per request nor evicts a real
 * directory (review 2). Real PostgreSQL through the server's store; the
 * reads are counted on the store's pool.
 */
import assert from "node:assert/strict";
import { DirectoryCache } from "../../../src/ra/acme/directories.js";
import type { Store } from "../../../src/db/store/session.js";
import { startTestServer, type TestServer } from "../../helpers/server.js";

/** the server's store with its pool's queries counted (the root session's own symbol-keyed internals) */
function countingStore(store: Store): { store: Store; reads: () => number } {
  let n = 0;
  const sym = Object.getOwnPropertySymbols(store)[0]!;
  const internals = (store as unknown as Record<symbol, { pool: object }>)[sym]!;
  const pool = new Proxy(internals.pool, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return (...args: unknown[]) => {
        if (prop === "query") n++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const counted = Object.create(Object.getPrototypeOf(store)) as Store;
  Object.defineProperty(counted, sym, { value: { ...internals, pool } });
  return { store: counted, reads: () => n };
}

describe("ACME directory cache: LRU and short-lived negative entries", function () {
  this.timeout(60_000);
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ embedded: false });
  });
  after(async () => server?.stop());

  it("a flood of unknown names reads each once per second, never evicts the real directory, and the misses stay bounded", async () => {
    const { store, reads } = countingStore(server.ra.store);
    const cache = new DirectoryCache({ store }, 60_000);
    assert.ok(await cache.get("default"));
    const afterDefault = reads();
    assert.ok(afterDefault >= 1);
    // the same made-up names again and again: one read each
    for (let round = 0; round < 5; round++) for (let i = 0; i < 20; i++) assert.equal(await cache.get(`nosuch-${i}`), null);
    assert.equal(reads() - afterDefault, 20, "one read per unknown name, not per request");
    // many more distinct made-up names than the directory bound: the real directory stays cached
    const before = reads();
    for (let i = 0; i < DirectoryCache.maxEntries + 200; i++) await cache.get(`flood-${i}`);
    assert.equal(reads() - before, DirectoryCache.maxEntries + 200);
    const beforeDefault = reads();
    assert.ok(await cache.get("default"));
    assert.equal(reads(), beforeDefault, "the real directory was not evicted by unknown names");
    assert.deepEqual(cache.size.directories, 1);
    assert.ok(cache.size.misses <= DirectoryCache.maxMisses);
  });

  it("negative entries expire after a second; invalidate() forgets them", async () => {
    const { store, reads } = countingStore(server.ra.store);
    const cache = new DirectoryCache({ store }, 60_000);
    assert.equal(await cache.get("later"), null);
    const r0 = reads();
    assert.equal(await cache.get("later"), null);
    assert.equal(reads(), r0, "cached miss");
    await new Promise((res) => setTimeout(res, 1_100));
    assert.equal(await cache.get("later"), null);
    assert.equal(reads(), r0 + 1, "read again after the negative TTL");
    cache.invalidate("later");
    await cache.get("later");
    assert.equal(reads(), r0 + 2);
  });

  it("past its bound the least recently used directory goes, not the whole cache", async () => {
    const { store, reads } = countingStore(server.ra.store);
    const cache = new DirectoryCache({ store }, 60_000);
    // fill the positive side through its private map with the one real directory under many names
    const real = (await cache.get("default"))!;
    const internal = (cache as unknown as { cache: Map<string, { at: number; dir: unknown }> }).cache;
    for (let i = 0; i < DirectoryCache.maxEntries - 1; i++) internal.set(`alias-${i}`, { at: Date.now(), dir: real });
    assert.equal(cache.size.directories, DirectoryCache.maxEntries);
    // "default" used again: the most recent; alias-0 is now the oldest
    await cache.get("default");
    const r0 = reads();
    // one more found directory (as a load would keep it): the bound is held by evicting the oldest
    (cache as unknown as { remember(n: string, at: number, d: unknown): void }).remember("extra", Date.now(), real);
    assert.equal(cache.size.directories, DirectoryCache.maxEntries, "bounded");
    assert.ok(!internal.has("alias-0"), "the least recently used went");
    assert.ok(internal.has("default") && internal.has("alias-1") && internal.has("extra"), "the rest stayed");
    await cache.get("default");
    assert.equal(reads(), r0, "default still served from the cache");
  });
});
