/**
 * Which addresses challenge validation may connect to.
 *
 * RFC 8555 §10.2 and RFC 8738 §9: http-01 and tls-alpn-01 make the server
 * connect wherever an applicant's DNS (or redirect) points, so without a
 * policy a client can aim it at the server's own loopback, the cloud
 * metadata service or other internal endpoints. Every resolved address and
 * every redirect hop is judged here BEFORE a connection is opened, and the
 * connection then goes to that checked address (never a second lookup of
 * the name, which DNS rebinding would answer differently).
 *
 * A policy is a comma-separated list (SIGIL_VALIDATION_ALLOWED_NETWORKS,
 * default "public,private") of:
 * - `public`: globally routable unicast (IPv6 only within 2000::/3);
 * - `private`: RFC 1918 (10/8, 172.16/12, 192.168/16) and IPv6 unique-local
 *   fc00::/7;
 * - CIDRs (`127.0.0.0/8`, `fd00:1234::/32`, a bare address is /32 or /128):
 *   allow what they contain, whatever its class.
 *
 * Never allowed by the words (only by a CIDR naming them): loopback,
 * link-local (169.254/16, fe80::/10), unspecified, multicast, cloud
 * metadata endpoints, reserved, documentation and benchmarking ranges,
 * 0.0.0.0/8, 240/4 and broadcast, IETF protocol assignments, and the shared
 * address space 100.64.0.0/10 (RFC 6598). Shared space is deliberately not
 * `private`: it is the provider's network, not the operator's, and hosts
 * metadata services (Alibaba Cloud's 100.100.100.200) and overlay networks.
 *
 * IPv6 forms that embed an IPv4 address (IPv4-mapped ::ffff:0:0/96,
 * IPv4-translated ::ffff:0:0:0/96, IPv4-compatible ::/96, NAT64
 * 64:ff9b::/96, 6to4 2002::/16) are judged as that IPv4 address, for the
 * classes and for the CIDRs alike: connecting to them reaches it. So IPv4
 * ranges are written as IPv4 CIDRs (an IPv4-mapped CIDR such as
 * ::ffff:10.0.0.0/104 is read as 10.0.0.0/8).
 */
import { isIP } from "node:net";

/** The class of an address (after unwrapping an embedded IPv4 address). */
export type AddressClass =
  | "public"
  | "private"
  | "shared"
  | "loopback"
  | "link-local"
  | "unspecified"
  | "multicast"
  | "metadata"
  | "reserved";

/** The words a policy spec may use besides CIDRs. */
export type NetworkPolicyWord = "public" | "private";

/** The result of judging one address. */
export type AddressVerdict =
  | { allowed: true; class: AddressClass }
  | { allowed: false; class: AddressClass };

/** Which addresses validation connections may reach. */
export interface NetworkPolicy {
  /** the normalized spec ("public,private", "127.0.0.0/8", ...) */
  readonly spec: string;
  /** judges an IP literal; anything that is not one is refused as "reserved" */
  check(ip: string): AddressVerdict;
}

/**
 * Both policies at once: an address passes only when each allows it. A
 * directory's override goes through this with the server's policy, so it
 * can narrow where validation connects but never widen it (a tenant admin
 * must not open loopback or metadata addresses the operator closed).
 */
export function intersectPolicies(server: NetworkPolicy, narrower: NetworkPolicy): NetworkPolicy {
  return {
    spec: `${server.spec} and ${narrower.spec}`,
    check(ip: string): AddressVerdict {
      const a = server.check(ip);
      return a.allowed ? narrower.check(ip) : a;
    },
  };
}

/** SIGIL_VALIDATION_ALLOWED_NETWORKS when unset. */
export const DEFAULT_ALLOWED_NETWORKS = "public,private";

/** Why a spec cannot be parsed (the message names the bad entry, never more). */
export class NetworkPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetworkPolicyError";
  }
}

interface Cidr {
  net: Buffer;
  bits: number;
}

/**
 * Parses a policy spec. Throws NetworkPolicyError for an empty spec, an
 * unknown word, a malformed CIDR or one with host bits set.
 */
export function parseNetworkPolicy(spec: string): NetworkPolicy {
  const entries = spec.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (entries.length === 0) throw new NetworkPolicyError("no networks given (use public, private and/or CIDRs)");
  const words = new Set<NetworkPolicyWord>();
  const cidrs: Cidr[] = [];
  const normalized: string[] = [];
  for (const entry of entries) {
    const lower = entry.toLowerCase();
    if (lower === "public" || lower === "private") {
      words.add(lower);
      normalized.push(lower);
      continue;
    }
    cidrs.push(unwrapMappedCidr(parseCidrStrict(entry)));
    normalized.push(entry);
  }
  return {
    spec: normalized.join(","),
    check(ip: string): AddressVerdict {
      const bytes = effectiveBytes(ip);
      if (!bytes) return { allowed: false, class: "reserved" };
      const cls = classify(bytes);
      const allowed = (cls === "public" && words.has("public")) || (cls === "private" && words.has("private")) || cidrs.some((c) => inCidr(bytes, c));
      return { allowed, class: cls };
    },
  };
}

/** The policy of SIGIL_VALIDATION_ALLOWED_NETWORKS in `env` (default "public,private"). */
export function defaultNetworkPolicy(env: Record<string, string | undefined> = process.env): NetworkPolicy {
  const raw = env.SIGIL_VALIDATION_ALLOWED_NETWORKS;
  return parseNetworkPolicy(raw === undefined || raw.trim() === "" ? DEFAULT_ALLOWED_NETWORKS : raw);
}

// ---------------------------------------------------------------------------
// Addresses

/** The 4 or 16 octets of an IP literal, undefined for anything else (zone ids included). */
export function ipBytes(ip: string): Buffer | undefined {
  const family = isIP(ip);
  if (family === 4) return Buffer.from(ip.split(".").map(Number));
  if (family !== 6 || ip.includes("%")) return undefined;
  let text = ip.toLowerCase();
  let tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail = v4[1]!.split(".").map(Number);
    text = `${text.slice(0, -v4[1]!.length)}0:0`;
  }
  const [head, rest] = text.includes("::") ? (text.split("::") as [string, string]) : [text, undefined];
  const h = head === "" ? [] : head.split(":");
  const r = rest === undefined || rest === "" ? [] : rest.split(":");
  const groups = rest === undefined ? h : [...h, ...Array<string>(8 - h.length - r.length).fill("0"), ...r];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

/** The address a connection to `ip` reaches: an embedded IPv4 address unwrapped (see the file comment). */
function effectiveBytes(ip: string): Buffer | undefined {
  const b = ipBytes(ip);
  if (!b || b.length === 4) return b;
  return embeddedIpv4(b) ?? b;
}

const zero = (b: Buffer, from: number, to: number): boolean => b.subarray(from, to).every((x) => x === 0);

function embeddedIpv4(b: Buffer): Buffer | undefined {
  // ::ffff:a.b.c.d IPv4-mapped (RFC 4291 §2.5.5.2)
  if (zero(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) return Buffer.from(b.subarray(12));
  // ::ffff:0:a.b.c.d IPv4-translated (RFC 2765 §2.1)
  if (zero(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && zero(b, 10, 12)) return Buffer.from(b.subarray(12));
  // ::a.b.c.d IPv4-compatible (RFC 4291 §2.5.5.1, deprecated); :: and ::1 are themselves
  if (zero(b, 0, 12) && !(zero(b, 12, 15) && (b[15] === 0 || b[15] === 1))) return Buffer.from(b.subarray(12));
  // 64:ff9b::/96 NAT64 well-known prefix (RFC 6052 §2.1)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(b, 4, 12)) return Buffer.from(b.subarray(12));
  // 2002::/16 6to4 (RFC 3056 §2): the relay forwards to the IPv4 address in bits 16-47
  if (b[0] === 0x20 && b[1] === 0x02) return Buffer.from(b.subarray(2, 6));
  return undefined;
}

/** Ordered most specific first: the first range that contains an address gives its class. */
const V4_TABLE: ReadonlyArray<[string, AddressClass]> = [
  // cloud metadata endpoints (AWS/GCP/Azure/OpenStack, Azure wire server, Alibaba Cloud)
  ["169.254.169.254/32", "metadata"],
  ["168.63.129.16/32", "metadata"],
  ["100.100.100.200/32", "metadata"],
  // RFC 6890 / IANA IPv4 special-purpose address registry
  ["0.0.0.0/32", "unspecified"],
  ["0.0.0.0/8", "reserved"],
  ["10.0.0.0/8", "private"],
  ["100.64.0.0/10", "shared"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private"],
  ["192.0.0.0/24", "reserved"],
  ["192.0.2.0/24", "reserved"],
  ["192.88.99.0/24", "reserved"],
  ["192.168.0.0/16", "private"],
  ["198.18.0.0/15", "reserved"],
  ["198.51.100.0/24", "reserved"],
  ["203.0.113.0/24", "reserved"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved"],
];

const V6_TABLE: ReadonlyArray<[string, AddressClass]> = [
  // AWS instance metadata, DNS and NTP over IPv6 (inside fc00::/7)
  ["fd00:ec2::/32", "metadata"],
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  // RFC 6890 / IANA IPv6 special-purpose address registry
  ["::/8", "reserved"],
  ["64:ff9b:1::/48", "reserved"],
  ["100::/64", "reserved"],
  ["2001::/23", "reserved"],
  ["2001:db8::/32", "reserved"],
  ["3fff::/20", "reserved"],
  ["5f00::/16", "reserved"],
  ["fc00::/7", "private"],
  ["fe80::/10", "link-local"],
  ["fec0::/10", "reserved"],
  ["ff00::/8", "multicast"],
  // global unicast (RFC 4291 §2.4); everything else is unassigned
  ["2000::/3", "public"],
];

const V4_RANGES = V4_TABLE.map(([c, cls]) => [parseCidrStrict(c), cls] as const);
const V6_RANGES = V6_TABLE.map(([c, cls]) => [parseCidrStrict(c), cls] as const);

function classify(b: Buffer): AddressClass {
  const table = b.length === 4 ? V4_RANGES : V6_RANGES;
  for (const [c, cls] of table) if (inCidr(b, c)) return cls;
  return b.length === 4 ? "public" : "reserved";
}

function parseCidrStrict(entry: string): Cidr {
  const parts = entry.split("/");
  const net = parts.length <= 2 ? ipBytes(parts[0]!) : undefined;
  if (!net) throw new NetworkPolicyError(`"${entry}" is not public, private or a CIDR`);
  const max = net.length * 8;
  const len = parts[1];
  // decimal digits only: Number("") is 0, which would turn "10.0.0.0/" into 0.0.0.0/0
  if (len !== undefined && !/^\d{1,3}$/.test(len)) throw new NetworkPolicyError(`"${entry}": the prefix length must be a number from 0 to ${max}`);
  const bits = len === undefined ? max : Number(len);
  if (bits > max) throw new NetworkPolicyError(`"${entry}": the prefix length must be a number from 0 to ${max}`);
  const c = { net, bits };
  // host bits set usually means a typo in the prefix: refuse rather than guess
  if (!masked(net, bits).equals(net)) throw new NetworkPolicyError(`"${entry}" has host bits set beyond /${bits}`);
  return c;
}

/** ::ffff:a.b.c.d/n (n >= 96) -> a.b.c.d/(n - 96): addresses are compared after unwrapping */
function unwrapMappedCidr(c: Cidr): Cidr {
  const b = c.net;
  if (b.length === 16 && c.bits >= 96 && zero(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) return { net: Buffer.from(b.subarray(12)), bits: c.bits - 96 };
  return c;
}

function masked(b: Buffer, bits: number): Buffer {
  const out = Buffer.from(b);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    out[i] = out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

function inCidr(b: Buffer, c: Cidr): boolean {
  if (b.length !== c.net.length) return false;
  const full = Math.floor(c.bits / 8);
  for (let i = 0; i < full; i++) if (b[i] !== c.net[i]) return false;
  const rem = c.bits % 8;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (b[full]! & mask) === (c.net[full]! & mask);
}
