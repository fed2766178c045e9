/**
 * One load per key at a time, for the short-lived read caches of the ACME
 * path (directory CAA settings and validation networks, the CA chain): when
 * an entry expires under load every request in flight missed it at once and
 * each sent its own read (issue 11: 0.2-0.55 statements per certificate at
 * 64 clients). Callers arriving while a load runs share its promise; a
 * failed load is not remembered (the next caller tries again).
 */
export class InFlight<K, V> {
  private readonly running = new Map<K, Promise<V>>();

  run(key: K, load: () => Promise<V>): Promise<V> {
    const hit = this.running.get(key);
    if (hit) return hit;
    let p: Promise<V> | undefined;
    p = (async () => {
      try {
        return await load();
      } finally {
        if (this.running.get(key) === p) this.running.delete(key);
      }
    })();
    this.running.set(key, p);
    return p;
  }

  /** forgets the running loads (their callers still get their result) */
  clear(): void {
    this.running.clear();
  }
}
