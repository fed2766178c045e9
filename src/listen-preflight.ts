/**
 * Checks the listeners' bind address and ports before anything touches the
 * database: a start that would fail on a mistyped SIGIL_HOST or a port in
 * use should fail before migrations and the first-run bootstrap run, so it
 * changes nothing. Each port is bound once and released at once; the real
 * listeners bind later, so this cannot rule out a port taken in between
 * (the bootstrap is one transaction, and whatever it left is complete).
 */
import net from "node:net";
import { SigilError } from "./core/errors.js";

/** One listener to check: the variable that names its port (for the message) and the port (0 = any). */
export interface PlannedListener {
  variable: string;
  port: number;
}

/** RFC 1123 §2.1 host name: LDH labels of 1-63 characters, 253 in all. */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** SIGIL_HOST: an IPv4 or IPv6 address or a host name, without brackets or a port. */
export function checkBindHost(host: string, variable = "SIGIL_HOST"): void {
  if (net.isIP(host) !== 0 || HOST_NAME.test(host)) return;
  throw SigilError.config(`${variable}: "${host}" is not an IP address or host name to listen on (no port, no brackets)`, variable);
}

/** Binds `port` on `host` and releases it; resolves to the error code when that fails. */
function tryBind(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

/**
 * Refuses, naming the variable, a host that is not an address or name, two
 * listeners on one port, and a port that cannot be bound on the host
 * (in use, not permitted, an address this machine does not have).
 */
export async function preflightListeners(host: string, listeners: readonly PlannedListener[]): Promise<void> {
  checkBindHost(host);
  const seen = new Map<number, string>();
  for (const l of listeners) {
    if (l.port === 0) continue;
    const other = seen.get(l.port);
    if (other) throw SigilError.config(`${l.variable}: port ${l.port} is also ${other}'s`, l.variable);
    seen.set(l.port, l.variable);
  }
  for (const l of listeners) {
    // port 0 still proves the address is one of this machine's
    const code = await tryBind(host, l.port);
    if (!code) continue;
    if (code === "EADDRINUSE") throw SigilError.config(`${l.variable}: port ${l.port} on ${host} is already in use`, l.variable);
    if (code === "EACCES") throw SigilError.config(`${l.variable}: no permission to listen on port ${l.port} (ports below 1024 need privileges)`, l.variable);
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND" || code === "EAI_AGAIN") {
      throw SigilError.config(`SIGIL_HOST: cannot listen on "${host}" (${code}: not an address of this machine)`, "SIGIL_HOST");
    }
    throw SigilError.config(`${l.variable}: cannot listen on ${host}:${l.port} (${code})`, l.variable);
  }
}
