// Reads the google.rpc details the admin API sends with an error
// (src/admin/error-details.ts) without a registry: ErrorInfo.reason and
// RetryInfo.retry_delay are one or two protobuf fields each.
import { Code, ConnectError } from "@connectrpc/connect";

function varint(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  let p = at;
  for (;;) {
    const x = b[p++];
    v += (x & 0x7f) * mul;
    if (!(x & 0x80)) return [v, p];
    mul *= 128;
  }
}

/** field number -> first value (varints as numbers, length-delimited as bytes) */
function fields(b: Uint8Array): Map<number, number | Uint8Array> {
  const out = new Map<number, number | Uint8Array>();
  let p = 0;
  while (p < b.length) {
    const [key, q] = varint(b, p);
    p = q;
    const no = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const [v, r] = varint(b, p);
      p = r;
      if (!out.has(no)) out.set(no, v);
    } else if (wire === 2) {
      const [len, r] = varint(b, p);
      if (!out.has(no)) out.set(no, b.subarray(r, r + len));
      p = r + len;
    } else if (wire === 5) p += 4;
    else if (wire === 1) p += 8;
    else break;
  }
  return out;
}

export interface ErrorFacts {
  code: Code | undefined;
  message: string;
  reason?: string;
  retryAfterSeconds?: number;
}

export function errorFacts(e: unknown): ErrorFacts {
  if (!(e instanceof ConnectError)) return { code: undefined, message: e instanceof Error ? e.message : String(e) };
  const facts: ErrorFacts = { code: e.code, message: e.rawMessage || Code[e.code] };
  for (const d of e.details) {
    if (!("type" in d) || !(d.value instanceof Uint8Array)) continue;
    try {
      if (d.type === "google.rpc.ErrorInfo") {
        const r = fields(d.value).get(1);
        if (r instanceof Uint8Array) facts.reason = new TextDecoder().decode(r);
      } else if (d.type === "google.rpc.RetryInfo") {
        const delay = fields(d.value).get(1);
        if (delay instanceof Uint8Array) {
          const s = fields(delay).get(1);
          facts.retryAfterSeconds = typeof s === "number" ? s : 0;
        }
      }
    } catch {
      // a detail we cannot read: the message still says what happened
    }
  }
  return facts;
}

/** One line for the operator: the server's message, and when to retry if it said. */
export function describeError(e: unknown): string {
  const f = errorFacts(e);
  if (f.code === Code.Unavailable && !f.reason) return `the server cannot be reached (${f.message})`;
  let s = f.message;
  if (f.retryAfterSeconds !== undefined && f.retryAfterSeconds > 0) {
    const m = Math.ceil(f.retryAfterSeconds / 60);
    s += ` (retry in ${f.retryAfterSeconds < 120 ? `${f.retryAfterSeconds} s` : `about ${m} min`})`;
  }
  return s;
}
