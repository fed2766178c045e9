/**
 * Graceful stop of the HTTP(S) listeners: stop accepting (server.close),
 * close idle keep-alive connections now, let requests in flight finish
 * (their answers carry `Connection: close`, set by the HTTP app while
 * draining), and close whatever is still open when the deadline passes.
 */
import type { Server } from "node:http";

/** Resolves when every server has no connection left, or at `deadline` (ms since the epoch) after closing the rest. */
export async function closeServersGracefully(servers: Server[], deadline: number): Promise<{ forced: boolean }> {
  const closed = servers.map(
    (s) =>
      new Promise<void>((resolve) => {
        if (!s.listening) return resolve();
        s.close(() => resolve());
        s.closeIdleConnections();
      }),
  );
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), Math.max(0, deadline - Date.now()));
  });
  try {
    const r = await Promise.race([Promise.all(closed).then(() => "done" as const), late]);
    if (r === "done") return { forced: false };
    for (const s of servers) s.closeAllConnections();
    await Promise.all(closed);
    return { forced: true };
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms` at most, or when `p` settles, whichever is first (never rejects). */
export async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
  try {
    return await Promise.race([p.then(() => true, () => true), t]);
  } finally {
    clearTimeout(timer);
  }
}
