/**
 * IP address text <-> iPAddress GeneralName octets (RFC 5280 §4.2.1.6:
 * 4 octets for IPv4, 16 for IPv6, network byte order).
 */
import { isIPv4, isIPv6 } from "node:net";

/** canonical text: IPv4 dotted decimal, IPv6 per RFC 5952 §4 (compressed, lower case) */
export function ipToText(b: Buffer): string | undefined {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length !== 16) return undefined;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952 §4.2: "::" replaces the longest run (>= 2) of zero groups, the first on ties
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(":");
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** octets of an IPv4 or IPv6 address in text form, or undefined when it is not one (zones refused) */
export function ipFromText(text: string): Buffer | undefined {
  if (isIPv4(text)) {
    const parts = text.split(".").map(Number);
    return Buffer.from(parts);
  }
  if (!isIPv6(text) || text.includes("%")) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] => {
    if (s === "") return [];
    const out: number[] = [];
    for (const part of s.split(":")) {
      if (part.includes(".")) {
        const v4 = ipFromText(part);
        if (!v4 || v4.length !== 4) throw new RangeError("bad embedded IPv4");
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else out.push(parseInt(part, 16));
    }
    return out;
  };
  let groups: number[];
  try {
    const head = groupsOf(halves[0]!);
    if (halves.length === 2) {
      const tail = groupsOf(halves[1]!);
      groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
    } else groups = head;
  } catch {
    return undefined;
  }
  if (groups.length !== 8 || groups.some((x) => !(x >= 0 && x <= 0xffff))) return undefined;
  const out = Buffer.alloc(16);
  groups.forEach((x, i) => out.writeUInt16BE(x, i * 2));
  return out;
}

/** canonical text of an IP address written in any accepted form, or undefined */
export function canonicalIp(text: string): string | undefined {
  const b = ipFromText(text);
  return b ? ipToText(b) : undefined;
}
