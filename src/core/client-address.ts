/**
 * The client's address behind reverse proxies (SIGIL_TRUST_PROXY), and the
 * key an address is throttled under. One function for every transport: the
 * Koa apps (ACME per-IP rate limits, request log), the admin plane over
 * Connect / gRPC-Web and native gRPC (login lockout), the OCSP fast path.
 *
 * X-Forwarded-For (de-facto; RFC 7239 §5.2 `for=` is the standard form of
 * the same list) is appended to by every proxy: "client, proxy1, proxy2",
 * the socket peer being the last proxy. Everything left of what our own
 * proxies wrote is whatever the client typed, so the client is the
 * RIGHTMOST entry that is not one of our proxies, never the leftmost:
 * - `{ hops: n }` (SIGIL_TRUST_PROXY=true is one hop, or a number): the
 *   socket peer and the n-1 entries right of the client are our proxies, so
 *   the client is the n-th entry from the right (the leftmost when the list
 *   is shorter);
 * - `{ cidrs }` (a list of addresses / CIDR blocks): only a peer inside them
 *   is trusted to have written the header at all; walking from the right,
 *   the first address outside them is the client.
 * A malformed entry (not an IP address) ends the walk: the last trusted
 * address seen is used (the proxy itself), never a client-chosen string.
 */
import { isIP } from "node:net";

/** How far the forwarded headers are believed. */
export type TrustProxy = false | { hops: number } | { cidrs: Cidr[] };

export interface Cidr {
  /** 4 or 6 */
  family: 4 | 6;
  /** the network as 4 or 16 bytes */
  bytes: Buffer;
  bits: number;
}

/** The most hops SIGIL_TRUST_PROXY accepts as a number. */
export const MAX_TRUSTED_HOPS = 16;

/**
 * SIGIL_TRUST_PROXY: "" / false / 0 / no / off -> false; true / yes / on ->
 * one hop; a number 1..16 -> that many hops; otherwise a comma-separated list
 * of addresses or CIDR blocks ("10.0.0.0/8, fd00::/8"). Throws an Error
 * naming the bad part.
 */
export function parseTrustProxy(raw: string | undefined): TrustProxy {
  const v = (raw ?? "").trim();
  if (v === "" || /^(0|false|no|off)$/i.test(v)) return false;
  if (/^(true|yes|on)$/i.test(v)) return { hops: 1 };
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n < 1 || n > MAX_TRUSTED_HOPS) throw new Error(`a hop count is 1 to ${MAX_TRUSTED_HOPS}, not ${v}`);
    return { hops: n };
  }
  const cidrs = v.split(",").map((s) => s.trim()).filter(Boolean).map(parseCidr);
  if (cidrs.length === 0) throw new Error(`"${v}" is neither true/false, a hop count nor a list of addresses / CIDR blocks`);
  return { cidrs };
}

function parseCidr(s: string): Cidr {
  const [addr, len, extra] = s.split("/");
  const bytes = addr === undefined || extra !== undefined ? undefined : ipBytes(addr);
  if (!bytes) throw new Error(`"${s}" is not an address or CIDR block`);
  const family = bytes.length === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  const bits = len === undefined ? max : /^\d+$/.test(len) ? Number(len) : NaN;
  if (!(bits >= 0 && bits <= max)) throw new Error(`"${s}": the prefix length is 0 to ${max}`);
  return { family, bytes, bits };
}

/** An IP address as 4 or 16 bytes (IPv4-mapped IPv6 as its IPv4 address), or undefined. */
export function ipBytes(address: string): Buffer | undefined {
  const a = address.replace(/%.*$/, "");
  const kind = isIP(a);
  if (kind === 4) return Buffer.from(a.split(".").map(Number));
  if (kind !== 6) return undefined;
  let s = a.toLowerCase();
  // an embedded dotted quad: the last 32 bits
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (quad) {
    const [p, q, r, t] = quad[1]!.split(".").map(Number) as [number, number, number, number];
    s = s.slice(0, -quad[1]!.length) + `${((p << 8) | q).toString(16)}:${((r << 8) | t).toString(16)}`;
  }
  const [head, tail] = s.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail === undefined ? [] : tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  // ::ffff:a.b.c.d is the IPv4 client a.b.c.d (a dual-stack listener reports it so)
  if (out.subarray(0, 10).every((b) => b === 0) && out[10] === 0xff && out[11] === 0xff) return Buffer.from(out.subarray(12));
  return out;
}

function inCidr(bytes: Buffer, c: Cidr): boolean {
  if (bytes.length !== c.bytes.length) return false;
  let bits = c.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== (c.bytes[i]! & mask)) return false;
  }
  return true;
}

/** "1.2.3.4", "1.2.3.4:5678", "[2001:db8::1]:443", "2001:db8::1" -> the address, or undefined if none. */
export function bareAddress(entry: string): string | undefined {
  let s = entry.trim().replace(/^"|"$/g, "");
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracket) s = bracket[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(":"));
  return isIP(s.replace(/%.*$/, "")) ? s : undefined;
}

/** The X-Forwarded-For entries, left to right (several header lines are one list, RFC 9110 §5.3). */
function forwardedEntries(header: string | readonly string[] | undefined): string[] {
  if (header === undefined) return [];
  const lines = typeof header === "string" ? [header] : header;
  return lines.flatMap((l) => l.split(",")).map((e) => e.trim()).filter(Boolean);
}

/**
 * The client's address: the socket peer's (`remote`), unless `trust` says
 * the peer is a proxy of ours, then the rightmost X-Forwarded-For entry that
 * is not (see the module comment). `remote` may be undefined (socket gone).
 */
export function forwardedClientAddress(remote: string | undefined, forwardedFor: string | readonly string[] | undefined, trust: TrustProxy | boolean): string | undefined {
  const rule: TrustProxy = trust === true ? { hops: 1 } : trust;
  const peer = remote === undefined ? undefined : (bareAddress(remote) ?? remote);
  if (!rule) return peer;
  const entries = forwardedEntries(forwardedFor);
  if (entries.length === 0) return peer;
  if ("hops" in rule) {
    const pick = entries[Math.max(0, entries.length - rule.hops)]!;
    // a malformed entry where the client should be: our proxy wrote garbage; use the peer
    return bareAddress(pick) ?? peer;
  }
  const trusted = (a: string | undefined): boolean => {
    const b = a === undefined ? undefined : ipBytes(a);
    return b !== undefined && rule.cidrs.some((c) => inCidr(b, c));
  };
  if (!trusted(peer)) return peer;
  let last = peer;
  for (let i = entries.length - 1; i >= 0; i--) {
    const a = bareAddress(entries[i]!);
    if (a === undefined) return last;
    if (!trusted(a)) return a;
    last = a;
  }
  return last;
}

/** As `forwardedClientAddress`, in the "host:port" / "[v6]:port" form grpc-js reports peers in (port 0 when forwarded). */
export function forwardedPeer(remote: string | undefined, remotePort: number | undefined, forwardedFor: string | readonly string[] | undefined, trust: TrustProxy | boolean): string {
  const address = forwardedClientAddress(remote, forwardedFor, trust) ?? "unknown";
  const port = remote !== undefined && address === (bareAddress(remote) ?? remote) ? (remotePort ?? 0) : 0;
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * The key failed logins are counted under: an IPv4 address as is, an IPv6
 * address as its /64 ("2001:db8:1:2::/64"; one subscriber usually holds a
 * whole /64, so per-address counting would give it 2^64 tries), anything
 * else (a unix socket, "unknown") as is, bounded.
 */
export function throttleKey(address: string): string {
  const b = ipBytes(address);
  if (!b) return address.slice(0, 64);
  if (b.length === 4) return [...b].join(".");
  return `${prefixGroups(b, 4)}::/64`;
}

/** The IPv6 /48 an address (or its /64 key) lies in, as a prefix of its /64 key ("2001:db8:1:"), or undefined for IPv4. */
export function throttleKey48Prefix(address: string): string | undefined {
  const b = ipBytes(address.replace(/::\/64$/, "::"));
  if (!b || b.length === 4) return undefined;
  return `${prefixGroups(b, 3)}:`;
}

function prefixGroups(b: Buffer, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(b.readUInt16BE(i * 2).toString(16));
  return out.join(":");
}
